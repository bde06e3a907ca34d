"""Text out of mail bytes: charsets, RFC 2047 encoded-words, msg-ids and addresses.

Lenient on purpose. Real Swedish mail carries "iso-8859-1" labels on windows-1252 text,
raw 8-bit UTF-8 in headers (RFC 6532 allows it; older mailers do it anyway), encoded-words
split in the middle of a multi-byte character, and charset names no codec knows. Each of
these decodes to the most plausible text and, where we had to guess, leaves a warning.
"""

from __future__ import annotations

import binascii
import codecs
import re

MAX_HEADER_CHARS = 8_000

# WHATWG Encoding Standard: these labels mean windows-1252 in practice (it only adds
# printable characters where ISO-8859-1 has C1 controls nobody sends on purpose).
_WINDOWS_1252_LABELS = frozenset(
    {
        "iso-8859-1",
        "iso8859-1",
        "latin1",
        "latin-1",
        "l1",
        "iso_8859-1",
        "cp819",
        "ibm819",
        "windows-1252",
        "cp1252",
    }
)
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,60})\?([bBqQ])\?([^?\s]*)\?=")
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff\ufffe\uffff]")
_MSG_ID = re.compile(r"<([^<>\s]{1,990})>")
_ADDRESS = re.compile(r"[^\s@<>()\[\]\\,;:\"]{1,64}@[^\s@<>()\[\]\\,;:\"]{1,253}")


def codec_name(charset: str | None) -> str | None:
    """Python codec for a MIME charset label, or None when unknown or not a text codec."""
    label = (charset or "").strip().strip("\"'").lower()
    if not label or len(label) > 40:
        return None
    if label in _WINDOWS_1252_LABELS:
        return "cp1252"
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError, TypeError):
        return None
    # "charset=zlib" or "base64" names a bytes-to-bytes codec: a decompression bomb, not text.
    return info.name if getattr(info, "_is_text_encoding", True) else None


def _decode(data: bytes, codec: str, cut: bool) -> str:
    """Strict decode; with `cut`, forgive a multi-byte character cut off at the very end
    (we truncated a huge part). Without it a lone trailing "é" in Latin-1 would vanish."""
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        if not cut or exc.start < len(data) - 4 or exc.reason != "unexpected end of data":
            raise
        return data[: exc.start].decode(codec)


def guess_decode(data: bytes, cut: bool = False) -> str:
    """UTF-8 if it is valid UTF-8 (it rarely is by accident), else windows-1252."""
    try:
        return _decode(data, "utf-8", cut)
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def guess_decode_words(data: bytes) -> str:
    """Like `guess_decode`, word by word: one header may mix UTF-8 and windows-1252 when a
    client pastes into a field another client wrote."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(guess_decode(piece) for piece in re.split(rb"(\s+)", data))


def decode_bytes(
    data: bytes, charset: str | None, warnings: list[str], where: str, cut: bool = False
) -> str:
    """Decode with the declared charset; on failure fall back to a guess and say so."""
    name = codec_name(charset)
    if name is None:
        if charset:
            warnings.append(f"{where}: unknown charset {charset[:40]!r}, guessed")
        return guess_decode(data, cut)
    try:
        return _decode(data, name, cut)
    except (UnicodeDecodeError, LookupError, ValueError, TypeError):
        if name == "cp1252":  # five octets are unassigned in cp1252 but fine in ISO-8859-1
            return data.decode("latin-1")
        warnings.append(f"{where}: text is not valid {name}, guessed")
        return guess_decode(data, cut)


def clean_text(text: str) -> str:
    """Unix newlines, no NULs or other control characters (they break logs and Slack)."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def one_line(text: str) -> str:
    """Decoded header text for display: encoded-words may hide CR, LF or NUL (header
    injection into our reply or a Slack card), so they go here, after decoding."""
    return clean_text(text).replace("\n", " ").strip()


def header_text(raw: str) -> str:
    """A raw header value unfolded (RFC 5322 sect. 2.2.3), 8-bit octets decoded, one line."""
    raw = raw[:MAX_HEADER_CHARS]
    if any("\udc80" <= ch <= "\udcff" for ch in raw):
        raw = guess_decode_words(raw.encode("utf-8", "surrogateescape"))
    unfolded = re.sub(r"\r?\n(?=[ \t])", "", raw)
    return clean_text(unfolded.replace("\t", " ")).replace("\n", " ").strip()


_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NOT_B64 = bytes(b for b in range(256) if b not in _B64_ALPHABET)


def lenient_base64(data: bytes) -> bytes:
    """Base64 that survives junk characters, missing padding and truncation (RFC 2045 6.8:
    characters outside the alphabet are to be ignored)."""
    data = data.translate(None, _NOT_B64)
    data = data[: len(data) - (len(data) % 4 == 1)]
    return binascii.a2b_base64(data + b"=" * (-len(data) % 4))


def _word_bytes(encoding: str, text: str) -> bytes:
    data = text.encode("utf-8", "replace")
    if encoding in "bB":
        return lenient_base64(data)
    # RFC 2047 sect. 4.2: "_" is a space in the Q encoding.
    return _QP_ESCAPE.sub(lambda m: bytes([int(m[1], 16)]), data.replace(b"_", b" "))


def decode_words(value: str, warnings: list[str]) -> str:
    """Decode RFC 2047 encoded-words anywhere in `value`, leaving broken ones as they are.

    Adjacent words in one charset are joined before decoding, since mailers split words in
    the middle of a UTF-8 sequence; whitespace between encoded-words is dropped (sect. 6.2).
    """
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""
    pos = 0

    def flush() -> None:
        if pending:
            out.append(decode_bytes(b"".join(pending), pending_charset, warnings, "header"))
            pending.clear()

    for match in _ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        charset = match[1].split("*", 1)[0]  # RFC 2231 sect. 5: charset*language
        if between and not (between.isspace() and pending):
            flush()
            out.append(between)
        elif pending and charset.lower() != pending_charset.lower():
            flush()
        try:
            pending.append(_word_bytes(match[2], match[3]))
            pending_charset = charset
        except (binascii.Error, ValueError):
            flush()
            out.append(match[0])
            warnings.append("header: broken encoded-word left as is")
        pos = match.end()
    flush()
    out.append(value[pos:])
    return "".join(out)


def msg_ids(value: str) -> tuple[str, ...]:
    """Message-IDs in a header, "<...>"-normalised and de-duplicated (RFC 5322 sect. 3.6.4).

    A bare id without brackets (seen from some ticket systems) is accepted when it is the
    whole value and looks like one.
    """
    found = tuple(dict.fromkeys(f"<{m}>" for m in _MSG_ID.findall(value)))
    bare = value.strip()
    if not found and "@" in bare and _ADDRESS.fullmatch(bare):
        return (f"<{bare}>",)
    return found


def valid_address(addr: str) -> bool:
    """A plausible addr-spec; the one rule lives in mail/address.py (issue 13)."""
    from dsr_bot.mail.address import valid_address as rule

    return rule(addr)
