"""Each decide batch is classified in one call, and the decisions are those of one-by-one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from dsr_bot.cases.model import Classification
from dsr_bot.classify import RuleClassifier
from tests.fixtures.app import offline_app
from tests.intake.test_intake_e2e import AUTO_REPLY, EN_ACCESS, LATIN1, SALES, SV_ERASURE


class CountingClassifier:
    """The rule classifier (a real one), counting how it is called."""

    def __init__(self, batches: bool = True) -> None:
        self.inner = RuleClassifier()
        self.single: list[str] = []
        self.batches: list[int] = []
        if not batches:
            self.classify_batch = None  # type: ignore[assignment]  # a one-method plug-in

    def classify(self, subject: str, text: str) -> Classification:
        self.single.append(subject)
        return self.inner.classify(subject, text)

    def classify_batch(self, items: Sequence[tuple[str, str]]) -> list[Classification]:
        self.batches.append(len(items))
        return [self.inner.classify(s, t) for s, t in items]


def decide_all(database_url: str, tmp_path: Path, classifier: CountingClassifier) -> list[str]:
    app = offline_app(database_url, tmp_path, classifier=classifier)
    now = datetime.now(UTC)
    raws = (SV_ERASURE, EN_ACCESS, SALES, AUTO_REPLY, LATIN1, SV_ERASURE)  # the last: a copy
    for uid, raw in enumerate(raws, 1):
        app.intake.store_raw(mailbox="t", uidvalidity=1, uid=uid, raw=raw, received_at=now)
    outcomes = app.intake.process_batch(app.intake.pending_ids())
    return [o.disposition.value for o in sorted(outcomes, key=lambda o: o.inbound_id)]


def test_a_batch_is_classified_in_one_call(database_url: str, tmp_path: Path):
    classifier = CountingClassifier()
    dispositions = decide_all(database_url, tmp_path, classifier)
    assert classifier.batches == [5]  # every readable message, in one call; the copy once
    assert classifier.single == []  # the classify step found every result ready
    assert dispositions == ["case", "case", "not_request", "not_request", "case", "case"]


def test_a_classifier_without_a_batch_form_still_works(database_url: str, tmp_path: Path):
    classifier = CountingClassifier(batches=False)
    dispositions = decide_all(database_url, tmp_path, classifier)
    assert classifier.batches == []
    assert dispositions == ["case", "case", "not_request", "not_request", "case", "case"]


def stored(database_url: str, tmp_path: Path, classifier: CountingClassifier):  # type: ignore[no-untyped-def]
    app = offline_app(database_url, tmp_path, classifier=classifier)
    now = datetime.now(UTC)
    for uid, raw in enumerate((SV_ERASURE, EN_ACCESS, SALES), 1):
        app.intake.store_raw(mailbox="t", uidvalidity=1, uid=uid, raw=raw, received_at=now)
    return app, app.intake.pending_ids()


def test_a_batch_prepared_ahead_is_decided_without_classifying_it_again(
    database_url: str, tmp_path: Path
):
    classifier = CountingClassifier()
    app, ids = stored(database_url, tmp_path, classifier)
    prepared = app.intake.prepare(ids)
    assert classifier.batches == [3]
    assert app.intake.pending_ids() == ids  # preparing decides and writes nothing
    outcomes = app.intake.process_batch(ids, prepared=prepared)
    assert classifier.batches == [3] and classifier.single == []
    assert [o.disposition.value for o in outcomes] == ["case", "case", "not_request"]


def test_a_prepared_parse_of_other_bytes_is_not_used(database_url: str, tmp_path: Path):
    classifier = CountingClassifier()
    app, ids = stored(database_url, tmp_path, classifier)
    prepared = app.intake.prepare(ids)
    # The sales mail's parse handed in for the erasure request, under another digest.
    _, sales, seconds = prepared.parsed[ids[2]]
    prepared.parsed[ids[0]] = ("0" * 64, sales, seconds)
    outcomes = app.intake.process_batch(ids, prepared=prepared)
    assert [o.disposition.value for o in outcomes] == ["case", "case", "not_request"]
    assert "erasure" in outcomes[0].types
