"""Outgoing mail composition: structure, threading (RFC 5322 3.6.4), RFC 3834 and injection.

Every injection test serialises the message to bytes and parses it back, as the receiving
MTA would, and counts the headers that come out.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest

from dsr_bot.replies import (
    ReplyRenderer,
    compose_reply,
    example_controller,
    make_message_id,
    sample_context,
)
from dsr_bot.replies import compose as composing
from dsr_bot.replies.compose import header_text, message_bytes

BASE = {
    "from_addr": "personuppgiftsansvarig@micromedic.se",
    "from_name": "Micromedic AB",
    "to_addr": "anna.andersson@example.se",
    "to_name": "Anna Andersson",
    "subject": "[DSR-2026-0042] Vi har tagit emot din begäran",
    "text": "Hej Anna!\n\nÅäö.\n",
    "html": "<!DOCTYPE html><html lang='sv'><body><p>Hej Anna!</p></body></html>",
    "in_reply_to": "<req-1@mail.example.se>",
    "references": ["<root@mail.example.se>"],
    "message_id": "<reply-1@micromedic.se>",
}
STANDARD = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "auto-submitted",
    "x-auto-response-suppress",
    "mime-version",
    "content-type",
}


def compose(**changes: object) -> EmailMessage:
    return compose_reply(**{**BASE, **changes})  # type: ignore[arg-type]


def reparse(msg: EmailMessage) -> EmailMessage:
    raw = msg.as_bytes()
    parsed = message_from_bytes(raw, policy=email_policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def body_text(msg: EmailMessage, subtype: str) -> str:
    """A decoded body part; MIME text is CRLF on the wire, so compare with LF line ends."""
    part = msg.get_body((subtype,))
    assert part is not None
    return part.get_content().replace("\r\n", "\n")


def header_names(msg: EmailMessage) -> list[str]:
    return [k.lower() for k in msg]


def test_alternative_text_and_html_in_utf8() -> None:
    parsed = reparse(compose())
    assert parsed.get_content_type() == "multipart/alternative"
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content_charset() == "utf-8" and html.get_content_charset() == "utf-8"
    assert body_text(parsed, "plain") == BASE["text"]
    assert "<p>Hej Anna!</p>" in body_text(parsed, "html")
    assert str(parsed["Subject"]) == BASE["subject"]
    assert str(parsed["To"]) == "Anna Andersson <anna.andersson@example.se>"


def test_attachments_make_multipart_mixed() -> None:
    data = b'{"namn": "Anna"}'
    csv = "namn,e-post\nÅsa,a@b.se\n".encode()
    msg = compose(
        attachments=[
            ("personuppgifter.json", "application/json", data),
            ("../../etc/personuppgifter.csv", "text/csv", csv),
        ]
    )
    parsed = reparse(msg)
    assert parsed.get_content_type() == "multipart/mixed"
    assert body_text(parsed, "plain") == BASE["text"]
    files = {
        a.get_filename(): (a.get_content_type(), a.get_payload(decode=True))
        for a in parsed.iter_attachments()
    }
    assert files["personuppgifter.json"] == ("application/json", data)
    csv_name = next(n for n in files if n.endswith("personuppgifter.csv"))
    assert "/" not in csv_name and files[csv_name] == ("text/csv", csv)


def test_threading_headers() -> None:
    parsed = reparse(compose())
    assert str(parsed["In-Reply-To"]) == "<req-1@mail.example.se>"
    assert str(parsed["References"]).split() == [
        "<root@mail.example.se>",
        "<req-1@mail.example.se>",
    ]
    assert str(parsed["Message-ID"]) == "<reply-1@micromedic.se>"


def test_references_are_cleaned_deduplicated_and_trimmed() -> None:
    refs = [f"<m{i}@x.example>" for i in range(30)]
    refs += ["<m29@x.example>", "not an id", "<a b@c>", "<x@y>\r\nBcc: e@v.example"]
    parsed = reparse(compose(references=refs, in_reply_to="m30@x.example"))
    chain = str(parsed["References"]).split()
    assert len(chain) == 20
    assert chain[0] == "<m0@x.example>"
    assert chain[-1] == "<m30@x.example>"
    assert chain[1:] == [f"<m{i}@x.example>" for i in range(12, 31)]
    assert str(parsed["In-Reply-To"]) == "<m30@x.example>"


def test_new_thread_has_no_threading_headers() -> None:
    parsed = reparse(compose(in_reply_to=None, references=[]))
    assert parsed["In-Reply-To"] is None and parsed["References"] is None


def test_request_without_message_id_keeps_its_references() -> None:
    parsed = reparse(compose(in_reply_to="garbage\r\n", references=["<r@x.example>"]))
    assert parsed["In-Reply-To"] is None
    assert str(parsed["References"]) == "<r@x.example>"


def test_auto_submitted() -> None:
    assert str(reparse(compose())["Auto-Submitted"]) == "auto-replied"
    assert reparse(compose(auto_submitted=None))["Auto-Submitted"] is None
    with pytest.raises(ValueError):
        compose(auto_submitted="auto-replied\r\nBcc: e@v.example")


def test_date_header() -> None:
    when = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert parsedate_to_datetime(str(reparse(compose(date=when))["Date"])) == when
    assert parsedate_to_datetime(str(reparse(compose())["Date"])).tzinfo is not None


def _b64_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


HOSTILE = [
    "Eve\r\nBcc: evil@attacker.example",
    "Eve\nBcc: evil@attacker.example",
    "Eve\rBcc: evil@attacker.example",
    "Eve\r\n\r\n<p>body injected</p>",
    "Eve\u2028Bcc: evil@attacker.example",
    "Eve\x85Bcc: evil@attacker.example",
    "Eve\x00\x0bBcc: evil@attacker.example",
    "=?utf-8?q?Eve=0D=0ABcc:_evil@attacker.example?=",
    _b64_word("Eve\r\nBcc: evil@attacker.example"),
    '"=?utf-8?q?Eve=0D=0ABcc:_evil@attacker.example?=" <x@y.example>',
    "=?utf-8?q?=0D=0A=0D=0Abody?=",
    "Eve =?iso-8859-1?q?=0ABcc=3A_evil=40attacker.example?= tail",
]


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize("field", ["to_name", "from_name", "subject"])
def test_header_injection_adds_no_headers(field: str, hostile: str) -> None:
    msg = compose(**{field: hostile})
    raw = msg.as_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"(?im)^bcc:", head)
    parsed = reparse(msg)
    names = header_names(parsed)
    assert set(names) <= STANDARD and len(names) == len(set(names))
    for name in names:
        assert not re.search(r"[\r\n\x00-\x08\x0b\x0c\x0e-\x1f]", str(parsed[name]))
    assert body_text(parsed, "plain") == BASE["text"]
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]


def test_hostile_name_still_reads_as_a_name() -> None:
    parsed = reparse(compose(to_name="Anna\r\nAndersson"))
    assert str(parsed["To"]) == "Anna Andersson <anna.andersson@example.se>"
    parsed = reparse(compose(to_name='Eve "the boss" <ceo@corp.example>'))
    assert parsed["To"].addresses[0].addr_spec == "anna.andersson@example.se"
    assert len(parsed["To"].addresses) == 1


@pytest.mark.parametrize(
    "bad",
    [
        "a@b.se, c@d.se",
        "Eve <a@b.se>",
        "<a@b.se>",
        "a@b.se\r\nBcc: x@y.se",
        "a@b.se\n",
        " a@b.se",
        "a b@c.se",
        "@b.se",
        "a@",
        "a@b",
        "a@@b.se",
        '"quoted"@b.se',
        "a..b@c.se",
        "a@-b.se",
        "a@b.se;c@d.se",
        "=?utf-8?q?a?=@b.se",
        "",
    ],
)
@pytest.mark.parametrize("field", ["to_addr", "from_addr"])
def test_addresses_must_be_one_addr_spec(field: str, bad: str) -> None:
    with pytest.raises(ValueError):
        compose(**{field: bad})


def test_international_domain_becomes_a_label() -> None:
    parsed = reparse(compose(to_addr="anna@exempel-åäö.se"))
    assert parsed["To"].addresses[0].domain == "xn--exempel--7zaj2q.se"


@pytest.mark.parametrize("bad", ["<a b@c>", "no-at-sign", "<x@y>\r\nBcc: e@v.example", ""])
def test_own_message_id_must_be_valid(bad: str) -> None:
    with pytest.raises(ValueError):
        compose(message_id=bad)


def test_make_message_id() -> None:
    ids = {make_message_id("micromedic.se") for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"<[0-9a-f]{32}@micromedic\.se>", i) for i in ids)
    for bad in ("micromedic.se\r\nBcc: x@y.se", "local", "a b.se", ""):
        with pytest.raises(ValueError):
            make_message_id(bad)


def test_rendered_reply_round_trips_through_composition() -> None:
    renderer = ReplyRenderer(example_controller())
    ctx = sample_context("sv", ("access", "erasure"))
    reply = renderer.render("acknowledgement", ctx)
    msg = compose(
        subject=reply.subject,
        text=reply.text,
        html=reply.html,
        to_addr=ctx.requester_email,
        to_name=ctx.requester_name,
    )
    parsed = reparse(msg)
    assert str(parsed["Subject"]) == reply.subject
    assert body_text(parsed, "plain") == reply.text
    assert body_text(parsed, "html") == reply.html


# -- the letter written directly (no attachments) reads as the email package would build it --
TRICKY_NAMES = [
    "Anna Svensson",
    "Åsa Öberg",
    'Smith, John "Jr"',
    "Ærlig Østergård Ålesund",
    "李雷",
    "A" * 190,
    "Ünïcödé " * 20,
    "=?utf-8?q?Bcc:_x?=",
    "",
]
TRICKY_SUBJECTS = [
    "Registerutdrag",
    "Vi har tagit emot din begäran (DSR-2026-0001)",
    "Re: " + "very long subject words " * 12,
    "Ämne " + "ÅÄÖ" * 60,
    "emoji 📨 and tabs\tand\r\nCRLF",
    "x" * 300,
]


def _reference_build(headers: list[tuple[str, object]], text: str, html: str) -> EmailMessage:
    """What compose_reply built with the email package for every letter before issue 15."""
    msg = EmailMessage(policy=email_policy.SMTP)
    for name, value in headers:
        msg[name] = value
    msg.set_content(text, charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message_from_bytes(msg.as_bytes(), policy=email_policy.default)


@pytest.mark.parametrize("name", TRICKY_NAMES)
@pytest.mark.parametrize("subject", TRICKY_SUBJECTS)
def test_plain_letter_reads_as_the_email_package_builds_it(name: str, subject: str) -> None:
    text = "Hej Åsa!\n\nRad två, lång nog att brytas av quoted-printable: " + "ord " * 40
    html = "<p>Hej &amp; välkommen</p>\n" + "<p>x</p>" * 50
    refs = [f"<r{i}@example.com>" for i in range(25)]
    msg = compose_reply(
        from_addr="personuppgiftsansvarig@micromedic.se",
        from_name="Micromedic AB",
        to_addr="anna@example.se",
        to_name=name,
        subject=subject,
        text=text,
        html=html,
        in_reply_to="<req@example.se>",
        references=refs,
        message_id="<ours@micromedic.se>",
    )
    raw = message_bytes(msg)
    assert all(len(line) <= composing.MAX_LINE_OCTETS for line in raw.split(b"\r\n"))
    got = message_from_bytes(raw, policy=email_policy.default)
    want = _reference_build(
        [
            ("From", composing._mailbox("personuppgiftsansvarig@micromedic.se", "Micromedic AB")),
            ("To", composing._mailbox("anna@example.se", name)),
            ("Subject", header_text(subject)[: composing.MAX_SUBJECT_CHARS].rstrip()),
            ("Date", str(got["Date"])),
            ("Message-ID", "<ours@micromedic.se>"),
            ("In-Reply-To", "<req@example.se>"),
            ("References", " ".join(composing.thread_references(refs, "<req@example.se>"))),
            ("Auto-Submitted", "auto-replied"),
            ("X-Auto-Response-Suppress", "All"),
        ],
        text,
        html,
    )
    for header in HEADERS:
        assert str(got[header]) == str(want[header]), header
    assert got.get_content_type() == "multipart/alternative"
    got_parts = [(p.get_content_type(), p.get_content()) for p in got.iter_parts()]
    want_parts = [(p.get_content_type(), p.get_content()) for p in want.iter_parts()]
    assert got_parts == want_parts
    assert sorted(map(str.lower, got)) == sorted(map(str.lower, want))


HEADERS = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Auto-Submitted",
    "X-Auto-Response-Suppress",
]


@pytest.mark.parametrize(
    ("head", "why"),
    [
        (b"From: a@b.se\r\nBcc: x@y.se\r\n\r\nbody", "altered"),
        (b"From: a@b.se\nBcc: x@y.se\r\n\r\nbody", "bare CR or LF"),
        (b"From: a@b.se\r\nnot a field\r\n\r\nbody", "not a header field"),
        (b"From: a@b.se\r\nFrom: c@d.se\r\n\r\nbody", "altered"),
        (b"From: " + b"x" * 999 + b"\r\n\r\nbody", "998"),
    ],
)
def test_serialised_headers_are_checked_line_by_line(head: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        composing._verify_headers(head, ["From"])


def test_serialised_headers_accept_folded_lines() -> None:
    composing._verify_headers(
        b"From: a@b.se\r\nSubject: one\r\n two\r\n\r\nbody", ["From", "Subject"]
    )
