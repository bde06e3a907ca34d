"""The log's safety net is linear and holds library loggers at WARNING (issue 13, defect 1).

Bolt logs a request with a bad signature at INFO with its whole body, and its
`get_bolt_logger` copies the root level onto each logger it creates; the old e-mail regex
then spent minutes on one long body while holding the GIL.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from slack_bolt import App as BoltApp
from slack_bolt.request import BoltRequest

from dsr_bot import logs
from dsr_bot.config import load_settings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail anna@example.se now", "mail <email> now"),
        ("anna@localhost said", "<email> said"),
        ('from "anna smith"@example.se ok', "from <email> ok"),
        ("a=b@x.se", "<email>"),
        ("key=anna.b+tag@sub.example.co.uk.", "<email>."),
        ("björn.ek@exempel.se och åsa@företag.se", "<email> och <email>"),
        ("no address @ here and x@ and @y", "no address @ here and x@ and @y"),
        ("two: a@b.se,c@d.se", "two: <email>,<email>"),
    ],
)
def test_redacts_addresses(text: str, expected: str) -> None:
    assert logs.redact_emails(text) == expected


def test_redactor_on_hostile_runs_finishes() -> None:
    # Quadratic for the old pattern (80 KB: 19 s, 1 MB: ~50 min); each "@" costs a constant
    # now. Correctness is asserted; the speed is measured in bench/log_redaction.py.
    word_run = "a" * 1_000_000
    assert logs.redact_emails(word_run) == word_run
    ats = "a@" * 300_000
    assert "a@a" not in logs.redact_emails(ats)
    dotted = "x@" + "a." * 400_000
    assert logs.redact_emails(dotted).startswith("<email>")


def test_body_payload_dropped_and_lines_neutralised() -> None:
    line = logs.drop_body("Invalid request signature (timestamp: 1, body: token=x&text=hej)")
    assert line.endswith("body: <dropped>") and "hej" not in line
    assert logs.neutralise_lines("a\r\nFAKE ERROR") == "a\\r\\nFAKE ERROR"


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    monkeypatch.setenv("DSR_BOT_DATABASE_URL", "sqlite://")
    logs.configure(load_settings(), verbose=False)
    stream = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    try:
        yield stream
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


def test_bolt_bad_signature_body_never_logged(captured: io.StringIO) -> None:
    # Built without logger=, as the worst case: Bolt copies the root level (INFO) onto its
    # request-verification logger, and that logger would log the body at INFO.
    bolt = BoltApp(signing_secret="s" * 32, token="xoxb-1", token_verification_enabled=False)
    assert logging.getLogger("slack_bolt.RequestVerification").level <= logging.INFO
    body = "text=" + "anna@example.se " * 1000 + "\r\nERROR forged line " + "a" * 200_000
    response = bolt.dispatch(
        BoltRequest(
            body=body,
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "x-slack-signature": "v0=bad",
                "x-slack-request-timestamp": "1",
            },
        )
    )
    assert response.status == 401
    logging.getLogger("slack_bolt.Anything").info("request body: %s", body)
    logging.getLogger("dsr_bot.test").warning("line one\r\nforged: anna@example.se")
    out = captured.getvalue()
    assert "anna@example.se" not in out and "forged line" not in out, out[:500]
    assert "line one\\r\\nforged: <email>" in out
    assert len(out.splitlines()) == 1
