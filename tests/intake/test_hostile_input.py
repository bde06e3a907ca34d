"""Issue 13 end to end: hostile mail through real Dovecot, intake, SMTP and both databases.

- header bombs are read within the parse budget and every row keeps who sent it;
- the four From forms that used to be parked as "internal error" open cases;
- a sub-address storm with links in the name and subject gets at most 3 acknowledgements,
  and those carry none of the sender's words;
- `run --once` racing the running service exits 0 and doubles nothing.
"""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Iterator
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from dsr_bot.mail.parse import parse_message
from tests.fixtures.bot import MAIL_FROM, Bot, stop, wait_until
from tests.fixtures.smtp import SmtpSink, _free_port, _Handler
from tests.intake.fuzz.hostile import HOSTILE

pytestmark = pytest.mark.slow

ERASURE = (
    "Hej! Jag vill att ni raderar alla personuppgifter ni har om mig enligt artikel 17 "
    "i dataskyddsförordningen. Tack."
)


@pytest.fixture
def smtp_sink(request: pytest.FixtureRequest) -> Iterator[SmtpSink]:
    """The suite's aiosmtpd sink, offering SMTPUTF8 (RFC 6531) unless the test says False."""
    port = _free_port()
    sink = SmtpSink("127.0.0.1", port)
    utf8 = getattr(request, "param", True)
    controller = Controller(_Handler(sink), hostname="127.0.0.1", port=port, enable_SMTPUTF8=utf8)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


