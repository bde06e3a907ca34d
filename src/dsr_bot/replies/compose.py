"""Build the outgoing reply as an `EmailMessage`, with headers no input can break.

Names and subjects come partly from strangers (a requester's display name, their subject
line), so every header value is cleaned before it reaches the `email` package:

- control characters, CR/LF and Unicode line separators become spaces: a value can never
  end a header line and start another (classic header injection);
- the sequence `=?` is broken up (`= ?`): Python before 3.11.10/3.12.5 decodes RFC 2047
  encoded-words in values it is given and writes the decoded CR/LF back out unquoted
  (CVE-2024-6923), so `=?utf-8?q?x=0D=0ABcc:_y?=` would inject a header even though it holds
  no control character;
- addresses must be one plain RFC 5322 addr-spec (dot-atom local part, host name domain,
  IDN domains converted to A-labels); anything else is a `ValueError`, not a guess. The rule
  is mail/address.py's `reply_address`, the same module parse and store use (issue 13). A
  UTF-8 local part (RFC 6531) is allowed: the message is then built for SMTPUTF8
  (RFC 6532 headers) and the transport refuses it where the relay does not offer it.

After building, the serialised header block is parsed back and compared with the headers we
set: a defect in any of the above fails loudly here instead of reaching an MTA.
"""

from __future__ import annotations

import base64
import random
import re
import uuid
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime
from email import message_from_bytes, quoprimime
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from dsr_bot.mail.address import ascii_domain, reply_address

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_MSG_ID = re.compile(r"^<[^\s<>@\"\\]+@[^\s<>@\"\\]+>$")
# compose_reply's verified bytes, for as long as the message object lives.
_SERIALISED: weakref.WeakKeyDictionary[EmailMessage, bytes] = weakref.WeakKeyDictionary()
_KEYWORD = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
_FIELD_NAME = re.compile(rb"^[\x21-\x39\x3b-\x7e]+$")  # RFC 5322 2.2: printable, no colon
_MIME_TOKEN = r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}"
_CONTENT_TYPE = re.compile(rf"^{_MIME_TOKEN}/{_MIME_TOKEN}$")
# RFC 5322 2.1.1: a line is at most 998 octets, and the email package cannot fold a word
# without spaces (issue 13 found a To: line of 999). Display names and subjects are clipped
# so that no header can reach it; `_verify_headers` checks the result anyway.
MAX_DISPLAY_NAME_CHARS = 200
MAX_SUBJECT_CHARS = 500
MAX_LINE_OCTETS = 998
# RFC 5322 3.6.4 leaves trimming References to us; keep the thread's root and the newest
# ones, as news and mail clients do, so long threads stay under any server's header limit.
MAX_REFERENCES = 20

POLICY = email_policy.SMTP  # CRLF line ends, RFC 5322 folding, UTF-8 encoded-words


def header_text(value: str) -> str:
    """A value safe as (part of) one header line: no controls, no encoded-word openers."""
    text = " ".join(_CONTROL.sub(" ", value).split())
    while "=?" in text:
        text = text.replace("=?", "= ?")
    return text


def _domain(domain: str) -> str:
    try:
        return ascii_domain(domain)
    except ValueError:
        raise ValueError(f"not a valid mail domain: {domain!r}") from None


def addr_spec(address: str) -> str:
    """The address as one addr-spec (A-label domain), or ValueError (lists, names, quotes,
    controls, single-label domains). The local part may be UTF-8: see `needs_smtputf8`."""
    if address != address.strip() or address.count("@") != 1:
        raise ValueError(f"not a single e-mail address: {address!r}")
    try:
        local, domain, _ = reply_address(address)
    except ValueError:
        raise ValueError(f"not a single e-mail address: {address!r}") from None
    return f"{local}@{domain}"


def needs_smtputf8(address: str) -> bool:
    """True when mail to `address` can only travel with SMTPUTF8 (RFC 6531)."""
    return reply_address(address)[2]


def _mailbox(address: str, name: str | None) -> Address:
    spec = addr_spec(address)
    local, domain = spec.split("@")
    display = header_text(name or "")[:MAX_DISPLAY_NAME_CHARS].rstrip()
    return Address(display_name=display, username=local, domain=domain)


def _msg_id(value: str) -> str | None:
    """A Message-ID in canonical `<left@right>` form, or None if it is not one."""
    text = value.strip()
    if not text.startswith("<"):
        text = f"<{text}>"
    if _CONTROL.search(text) or "=?" in text or not _MSG_ID.match(text) or len(text) > 250:
        return None
    return text


def thread_references(references: Sequence[str], in_reply_to: str | None) -> list[str]:
    """References for a reply: the parent's References, then the parent's Message-ID.

    Invalid IDs are dropped, duplicates removed; a long chain keeps its root and the most
    recent IDs (RFC 5322 3.6.4).
    """
    ids = [i for i in (_msg_id(r) for r in references) if i]
    parent = _msg_id(in_reply_to) if in_reply_to else None
    if parent:
        ids.append(parent)
    unique = list(dict.fromkeys(ids))
    if len(unique) > MAX_REFERENCES:
        unique = [unique[0], *unique[-(MAX_REFERENCES - 1) :]]
    return unique


