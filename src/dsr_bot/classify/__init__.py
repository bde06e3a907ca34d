"""Classifiers: which rights a message exercises, and in which language it is written.

`load_classifier()` is the one entry point intake needs. It returns the trained spaCy model
shipped in `classify/model/` (training lives in `classifiers/`), or, if that directory is
missing, the explicit-phrase classifier so the service still runs.
"""

from __future__ import annotations

from pathlib import Path

from dsr_bot.classify.base import Classifier
from dsr_bot.classify.calibration import load_offsets
from dsr_bot.classify.language import detect_language
from dsr_bot.classify.rule_classifier import RuleClassifier
from dsr_bot.classify.spacy_classifier import (
    MODEL_DIR,
    SpacyClassifier,
    load_pipeline,
    model_available,
)

__all__ = ["Classifier", "RuleClassifier", "SpacyClassifier", "detect_language", "load_classifier"]


def load_classifier(
    threshold: float = 0.5,
    review_low: float = 0.2,
    model_dir: Path | None = None,
    use_rules: bool = True,
    calibrated: bool = True,
) -> Classifier:
    """The classifier intake should use. The pipeline is loaded once per process and shared;
    the returned object is cheap and safe to call from several threads.

    `threshold` is the global decision threshold. With `calibrated` (the default) each label's
    threshold is `threshold` plus the offset calibrated on the dev split and stored in the
    model's `thresholds.json` (clipped to [review_low, 1]); `calibrated=False` uses `threshold`
    for every label. `review_low` bounds the `needs_review` band either way."""
    path = model_dir or MODEL_DIR
    if model_available(path):
        offsets = load_offsets(path) if calibrated else {}
        return SpacyClassifier(
            load_pipeline(path), threshold, review_low, use_rules=use_rules, offsets=offsets
        )
    return RuleClassifier(threshold, review_low)