def raw_mail(from_header: str, subject: str, body: str, n: int) -> bytes:
    return (
        f"From: {from_header}\r\nTo: {MAIL_FROM}\r\nSubject: {subject}\r\n"
        f"Date: Mon, 7 Dec 2026 06:00:00 +0100\r\nMessage-ID: <i13-{n}@test.example>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    ).encode()


# The four forms issue 13 found parked as "internal error", with what each must open.
FROM_FORMS = (
    ("Björn Ek <björn.ek@exempel.se>", "björn.ek@exempel.se", "acknowledged"),
    ("Åsa <åsa@företag.se>", "åsa@företag.se", "acknowledged"),
    ('"Anna (anna@x.se)" <anna@x.se>', "anna@x.se", "acknowledged"),
    ("anna@localhost", "anna@localhost", "not acknowledged: no valid reply address"),
)
# The bare comment form, with no angle-addr at all: the only address is recovered.
COMMENT_FORM = ("Anna (anna@y.se)", "anna@y.se", "acknowledged")


def test_four_from_forms_open_cases(mailbox, smtp_sink: SmtpSink, bot: Bot) -> None:
    forms = (*FROM_FORMS, COMMENT_FORM)
    for n, (header, _, _) in enumerate(forms):
        mailbox.append(raw_mail(header, "Radera mina uppgifter", ERASURE, n))
    bot.cli("run", "--once")
    rows = {m["sender"]: m for m in bot.json("messages", "list")}
    cases = {c["ref"]: c for c in bot.json("cases", "list")}
    assert len(cases) == 5, rows
    for header, sender, expected in forms:
        row = rows[sender]
        assert row["disposition"] == "case", (header, row)
        assert row["message_id"] and row["subject"] == "Radera mina uppgifter"
        if expected == "acknowledged":
            assert row["acknowledged"], (header, row)
        else:
            assert row["reason"] == expected and not row["acknowledged"]
    sent = smtp_sink.wait_for(4)
    assert sorted(r.rcpt_tos[0] for r in sent) == sorted(
        ["björn.ek@exempel.se", "åsa@xn--fretag-wxa.se", "anna@x.se", "anna@y.se"]
    )
    for received in sent:
        msg = BytesParser(policy=default_policy).parsebytes(received.data)
        assert msg["Auto-Submitted"] == "auto-replied"
        # RFC 6532: the UTF-8 mailbox is written as UTF-8 in the header, not encoded.
        local = received.rcpt_tos[0].split("@")[0].encode()
        assert local + b"@" in received.data.split(b"\r\n\r\n")[0]


@pytest.mark.parametrize("smtp_sink", [False], indirect=True)
def test_no_smtputf8_at_relay_opens_the_case_and_says_why(
    mailbox, smtp_sink: SmtpSink, bot: Bot
) -> None:
    mailbox.append(raw_mail(FROM_FORMS[0][0], "Radera mina uppgifter", ERASURE, 1))
    bot.cli("run", "--once")
    [row] = bot.json("messages", "list")
    assert row["disposition"] == "case" and not row["acknowledged"]
    [item] = [o for o in bot.json("outbox", "list") if o["purpose"] == "acknowledgement"]
    assert item["status"] == "dead" and "no SMTPUTF8 at the relay" in (item["last_error"] or "")
    assert smtp_sink.received == []


def test_encoded_word_display_name_cannot_choose_the_requester(mailbox, bot: Bot) -> None:
    header = "=?utf-8?q?victim@target.example?= <attacker@example.org>"
    mailbox.append(raw_mail(header, "Radera mina uppgifter", ERASURE, 7))
    bot.cli("run", "--once")
    [row] = bot.json("messages", "list")
    assert row["sender"] == "attacker@example.org"


def test_hostile_content_types_are_read_within_budget(mailbox, bot: Bot) -> None:
    for build in HOSTILE.values():
        mailbox.append(build())
    bot.cli("run", "--once")
    rows = bot.json("messages", "list")
    assert len(rows) == len(HOSTILE)
    for row in rows:
        # Each is decided (a case or a person's review), and keeps who sent it and what.
        assert row["disposition"] in ("case", "needs_review"), row
        assert row["sender"] == "anna@example.se" and row["message_id"], row
        assert row["subject"] == "Radera mina uppgifter"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_parse_memory(name: str) -> None:
    # The ~1 MB RFC 2047 Content-Type took 6.4 GB before the header budget (issue 13);
    # the budget is 256 MB more. Time is measured in bench/hostile_parse.py.
    raw = HOSTILE[name]()
    tracemalloc.start()
    try:
        parsed = parse_message(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024 * 1024, peak
    assert parsed.sender_email == "anna@example.se"


def test_subaddress_storm_gets_at_most_three_acknowledgements(
    mailbox, smtp_sink: SmtpSink, bot: Bot
) -> None:
    for n in range(50):
        name = f"Click https://evil.example/x{n} now"
        subject = f"Radera mina uppgifter http://evil.example/win?{n}"
        mailbox.append(raw_mail(f'"{name}" <name+{n}@example.se>', subject, ERASURE, 100 + n))
    bot.cli("run", "--once", timeout=300)
    rows = bot.json("messages", "list")
    assert len(rows) == 50
    assert all(r["disposition"] == "case" for r in rows), {r["disposition"] for r in rows}
    sent = smtp_sink.received
    assert 1 <= len(sent) <= 3, len(sent)
    for received in sent:
        text = received.data.decode("utf-8", "replace").lower()
        assert "evil.example" not in text and "click" not in text
    limited = [r for r in rows if not r["acknowledged"]]
    assert all("acknowledgements to this sender" in (r["reason"] or "") for r in limited)


def test_hourly_cap_withholds_acknowledgements_and_counts(
    mailbox, smtp_sink: SmtpSink, bot: Bot
) -> None:
    for n in range(5):
        mailbox.append(raw_mail(f"person{n}@example.se", "Radera mina uppgifter", ERASURE, n))
    bot.cli("run", "--once", ack_limit_per_hour=2)
    rows = bot.json("messages", "list")
    assert [r["disposition"] for r in rows] == ["case"] * 5
    assert sum(r["acknowledged"] for r in rows) == 2
    capped = [r for r in rows if not r["acknowledged"]]
    assert all("acknowledgements in the last hour" in r["reason"] for r in capped)


def test_run_once_beside_the_service(mailbox, smtp_sink: SmtpSink, bot: Bot) -> None:
    proc = bot.start()
    results: list[Any] = []
    try:
        total = 0
        for _wave in range(4):
            for _n in range(6):
                mailbox.append(
                    raw_mail(f"racer{total}@example.se", "Radera mina uppgifter", ERASURE, total)
                )
                total += 1
            threads = [
                threading.Thread(
                    target=lambda: results.append(bot.cli("run", "--once", check=False))
                )
                for _ in range(2)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        wait_until(
            lambda: len([m for m in bot.json("messages", "list") if m["acknowledged"]]) == total,
            timeout=60,
        )
    finally:
        code, err = stop(proc)
    for proc_result in results:
        assert proc_result.returncode == 0, proc_result.stderr[-3000:]
    assert code == 0, err[-3000:]
    rows = bot.json("messages", "list")
    assert len(rows) == total and len({r["message_id"] for r in rows}) == total
    assert len({r["case_ref"] for r in rows}) == total
    ids = [r.message["Message-ID"] for r in smtp_sink.received]
    assert len(ids) == len(set(ids)) == total, "an acknowledgement was sent twice"


def test_mail_over_max_message_bytes_goes_to_review(mailbox, smtp_sink: SmtpSink, bot: Bot) -> None:
    big = raw_mail("anna@example.se", "Radera mina uppgifter", ERASURE + "\r\n" + "x" * 20_000, 1)
    mailbox.append(big)
    bot.cli("run", "--once", max_message_bytes=4096)
    [row] = bot.json("messages", "list")
    assert row["disposition"] == "needs_review" and "DSR_BOT_MAX_MESSAGE_BYTES" in row["reason"]
    assert row["sender"] == "anna@example.se" and row["case_ref"] is None
    assert smtp_sink.received == []


def test_memory_ceiling_turns_a_blow_up_into_memory_error(tmp_path) -> None:
    import subprocess
    import sys

    code = (
        "from dsr_bot.config import load_settings\n"
        "from dsr_bot.limits import apply_memory_limit\n"
        "s = load_settings(None, database_url='sqlite://', memory_limit_mb=1024)\n"
        "assert apply_memory_limit(s) == 1024 * 1024 * 1024\n"
        "try:\n    bytearray(2 * 1024 ** 3)\nexcept MemoryError:\n    print('MemoryError')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "MemoryError", out.stderr[-2000:]


def test_every_deployment_file_sets_a_memory_ceiling() -> None:
    from tests.deploy.test_deploy_files import DEPLOY, compose

    unit = (DEPLOY / "dsr-bot.service").read_text()
    assert "\nLimitAS=4G\n" in unit and "\nMemoryMax=" in unit
    bot = compose()["services"]["bot"]
    assert bot["mem_limit"] and bot["environment"]["DSR_BOT_MEMORY_LIMIT_MB"] == "4096"
