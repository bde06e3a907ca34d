"""Raw message bytes → `ParsedMessage`; never raises, whatever the bytes.

The privacy mailbox is public, so anyone can send it anything: broken mailers, bounces,
spam, and mail built to break parsers. Issue 2 asks that such a message is still recorded
and shown to a human, never dropped, so every step here degrades instead of failing: a bad
charset is guessed and noted in `warnings`, a header that does not parse is read by hand,
and if no MIME tree can be built at all the result says `ok=False`.

Headers are read in raw form (`Message.raw_items`) and decoded in `decode.py` rather than
through the email package's header registry, which has raised on hostile input before.

The tree is built with a compat32-based policy, never `policy.default`: the header registry
re-parses Content-Type on every accessor call, and its parser is quadratic in time (100 KB
of ";" took minutes) and, on ~1 MB of RFC 2047 words, took 6.4 GB (issue 13). Each header is
cut to `MAX_RAW_HEADER` bytes as the parser hands it over, before anything reads it, and all
headers of a message together to `MAX_HEADER_BYTES`; parameters are parsed once per part.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import utils as email_utils
from email.feedparser import BytesFeedParser
from email.message import Message, _parseparam  # type: ignore[attr-defined]
from email.policy import Compat32
from email.utils import parsedate_to_datetime
from itertools import islice
from types import MappingProxyType

from dsr_bot.mail import address, quoting
from dsr_bot.mail.body import (
    MAX_FILENAME_CHARS,
    MAX_HEADERS,
    MAX_TEXT_CHARS,
    Attachment,
    Body,
    safe,
    walk,
)
from dsr_bot.mail.decode import (
    clean_text,
    decode_words,
    guess_decode,
    header_text,
    msg_ids,
    one_line,
)

__all__ = [
    "LOOP_HEADERS",
    "MAX_ADDRESS_CHARS",
    "MAX_BOUNDARY_LINES",
    "MAX_CONTAINERS",
    "MAX_FILENAME_CHARS",
    "MAX_ID_CHARS",
    "MAX_LINE_WORK",
    "MAX_NAME_CHARS",
    "Attachment",
    "ParsedMessage",
    "parse_message",
    "sniff_identity",
    "structure_limit",
]

# Header-derived strings end up in bounded database columns (store/tables.py); a value
# longer than its column makes PostgreSQL refuse the whole intake transaction. RFC 5322
# sect. 2.1.1 caps a line at 998 characters, RFC 5321 sect. 4.5.3.1 an address at 320
# (64 + "@" + 255).
MAX_NAME_CHARS = 998  # inbound_message.sender_name, dsr_case.requester_name
MAX_ID_CHARS = 998  # inbound_message.message_id, dsr_case.request_message_id
MAX_ADDRESS_CHARS = 320  # inbound_message.sender, dsr_case.requester_email

# Kept for loop detection: RFC 3834 sect. 2 and 5, RFC 2076 (Precedence), RFC 2919 and 2369
# (List-*), Microsoft's X-Auto-Response-Suppress, Exim's X-Failed-Recipients. A key is
# present only when the message has that header; repeated headers are joined with ", ".
LOOP_HEADERS = (
    *("auto-submitted", "precedence", "x-autoreply", "x-autorespond"),
    *("x-auto-response-suppress", "return-path", "content-type", "list-id"),
    *("list-unsubscribe", "x-failed-recipients"),
)
_ADDRESSING = ("from", "reply-to", "to", "subject", "date", "message-id", "in-reply-to")
_WANTED = frozenset((*LOOP_HEADERS, *_ADDRESSING, "references"))
FEED_CHUNK = 1 << 16  # feeding in chunks spares a whole-message str copy (measured: 233→83 MB)
# Bounces that are not RFC 3464 reports (qmail, old Exchange) say so in the subject.
BOUNCE_SUBJECT_WORDS = (
    *("undeliver", "delivery status notification", "delivery failure", "mail delivery failed"),
    *("returned mail", "failure notice", "olevererbar", "kan inte levereras", "leveransfel"),
    *("kunde inte levereras", "ikke levert", "kunne ikke leveres", "unzustellbar"),
)

# Hostile structure: the stdlib parser spends about 0.1 ms on each MIME part and, for each
# line, tests the boundary of every multipart it is inside, so 200,000 tiny parts (measured
# 39 s) or 200 nested multiparts over a million lines (21 s) stall intake. A C-speed scan
# finds such messages first and only a prefix is parsed; intake keeps the raw bytes whole.
MAX_BOUNDARY_LINES = 1_000  # walk() reads 500 parts; each part needs one boundary line
MAX_CONTAINERS = 100  # mentions of "multipart" or "message/": the nesting depth is below it
MAX_LINE_WORK = 25_000_000  # sum of lines x (5 + containers above them): about 3 s
# Header budget (issue 13): RFC 5322 sect. 2.1.1 lines are 998 octets; a folded header of
# 8 KB is far beyond any real one (long References lists are the largest seen), and 256 KB
# of headers in all is far beyond any real message, parts included.
MAX_RAW_HEADER = 8 * 1024
MAX_HEADER_BYTES = 256 * 1024
# A Content-Type or Content-Disposition with more parameters than this is not real; the
# stdlib's parameter splitter rescans the value per ";" (quadratic), so we stop early.
MAX_PARAMS = 32
_CONTAINER = re.compile(rb"(?i)multipart|message/")
_BOUNDARY_LINE = re.compile(rb"[\r\n]--")


@dataclass(frozen=True)
class ParsedMessage:
    """What intake needs from one message (issue 2, item 5)."""

    message_id: str | None  # "<...>" or None
    in_reply_to: str | None
    references: tuple[str, ...]  # the last 100, oldest first
    sender_email: str | None  # from From only: Reply-To is not who wrote (no identity from it)
    sender_name: str | None
    reply_to: str | None
    to: tuple[str, ...]
    subject: str  # encoded-words decoded, one line
    date: datetime | None  # timezone-aware
    text: str  # the whole readable body; HTML converted when there is no text/plain
    new_text: str  # `text` without quoted history and signature: what to classify
    attachments: tuple[Attachment, ...]
    headers: Mapping[str, str] = field(hash=False)  # see LOOP_HEADERS
    is_delivery_report: bool
    warnings: tuple[str, ...]  # for people; never contain header values or body text
    # False: not recognisable as mail at all, or too hostile in structure to read whole
    # (`structure_limit`); either way a human must look.
    ok: bool


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse one raw RFC 5322 message. Never raises."""
    try:
        return _parse(bytes(raw))
    except Exception as exc:  # the last line of defence: record the message, never drop it
        return _unreadable(raw, [f"parser failed: {type(exc).__name__}"])


