"""The interface intake classifies through, so the model can change without touching intake."""

from __future__ import annotations

from typing import Protocol

from dsr_bot.cases.model import Classification


class Classifier(Protocol):
    def classify(self, subject: str, text: str) -> Classification:
        """Labels, per-label scores and language for one message's new text."""
        ...
