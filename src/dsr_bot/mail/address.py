"""The one address rule: what parse, store, the per-sender limits and compose call an address.

Issue 13 found three rules that disagreed: the parser accepted `björn.ek@exempel.se` and
`anna@localhost`, compose refused them with a `ValueError` inside intake's savepoint, and
the whole decision (case, deadline, acknowledgement) was rolled back. Here:

- `mailboxes` splits an address-list header (RFC 5322 sect. 3.4) with one linear scan that
  knows quoted strings, comments and angle brackets. It is strict in the way Python made
  `email.utils.getaddresses` strict for CVE-2023-27043 (3.11.7 here lacks it): a mailbox
  whose structure is ambiguous (unbalanced quotes, brackets or comments, two angle-addrs,
  a phrase before a bare address) yields no address instead of a guess. Encoded-words
  (RFC 2047) are decoded only as display text, after the split, so
  `=?utf-8?q?victim@target.example?= <attacker@x>` names attacker@x, never the victim.
- `valid_address` is the store's rule: one addr-spec, RFC 6531/6532 internationalised local
  parts and domains allowed, single-label domains (`anna@localhost`) allowed, since a case
  must be opened for any real sender (Art. 12(2) GDPR: facilitate the exercise of rights).
- `reply_address` is compose's rule, stricter, with a reason staff can act on.
- `limit_key` is the per-sender counting key: lower-cased, RFC 5233 `+tag` removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_ADDRESS_CHARS = 320  # RFC 5321 sect. 4.5.3.1: 64 + "@" + 255
MAX_MAILBOXES = 100
MAX_SCAN_CHARS = 16_000  # headers are capped at 8 KB before this sees them

# Input is length-checked first, so these bounded patterns never see more than 320 chars.
_LOCAL_UNQUOTED = re.compile(r"[^\s@<>()\[\]\\,;:\"\x00-\x1f\x7f]{1,64}")
_LOCAL_QUOTED = re.compile(r'"(?:[^"\\\x00-\x1f\x7f]|\\[^\x00-\x1f]){0,62}"')
_LABEL = re.compile(r"(?!-)[^\W_](?:[\w-]{0,61}[^\W_])?", re.UNICODE)
_ASCII_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ASCII_LOCAL = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
# RFC 6531 sect. 3.3: a UTF-8 local part is a dot-atom whose atext also holds non-ASCII.
_UTF8_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010ffff-]+"
_UTF8_LOCAL = re.compile(rf"{_UTF8_ATEXT}(?:\.{_UTF8_ATEXT})*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

NO_VALID_REPLY_ADDRESS = "no valid reply address"


@dataclass(frozen=True)
class Mailbox:
    address: str  # as written (not lower-cased: RFC 5321 2.4 local parts are case-sensitive)
    display: str  # raw phrase or comment, encoded-words not yet decoded


def _domain_ok(domain: str) -> bool:
    if not domain or len(domain) > 255 or domain.endswith("."):
        return False
    return all(_LABEL.fullmatch(label) for label in domain.split("."))


def valid_address(addr: str) -> bool:
    """One plausible addr-spec (RFC 5322 3.4.1, RFC 6532 3.2), any length within RFC 5321."""
    if not addr or len(addr) > MAX_ADDRESS_CHARS or _CONTROL.search(addr):
        return False
    local, at, domain = addr.rpartition("@")
    if not at or not local or len(local) > 64 + 2:
        return False
    if not (_LOCAL_UNQUOTED.fullmatch(local) or _LOCAL_QUOTED.fullmatch(local)):
        return False
    return _domain_ok(domain)


def limit_key(addr: str) -> str:
    """The key per-sender limits count on: `Name+7@X.se` and `name@x.se` are one sender."""
    local, _, domain = addr.strip().rpartition("@")
    if not local:
        return addr.strip().lower()
    if not local.startswith('"'):
        local = local.split("+", 1)[0]
    return f"{local.lower()}@{domain.lower()}"


def ascii_domain(domain: str) -> str:
    """The domain as A-labels (RFC 5890); ValueError when it is not a mail domain at all."""
    try:
        converted = domain.rstrip(".").encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(NO_VALID_REPLY_ADDRESS) from None
    labels = converted.split(".")
    if len(converted) > 253 or len(labels) < 2 or not all(map(_ASCII_LABEL.fullmatch, labels)):
        raise ValueError(NO_VALID_REPLY_ADDRESS)
    return converted.lower()


def reply_address(addr: str) -> tuple[str, str, bool]:
    """(local part, A-label domain, needs SMTPUTF8) for a letter to `addr`, else ValueError.

    Stricter than `valid_address`: a dot-atom local part (RFC 6531 allows UTF-8 in it, and
    then the relay must offer SMTPUTF8), and a public multi-label domain. Quoted local parts
    are refused: rare in real mail and a favourite of injection tricks.
    """
    if not valid_address(addr) or "=?" in addr:
        raise ValueError(NO_VALID_REPLY_ADDRESS)
    local, _, domain = addr.rpartition("@")
    if len(local.encode()) > 64:
        raise ValueError(NO_VALID_REPLY_ADDRESS)
    if _ASCII_LOCAL.fullmatch(local):
        return local, ascii_domain(domain), False
    if _UTF8_LOCAL.fullmatch(local):
        return local, ascii_domain(domain), True
    raise ValueError(NO_VALID_REPLY_ADDRESS)


def _split(value: str) -> list[str] | None:
    """Top-level mailboxes of an address list, or None when quotes/brackets do not balance.

    One pass; group syntax (`Team: a@x, b@y;`) is flattened, its name dropped.
    """
    pieces: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    comment = angle = 0
    for ch in value[:MAX_SCAN_CHARS]:
        if escaped:
            escaped = False
        elif ch == "\\" and (quoted or comment):
            escaped = True
        elif quoted:
            quoted = ch != '"'
        elif comment:
            comment += (ch == "(") - (ch == ")")
        elif ch == '"':
            quoted = True
        elif ch == "(":
            comment = 1
        elif ch == "<":
            angle += 1
            if angle > 1:
                return None
        elif ch == ">":
            angle -= 1
            if angle < 0:
                return None
        elif not angle and ch in ",;":
            pieces.append("".join(current))
            current = []
            continue
        elif not angle and ch == ":":
            current = []  # a group's display name: not a mailbox
            continue
        current.append(ch)
        if len(pieces) > MAX_MAILBOXES:
            break
    if quoted or comment or angle or escaped:
        return None
    pieces.append("".join(current))
    return [p for p in pieces if p.strip()]


def _mailbox(piece: str) -> Mailbox | None:
    """One mailbox: `phrase <addr>` or `addr (comment)`; None when ambiguous (strict)."""
    outside: list[str] = []  # text outside comments and the angle-addr
    comments: list[str] = []
    inside: list[str] = []
    after_angle = False
    state = "text"
    depth = 0
    escaped = False
    for ch in piece:
        if state == "quoted":
            outside.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                state = "text"
        elif state == "comment":
            if escaped:
                escaped = False
                comments.append(ch)
            elif ch == "\\":
                escaped = True
            elif ch == "(":
                depth += 1
                comments.append(ch)
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    state = "text"
                    comments.append(" ")
                else:
                    comments.append(ch)
            else:
                comments.append(ch)
        elif state == "angle":
            if ch == ">":
                state = "text"
                after_angle = True
            else:
                inside.append(ch)
        elif ch == '"':
            if after_angle:
                return None
            state = "quoted"
            outside.append(ch)
        elif ch == "(":
            state, depth = "comment", 1
        elif ch == "<":
            if after_angle:
                return None
            state = "angle"
        elif after_angle and not ch.isspace():
            return None  # text after the angle-addr: not one mailbox
        else:
            outside.append(ch)
    phrase = "".join(outside).strip()
    comment = " ".join("".join(comments).split())
    if after_angle:
        addr = "".join(inside).strip()
        if ":" in addr:  # RFC 5322 4.4 obsolete source route "@a,@b:addr": keep the addr
            addr = addr.rsplit(":", 1)[1].strip()
        display = phrase if phrase else comment
        if not phrase and comment:
            display = comment
        elif comment:
            display = f"{phrase} ({comment})"
        return Mailbox(addr, display)
    # A bare addr-spec: one token (a quoted local part may hold spaces), any name a comment.
    if not phrase or (not phrase.startswith('"') and any(c.isspace() for c in phrase)):
        return None
    return Mailbox(phrase, comment)


def mailboxes(value: str) -> list[Mailbox]:
    """Every mailbox of an address-list header, strictly parsed; invalid ones are left out."""
    pieces = _split(value)
    if pieces is None:
        return []
    found = []
    for piece in pieces[:MAX_MAILBOXES]:
        box = _mailbox(piece)
        if box is not None and valid_address(box.address):
            found.append(box)
    return found


def address_in_comment(value: str) -> Mailbox | None:
    """`Anna (anna@x.se)`: no addr-spec at all, but exactly one address in a comment.

    Some clients write the address only there. With one candidate nothing is being chosen
    between (the CVE-2023-27043 concern), and parking a real sender as "no sender" would
    lose a request; the caller records that the address was recovered.
    """
    pieces = _split(value)
    if pieces is None or len(pieces) != 1:
        return None
    piece = pieces[0]
    if "<" in piece or piece.count("(") != 1 or not piece.rstrip().endswith(")"):
        return None
    phrase, _, comment = piece.partition("(")
    candidate = comment.rstrip()[:-1].strip()
    if "@" in phrase or not valid_address(candidate):
        return None
    return Mailbox(candidate, phrase.strip())


def unquote(phrase: str) -> str:
    """Display text of a phrase: quoted-strings unquoted, quoted-pairs resolved (RFC 5322 3.2.4)."""
    out: list[str] = []
    escaped = False
    for ch in phrase:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch != '"':
            out.append(ch)
    return "".join(out).strip()
