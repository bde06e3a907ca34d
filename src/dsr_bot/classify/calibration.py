"""Per-label decision thresholds, calibrated on the dev split and stored beside the model.

Why per label: the eight sigmoid outputs are not equally calibrated. A label with few, varied
training mails (restriction, objection) tends to score true requests at 0.3-0.5, while a
frequent, lexically loud one (marketing_optout) scores hard negatives high. One global 0.5
therefore loses recall on some labels and precision on others.

How: `training.train_model` runs the shipped combination (model + rules) on the dev emails
carved from train (never the test split), and for each label picks the threshold on a 0.05
grid that maximises that label's dev F1, searching only `base ± MAX_SHIFT` and preferring the
value nearest `base` on ties, because a dev split of ~200 emails cannot justify a large move.
The result is written to `thresholds.json` in the model directory.

How it combines with the global setting (`load_classifier(threshold=...)`): the file stores
*offsets* from the base 0.5 it was calibrated at. The effective threshold of a label is
`threshold + offset`, clipped to [review_low, 1]. With the default threshold 0.5 the
calibrated values apply unchanged; raising the global threshold to 0.6 raises every label by
0.1, so the knob keeps its meaning. `calibrated=False` ignores the file. The `needs_review`
band is unchanged: no label reached its own threshold, yet the best score is >= review_low.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from dsr_bot.cases.model import ALL_REQUEST_TYPES

THRESHOLDS_FILE = "thresholds.json"
BASE = 0.5
MAX_SHIFT = 0.15
STEP = 0.05


def _f1(
    gold: Sequence[frozenset[str]],
    scores: Sequence[Mapping[str, float]],
    label: str,
    threshold: float,
) -> float:
    tp = fp = fn = 0
    for labels, score in zip(gold, scores, strict=True):
        hit = score.get(label, 0.0) >= threshold
        tp += hit and label in labels
        fp += hit and label not in labels
        fn += (not hit) and label in labels
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0


def calibrate(
    gold: Sequence[frozenset[str]],
    scores: Sequence[Mapping[str, float]],
    base: float = BASE,
    max_shift: float = MAX_SHIFT,
) -> dict[str, float]:
    """Offset from `base` per label that maximises dev F1; 0 for a label with no dev example."""
    steps = round(max_shift / STEP)
    grid = [round(base + STEP * i, 4) for i in range(-steps, steps + 1)]
    offsets = {}
    for request_type in ALL_REQUEST_TYPES:
        label = request_type.value
        if not any(label in labels for labels in gold):
            offsets[label] = 0.0
            continue
        # Rounded F1 so float noise never beats "closer to base" on a tie.
        best = max(grid, key=lambda t: (round(_f1(gold, scores, label, t), 6), -abs(t - base)))
        offsets[label] = round(best - base, 4)
    return offsets


def save_offsets(model_dir: Path, offsets: Mapping[str, float], n_dev: int) -> Path:
    path = model_dir / THRESHOLDS_FILE
    payload = {
        "base": BASE,
        "offsets": dict(offsets),
        "calibrated_on": f"dev split carved from train ({n_dev} emails), model + rules",
    }
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def load_offsets(model_dir: Path) -> dict[str, float]:
    """Offsets stored with the model, or {} (all labels at the global threshold)."""
    path = model_dir / THRESHOLDS_FILE
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    known = {t.value for t in ALL_REQUEST_TYPES}
    return {k: float(v) for k, v in data.get("offsets", {}).items() if k in known}


def label_thresholds(
    threshold: float, review_low: float, offsets: Mapping[str, float]
) -> dict[str, float]:
    """Effective per-label thresholds: global threshold + calibrated offset, in [review_low, 1]."""
    return {
        t.value: round(min(1.0, max(review_low, threshold + offsets.get(t.value, 0.0))), 4)
        for t in ALL_REQUEST_TYPES
    }