class HeaderBudget:
    """What the budget cut while one message was parsed (shared by all its parts)."""

    def __init__(self) -> None:
        self.total = 0
        self.cut = 0
        self.dropped = 0


class _BudgetPolicy(Compat32):
    """compat32 (raw string headers, no registry) with each header capped as it is read."""

    budget: HeaderBudget | None = None

    def header_source_parse(self, sourcelines: list[str]) -> tuple[str, str]:
        name, value = super().header_source_parse(sourcelines)
        budget = self.budget
        if budget is None:
            return name, value
        if len(value) > MAX_RAW_HEADER:
            budget.cut += 1
            value = value[:MAX_RAW_HEADER]
        budget.total += len(name) + len(value)
        if budget.total > MAX_HEADER_BYTES:
            budget.dropped += 1
            value = ""
        return name[:200], value


class _Part(Message):
    """A part whose header parameters are parsed once, from at most MAX_PARAMS of them."""

    def _get_params_preserve(self, failobj: object, header: str) -> object:
        cache: dict[str, object] = self.__dict__.setdefault("_params_cache", {})
        key = header.lower()
        if key not in cache:
            cache[key] = self._parse_params(header)
        found = cache[key]
        return failobj if found is None else found

    def _parse_params(self, header: str) -> list[tuple[str, object]] | None:
        value = self.get(header, None)
        if value is None:
            return None
        text = str(value)
        semicolon = -1
        for _ in range(MAX_PARAMS):
            semicolon = text.find(";", semicolon + 1)
            if semicolon == -1:
                break
        else:
            text = text[:semicolon]
        params: list[tuple[str, object]] = []
        for piece in _parseparam(text):
            name, sep, val = piece.partition("=")
            params.append((name.strip(), val.strip() if sep else ""))
        return email_utils.decode_params(params)  # type: ignore[no-any-return]


def _build_tree(raw: bytes, warnings: list[str]) -> Message | None:
    budget = HeaderBudget()
    try:
        feeder = BytesFeedParser(_factory=_Part, policy=_BudgetPolicy(budget=budget))
        view = memoryview(raw)
        for start in range(0, len(view), FEED_CHUNK):
            feeder.feed(bytes(view[start : start + FEED_CHUNK]))
        tree = feeder.close()
    except Exception as exc:  # MemoryError under the deployment's address-space limit too
        warnings.append(f"MIME parser failed: {type(exc).__name__}")
        return None
    if budget.cut:
        warnings.append(f"{budget.cut} header(s) over {MAX_RAW_HEADER} bytes were cut")
    if budget.dropped:
        warnings.append(f"headers over {MAX_HEADER_BYTES} bytes in all: {budget.dropped} emptied")
    return tree


