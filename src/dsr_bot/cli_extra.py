"""Commands backed by the classifier and the template library."""
