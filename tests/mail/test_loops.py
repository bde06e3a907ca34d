"""mail/loops.py: one row per rule of RFC 3834 sect. 2 and issue 2 item 9."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsr_bot.mail.loops import auto_reply_reason
from dsr_bot.mail.parse import parse_message

SAMPLES = Path(__file__).parents[1] / "mail_samples"
OWN = frozenset({"personuppgiftsansvarig@micromedic.se", "DSR-Bot@Micromedic.se"})


def message(*headers: str, sender: str = "Anna Andersson <anna@example.se>") -> bytes:
    lines = [f"From: {sender}", "To: personuppgiftsansvarig@micromedic.se", *headers]
    return ("\r\n".join(lines) + "\r\n\r\nJag vill bli raderad.\r\n").encode()


# (label, raw message, expected reason or None)
CASES = [
    ("ordinary request", message("Subject: Radering"), None),
    ("Auto-Submitted: no is a person", message("Auto-Submitted: no"), None),
    ("Auto-Submitted: No, any case", message("Auto-Submitted: No"), None),
    ("auto-replied", message("Auto-Submitted: auto-replied"), "auto-submitted: auto-replied"),
    (
        "auto-generated with parameter",
        message("Auto-Submitted: auto-generated; owner-email=x@y.se"),
        "auto-submitted: auto-generated",
    ),
    ("auto-notified", message("Auto-Submitted: auto-notified"), "auto-submitted: auto-notified"),
    ("empty Auto-Submitted fails safe", message("Auto-Submitted:"), "auto-submitted: (empty)"),
    (
        "a second Auto-Submitted counts",
        message("Auto-Submitted: no", "Auto-Submitted: auto-replied"),
        "auto-submitted: auto-replied",
    ),
    ("precedence bulk", message("Precedence: bulk"), "precedence: bulk"),
    ("precedence list", message("Precedence: LIST"), "precedence: list"),
    ("precedence junk", message("Precedence: junk"), "precedence: junk"),
    ("precedence first-class is fine", message("Precedence: first-class"), None),
    ("X-Autoreply", message("X-Autoreply: yes"), "x-autoreply: yes"),
    ("X-Autorespond", message("X-Autorespond: Vacation"), "x-autorespond: vacation"),
    (
        "X-Auto-Response-Suppress",
        message("X-Auto-Response-Suppress: DR, OOF, AutoReply"),
        "x-auto-response-suppress: dr",
    ),
    ("X-Auto-Response-Suppress: None", message("X-Auto-Response-Suppress: None"), None),
    ("null return-path", message("Return-Path: <>"), "null return-path"),
    ("ordinary return-path", message("Return-Path: <anna@example.se>"), None),
    ("List-Id", message("List-Id: <news.shop.example>"), "mailing list"),
    ("List-Unsubscribe", message("List-Unsubscribe: <mailto:u@x.se>"), "mailing list"),
    ("mailer-daemon", message(sender="MAILER-DAEMON@mx.example.se"), "sender is mailer-daemon"),
    ("postmaster", message(sender="postmaster@example.se"), "sender is postmaster"),
    ("noreply", message(sender="Shop <noreply@shop.se>"), "sender is noreply"),
    ("no-reply with tag", message(sender="no-reply+abc@shop.se"), "sender is no-reply"),
    ("do-not-reply", message(sender="do-not-reply@bank.se"), "sender is do-not-reply"),
    ("list -request address", message(sender="gdpr-request@lists.se"), "sender is gdpr-request"),
    ("a person called Noreen", message(sender="noreen@example.se"), None),
    (
        "our own address",
        message(sender="personuppgiftsansvarig@micromedic.se"),
        "sender is our own address",
    ),
    (
        "our own address, other case",
        message(sender="dsr-bot@MICROMEDIC.SE"),
        "sender is our own address",
    ),
    (
        "our own address with +tag",
        message(sender="dsr-bot+x@micromedic.se"),
        "sender is our own address",
    ),
    ("no From", message(sender="").replace(b"From: \r\n", b""), "no sender"),
    ("From without address", message(sender="Anna Andersson"), "no sender"),
    (
        "out-of-office by subject only",
        message("Subject: Automatiskt svar: Radering"),
        "subject looks like an automatic reply",
    ),
    (
        "Out of Office by subject only",
        message("Subject: Out of Office"),
        "subject looks like an automatic reply",
    ),
    (
        "Frånvaro by 8-bit subject",
        message("Subject: Frånvaromeddelande"),
        "subject looks like an automatic reply",
    ),
    ("a person mentioning autosvar", message("Subject: Angående ert autosvar"), None),
]


@pytest.mark.parametrize(("label", "raw", "expected"), CASES, ids=[c[0] for c in CASES])
def test_auto_reply_reason(label: str, raw: bytes, expected: str | None) -> None:
    assert auto_reply_reason(parse_message(raw), OWN) == expected


SAMPLE_CASES = [
    ("gmail_sv_reply.eml", None),
    ("outlook_sv_windows1252.eml", None),
    ("outlook_out_of_office.eml", "auto-submitted: auto-generated"),
    ("dsn_bounce.eml", "delivery report"),
    ("read_receipt_mdn.eml", "delivery report"),
    ("newsletter.eml", "precedence: bulk"),
    ("body_only_no_headers.eml", "no sender"),
]


@pytest.mark.parametrize(("name", "expected"), SAMPLE_CASES, ids=[c[0] for c in SAMPLE_CASES])
def test_samples(name: str, expected: str | None) -> None:
    parsed = parse_message((SAMPLES / name).read_bytes())
    assert auto_reply_reason(parsed, OWN) == expected


def test_unparseable_garbage_gets_no_reply() -> None:
    assert auto_reply_reason(parse_message(b"\x00\xff" * 500), OWN) == "no sender"
