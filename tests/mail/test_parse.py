"""mail/parse.py: real-looking samples per case, hostile edge cases, and properties.

The samples in tests/mail_samples/ imitate what Gmail, Outlook (sv/en), Apple Mail,
Postfix and newsletter software really send. The property tests feed random and mutated
bytes: whatever arrives, `parse_message` returns a sane `ParsedMessage` and never raises.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.feedparser import BufferedSubFile
from email.message import Message
from pathlib import Path
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsr_bot.mail import parse as parse_module
from dsr_bot.mail.body import MAX_TEXT_CHARS
from dsr_bot.mail.parse import (
    LOOP_HEADERS,
    MAX_ADDRESS_CHARS,
    MAX_BOUNDARY_LINES,
    MAX_CONTAINERS,
    MAX_FILENAME_CHARS,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    Attachment,
    ParsedMessage,
    parse_message,
    structure_limit,
)
from dsr_bot.mail.quoting import html_to_text, new_text
from dsr_bot.slack import render
from dsr_bot.store.tables import Case, InboundMessage
from tests.ops_support import open_db

SAMPLES = Path(__file__).parents[1] / "mail_samples"


def sample(name: str) -> ParsedMessage:
    return parse_message((SAMPLES / name).read_bytes())


def assert_sane(msg: ParsedMessage) -> None:
    """The invariants intake relies on, whatever the input was."""
    assert isinstance(msg, ParsedMessage)
    for value in (msg.message_id, msg.in_reply_to, *msg.references):
        assert value is None or (value.startswith("<") and value.endswith(">") and " " not in value)
    for addr in (msg.sender_email, msg.reply_to, *msg.to):
        assert addr is None or (addr == addr.lower() and addr.count("@") == 1 and " " not in addr)
    for value in (msg.subject, msg.sender_name or "", *msg.headers.values()):
        assert isinstance(value, str) and not set(value) & {"\r", "\n", "\x00"}
    assert msg.date is None or msg.date.tzinfo is not None
    for body in (msg.text, msg.new_text):
        assert isinstance(body, str) and "\x00" not in body and "\r" not in body
        assert len(body) <= MAX_TEXT_CHARS
    for attachment in msg.attachments:
        assert isinstance(attachment, Attachment) and attachment.size >= 0
        assert not set(attachment.filename or "") & {"\r", "\n", "\x00"}
    assert set(msg.headers) <= set(LOOP_HEADERS)
    assert len(msg.sender_name or "") <= MAX_NAME_CHARS
    for value in (msg.message_id, msg.in_reply_to, *msg.references):
        assert len(value or "") <= MAX_ID_CHARS
    for addr in (msg.sender_email, msg.reply_to, *msg.to):
        assert len(addr or "") <= MAX_ADDRESS_CHARS
    assert all(len(a.filename or "") <= MAX_FILENAME_CHARS for a in msg.attachments)
    assert all(isinstance(w, str) for w in msg.warnings)
    # The catch-all in parse_message keeps production safe; in tests it would hide bugs.
    assert not any(w.startswith("parser failed") for w in msg.warnings)
    assert isinstance(msg.ok, bool) and isinstance(msg.is_delivery_report, bool)


GMAIL_NEW = (
    "Hej,\n\nJag vill att ni raderar alla mina personuppgifter enligt artikel 17 GDPR.\n\n"
    "Med vänliga hälsningar\nAnna Åkesson"
)
BENGT = "Jag begär ett registerutdrag enligt artikel 15."

# (sample, {field: expected}); "text~"/"new_text~" = substrings that must be present,
# "text!"/"new_text!" = substrings that must be absent.
SAMPLE_CASES = [
    (
        "gmail_sv_reply.eml",
        {
            "sender_email": "anna.akesson@gmail.com",
            "sender_name": "Anna Åkesson",
            "subject": "Re: [DSR-2025-0042] Vi har tagit emot din begäran",
            "message_id": "<CAF3x+9bQ2kP0mR1sZ@mail.gmail.com>",
            "in_reply_to": "<174099312000.12.dsr@micromedic.se>",
            "references": ("<174099312000.12.dsr@micromedic.se>",),
            "date": datetime(2025, 3, 3, 9, 4, 7, tzinfo=UTC),
            "new_text": GMAIL_NEW,
            "text~": ["> Vi har tagit emot"],
        },
    ),
    ("gmail_sv_html_only.eml", {"new_text": GMAIL_NEW, "text~": ["> Vi har tagit emot"]}),
    (
        "outlook_sv_windows1252.eml",
        {
            "sender_name": "Bengt Ström",
            "subject": "SV: Er beställning är skickad",
            "new_text~": [BENGT, "slutar skicka reklam", "Bengt Ström"],
            "new_text!": ["Från:", "55123"],
            "text~": ["Ämne: Er beställning"],
        },
    ),
    (
        "outlook_sv_html_only.eml",
        {
            "new_text~": [BENGT, "Mvh\nBengt Ström"],
            "new_text!": ["Från", "Skickat", "55123"],
            "text!": ["P {margin-top"],
        },
    ),
    (
        "apple_mail_en_bottom_post.eml",
        {
            "to": ("personuppgiftsansvarig@micromedic.se",),
            "new_text": "Attached is a copy of my passport. Please also correct my postal "
            "address,\nit is 12 Mill Lane, York.\n\nThanks.",
        },
    ),
    (
        "html_only_latin1.eml",
        {
            "subject": "Utdrag ur registret",
            "text~": [
                "Hej!",
                "få veta vilka uppgifter ni har om mig & hur länge",
                "- Namn\n- Adress",
                "Tack på förhand,\nLisa Berg",
            ],
            "text!": ["alert", "color: red", "Brev", "<"],
        },
    ),
    (
        "mixed_with_attachments.eml",
        {
            "new_text": "Hej, jag vill bli raderad. Bifogar kopia på körkort.",
            "text!": ["Detta är en bilaga", "iVBOR"],
        },
    ),
    (
        "dsn_bounce.eml",
        {
            "is_delivery_report": True,
            "sender_email": "mailer-daemon@mx.micromedic.se",
            "text~": ["could not\nbe delivered"],
            "text!": ["DSR-2025-0050"],
        },
    ),
    ("read_receipt_mdn.eml", {"is_delivery_report": True, "subject": "Läst: [DSR-2025-0042]"}),
    (
        "outlook_out_of_office.eml",
        {
            "is_delivery_report": False,
            "new_text": "Jag är ledig till och med 17 mars.",
            "subject": "Automatiskt svar: [DSR-2025-0042] Vi har tagit emot din begäran",
        },
    ),
    ("newsletter.eml", {"is_delivery_report": False}),
    (
        "bogus_charset.eml",
        {
            "new_text": "Please delete my data. Mitt namn är Åsa Öberg.",
            "warnings~": "unknown charset",
        },
    ),
    (
        "eightbit_headers.eml",
        {
            "sender_name": "Björn Ängström",
            "subject": "Begäran om rättelse",
            "new_text": "Rätta min adress, tack.",
        },
    ),
    (
        "eightbit_headers_cp1252.eml",
        {
            "sender_name": "Åsa Öberg",
            "subject": "Invändning mot direktmarknadsföring",
            "new_text~": ["invänder mot att ni använder"],
        },
    ),
    (
        "broken_encoded_words.eml",
        {
            "sender_name": "Sven Svensson",
            "ok": True,
            "warnings~": "unknown charset",
            "subject": "Ärshället för mina uppgifter å bortcafé trailing =?broken",
        },
    ),
    ("norwegian_gmail.eml", {"new_text": "Jeg ønsker innsyn i alle opplysninger dere har om meg."}),
    (
        "danish_outlook.eml",
        {
            "new_text": "Jeg vil gerne have mine oplysninger slettet.\n\nVenlig hilsen\nMette",
            "text~": ["Hej Mette, du kan få indsigt."],
        },
    ),
    ("body_only_no_headers.eml", {"ok": False, "sender_email": None, "text~": ["Radera mig."]}),
]


@pytest.mark.parametrize(("name", "expected"), SAMPLE_CASES, ids=[c[0] for c in SAMPLE_CASES])
def test_sample(name: str, expected: dict[str, object]) -> None:
    msg = sample(name)
    assert_sane(msg)
    for key, want in expected.items():
        if key.endswith("~") and key != "warnings~":
            for piece in want:  # type: ignore[attr-defined]
                assert piece in getattr(msg, key[:-1]), (key, piece)
        elif key.endswith("!"):
            for piece in want:  # type: ignore[attr-defined]
                assert piece not in getattr(msg, key[:-1]), (key, piece)
        elif key == "warnings~":
            assert any(str(want) in w for w in msg.warnings), msg.warnings
        else:
            assert getattr(msg, key) == want, key


def test_attachments_listed_with_names_types_and_decoded_sizes() -> None:
    pdf_size, jpg_size = map(int, (SAMPLES / "mixed_with_attachments.sizes").read_text().split())
    assert sample("mixed_with_attachments.eml").attachments == (
        Attachment("körkort Per.pdf", "application/pdf", pdf_size),  # RFC 2231 filename*
        Attachment("försäkring.jpg", "image/jpeg", jpg_size),  # RFC 2047 in a filename
        Attachment("notes.txt", "text/plain", len("Detta är en bilaga, inte brevtexten.".encode())),
    )


def test_loop_headers_are_kept_raw() -> None:
    bounce = sample("dsn_bounce.eml")
    assert bounce.headers["return-path"] == "<>"
    assert bounce.headers["auto-submitted"] == "auto-replied"
    assert bounce.headers["content-type"].startswith(
        "multipart/report; report-type=delivery-status"
    )
    news = sample("newsletter.eml")
    assert news.headers["precedence"] == "bulk"
    assert news.headers["list-id"] == "Shop news <news.shop.example>"
    assert "auto-submitted" not in sample("gmail_sv_reply.eml").headers


def msg(headers: str, body: bytes = b"Hej\r\n") -> bytes:
    return headers.strip().replace("\n", "\r\n").encode() + b"\r\n\r\n" + body


EDGE_CASES = [
    ("empty", b"", {"ok": False, "text": ""}),
    ("only whitespace", b" \r\n\r\n", {"ok": False}),
    (
        "NUL bytes",
        b"From: a@b.se\x00\r\nSubject: x\x00y\r\n\r\nhej\x00da",
        {"subject": "xy", "text": "hejda"},
    ),
    ("CR-only line ends", b"From: a@b.se\rSubject: mac\r\rhej", {"sender_email": "a@b.se"}),
    (
        "date -0000 means UTC",
        msg("From: a@b.se\nDate: Mon, 3 Mar 2025 10:00:00 -0000"),
        {"date": datetime(2025, 3, 3, 10, tzinfo=UTC)},
    ),
    (
        "date in another zone",
        msg("From: a@b.se\nDate: Mon, 3 Mar 2025 10:00:00 -0500"),
        {"date": datetime(2025, 3, 3, 15, tzinfo=UTC)},
    ),
    (
        "CR/LF/NUL hidden in encoded-words",
        msg("From: =?utf-8?B?QW5uYQ0KQmNjOiB4QHkuc2UA?= <a@b.se>\nSubject: =?utf-8?Q?a=0D=0Ab?="),
        {"sender_name": "Anna Bcc: x@y.se", "subject": "a b"},
    ),
    (
        "param stub that crashes policy.default (IndexError in get_parameter, 3.11)",
        msg("From: a@b.se\nContent-Type: text/plain; charset*"),
        {"ok": True, "text": "Hej"},  # compat32 never builds that header object (issue 13)
    ),
    (
        "garbage date",
        msg("From: a@b.se\nDate: den tredje mars"),
        {"date": None, "warnings~": "Date"},
    ),
    (
        "bare message-id",
        msg("From: a@b.se\nMessage-ID: abc.123@host.se"),
        {"message_id": "<abc.123@host.se>"},
    ),
    (
        "in-reply-to with comment",
        msg("From: a@b.se\nIn-Reply-To: <x@y.se> (Anna's message)"),
        {"in_reply_to": "<x@y.se>"},
    ),
    (
        "folded references",
        msg("From: a@b.se\nReferences: <a@x>\n <b@x>\n\t<a@x> <c@x>"),
        {"references": ("<a@x>", "<b@x>", "<c@x>")},
    ),
    (
        "identity from From, not Reply-To",
        msg("From: Anna <ANNA@Example.se>\nReply-To: evil@x.com"),
        {"sender_email": "anna@example.se", "reply_to": "evil@x.com"},
    ),
    ("two From mailboxes", msg("From: a@b.se, c@d.se"), {"sender_email": "a@b.se"}),
    (
        "From without address",
        msg("From: Anna Andersson\nSubject: hej"),
        {"sender_email": None, "warnings~": "From", "ok": True},
    ),
    ("no From", msg("Subject: hej"), {"sender_email": None, "warnings~": "no From"}),
    (
        "folded encoded subject",
        msg("From: a@b.se\nSubject: =?utf-8?q?R=C3=A4tt?=\n =?utf-8?q?else?="),
        {"subject": "Rättelse"},
    ),
    (
        "bytes codec as charset",
        msg("From: a@b.se\nContent-Type: text/plain; charset=zlib"),
        {"text": "Hej", "warnings~": "unknown charset"},
    ),
    (
        "iso-8859-1 label on windows-1252 text",
        msg("From: a@b.se\nContent-Type: text/plain; charset=iso-8859-1", b"\x93Radera\x94 \x80"),
        {"text": "“Radera” €"},
    ),
    (
        "us-ascii label on UTF-8 text",
        msg("From: a@b.se\nContent-Type: text/plain; charset=us-ascii", "Hälsningar".encode()),
        {"text": "Hälsningar", "warnings~": "not valid ascii"},
    ),
    (
        "sloppy base64 body",
        msg(
            "From: a@b.se\nContent-Transfer-Encoding: base64\n"
            "Content-Type: text/plain; charset=utf-8",
            b"SMOkbHNu!!aW5nYXI\r\n",
        ),
        {"text": "Hälsningar"},
    ),
    (
        "quoted-printable body",
        msg(
            "From: a@b.se\nContent-Transfer-Encoding: quoted-printable\n"
            "Content-Type: text/plain; charset=utf-8",
            b"R=C3=A4t=\r\nta",
        ),
        {"text": "Rätta"},
    ),
    (
        "mailer-daemon bounce without report",
        msg("From: MAILER-DAEMON@x.se\nSubject: failure notice"),
        {"is_delivery_report": True},
    ),
    (
        "Exim X-Failed-Recipients",
        msg("From: a@b.se\nX-Failed-Recipients: c@d.se"),
        {"is_delivery_report": True},
    ),
    (
        "person writing about delivery",
        msg("From: a@b.se\nSubject: Undeliverable parcel"),
        {"is_delivery_report": False},
    ),
]


@pytest.mark.parametrize(("label", "raw", "expected"), EDGE_CASES, ids=[c[0] for c in EDGE_CASES])
def test_edge_case(label: str, raw: bytes, expected: dict[str, object]) -> None:
    parsed = parse_message(raw)
    assert_sane(parsed)
    for key, want in expected.items():
        if key == "warnings~":
            assert any(str(want) in w for w in parsed.warnings), parsed.warnings
        else:
            assert getattr(parsed, key) == want, key


def test_header_strings_fit_their_database_columns(database_url: str) -> None:
    """A 5,000-character display name once crashed intake on PostgreSQL (varchar(998))."""
    plain = '"' + "Åsa " * 1250 + '"'
    encoded = "=?utf-8?b?" + base64.b64encode(("Örjan " * 600).encode()).decode() + "?="
    for number, name in enumerate((plain, encoded), start=1):
        raw = msg(
            f"From: {name} <a@b.se>\nMessage-ID: <{'x' * 985}@b.se>\n"
            f'Content-Type: multipart/mixed; boundary="b"',
            b"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
            + b'filename="'
            + b"k" * 4000
            + b'.pdf"\r\n\r\nAAAA\r\n--b--\r\n',
        )
        parsed = parse_message(raw)
        assert_sane(parsed)
        assert parsed.sender_name and parsed.sender_name.startswith(("Åsa Åsa", "Örjan Örjan"))
        assert parsed.attachments[0].filename.startswith("kkk")  # type: ignore[union-attr]
        _store_like_intake(database_url, parsed, number)


def _store_like_intake(url: str, parsed: ParsedMessage, number: int) -> None:
    """Write the header-derived strings to the columns intake writes them to."""
    engine, factory = open_db(url)
    now = datetime.now(UTC)
    try:
        with factory() as session, session.begin():
            session.add(
                InboundMessage(
                    mailbox="INBOX",
                    uidvalidity=1,
                    uid=number,
                    raw=b"",
                    raw_sha256="0" * 64,
                    size=0,
                    received_at=now,
                    stored_at=now,
                    message_id=parsed.message_id,
                    sender=parsed.sender_email,
                    sender_name=parsed.sender_name,
                    subject=parsed.subject,
                )
            )
            session.add(
                Case(
                    ref=f"DSR-2026-{number:04d}",
                    types=["access"],
                    status="open",
                    requester_email=parsed.sender_email,
                    requester_name=parsed.sender_name,
                    language="sv",
                    received_at=now,
                    due_on=now.date(),
                    identity_status="unverified",
                    request_message_id=parsed.message_id,
                    request_subject=parsed.subject,
                    opened_at=now,
                )
            )
    finally:
        engine.dispose()


def test_parser_caps_match_the_column_sizes() -> None:
    columns = InboundMessage.__table__.c
    assert columns.sender_name.type.length == MAX_NAME_CHARS  # type: ignore[attr-defined]
    assert columns.message_id.type.length == MAX_ID_CHARS  # type: ignore[attr-defined]
    assert columns.sender.type.length == MAX_ADDRESS_CHARS  # type: ignore[attr-defined]
    assert Case.__table__.c.requester_name.type.length == MAX_NAME_CHARS  # type: ignore[attr-defined]


def test_many_references_keep_the_most_recent() -> None:
    refs = " ".join(f"<r{i}@x>" for i in range(500))
    parsed = parse_message(msg(f"From: a@b.se\nReferences: {refs}"))
    assert len(parsed.references) == 100 and parsed.references[-1] == "<r499@x>"


def test_deep_nesting_is_cut_off_with_a_warning() -> None:
    depth = 60  # deeper than walk() reads, shallow enough for the parser to read whole
    head = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth)
    )
    raw = b"From: a@b.se\r\n" + head.encode() + b"Content-Type: text/plain\r\n\r\ndeep\r\n"
    parsed = parse_message(raw)
    assert_sane(parsed)
    assert parsed.ok and any("too deep" in w for w in parsed.warnings)


@contextmanager
def parser_work() -> Iterator[Counter[str]]:
    """Count what the stdlib MIME parser does: parts made, lines read, boundary tests run.

    A budget in operations rather than seconds: it holds on a loaded machine and fails
    the same way every time.
    """
    seen: Counter[str] = Counter()
    push, readline, init = (
        BufferedSubFile.push_eof_matcher,
        BufferedSubFile.readline,
        Message.__init__,
    )

    def counted_push(self: BufferedSubFile, pred: Callable[[str], object]) -> None:
        def counted(line: str) -> object:
            seen["boundary tests"] += 1
            return pred(line)

        push(self, counted)

    def counted_readline(self: BufferedSubFile) -> object:
        seen["lines"] += 1
        return readline(self)

    def counted_init(self: Message, *args: object, **kwargs: object) -> None:
        seen["parts"] += 1
        init(self, *args, **kwargs)  # type: ignore[arg-type]

    with (
        patch.object(BufferedSubFile, "push_eof_matcher", counted_push),
        patch.object(BufferedSubFile, "readline", counted_readline),
        patch.object(Message, "__init__", counted_init),
    ):
        yield seen


def test_200000_tiny_parts_are_parsed_only_up_to_the_limit() -> None:
    """The reviewer's 7.4 MB message took 39 s in the stdlib parser."""
    parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(200_000))
    raw = msg('From: a@b.se\nContent-Type: multipart/mixed; boundary="b"', parts + b"--b--\r\n")
    with parser_work() as seen:
        parsed = parse_message(raw)
    assert_sane(parsed)
    assert seen["parts"] <= MAX_BOUNDARY_LINES + 2, seen
    assert parsed.sender_email == "a@b.se" and parsed.text.startswith("x")
    assert not parsed.ok and any("too costly" in w for w in parsed.warnings)  # to review


