"""At INFO the log names events and case references, never what people wrote or who they are.

Art. 5(1)(c) GDPR (data minimisation) covers logs: they are shipped, indexed and kept far
more freely than the database. The end-to-end runs below use the real command, Dovecot, SMTP
and both databases, and read everything the bot wrote to stderr.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from dsr_bot import logs
from dsr_bot.config import load_settings
from tests.fixtures.bot import Bot, stop, wait_until
from tests.intake.test_intake_e2e import (
    AUTO_REPLY,
    BULK,
    DAEMON,
    EN_ACCESS,
    LATIN1,
    SALES,
    SV_ERASURE,
)

MESSAGES = (SV_ERASURE, EN_ACCESS, SALES, AUTO_REPLY, BULK, DAEMON, LATIN1)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# Words only the messages contain: subjects, names, and phrases from the bodies.
PERSONAL = (
    "Radera mina uppgifter",
    "Subject access request",
    "Prisförfrågan",
    "Återkallar samtycke",
    "Automatiskt svar",
    "Undelivered Mail",
    "Karin",
    "Lind",
    "John Smith",
    "Björn",
    "nyhetsbrev",
    "copy of all personal data",
    "ultraljud",
    "tjänstledig",
    "reklam",
    "radera@example.se",
)


def assert_private(log: str, bot: Bot) -> None:
    assert EMAIL.search(log) is None, EMAIL.search(log)
    assert "<email>" not in log  # the redaction net had nothing to catch: nobody logged one
    for word in PERSONAL:
        assert re.search(rf"\b{re.escape(word)}\b", log) is None, f"{word!r} in the log"
    assert bot.settings["imap_password"] not in log
    assert bot.settings["imap_user"] not in log  # the mailbox login is an address elsewhere


def test_run_once_logs_events_not_content(mailbox, smtp_sink, bot: Bot):
    for raw in MESSAGES:
        mailbox.append(raw)
    proc = bot.cli("run", "--once", log_level="INFO")
    log = proc.stderr
    assert_private(log, bot)
    # One event per message, naming the inbound row and, for a case, its reference.
    # (today's `inbound 7: case DSR-…`, or the structured `… inbound_id=7 disposition=case`)
    decided = re.findall(r"inbound \d+: \w+|inbound_id=\d+ disposition=\w+", log)
    assert len(decided) == len(MESSAGES), log
    for case in bot.json("cases", "list"):
        assert case["ref"] in log


def acknowledgeable(bot: Bot) -> int:
    return sum(
        1
        for m in bot.json("messages", "list")
        if m["disposition"] == "case" and not (m["reason"] or "").startswith("not acknowledged")
    )


def test_service_json_log_is_structured_and_private(mailbox, smtp_sink, bot: Bot):
    proc = bot.start(log_format="json", log_level="INFO")
    try:
        for raw in MESSAGES:
            mailbox.append(raw)
        wait_until(lambda: len(bot.json("messages", "list")) == len(MESSAGES), timeout=60)
        # Acknowledgements for every case opened, so the send path is in the log too.
        # (A request in automatic mail is a case without one: RFC 3834.)
        wait_until(lambda: len(smtp_sink.received) == acknowledgeable(bot), timeout=60)
    finally:
        code, log = stop(proc)
    assert code == 0, log
    records = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert records and all({"ts", "level", "logger", "msg"} <= set(r) for r in records)
    assert all(r["level"] != "debug" for r in records)
    assert any("signal" in r["msg"] for r in records)
    assert_private(log, bot)


# -- the redaction safety net, at every level and in every format -----------------------------
@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield io.StringIO()
    root.handlers[:] = handlers  # logs.configure replaced pytest's own handlers
    root.setLevel(level)


@pytest.mark.parametrize("fmt", ["human", "json"])
def test_secrets_and_addresses_are_masked_everywhere(captured, monkeypatch, fmt: str):
    settings = load_settings(
        None,
        database_url="postgresql+psycopg://dsrbot:db-pass-9876@db.internal/dsrbot",
        imap_password="imap-pass-1234",
        slack_bot_token="xoxb-1111-2222",
        log_format=fmt,
        log_level="DEBUG",
    )
    monkeypatch.setattr("sys.stderr", captured)
    logs.configure(settings)
    log = logging.getLogger("dsr_bot.test")
    log.debug("login imap-pass-1234 for karin.lind@example.se")
    logs.event(log, "outbox_failed", case_ref="DSR-2026-0007", error="to j.smith@example.co.uk")
    try:
        raise ConnectionError("postgresql://dsrbot:db-pass-9876@db.internal refused xoxb-1111-2222")
    except ConnectionError:
        log.exception("database down")
    out = captured.getvalue()
    for secret in ("imap-pass-1234", "db-pass-9876", "xoxb-1111-2222", "karin.lind", "j.smith"):
        assert secret not in out, secret
    assert "DSR-2026-0007" in out and "<secret>" in out and "<email>" in out
    if fmt == "json":
        records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        event = next(r for r in records if r.get("event") == "outbox_failed")
        assert event["case_ref"] == "DSR-2026-0007"
        assert event["error"] == "to <email>"
        assert "ConnectionError" in next(r for r in records if "exc" in r)["exc"]
