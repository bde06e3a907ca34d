"""From per-label scores to a `Classification`: thresholds and the review band.

Shared by every classifier so the rule for "uncertain" is written once. A wrong "not a
request" can silently miss the Art. 12(3) one-month deadline, so a message whose best score
lies between `review_low` and `threshold` is not dropped: it is flagged for a person.
"""

from __future__ import annotations

from collections.abc import Mapping

from dsr_bot.cases.model import ALL_REQUEST_TYPES, Classification


def decide(
    scores: Mapping[str, float],
    language: str,
    threshold: float | Mapping[str, float],
    review_low: float,
) -> Classification:
    """Labels scoring >= their threshold (one float for all labels, or one per label, see
    `calibration.label_thresholds`); `needs_review` when none does but the best >= `review_low`."""
    full = {
        label.value: round(float(scores.get(label.value, 0.0)), 4) for label in ALL_REQUEST_TYPES
    }
    per_label = (
        threshold
        if isinstance(threshold, Mapping)
        else {label.value: threshold for label in ALL_REQUEST_TYPES}
    )
    labels = tuple(
        label for label in ALL_REQUEST_TYPES if full[label.value] >= per_label[label.value]
    )
    best = max(full.values())
    needs_review = not labels and best >= review_low
    return Classification(labels=labels, scores=full, language=language, needs_review=needs_review)


def check_thresholds(threshold: float, review_low: float) -> None:
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if not 0.0 <= review_low <= threshold:
        raise ValueError(f"review_low must be in [0, threshold={threshold}], got {review_low}")
