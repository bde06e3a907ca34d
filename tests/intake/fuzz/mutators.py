"""Mutators for the fuzz stage (issue 13): seeded, so a failing input can be rebuilt.

Each mutator takes a message and a `random.Random` and returns new bytes. They aim where
mail parsers break: header syntax (folding, encoded-words, parameters, addresses), MIME
structure (boundaries, nesting, transfer encodings, charsets) and plain byte damage. Sizes
stay small (a few hundred KB at most) so 20,000 runs fit the CI budget; the large hostile
shapes are in `hostile.py`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

Mutator = Callable[[bytes, random.Random], bytes]

SAMPLES = Path(__file__).resolve().parents[2] / "mail_samples"

FROM_FORMS = (
    b"Bj\xc3\xb6rn Ek <bj\xc3\xb6rn.ek@exempel.se>",
    b"\xc3\x85sa <\xc3\xa5sa@f\xc3\xb6retag.se>",
    b'"Anna (anna@x.se)" <anna@x.se>',
    b"Anna (anna@x.se) <anna@x.se>",
    b"anna@localhost",
    b"=?utf-8?q?victim@target.example?= <attacker@example.org>",
    b'"a\\"b" <"quoted local"@x.se>',
    b"a@b.se, c@d.se",
    b"Group: a@b.se, c@d.se;",
    b"<@route,@r2:anna@x.se>",
    b"name+tag@example.se (comment (nested))",
    b"<<a@b.se>>",
    b'"unbalanced <a@b.se>',
    b"=?utf-8?b?QW5uYQ0KQmNjOiB4QHkuc2U=?= <a@b.se>",
    b"a@[127.0.0.1]",
    b"@",
    b"",
)
HEADER_NAMES = (
    b"From", b"To", b"Cc", b"Reply-To", b"Subject", b"Message-ID", b"In-Reply-To",
    b"References", b"Date", b"Content-Type", b"Content-Transfer-Encoding",
    b"Content-Disposition", b"MIME-Version", b"Auto-Submitted", b"Precedence", b"List-Id",
    b"Return-Path", b"X-Auto-Response-Suppress",
)  # fmt: skip
FRAGMENTS = (
    b"=?utf-8?q?a?=", b"=?utf-8?b?w6Q=?=", b"=?x-unknown?q?=FF?=", b"=?utf-8?q?", b"?=",
    b";", b'"', b"\\", b"(", b")", b"<", b">", b",", b":", b"@", b"=", b"*", b"'",
    b"charset*=utf-8''%C3%A4", b"name*0=a; name*1=b", b"boundary=", b"\x00", b"\r", b"\n",
    b"\r\n ", b"\t", b"\xff\xfe", b"\xc3", b"\xe2\x80\xa8", b"multipart/mixed",
    b"message/rfc822", b"text/html", b"base64", b"quoted-printable", b"=\r\n", b"--",
)  # fmt: skip
CHARSETS = (b"utf-8", b"iso-8859-1", b"windows-1252", b"zlib", b"base64", b"utf-7", b"x-bogus")


def seeds() -> list[bytes]:
    found = [p.read_bytes() for p in sorted(SAMPLES.glob("*.eml"))]
    plain = (
        b"From: Anna <anna@example.se>\r\nTo: privacy@micromedic.se\r\n"
        b"Subject: Radera mina uppgifter\r\nMessage-ID: <seed@example.se>\r\n"
        b"Date: Mon, 3 Mar 2025 10:00:00 +0100\r\n\r\n"
        b"Hej, radera alla mina personuppgifter enligt artikel 17. Anna\r\n"
    )
    multi = (
        b"From: a@b.se\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n--XX\r\n'
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Beg\xc3\xa4ran om registerutdrag\r\n--XX\r\n"
        b'Content-Type: application/pdf; name="id.pdf"\r\nContent-Transfer-Encoding: base64'
        b"\r\n\r\nJVBERi0xLjQK\r\n--XX--\r\n"
    )
    return [*found, plain, multi]


def _split(msg: bytes) -> tuple[list[bytes], bytes]:
    head, sep, body = msg.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = msg.partition(b"\n\n")
    return head.splitlines(), body


def _join(lines: list[bytes], body: bytes) -> bytes:
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def flip_bytes(msg: bytes, rng: random.Random) -> bytes:
    data = bytearray(msg)
    for _ in range(rng.randint(1, 20)):
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def insert_fragments(msg: bytes, rng: random.Random) -> bytes:
    data = msg
    for _ in range(rng.randint(1, 10)):
        at = rng.randint(0, len(data))
        data = data[:at] + rng.choice(FRAGMENTS) * rng.choice((1, 1, 3, 50, 500)) + data[at:]
    return data


def swap_from(msg: bytes, rng: random.Random) -> bytes:
    lines, body = _split(msg)
    lines = [line for line in lines if not line.lower().startswith(b"from:")]
    lines.insert(rng.randint(0, len(lines)), b"From: " + rng.choice(FROM_FORMS))
    return _join(lines, body)


def add_header(msg: bytes, rng: random.Random) -> bytes:
    lines, body = _split(msg)
    value = b"".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 40)))
    value *= rng.choice((1, 1, 10, 200))
    lines.insert(rng.randint(0, len(lines)), rng.choice(HEADER_NAMES) + b": " + value)
    return _join(lines, body)


def long_header(msg: bytes, rng: random.Random) -> bytes:
    lines, body = _split(msg)
    unit = rng.choice((b";", b"; a=b", b" =?utf-8?q?a?=", b"a", b"(", b'"', b"\r\n a"))
    lines.insert(0, rng.choice(HEADER_NAMES) + b": text/plain" + unit * rng.randint(1000, 40_000))
    return _join(lines, body)


def fold_headers(msg: bytes, rng: random.Random) -> bytes:
    lines, body = _split(msg)
    out = []
    for line in lines:
        if len(line) > 4 and rng.random() < 0.5:
            cut = rng.randint(1, len(line) - 1)
            line = line[:cut] + rng.choice((b"\r\n ", b"\r\n\t", b"\n ", b"\r\n")) + line[cut:]
        out.append(line)
    return _join(out, body)


def drop_lines(msg: bytes, rng: random.Random) -> bytes:
    lines = msg.splitlines(keepends=True)
    for _ in range(rng.randint(1, 5)):
        if lines:
            del lines[rng.randrange(len(lines))]
    return b"".join(lines)


def duplicate_lines(msg: bytes, rng: random.Random) -> bytes:
    lines = msg.splitlines(keepends=True)
    if not lines:
        return msg
    at = rng.randrange(len(lines))
    return b"".join(lines[:at] + [lines[at]] * rng.randint(2, 2000) + lines[at:])


def truncate(msg: bytes, rng: random.Random) -> bytes:
    return msg[: rng.randint(0, len(msg))]


def nest_multipart(msg: bytes, rng: random.Random) -> bytes:
    depth = rng.randint(1, 60)
    head = b"From: a@b.se\r\nMIME-Version: 1.0\r\n"
    parts = []
    for n in range(depth):
        parts.append(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n))
    closing = b"".join(b"\r\n--b%d--\r\n" % n for n in reversed(range(depth)))
    return head + b"".join(parts) + msg + closing


def change_charset(msg: bytes, rng: random.Random) -> bytes:
    lines, body = _split(msg)
    lines = [ln for ln in lines if not ln.lower().startswith(b"content-type:")]
    cte = rng.choice((b"8bit", b"base64", b"quoted-printable", b"7bit", b"x-uuencode"))
    lines.append(b"Content-Type: text/plain; charset=" + rng.choice(CHARSETS))
    lines.append(b"Content-Transfer-Encoding: " + cte)
    return _join(lines, body)


def splice(msg: bytes, rng: random.Random) -> bytes:
    other = rng.choice(_SEEDS)
    return msg[: rng.randint(0, len(msg))] + other[rng.randint(0, len(other)) :]


def many_parts(msg: bytes, rng: random.Random) -> bytes:
    count = rng.randint(2, 400)
    part = b'--P\r\nContent-Type: text/plain; name="p"\r\n\r\nhej\r\n'
    return (
        b'From: a@b.se\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="P"'
        b"\r\n\r\n" + part * count + b"--P--\r\n"
    )


MUTATORS: tuple[Mutator, ...] = (
    flip_bytes, insert_fragments, swap_from, add_header, long_header, fold_headers,
    drop_lines, duplicate_lines, truncate, nest_multipart, change_charset, splice, many_parts,
)  # fmt: skip
_SEEDS = seeds()


def mutated(seed: int, count: int) -> Iterator[bytes]:
    """`count` messages, each one to three mutations of a seed message, reproducibly
    (generated one at a time, so the run's memory is one message, not all of them)."""
    rng = random.Random(seed)
    for _ in range(count):
        msg = rng.choice(_SEEDS)
        for _ in range(rng.randint(1, 3)):
            msg = rng.choice(MUTATORS)(msg, rng)
            if len(msg) > 2_000_000:
                msg = msg[:2_000_000]
        yield msg