def mime_tree(raw: bytes) -> tuple[Message | None, bool]:
    """The MIME tree of `raw` under the same budget as `parse_message` (headers capped, the
    structure bounded, parameters parsed once), for code that must take a stored message
    apart again (mail/strip.py); and whether it covers only a prefix of `raw` (the
    structure was too costly to read whole). None when no tree can be built."""
    limit = structure_limit(raw)
    tree = _build_tree(raw if limit is None else raw[: limit[0]], [])
    return tree, limit is not None


def _lines(raw: bytes, start: int, end: int) -> int:
    # The feed parser ends a line at CR, LF or CRLF (email.feedparser.NLCRE_crack).
    crlf = raw.count(b"\r\n", start, end)
    return raw.count(b"\n", start, end) + raw.count(b"\r", start, end) - crlf


def _after_lines(raw: bytes, start: int, end: int, wanted: int) -> int:
    """The start of a line after about `wanted` lines of raw[start:end] (bisecting counts)."""
    while end - start > 4096:
        middle = (start + end) // 2
        found = _lines(raw, start, middle)
        if found >= wanted:
            end = middle
        else:
            wanted -= found
            start = middle
    return raw.rfind(b"\n", 0, start) + 1


def structure_limit(raw: bytes) -> tuple[int, str] | None:
    """(bytes of `raw` the MIME parser may read, why) when its structure is too costly."""
    events = [(m.start(), 1) for m in islice(_CONTAINER.finditer(raw), MAX_CONTAINERS + 1)]
    lines = islice(_BOUNDARY_LINE.finditer(raw), MAX_BOUNDARY_LINES + 1)
    events += [(m.start() + 1, 0) for m in lines]
    work = containers = boundaries = last = 0
    for pos, is_container in [*sorted(events), (len(raw), -1)]:
        cost = 5 + containers  # each open multipart adds a boundary test to every line
        lines_here = _lines(raw, last, pos)
        if work + lines_here * cost > MAX_LINE_WORK:
            allowed = (MAX_LINE_WORK - work) // cost
            return _after_lines(raw, last, pos, allowed), "too many lines for its nesting"
        work += lines_here * cost
        last = pos
        if is_container == 1:
            containers += 1
            if containers > MAX_CONTAINERS:
                return raw.rfind(b"\n", 0, pos) + 1, f"over {MAX_CONTAINERS} nested parts"
        elif is_container == 0:
            boundaries += 1
            if boundaries > MAX_BOUNDARY_LINES:
                return pos, f"over {MAX_BOUNDARY_LINES} parts"
    return None


def _unreadable(raw: object, warnings: list[str]) -> ParsedMessage:
    data = bytes(raw[:MAX_TEXT_CHARS]) if isinstance(raw, bytes | bytearray) else b""
    text = safe(lambda: clean_text(guess_decode(data)), "")
    headers: Mapping[str, str] = MappingProxyType({})
    return ParsedMessage(
        *(None, None, (), None, None, None, (), "", None),
        *(text, quoting.new_text(text), (), headers, False, tuple(warnings), False),
    )


def _headers(tree: Message) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key, value in islice(safe(tree.raw_items, iter(())), MAX_HEADERS):
        name = str(key).strip().lower()
        if name in _WANTED:
            found.setdefault(name, []).append(header_text(str(value)))
    return found


def _mailbox(value: str, warnings: list[str], what: str) -> tuple[str | None, str | None]:
    """(lower-cased addr-spec, decoded display name) of the first mailbox in the value.

    Split on the raw value (mail/address.py, strict), then the display name alone is
    decoded: an encoded-word can never become, or choose, the address.
    """
    if not value:
        return None, None
    boxes = safe(lambda: address.mailboxes(value), [])
    if not boxes:
        recovered = safe(lambda: address.address_in_comment(value), None)
        if recovered is not None:
            warnings.append(f"{what} address read from a comment")
            boxes = [recovered]
    for box in boxes:
        name = one_line(decode_words(address.unquote(box.display), warnings)).strip()
        if len(name) > MAX_NAME_CHARS:
            warnings.append(f"{what} display name was truncated")
            name = name[:MAX_NAME_CHARS].rstrip()
        return box.address.lower()[:MAX_ADDRESS_CHARS], name or None
    warnings.append(f"{what} header has no usable address")
    return None, None


