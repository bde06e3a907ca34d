"""One address rule for parse, store and compose (issue 13), strict like CVE-2023-27043's fix."""

from __future__ import annotations

import pytest

from dsr_bot.mail import address
from dsr_bot.mail.parse import parse_message, sniff_identity
from dsr_bot.replies.compose import addr_spec, compose_reply, needs_smtputf8
from dsr_bot.replies.context import acknowledgement_name


@pytest.mark.parametrize(
    ("header", "addr", "name"),
    [
        ("Björn Ek <björn.ek@exempel.se>", "björn.ek@exempel.se", "Björn Ek"),
        ("Åsa <åsa@företag.se>", "åsa@företag.se", "Åsa"),
        ('"Anna (anna@x.se)" <anna@x.se>', "anna@x.se", "Anna (anna@x.se)"),
        ("Anna (anna@x.se) <anna@x.se>", "anna@x.se", "Anna (anna@x.se)"),
        ("anna@localhost", "anna@localhost", None),
        ("anna@x.se (Anna Svensson)", "anna@x.se", "Anna Svensson"),
        ("=?utf-8?q?victim@target.example?= <attacker@x.org>", "attacker@x.org", None),
        ("=?utf-8?q?J=C3=B6rgen?= <j@x.se>", "j@x.se", "Jörgen"),
        ("Team: a@b.se, c@d.se;", "a@b.se", None),
        ("<@relay.example:anna@x.se>", "anna@x.se", None),
        ('"quoted local"@x.se', '"quoted local"@x.se', None),
        ("Anna (anna@x.se)", "anna@x.se", "Anna"),  # the address only in a comment
    ],
)
def test_from_forms(header: str, addr: str, name: str | None) -> None:
    raw = f"From: {header}\r\nSubject: s\r\n\r\nhej\r\n".encode()
    parsed = parse_message(raw)
    assert parsed.sender_email == addr
    if name is not None:
        assert parsed.sender_name == name


@pytest.mark.parametrize(
    "header",
    [
        'Anna <a@b.se> "trailing"',  # text after the angle-addr
        "<a@b.se> <c@d.se>",  # two angle-addrs in one mailbox
        '"unbalanced <a@b.se>',
        "Anna a@b.se",  # a phrase before a bare address: which is it?
        "<<a@b.se>>",
        "a@[127.0.0.1]",
        "a@-bad-.se",
        "Anna (anna@x.se) (b@y.se)",  # two candidates: nothing is chosen
    ],
)
def test_ambiguous_mailboxes_yield_no_address(header: str) -> None:
    assert address.mailboxes(header) == []
    assert parse_message(f"From: {header}\r\n\r\nhej\r\n".encode()).sender_email is None


def test_invalid_mailboxes_are_left_out_and_unbalanced_lists_refused() -> None:
    boxes = address.mailboxes("@, Anna <anna@x.se>, b@y.se")
    assert [b.address for b in boxes] == ["anna@x.se", "b@y.se"]
    # An unbalanced bracket makes every split a guess: no address at all (strict).
    assert address.mailboxes("broken <, Anna <anna@x.se>, b@y.se") == []


def test_limit_key_folds_case_and_tags() -> None:
    keys = {address.limit_key(a) for a in ("Name+0@Example.se", "name+49@example.se", "NAME@x")}
    assert keys == {"name@example.se", "name@x"}


@pytest.mark.parametrize(
    ("addr", "spec", "utf8"),
    [
        ("anna@x.se", "anna@x.se", False),
        ("björn.ek@exempel.se", "björn.ek@exempel.se", True),
        ("åsa@företag.se", "åsa@xn--fretag-wxa.se", True),
        ("anna@Münich.de", "anna@xn--mnich-kva.de", False),
    ],
)
def test_reply_address(addr: str, spec: str, utf8: bool) -> None:
    assert addr_spec(addr) == spec and needs_smtputf8(addr) is utf8


@pytest.mark.parametrize("addr", ["anna@localhost", '"a b"@x.se', "a..b@x.se", "a@b@c.se"])
def test_no_valid_reply_address(addr: str) -> None:
    with pytest.raises(ValueError):
        addr_spec(addr)


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("Anna Andersson", "Anna Andersson"),
        ("Björn Ek", "Björn Ek"),
        ("Click https://evil.example now", None),
        ("Visit www.evil.example", None),
        ("evil.com", None),
        ("Anna (anna@x.se)", None),
        ("A" * 61, None),
        ("javascript:alert(1)", None),
        (None, None),
    ],
)
def test_acknowledgement_name(name: str | None, kept: str | None) -> None:
    assert acknowledgement_name(name) == kept


def test_no_header_line_over_998_octets() -> None:
    mail = compose_reply(
        from_addr="dpo@micromedic.se",
        from_name="Micromedic",
        to_addr="anna@example.se",
        to_name="a" * 998,
        subject="s" * 998,
        text="x",
        html="<p>x</p>",
        in_reply_to=None,
        references=[],
        message_id="<1@micromedic.se>",
    )
    head = bytes(mail).split(b"\r\n\r\n")[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 998


def test_inbound_to_line_of_999_octets_is_read() -> None:
    to = b"To: " + b",".join(b"p%03d@micromedic.se" % i for i in range(60))
    to = (to + b"x" * 999)[:999]
    parsed = parse_message(b"From: anna@x.se\r\n" + to + b"\r\nSubject: s\r\n\r\nhej\r\n")
    assert parsed.ok and parsed.sender_email == "anna@x.se" and len(parsed.to) > 40


def test_sniff_identity_reads_the_header_block_alone() -> None:
    raw = (
        b"Subject: =?utf-8?q?Radera_mina_uppgifter?=\r\nFrom: Bj\xc3\xb6rn <bj\xc3\xb6rn@x.se>"
        b"\r\nMessage-ID: <m1@x.se>\r\nContent-Type: text/plain;" + b";" * 100_000 + b"\r\n\r\n"
    )
    assert sniff_identity(raw) == ("<m1@x.se>", "björn@x.se", "Björn", "Radera mina uppgifter")
    assert sniff_identity(b"\xff" * 1000) == (None, None, None, "")