@st.composite
def hostile_mime(draw: st.DrawFn) -> tuple[bytes, int, int, int]:
    """Nested multiparts around many tiny parts and many filler lines, any line ending."""
    depth = draw(st.integers(0, 300))
    parts = draw(st.integers(0, 3_000))
    filler = draw(st.integers(0, 200_000))
    eol = draw(st.sampled_from([b"\r\n", b"\n", b"\r"]))
    kind = draw(st.sampled_from([b"multipart/mixed", b"MULTIPART/alternative", b"message/rfc822"]))
    lines = [b"From: a@b.se"]
    for i in range(depth):
        if kind == b"message/rfc822":
            lines += [b"Content-Type: message/rfc822", b""]
        else:
            lines += [b'Content-Type: %s; boundary="d%d"' % (kind, i), b"", b"--d%d" % i]
    lines += [b'Content-Type: multipart/mixed; boundary="p"', b""]
    lines += [b"--p\r\n\r\nx"] * parts + [b"y"] * filler + [b"--p--"]
    return eol.join(lines).replace(b"\r\n", eol), depth, parts, filler


WORK = 2_000_000  # MAX_LINE_WORK scaled down so each example runs in well under a second


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_mime())
def test_hostile_structure_is_parsed_within_a_budget(shape: tuple[bytes, int, int, int]) -> None:
    raw, depth, parts, filler = shape
    with patch.object(parse_module, "MAX_LINE_WORK", WORK), parser_work() as seen:
        parsed = parse_message(raw)
    assert_sane(parsed)
    assert seen["parts"] <= MAX_BOUNDARY_LINES + MAX_CONTAINERS + 2, seen
    assert seen["boundary tests"] <= WORK, seen
    assert seen["lines"] <= WORK // 5 * 1.1 + 10_000, seen
    cut = any("too costly" in w for w in parsed.warnings)
    assert parsed.ok is not cut
    if depth + 1 < MAX_CONTAINERS and parts + depth < MAX_BOUNDARY_LINES:
        # Then only the lines can make it too costly: each costs 5 + the containers above it.
        per_line = 5 + depth + 1
        if (filler + 3 * parts + 3 * depth + 10) * per_line <= WORK:
            assert not cut
        if filler * per_line > WORK:
            assert cut