def _first_id(value: str) -> str | None:
    # msg_ids already keeps ids to 992 characters; the column is the contract, so say it.
    found = next(iter(msg_ids(value)), None)
    return found if found is None or len(found) <= MAX_ID_CHARS else None


def _date(value: str, warnings: list[str]) -> datetime | None:
    if not value:
        return None
    parsed = safe(lambda: parsedate_to_datetime(value), None)
    if parsed is None:
        warnings.append("Date header could not be parsed")
        return None
    # RFC 5322 sect. 3.3: "-0000" means the time is in UTC, local zone unknown.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _bounce_like(sender: str | None, subject: str, return_path: str) -> bool:
    local = (sender or "").split("@")[0]
    # RFC 5321 sect. 4.5.5: notifications are sent with a null reverse-path.
    automatic = local in ("mailer-daemon", "postmaster") or return_path.strip() == "<>"
    return automatic and any(word in subject.lower() for word in BOUNCE_SUBJECT_WORDS)


def _parse(raw: bytes) -> ParsedMessage:
    warnings: list[str] = []
    if not raw.strip():
        return _unreadable(raw, ["empty message"])
    limit = structure_limit(raw)
    if limit is not None:
        warnings.append(f"MIME structure too costly ({limit[1]}): read the first {limit[0]} bytes")
    tree = _build_tree(raw if limit is None else raw[: limit[0]], warnings)
    if tree is None:
        return _unreadable(raw, warnings)
    found = _headers(tree)

    def first(name: str) -> str:
        return found.get(name, [""])[0]

    subject = one_line(decode_words(first("subject"), warnings))[:998]
    sender_email, sender_name = _mailbox(first("from"), warnings, "From")
    if "from" not in found:
        warnings.append("no From header")
    reply_to, _ = _mailbox(first("reply-to"), warnings, "Reply-To")
    to_boxes = safe(lambda: address.mailboxes(", ".join(found.get("to", []))), [])[:100]
    body = Body()
    walk(tree, 0, body)
    text = body.text
    headers = {name: ", ".join(found[name])[:998] for name in LOOP_HEADERS if name in found}
    report = safe(tree.get_content_type, "") == "multipart/report" or body.report_part
    report = report or "x-failed-recipients" in found
    report = report or _bounce_like(sender_email, subject, headers.get("return-path", ""))
    return ParsedMessage(
        message_id=_first_id(first("message-id")),
        in_reply_to=_first_id(first("in-reply-to")),
        references=msg_ids(" ".join(found.get("references", [])))[-100:],
        sender_email=sender_email,
        sender_name=sender_name,
        reply_to=reply_to,
        to=tuple(box.address.lower()[:MAX_ADDRESS_CHARS] for box in to_boxes),
        subject=subject,
        date=_date(first("date"), warnings),
        text=text,
        new_text=quoting.new_text(text),
        attachments=tuple(body.attachments),
        headers=MappingProxyType(headers),
        is_delivery_report=report,
        warnings=tuple(dict.fromkeys(warnings + body.warnings))[:50],
        ok=limit is None and bool(found.keys() & {"from", "to", "subject", "date", "message-id"}),
    )


def sniff_identity(raw: bytes) -> tuple[str | None, str | None, str | None, str]:
    """(Message-ID, sender, sender name, subject) read by hand from the header block alone.

    For rows parked without a parse (a message that crashed or blew the budget before, issue
    13): staff must still see what it is. Bounded like the parser: the first
    `MAX_HEADER_BYTES` only, each value cut to `MAX_RAW_HEADER`. Never raises.
    """
    try:
        head = bytes(raw[:MAX_HEADER_BYTES])
        ends = [i for i in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if i != -1]
        head = head[: min(ends)] if ends else head
        found: dict[str, str] = {}
        name = ""
        for line in head.decode("utf-8", "surrogateescape").splitlines():
            if line[:1] in (" ", "\t"):
                if name and len(found[name]) < MAX_RAW_HEADER:
                    found[name] += line
                continue
            key, sep, value = line.partition(":")
            key = key.strip().lower()
            name = key if sep and key in ("from", "subject", "message-id") else ""
            if name and name not in found:
                found[name] = value
            elif name:
                name = ""  # only the first of each
        values = {k: header_text(v[:MAX_RAW_HEADER]) for k, v in found.items()}
        warnings: list[str] = []
        sender, sender_name = _mailbox(values.get("from", ""), warnings, "From")
        subject = one_line(decode_words(values.get("subject", ""), warnings))[:998]
        return _first_id(values.get("message-id", "")), sender, sender_name, subject
    except Exception:  # a bug here must not cost the row its place in the review list
        return None, None, None, ""
