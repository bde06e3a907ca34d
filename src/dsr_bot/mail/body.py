"""The MIME tree of one message → its readable text and a list of its attachments.

Attachments are listed, never decoded: an ID scan or a 30 MB PDF is a staff matter, and
decoding it would only cost memory. Text parts are decoded up to a budget, so a message
made of hundreds of huge text parts costs no more than one ordinary long mail.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from itertools import islice
from typing import TypeVar

from dsr_bot.mail import quoting
from dsr_bot.mail.decode import (
    clean_text,
    decode_bytes,
    decode_words,
    header_text,
    lenient_base64,
    one_line,
)

MAX_TEXT_CHARS = 1_000_000  # a request is a few kB; more is pasted logs or an attack
MAX_TEXT_PART_CHARS = 2_000_000  # encoded characters decoded per text part
MAX_PARTS = 500
MAX_DEPTH = 30
MAX_HEADERS = 2_000
MAX_FILENAME_CHARS = 255  # what common file systems allow; longer names are not real files
# RFC 3464 (DSN), RFC 8098 (MDN) and their RFC 6533 internationalised forms.
REPORT_TYPES = frozenset(
    {"message/delivery-status", "message/global-delivery-status"}
    | {"message/disposition-notification", "message/global-disposition-notification"}
)

T = TypeVar("T")


@dataclass(frozen=True)
class Attachment:
    """A part listed but not decoded; `size` is its decoded size in bytes (estimated for QP)."""

    filename: str | None
    content_type: str
    size: int


@dataclass
class Body:
    """What the walk found; `report_part` marks an RFC 3464/8098 status part anywhere."""

    texts: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    parts: int = 0
    chars: int = 0
    report_part: bool = False

    @property
    def text(self) -> str:
        return "\n\n".join(self.texts)[:MAX_TEXT_CHARS]


def safe(call: Callable[[], T], default: T) -> T:
    """The email package's accessors parse lazily and may raise on hostile values."""
    try:
        return call()
    except Exception:  # a bug in a lazy header parse must cost one field, not the message
        return default


def raw_header(part: Message, name: str) -> str:
    """First header `name` of `part`, read raw and unfolded (no header-registry parsing)."""
    for key, value in islice(safe(part.raw_items, iter(())), MAX_HEADERS):
        if str(key).strip().lower() == name:
            return header_text(str(value))
    return ""


def _raw_payload(part: Message) -> object:
    # Not get_payload(): for 8-bit text it decodes with the declared charset and "replace",
    # which would lose both our charset fallbacks and, for a big binary part, memory.
    return getattr(part, "_payload", None)


def _headers_size(part: Message) -> int:
    pairs = islice(safe(part.raw_items, iter(())), MAX_HEADERS)
    return sum(len(str(name)) + len(str(value)) + 4 for name, value in pairs)