def test_ordinary_mail_is_read_whole() -> None:
    for raw in _SAMPLE_BYTES:
        assert structure_limit(raw) is None


def test_thousands_of_parts_are_cut_off_with_a_warning() -> None:
    parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\npart\r\n" for _ in range(3000))
    raw = msg('From: a@b.se\nContent-Type: multipart/mixed; boundary="b"', parts + b"--b--\r\n")
    parsed = parse_message(raw)
    assert_sane(parsed)
    assert parsed.text.count("part") < 600 and any("too large" in w for w in parsed.warnings)


def test_huge_text_is_truncated_not_mangled() -> None:
    raw = msg(
        "From: a@b.se\nContent-Type: text/plain; charset=utf-8", "räksmörgås ".encode() * 500_000
    )
    parsed = parse_message(raw)
    assert_sane(parsed)
    assert len(parsed.text) <= MAX_TEXT_CHARS and parsed.text.startswith("räksmörgås räksmörgås")
    assert any("truncated" in w for w in parsed.warnings)
    assert not any("guessed" in w for w in parsed.warnings)  # the cut UTF-8 tail is forgiven


def test_30_mb_attachment_is_listed_within_a_few_copies_of_memory() -> None:
    content = os.urandom(22_000_000)
    encoded = base64.encodebytes(content).replace(b"\n", b"\r\n")
    raw = msg(
        'From: a@b.se\nContent-Type: multipart/mixed; boundary="XX"',
        b"--XX\r\nContent-Type: text/plain\r\n\r\nSe bifogad fil.\r\n--XX\r\n"
        b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=id.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--XX--\r\n",
    )
    del encoded
    tracemalloc.start()
    try:
        parsed = parse_message(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert parsed.attachments == (Attachment("id.pdf", "application/pdf", len(content)),)
    assert parsed.text == "Se bifogad fil."
    # Measured 83 MB for this 30 MB message: the parser's line list plus the joined payload.
    assert peak < 3.5 * len(raw), peak
    assert parsed.ok and structure_limit(raw) is None  # a big attachment is not hostile


QUOTING_CASES = [
    (
        "gmail en two-line attribution",
        "Please delete me.\n\nOn Mon, Mar 3, 2025 at 10:00 AM Micromedic Privacy <\n"
        "privacy@micromedic.se> wrote:\n\n> We received your request.",
        "Please delete me.",
    ),
    (
        "outlook en separator",
        "Delete my account.\n\n-----Original Message-----\nFrom: X\nSent: Y\n"
        "To: Z\nSubject: W\n\nold text",
        "Delete my account.",
    ),
    (
        "outlook sv separator",
        "Radera mig.\n-----Ursprungligt meddelande-----\nFrån: X\ngammalt",
        "Radera mig.",
    ),
    (
        "outlook no header block",
        "Slett meg.\n\nFra: Micromedic <p@m.se>\nSendt: 4. mars 2025\n"
        "Til: Ola\nEmne: Innsyn\n\ngammel tekst",
        "Slett meg.",
    ),
    ("interleaved reply", "> Which data?\nAll of it.\n> And when?\nNow.", "All of it.\nNow."),
    ("signature", "Radera mina uppgifter.\n\n--\nAnna\n070-123 45 67", "Radera mina uppgifter."),
    ("mobile footer", "Radera mig\n\nSkickat från min iPhone\n\n> tidigare", "Radera mig"),
    (
        "apple sv attribution",
        "Tack!\n\n3 mars 2025 kl. 10:00 skrev Micromedic <p@m.se>:\n\n> x",
        "Tack!",
    ),
    (
        "danish gmail attribution",
        "Slet mig.\n\nman. 3. mar. 2025 kl. 10.00 skrev X <x@y.dk>:\n> z",
        "Slet mig.",
    ),
    (
        "a lone Från: line is the writer's own",
        "Från: Anna Andersson\nRadera mig.",
        "Från: Anna Andersson\nRadera mig.",
    ),
    (
        "sentence ending in wrote",
        "I wrote to you on 3 March:\nplease delete me.",
        "I wrote to you on 3 March:\nplease delete me.",
    ),
    ("bare forward keeps nothing", "---------- Forwarded message ---------\nFrom: X\nhej", ""),
]


@pytest.mark.parametrize(
    ("label", "text", "expected"), QUOTING_CASES, ids=[c[0] for c in QUOTING_CASES]
)
def test_new_text(label: str, text: str, expected: str) -> None:
    assert new_text(text) == expected


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    assert_sane(parse_message(raw))


_SAMPLE_BYTES = [p.read_bytes() for p in sorted(SAMPLES.glob("*.eml"))]
_mutation = st.tuples(
    st.sampled_from(["insert", "delete", "replace", "truncate", "duplicate"]),
    st.floats(0, 1),
    st.binary(min_size=1, max_size=40)
    | st.sampled_from(
        [b"\r\n", b"\r\n\r\n", b"--", b"=?", b"?=", b"\x00", b"\xff\xfe", b"<", b">"]
    ),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_SAMPLE_BYTES), st.lists(_mutation, max_size=8))