def make_message_id(domain: str) -> str:
    """A fresh, unguessable Message-ID on our own domain (RFC 5322 3.6.4)."""
    return f"<{uuid.uuid4().hex}@{_domain(domain)}>"


def _attachment_name(name: str) -> str:
    cleaned = header_text(name).replace("/", "_").replace("\\", "_").lstrip(".")
    return cleaned[:120] or "attachment"


def compose_reply(**fields: Any) -> EmailMessage:
    """`compose_reply_bytes(**fields)`, read back as a message, for callers that inspect it
    (the tests); letters and the outbox keep the bytes."""
    data = compose_reply_bytes(**fields)
    policy = email_policy.SMTPUTF8 if needs_smtputf8(fields["to_addr"]) else POLICY
    msg = message_from_bytes(data, policy=policy)
    assert isinstance(msg, EmailMessage)
    _SERIALISED[msg] = data
    return msg


def compose_reply_bytes(
    *,
    from_addr: str,
    from_name: str,
    to_addr: str,
    to_name: str | None,
    subject: str,
    text: str,
    html: str,
    in_reply_to: str | None,
    references: Sequence[str],
    message_id: str,
    auto_submitted: str | None = "auto-replied",
    attachments: Sequence[tuple[str, str, bytes]] = (),
    date: datetime | None = None,
) -> bytes:
    """One reply, serialised and verified: text and HTML alternatives (+ attachments as
    multipart/mixed), UTF-8.

    `references` is the request's own References; the request's Message-ID (`in_reply_to`)
    is appended. `attachments` are (file name, content type, bytes). `auto_submitted` is the
    RFC 3834 keyword (`auto-replied` for answers generated for a message) or None.
    """
    own_id = _msg_id(message_id)
    if own_id is None:
        raise ValueError(f"not a valid Message-ID: {message_id!r}")
    headers: list[tuple[str, object]] = [
        ("From", _mailbox(from_addr, from_name)),
        ("To", _mailbox(to_addr, to_name)),
        ("Subject", header_text(subject)[:MAX_SUBJECT_CHARS].rstrip()),
        ("Date", format_datetime(date or datetime.now(UTC))),
        ("Message-ID", own_id),
    ]
    parent = _msg_id(in_reply_to) if in_reply_to else None
    if parent:
        headers.append(("In-Reply-To", parent))
    chain = thread_references(references, in_reply_to)
    if chain:
        headers.append(("References", " ".join(chain)))
    if auto_submitted is not None:
        if not _KEYWORD.match(auto_submitted):
            raise ValueError(f"not an RFC 3834 Auto-Submitted keyword: {auto_submitted!r}")
        headers.append(("Auto-Submitted", auto_submitted))
        # Exchange's equivalent: do not answer this with out-of-office or delivery chatter.
        headers.append(("X-Auto-Response-Suppress", "All"))
    smtputf8 = needs_smtputf8(to_addr)
    if not attachments and not smtputf8:
        # The common letter (every acknowledgement): written directly, see `_plain_letter`.
        data = _plain_letter(headers, text, html)
    else:
        data = _built_letter(headers, text, html, attachments, smtputf8)
    _verify_headers(data, [name for name, _ in headers])
    return data


