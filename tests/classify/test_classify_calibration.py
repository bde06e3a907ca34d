"""Per-label thresholds: calibrated on dev, stored with the model, combined with the global one."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsr_bot.cases.model import ALL_REQUEST_TYPES, RequestType
from dsr_bot.classify import SpacyClassifier, load_classifier
from dsr_bot.classify.calibration import (
    MAX_SHIFT,
    calibrate,
    label_thresholds,
    load_offsets,
    save_offsets,
)
from dsr_bot.classify.scoring import decide
from dsr_bot.classify.spacy_classifier import MODEL_DIR

LABELS = [t.value for t in ALL_REQUEST_TYPES]


def _scores(**given: float) -> dict[str, float]:
    return {label: given.get(label, 0.0) for label in LABELS}


def test_a_label_whose_true_requests_score_low_gets_a_lower_threshold() -> None:
    # Restriction requests at 0.4, a non-request at 0.2: F1 is best once 0.4 passes.
    gold = [frozenset({"restriction"})] * 3 + [frozenset()]
    scores = [_scores(restriction=0.4)] * 3 + [_scores(restriction=0.2)]
    offsets = calibrate(gold, scores)
    assert offsets["restriction"] == pytest.approx(-0.1)


def test_a_label_with_loud_negatives_gets_a_higher_threshold() -> None:
    gold = [frozenset({"marketing_optout"})] * 2 + [frozenset()] * 2
    scores = [_scores(marketing_optout=0.9)] * 2 + [_scores(marketing_optout=0.55)] * 2
    assert calibrate(gold, scores)["marketing_optout"] == pytest.approx(0.1)


def test_ties_and_labels_absent_from_dev_stay_at_the_base() -> None:
    gold = [frozenset({"access"}), frozenset()]
    scores = [_scores(access=0.95), _scores(access=0.05)]
    offsets = calibrate(gold, scores)
    assert offsets["access"] == 0.0  # every grid point is perfect: keep 0.5
    assert offsets["portability"] == 0.0  # no dev example: no evidence to move


def test_the_shift_is_bounded_however_skewed_dev_is() -> None:
    gold = [frozenset({"objection"})]
    offsets = calibrate(gold, [_scores(objection=0.01)])
    assert abs(offsets["objection"]) <= MAX_SHIFT + 1e-9


def test_offsets_follow_the_global_threshold_and_respect_the_review_band() -> None:
    offsets = {"restriction": -0.15, "marketing_optout": 0.1}
    at_default = label_thresholds(0.5, 0.2, offsets)
    assert at_default["restriction"] == pytest.approx(0.35)
    assert at_default["access"] == pytest.approx(0.5)
    stricter = label_thresholds(0.7, 0.2, offsets)
    assert stricter["restriction"] == pytest.approx(0.55)
    assert stricter["marketing_optout"] == pytest.approx(0.8)
    # Never below review_low, never above 1.
    assert label_thresholds(0.3, 0.25, offsets)["restriction"] == pytest.approx(0.25)
    assert label_thresholds(0.95, 0.2, offsets)["marketing_optout"] == 1.0


def test_decide_uses_each_labels_own_threshold_and_keeps_the_review_band() -> None:
    thresholds = label_thresholds(0.5, 0.2, {"restriction": -0.15})
    labelled = decide(_scores(restriction=0.4, access=0.4), "sv", thresholds, 0.2)
    assert labelled.labels == (RequestType.RESTRICTION,)
    assert not labelled.needs_review
    doubtful = decide(_scores(access=0.4), "sv", thresholds, 0.2)
    assert doubtful.labels == () and doubtful.needs_review


def test_offsets_round_trip_through_the_model_directory(tmp_path: Path) -> None:
    assert load_offsets(tmp_path) == {}
    save_offsets(tmp_path, {"access": -0.05, "erasure": 0.1}, n_dev=42)
    assert load_offsets(tmp_path) == {"access": -0.05, "erasure": 0.1}


def test_the_shipped_model_carries_its_calibration_and_the_loader_applies_it() -> None:
    offsets = load_offsets(MODEL_DIR)
    assert set(offsets) == set(LABELS), "retrain with `python classifiers/train.py`"
    calibrated = load_classifier()
    assert isinstance(calibrated, SpacyClassifier)
    assert calibrated.thresholds == label_thresholds(0.5, 0.2, offsets)
    plain = load_classifier(calibrated=False)
    assert isinstance(plain, SpacyClassifier)
    assert set(plain.thresholds.values()) == {0.5}
