"""The classifier in a worker process (DSR_BOT_CLASSIFIER_PROCESS): a real spawned process,
the shipped model, and real kills."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from dsr_bot.classify import load_classifier
from dsr_bot.classify.corpus import read_jsonl
from dsr_bot.classify.worker import ClassifierUnavailable, ProcessClassifier

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
