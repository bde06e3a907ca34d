"""The classifier in a worker process (DSR_BOT_CLASSIFIER_PROCESS): a real spawned process,
the shipped model, and real kills."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
import sqlalchemy as sa

from dsr_bot.classify import load_classifier
from dsr_bot.classify.corpus import read_jsonl
from dsr_bot.classify.worker import ClassifierUnavailable, ProcessClassifier
from dsr_bot.store.tables import InboundMessage
from tests.fixtures.app import offline_app
from tests.fixtures.bot import MAIL_FROM
from tests.fixtures.dying_worker import MARKER

CORPUS = Path(__file__).resolve().parents[2] / "classifiers" / "corpus"


def items(n: int) -> list[tuple[str, str]]:
    records = [r for path in sorted(CORPUS.glob("*.test.jsonl")) for r in read_jsonl(path)]
    return [(r.subject, r.text) for r in records[:n]]


def gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A dead child of ours is a zombie until reaped: that counts as gone.
        try:
            if Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z"):
                return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def worker():  # type: ignore[no-untyped-def]
    classifier = ProcessClassifier(0.5, 0.2)
    yield classifier
    classifier.close()


def test_the_worker_answers_as_the_classifier_in_this_process(worker: ProcessClassifier):
    batch = items(120)
    here = load_classifier(0.5, 0.2).classify_batch(batch)
    there = worker.classify_batch(batch)
    assert [(c.labels, c.language, c.needs_review, c.candidates) for c in there] == [
        (c.labels, c.language, c.needs_review, c.candidates) for c in here
    ]
    for a, b in zip(here, there, strict=True):
        assert a.scores == pytest.approx(b.scores, abs=1e-6)
    assert worker.classify(*batch[0]).labels == here[0].labels
    assert worker.check() == (True, "loaded (worker process)")
    assert worker.starts == 1


def test_a_killed_worker_is_replaced_and_the_batch_still_answered(worker: ProcessClassifier):
    batch = items(20)
    first = worker.classify_batch(batch)
    pid = worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert gone(pid)
    again = worker.classify_batch(batch)
    assert [c.labels for c in again] == [c.labels for c in first]
    assert worker.starts == 2 and worker.pid != pid


def test_the_worker_ignores_sigterm_and_ends_when_closed(worker: ProcessClassifier):
    worker.classify_batch(items(2))
    pid = worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGTERM)  # as a service manager does to every process of a group
    assert worker.classify_batch(items(2))  # still the same worker
    assert worker.pid == pid and worker.starts == 1
    worker.close()
    assert gone(pid)


def test_a_model_that_cannot_load_fails_readiness_and_every_batch(tmp_path: Path):
    broken = tmp_path / "model"
    broken.mkdir()
    (broken / "meta.json").write_text("{not json")
    (broken / "config.cfg").write_text("[nlp\nlang = ")
    classifier = ProcessClassifier(0.5, 0.2, model_dir=broken)
    try:
        with pytest.raises(ClassifierUnavailable, match="could not be loaded"):
            classifier.ready()
        assert classifier.check() == (False, "not loaded (worker process)")
        with pytest.raises(ClassifierUnavailable):
            classifier.classify_batch(items(1))
    finally:
        classifier.close()


def test_a_message_that_kills_the_worker_is_quarantined_and_the_rest_decided(
    database_url: str, tmp_path: Path
):
    """Nothing lost: the batch with the killer fails as a whole (two workers die on it),
    then each of its messages is tried alone; the killer is parked after its attempts and
    the others become cases."""
    dying = ProcessClassifier(0.5, 0.2, module="tests.fixtures.dying_worker")
    try:
        app = offline_app(database_url, tmp_path, classifier=dying)
        now = datetime.now(UTC)
        for uid in range(1, 4):
            msg = EmailMessage()
            msg["From"] = f"Person {uid} <p{uid}@example.org>"
            msg["To"] = MAIL_FROM
            msg["Subject"] = "Registerutdrag"
            msg["Message-ID"] = make_msgid(domain="example.org")
            marker = f" {MARKER}" if uid == 2 else ""
            msg.set_content(f"Jag begär ett registerutdrag enligt artikel 15.{marker}")
            app.intake.store_raw(
                mailbox="t", uidvalidity=1, uid=uid, raw=msg.as_bytes(), received_at=now
            )
        failures = 0
        for _ in range(10):  # cycles, as the watcher repeats a failed one
            pending = app.intake.pending_ids()
            if not pending:
                break
            try:
                app.intake.process_batch(pending)
            except ClassifierUnavailable:
                failures += 1
        assert app.intake.pending_ids() == []
        with app.factory() as session:
            rows = session.scalars(sa.select(InboundMessage).order_by(InboundMessage.uid)).all()
            decided = [(r.uid, r.disposition, r.labels) for r in rows]
            reason = rows[1].disposition_reason or ""
        assert decided[0] == (1, "case", ["access"])
        assert decided[2] == (3, "case", ["access"])
        assert decided[1][:2] == (2, "needs_review") and reason.startswith("quarantined")
        assert failures >= 2 and dying.starts >= 2 * failures
        # The last worker started after the killer is alive and answers.
        assert dying.classify_batch(items(1))
    finally:
        dying.close()