def test_mutated_messages_never_raise(
    raw: bytes, mutations: list[tuple[str, float, bytes]]
) -> None:
    data = bytearray(raw)
    for op, where, chunk in mutations:
        i = int(where * len(data))
        if op == "insert":
            data[i:i] = chunk
        elif op == "delete":
            del data[i : i + len(chunk)]
        elif op == "replace":
            data[i : i + len(chunk)] = chunk
        elif op == "truncate":
            del data[i:]
        else:
            data[i:i] = data[max(0, i - 200) : i]
    assert_sane(parse_message(bytes(data)))


_charsets = st.sampled_from(
    ["utf-8", "UTF-8", "iso-8859-1", "windows-1252", "x-bogus", "zlib", "", "utf-8*sv"]
)
_encoded_word = st.builds(
    lambda cs, enc, text: f"=?{cs}?{enc}?{text}?=",
    _charsets,
    st.sampled_from("BbQqX"),
    st.text(alphabet="ABCabc0123=+/_?= \r\n\u00e5\udcff", max_size=30),
)
_header_value = st.lists(
    _encoded_word
    | st.text(max_size=30)
    | st.sampled_from(["\r\n", "\r\n ", "\n", "\r", "\x00", "<a@b>", ","]),
    max_size=8,
).map("".join)
_header_name = st.sampled_from(
    [
        "From",
        "To",
        "Subject",
        "Reply-To",
        "Date",
        "Message-ID",
        "In-Reply-To",
        "References",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Content-Disposition",
        "Auto-Submitted",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_header_name, _header_value), max_size=10), st.text(max_size=200))
