"""Hostile messages from the issue 13 probe, built here so tests, fuzz and bench share them.

Each is at most about 1 MB, well under DSR_BOT_MAX_MESSAGE_BYTES: the point is that size
alone does not bound what a parser spends on a message, its header shapes do.
"""

from __future__ import annotations

HEAD = (
    b"From: Anna Andersson <anna@example.se>\r\nTo: privacy@micromedic.se\r\n"
    b"Subject: Radera mina uppgifter\r\nDate: Mon, 3 Mar 2025 10:00:00 +0100\r\n"
    b"Message-ID: <hostile-%d@example.se>\r\nMIME-Version: 1.0\r\n"
)
BODY = b"Hej, jag vill att ni raderar alla mina personuppgifter enligt artikel 17.\r\n"


def rfc2047_bomb(size: int = 1_000_000) -> bytes:
    """A Content-Type made of ~1 MB of RFC 2047 encoded-words (drove the parse to 6.4 GB)."""
    word = b" =?utf-8?q?a?="
    value = b"text/plain;" + word * (size // len(word))
    return HEAD % 1 + b"Content-Type: " + value + b"\r\n\r\n" + BODY


def long_content_type(size: int = 100_000) -> bytes:
    """A plain but long Content-Type (quadratic in the header registry: 100 KB took 28 s)."""
    value = b"text/plain" + b";" * size
    return HEAD % 2 + b"Content-Type: " + value + b"\r\n\r\n" + BODY


def many_long_part_types(parts: int = 40, each: int = 26_000) -> bytes:
    """1 MB of 40 parts, each with a 26 KB Content-Type (took 41 s)."""
    out = [HEAD % 3, b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n']
    for n in range(parts):
        ctype = b"text/plain; name=p" + str(n).encode() + b"; a=b" * (each // 5)
        out += [b"--b\r\nContent-Type: ", ctype, b"\r\n\r\n", BODY]
    out.append(b"--b--\r\n")
    return b"".join(out)


def params_storm(size: int = 8_000) -> bytes:
    """Semicolons and an odd quote: email.message._parseparam rescans the prefix per ';'."""
    value = b'text/plain; a="' + b";" * size
    return HEAD % 4 + b"Content-Type: " + value + b"\r\n\r\n" + BODY


def many_headers(count: int = 50_000) -> bytes:
    """Tens of thousands of short headers: the header budget, not a per-header cap, holds."""
    lines = b"".join(b"X-H%d: v\r\n" % n for n in range(count))
    return HEAD % 5 + lines + b"Content-Type: text/plain\r\n\r\n" + BODY


HOSTILE = {
    "rfc2047_bomb_1mb": rfc2047_bomb,
    "long_content_type_100kb": long_content_type,
    "40_parts_x_26kb_content_type": many_long_part_types,
    "param_semicolon_storm": params_storm,
    "50k_headers": many_headers,
}