def _built_letter(
    headers: list[tuple[str, object]],
    text: str,
    html: str,
    attachments: Sequence[tuple[str, str, bytes]],
    smtputf8: bool,
) -> bytes:
    """Letters with attachments, or to a UTF-8 address, built with the email package."""
    # RFC 6532: a UTF-8 mailbox is written as UTF-8 in the header, not as an encoded-word.
    msg = EmailMessage(policy=email_policy.SMTPUTF8 if smtputf8 else POLICY)
    for name, value in headers:
        msg[name] = value
    # Quoted-printable keeps Swedish text mostly readable in the raw message.
    msg.set_content(text, charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    for name, content_type, data in attachments:
        ctype = content_type.strip().lower()
        if not _CONTENT_TYPE.match(ctype):
            raise ValueError(f"not a MIME content type: {content_type!r}")
        maintype, subtype = ctype.split("/")
        msg.add_attachment(
            bytes(data), maintype=maintype, subtype=subtype, filename=_attachment_name(name)
        )
    return msg.as_bytes()


_ATOM_LINE = re.compile(r"^[\x21-\x7e]+(?: [\x21-\x7e]+)*$")


def _header_line(name: str, value: object) -> str:
    """One header, folded to 78 octets where it has spaces to fold at.

    The email package's header objects were a tenth of a backlog's time; they are kept
    for the rare shapes below (a long ASCII display name that needs quoting, a long
    unstructured ASCII subject). Everything ours is ASCII (dates, Message-IDs, keywords)
    and folded at spaces; what a stranger supplies (a display name, a subject) is written
    as RFC 2047 encoded-words when it is not printable ASCII."""
    if isinstance(value, Address):
        text = str(value)
        if text.isascii() and _ATOM_LINE.match(text) and len(name) + 2 + len(text) <= 78:
            return f"{name}: {text}\r\n"
        words = _encoded_words(value.display_name)
        if not value.display_name.isascii() and len(words) == 1:
            # One word only: readers differ on the space between two in a display name.
            return _folded(name, [words[0], f"<{value.addr_spec}>"])
        return POLICY.header_factory(name, text).fold(policy=POLICY)
    text = str(value)
    if text.isascii() and _ATOM_LINE.match(text):
        if len(name) + 2 + len(text) <= POLICY.max_line_length or name != "Subject":
            return _folded(name, text.split(" "))
        return POLICY.header_factory(name, text).fold(policy=POLICY)
    if name == "Subject":
        return _folded(name, _encoded_words(text))
    return POLICY.header_factory(name, text).fold(policy=POLICY)


def _folded(name: str, words: Sequence[str]) -> str:
    """`name: w1 w2 …`, a new line (CRLF SP) before a word that would pass 78 octets."""
    lines, line = [], f"{name}:"
    for word in words:
        if len(line) + 1 + len(word) > POLICY.max_line_length and line != f"{name}:":
            lines.append(line)
            line = ""
        line = f"{line} {word}"
    lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def _encoded_words(text: str) -> list[str]:
    """RFC 2047 B-encoded UTF-8 words of at most 45 octets of text each (72 characters
    with the wrapper), split between characters, never inside one; a reader joins adjacent
    words without the folding space between them (RFC 2047 6.2)."""
    words, chunk, size = [], [], 0
    for char in text:
        octets = len(char.encode("utf-8"))
        if size + octets > 45:
            words.append(chunk)
            chunk, size = [], 0
        chunk.append(char)
        size += octets
    if chunk:
        words.append(chunk)
    return [
        "=?utf-8?b?" + base64.b64encode("".join(w).encode("utf-8")).decode("ascii") + "?="
        for w in words
    ]


def _qp_part(subtype: str, content: str) -> str:
    # As email.contentmanager does for cte="quoted-printable": lines normalised, QP at 78.
    lines = content.encode("utf-8").splitlines()
    encoded = quoprimime.body_encode(
        (b"\n".join(lines) + b"\n").decode("latin-1"), POLICY.max_line_length
    )
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + encoded.replace("\n", "\r\n")
    )


def _plain_letter(headers: list[tuple[str, object]], text: str, html: str) -> bytes:
    """multipart/alternative (text, HTML), both UTF-8 quoted-printable, written directly:
    the same structure `EmailMessage.set_content` + `add_alternative` build, at a fraction
    of the cost. The boundary cannot occur in a QP body ('=' is always encoded there)."""
    boundary = f"==============={random.randrange(10**18, 10**19)}=="
    head = "".join(_header_line(name, value) for name, value in headers)
    parts = [_qp_part("plain", text), _qp_part("html", html)]
    body = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"
    return (
        f"{head}MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n{body}'
    ).encode("ascii")


def message_bytes(msg: EmailMessage) -> bytes:
    """The bytes of a message as `compose_reply` built and verified them (serialised once:
    on a backlog, serialising every acknowledgement twice was a tenth of intake's time)."""
    data = _SERIALISED.get(msg)
    return data if data is not None else bytes(msg)


def _verify_headers(data: bytes, expected: list[str]) -> None:
    """Read our own serialised header block back: exactly the headers we set, nothing
    more, every line a field or a folded continuation ending in CRLF. A scan of the lines
    (RFC 5322 2.2: a field name, then a colon) rather than the email parser, which cost
    more than building the whole message; any line that is neither is refused, which is
    stricter than the parser, which would only note a defect."""
    head = data.split(b"\r\n\r\n", 1)[0]
    names = []
    for line in head.split(b"\r\n"):
        if len(line) > MAX_LINE_OCTETS:
            raise ValueError("refusing to send: a header line is over 998 octets (RFC 5322 2.1.1)")
        if b"\r" in line or b"\n" in line:
            raise ValueError("refusing to send: a bare CR or LF in the header block")
        if line[:1] in (b" ", b"\t"):
            continue  # a folded line
        name, colon, _ = line.partition(b":")
        if not colon or not _FIELD_NAME.match(name):
            raise ValueError("refusing to send: a header line is not a header field")
        names.append(name.decode("ascii").lower())
    allowed = {n.lower() for n in expected} | {"mime-version", "content-type"}
    extra = [n for n in names if n not in allowed]
    if extra or len(names) != len(set(names)):
        raise ValueError(f"refusing to send: serialised headers were altered ({names})")
