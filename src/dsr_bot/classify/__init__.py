"""Classifiers: which rights a message exercises, and in which language it is written."""