def test_random_headers_never_raise(headers: list[tuple[str, str]], body: str) -> None:
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers)
    raw = (lines + "\r\n" + body).encode("utf-8", "surrogateescape")
    assert_sane(parse_message(raw))


_html_token = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<br>",
        "<div>",
        "</div>",
        "<blockquote>",
        "</blockquote>",
        "<script>",
        "</script>",
        "<style>",
        "<head>",
        "<body>",
        "<pre>",
        "</pre>",
        "<li>",
        "<!--",
        "-->",
        "<",
        ">",
        "&amp;",
        "&#x",
        "<a href='",
        "'",
        "text",
        "\n",
        " ",
    ]
) | st.text(max_size=10)


@settings(max_examples=200, deadline=None)
@given(st.lists(_html_token, max_size=60).map("".join))
def test_html_to_text_never_raises(html: str) -> None:
    text = html_to_text(html)
    assert isinstance(text, str) and "\r" not in text


def test_html_drops_script_and_style_even_without_closing_head() -> None:
    html = "<head><style>p{}</style><script>steal()</script><body><p>Radera<br>mig</p><p>Tack"
    assert html_to_text(html) == "Radera\nmig\n\nTack"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "> quoted",
                "new words",
                "",
                "On Mon, 3 Mar 2025 at 10:00, X <x@y> wrote:",
                "-- ",
                "Den 3 mars 2025 kl. 10:00 skrev X:",
                "Från: X",
                "Skickat: Y",
                "Till: Z",
                ">",
            ]
        )
        | st.text(max_size=20),
        max_size=20,
    )
)
def test_new_text_is_unquoted_lines_of_text(lines: list[str]) -> None:
    text = "\n".join(lines)
    result = new_text(text)
    assert all(not line.lstrip().startswith(">") for line in result.split("\n"))
    assert set(result.split("\n")) <= {line.rstrip() for line in text.split("\n")} | {""}


