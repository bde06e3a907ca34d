"""From per-label scores to a `Classification`: thresholds and the review band.

Shared by every classifier so the rule for "uncertain" is written once. A wrong "not a
request" can silently miss the Art. 12(3) one-month deadline, so a message whose best score
lies between `review_low` and `threshold` is not dropped: it is flagged for a person.
"""

from __future__ import annotations

from collections.abc import Mapping

from dsr_bot.cases.model import ALL_REQUEST_TYPES, Classification, FollowUp, RequestType

# A model score this close to a label's threshold is a coin toss (issue 12: "say when
# unsure"). One step of the calibration grid; chosen a priori, not tuned on any split.
UNSURE_MARGIN = 0.05
# How many candidate rights a person is shown when the classifier is unsure.
MAX_CANDIDATES = 3


def decide(
    scores: Mapping[str, float],
    language: str,
    threshold: float | Mapping[str, float],
    review_low: float,
    follow_up: FollowUp | None = None,
    margin: float = UNSURE_MARGIN,
    own_data: bool = False,
) -> Classification:
    """Labels scoring >= their threshold (one float for all labels, or one per label, see
    `calibration.label_thresholds`).

    `needs_review`, with the best `candidates`, when: no label reaches its threshold but the
    best score is >= `review_low`; or a score sits within `margin` of its threshold (either
    side). If every label that passed is such a near miss, none is kept: a person decides
    instead of the classifier guessing. A follow-up with no label (a process question, or a
    reminder whose right cannot be told) always goes to review, never to "not a request".

    `own_data`: the writer asks us about their own personal data or privacy rights
    (`own_data.addresses_own_data`). Such a mail with no label goes to review even when every
    score is below `review_low`, with the best-scoring rights as candidates: no request is
    dropped because the model did not recognise its wording (issue 12)."""
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
    near = [
        label
        for label in ALL_REQUEST_TYPES
        if abs(full[label.value] - per_label[label.value]) < margin
        and full[label.value] >= review_low
    ]
    if labels and all(label in near for label in labels):
        labels = ()
    best = max(full.values())
    unseen_request = own_data and not labels and best < review_low and follow_up is None
    needs_review = (
        (not labels and best >= review_low)
        or bool(near)
        or (follow_up is not None and not labels)
        or unseen_request
    )
    candidates: tuple[RequestType, ...] = ()
    if needs_review:
        ranked = sorted(ALL_REQUEST_TYPES, key=lambda t: -full[t.value])
        # Below the band the best few are still the best guesses a person can start from.
        floor = 0.0 if unseen_request else review_low
        candidates = tuple(
            t for t in ranked if full[t.value] >= floor and (full[t.value] > 0 or floor > 0)
        )[:MAX_CANDIDATES]
    return Classification(
        labels=labels,
        scores=full,
        language=language,
        needs_review=needs_review,
        follow_up=follow_up,
        candidates=candidates,
    )


def check_thresholds(threshold: float, review_low: float) -> None:
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if not 0.0 <= review_low <= threshold:
        raise ValueError(f"review_low must be in [0, threshold={threshold}], got {review_low}")
