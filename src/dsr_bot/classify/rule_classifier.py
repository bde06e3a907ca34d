"""The classifier used when no trained model ships: explicit phrases only."""

from __future__ import annotations

from collections.abc import Sequence

from dsr_bot.cases.model import Classification
from dsr_bot.classify.language import detect_language
from dsr_bot.classify.rules import rule_evidence
from dsr_bot.classify.scoring import check_thresholds, decide

# A named right is strong evidence but not proof (a forwarded newsletter may quote
# "unsubscribe"); 0.9 keeps it above the default threshold and below certainty.
RULE_SCORE = 0.9
# A right only named (weak evidence) lands in the review band: a person looks, nothing is
# dropped and nothing is answered automatically.
WEAK_SCORE = 0.35


class RuleClassifier:
    """Stateless and therefore thread-safe."""

    def __init__(self, threshold: float = 0.5, review_low: float = 0.2) -> None:
        check_thresholds(threshold, review_low)
        self.threshold = threshold
        self.review_low = review_low

    def classify(self, subject: str, text: str) -> Classification:
        evidence = rule_evidence(subject or "", text or "")
        scores = {label.value: WEAK_SCORE for label in evidence.weak}
        scores.update({label.value: RULE_SCORE for label in evidence.strong})
        language = detect_language(f"{subject or ''}\n{text or ''}")
        return decide(
            scores,
            language,
            self.threshold,
            self.review_low,
            evidence.follow_up,
            own_data=evidence.own_data,
        )

    def classify_batch(self, items: Sequence[tuple[str, str]]) -> list[Classification]:
        return [self.classify(subject, text) for subject, text in items]