@pytest.mark.parametrize(
    "html",
    ["<a" * 300_000, "</" * 300_000, "<?" * 300_000, "<![CDATA[" * 100_000, "<!--" * 100_000],
    ids=["lt-a", "lt-slash", "lt-q", "cdata", "comment"],
)
def test_html_that_makes_htmlparser_quadratic_stays_fast(html: str) -> None:
    start = datetime.now(UTC)
    html_to_text(html)
    assert datetime.now(UTC) - start < timedelta(seconds=2)  # unguarded: 84 s for "<a" * 100k


def test_card_excerpt_parses_a_bounded_prefix_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slack re-renders a card on every update; a 25 MB message must not be re-parsed."""
    parsed_sizes: list[int] = []

    def counting_parse(raw: bytes) -> ParsedMessage:
        parsed_sizes.append(len(raw))
        return parse_message(raw)

    monkeypatch.setattr(parse_module, "parse_message", counting_parse)
    raw = msg(
        f"From: a@b.se\nMessage-ID: <{os.urandom(8).hex()}@b.se>",
        b"Jag vill ha ett registerutdrag.\r\n\r\n" + b"> citerad rad\r\n" * 600_000,
    )
    inbound = InboundMessage(raw=raw, raw_sha256=hashlib.sha256(raw).hexdigest())
    texts = [render.request_text(inbound) for _ in range(3)]
    assert texts == ["Jag vill ha ett registerutdrag."] * 3
    assert parsed_sizes == [render.RENDER_RAW_BYTES] and len(raw) > render.RENDER_RAW_BYTES
    inbound.raw = None  # purged by retention: nothing comes back from the cache
    assert render.request_text(inbound) is None
