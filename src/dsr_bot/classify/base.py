"""The interface intake classifies through, so the model can change without touching intake."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from dsr_bot.cases.model import Classification


class Classifier(Protocol):
    def classify(self, subject: str, text: str) -> Classification:
        """Labels, per-label scores and language for one message's new text."""
        ...

    def classify_batch(self, items: Sequence[tuple[str, str]]) -> list[Classification]:
        """`classify` for each (subject, text), in order, in one call: a model scores a batch
        far faster than the same messages one by one (spaCy's `nlp.pipe`)."""
        ...


def classify_batch(
    classifier: Classifier, items: Sequence[tuple[str, str]]
) -> list[Classification]:
    """The batch form where the classifier has one, else one message at a time (a plug-in
    classifier written against the one-method interface keeps working)."""
    batch = getattr(classifier, "classify_batch", None)
    if batch is not None:
        return list(batch(items))
    return [classifier.classify(subject, text) for subject, text in items]