def _payload_size(part: Message, depth: int = 0) -> int:
    """Decoded size computed from the encoded text, so a 30 MB file is never copied.

    Exact for base64 and 8-bit parts, close for quoted-printable, and for message/* parts
    the size of the parsed headers and bodies (the parser has not kept the original).
    """
    payload = _raw_payload(part)
    if isinstance(payload, list):
        if depth > MAX_DEPTH:
            return 0
        kids = [p for p in payload[:MAX_PARTS] if isinstance(p, Message)]
        return sum(_headers_size(p) + _payload_size(p, depth + 1) for p in kids)
    if not isinstance(payload, str):
        return 0
    cte = raw_header(part, "content-transfer-encoding").lower()
    if "base64" in cte:
        chars = len(payload) - sum(payload.count(c) for c in "\r\n\t ")
        return max(0, chars * 3 // 4 - payload.rstrip()[-2:].count("="))
    if "quoted-printable" in cte:
        return max(0, len(payload) - 2 * payload.count("="))
    return len(payload)


def _transfer_decode(payload: str, cte: str) -> bytes:
    # The bytes parser keeps 8-bit octets as lone surrogates; this restores the octets.
    data = payload.encode("utf-8", "surrogateescape")
    if "base64" in cte:
        return lenient_base64(data)
    if "quoted-printable" in cte:
        return binascii.a2b_qp(data)
    return data


def _part_text(part: Message, ctype: str, body: Body) -> str:
    payload = _raw_payload(part)
    if not isinstance(payload, str):
        return ""
    cut = len(payload) > MAX_TEXT_PART_CHARS
    if cut:
        payload = payload[:MAX_TEXT_PART_CHARS]
        body.warnings.append("a text part was truncated")
    try:
        data = _transfer_decode(payload, raw_header(part, "content-transfer-encoding").lower())
    except (binascii.Error, ValueError, UnicodeError):
        body.warnings.append("a text part had a broken transfer encoding")
        data = payload.encode("utf-8", "replace")
    charset = safe(part.get_content_charset, None)
    text = decode_bytes(data, charset, body.warnings, "body", cut)
    if ctype == "text/html":
        if len(text) > quoting.MAX_HTML_CHARS:
            body.warnings.append("an HTML part was truncated")
        text = quoting.html_to_text(text)
    return clean_text(text)


def _is_attachment(part: Message, ctype: str, filename: str | None) -> bool:
    if ctype.startswith("message/"):  # forwarded mail, bounce originals, DSN status blocks
        return True
    if part.is_multipart():
        return False
    disposition = safe(part.get_content_disposition, None)
    return bool(filename) or disposition == "attachment" or ctype not in ("text/plain", "text/html")


def walk(part: Message, depth: int, body: Body) -> None:
    """Depth-first over the tree with a budget on parts, depth and decoded text."""
    body.parts += 1
    if body.parts > MAX_PARTS or depth > MAX_DEPTH:
        body.warnings.append("MIME structure too large or too deep; the rest was ignored")
        return
    for defect in safe(lambda: list(part.defects), [])[:5]:
        body.warnings.append(f"MIME defect: {type(defect).__name__}")
    ctype = safe(part.get_content_type, "text/plain").lower()
    body.report_part |= ctype in REPORT_TYPES
    filename = safe(part.get_filename, None)
    filename = (
        one_line(decode_words(str(filename), body.warnings))[:MAX_FILENAME_CHARS]
        if filename
        else None
    )
    if _is_attachment(part, ctype, filename):
        body.attachments.append(Attachment(filename, ctype, _payload_size(part)))
    elif not part.is_multipart():
        if body.chars >= MAX_TEXT_CHARS:
            body.warnings.append("text truncated")
            return
        text = _part_text(part, ctype, body).strip("\n").rstrip()
        if text.strip():
            body.texts.append(text)
            body.chars += len(text)
    elif ctype == "multipart/alternative":
        _walk_alternative(part, depth, body)
    else:
        for child in safe(part.get_payload, []):
            if isinstance(child, Message):
                walk(child, depth + 1, body)


def _walk_alternative(part: Message, depth: int, body: Body) -> None:
    """RFC 2046 sect. 5.1.4: one alternative is enough. Plain text first, as it is what the
    writer typed; an empty one (some mailers send a stub) gives way to the next choice."""

    def rank(child: Message) -> int:
        ctype = safe(child.get_content_type, "")
        return {"text/plain": 0, "text/html": 2}.get(ctype, 1 if child.is_multipart() else 3)

    children = [c for c in safe(part.get_payload, []) if isinstance(c, Message)]
    for child in sorted(children, key=rank):
        trial = Body(parts=body.parts, chars=body.chars)
        walk(child, depth + 1, trial)
        body.parts = trial.parts
        body.warnings.extend(trial.warnings)
        if trial.texts:
            body.texts.extend(trial.texts)
            body.chars = trial.chars
            body.attachments.extend(trial.attachments)
            body.report_part |= trial.report_part
            return
