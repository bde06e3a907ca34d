"""The marketing suppression list: suppress(), its CSV export and the HTTP endpoint."""

from __future__ import annotations

import csv
import hashlib
import io
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from dsr_bot.cases.model import RequestType
from dsr_bot.cases.service import CasePolicy, open_case
from dsr_bot.fulfilment.suppression import (
    is_suppressed,
    mount_suppression,
    suppress,
    suppression_csv,
    suppression_entries,
    suppression_wsgi,
)
from dsr_bot.http.server import HttpServer
from dsr_bot.store import db
from dsr_bot.store.tables import Event, Suppression

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TOKEN = "s3cret-token-for-the-marketing-tool"


@pytest.fixture
def factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    yield db.session_factory(engine)
    engine.dispose()


def new_case(factory: sessionmaker[Session], email: str) -> int:
    with db.transaction(factory) as session:
        case = open_case(
            session,
            policy=CasePolicy(),
            now=NOW,
            received_at=NOW,
            types=[RequestType.MARKETING_OPTOUT],
            requester_email=email,
            requester_name=None,
            language="sv",
        )
        return case.id


def sha(address: str) -> str:
    return hashlib.sha256(address.encode()).hexdigest()


def rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def events(factory: sessionmaker[Session], action: str) -> list[Event]:
    with factory() as session:
        return list(session.execute(sa.select(Event).where(Event.action == action)).scalars())


def test_suppress_normalises_and_is_idempotent(factory: sessionmaker[Session]) -> None:
    first = new_case(factory, "Anna@Example.SE")
    second = new_case(factory, "anna@example.se")
    with db.transaction(factory) as session:
        assert suppress(session, "  <Anna@Example.SE> ", case_id=first, now=NOW, actor="slack:U1")
    with db.transaction(factory) as session:  # a retried click: no change, no new event
        assert not suppress(session, "anna@example.se", case_id=first, now=NOW, actor="slack:U1")
    later = NOW + timedelta(days=3)
    with db.transaction(factory) as session:  # the same person asks again in a new case
        assert not suppress(session, "ANNA@example.se", case_id=second, now=later)
    with factory() as session:
        entries = suppression_entries(session)
        assert is_suppressed(session, "anna@EXAMPLE.se")
        assert not is_suppressed(session, "anna@example.com")
    assert [(e.email, e.email_hash, e.case_id) for e in entries] == [
        ("anna@example.se", sha("anna@example.se"), first)
    ]
    added = events(factory, "suppression_added")
    confirmed = events(factory, "suppression_confirmed")
    assert [(e.case_id, e.actor) for e in added] == [(first, "slack:U1")]
    assert [(e.case_id, e.actor) for e in confirmed] == [(second, "system")]
    # The audit trail proves the opt-out by hash; it does not copy the address.
    assert added[0].detail == {"email_sha256": sha("anna@example.se")}
    assert "anna" not in str(confirmed[0].detail)


def test_not_an_address_is_refused(factory: sessionmaker[Session]) -> None:
    for bad in ("", "anna", "anna@localhost", "a b@example.se", "x@y.se\r\nBcc: z@y.se"):
        with db.transaction(factory) as session, pytest.raises(ValueError):
            suppress(session, bad, case_id=None, now=NOW)
    with factory() as session:
        assert suppression_entries(session) == []


def test_export_matches_the_suppress_calls(factory: sessionmaker[Session]) -> None:
    addresses = ["b@example.se", "A@Example.se", "=cmd|'/C'!A0@evil.example", "-x@example.se"]
    case_id = new_case(factory, "b@example.se")
    for n, address in enumerate(addresses):
        with db.transaction(factory) as session:
            suppress(session, address, case_id=case_id, now=NOW + timedelta(minutes=n))
    with factory() as session:
        entries = suppression_entries(session)
    plain = rows(suppression_csv(entries, hashed=False))
    hashed = rows(suppression_csv(entries, hashed=True))
    assert plain[0] == ["email", "added_at"] and hashed[0] == ["email_sha256", "added_at"]
    # In order of approval; formula-looking addresses are neutralised for spreadsheets.
    assert [r[0] for r in plain[1:]] == [
        "b@example.se",
        "a@example.se",
        "'=cmd|'/c'!a0@evil.example",
        "'-x@example.se",
    ]
    assert [r[0] for r in hashed[1:]] == [sha(a.lower()) for a in addresses]
    assert plain[1][1] == "2026-03-02T09:00:00+00:00"


def test_concurrent_opt_outs_of_one_address_list_it_once(factory: sessionmaker[Session]) -> None:
    def opt_out(_: int) -> bool:
        with db.transaction(factory) as session:
            return suppress(session, "race@example.se", case_id=None, now=NOW)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(opt_out, range(8)))
    assert results.count(True) == 1
    with factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Suppression)) == 1
    assert len(events(factory, "suppression_added")) == 1


# -- the HTTP endpoint ----------------------------------------------------------------------
@pytest.fixture
def endpoint(factory: sessionmaker[Session]) -> Iterator[str]:
    with db.transaction(factory) as session:
        suppress(session, "anna@example.se", case_id=None, now=NOW)
        suppress(session, "+46701234567@sms.example", case_id=None, now=NOW)
    server = HttpServer("127.0.0.1", 0)
    assert mount_suppression(server, factory, TOKEN)
    server.start()
    yield server.url
    server.stop()


def fetch(
    url: str, *, method: str = "GET", auth: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method)
    if auth is not None:
        request.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_endpoint_serves_the_list_with_the_token(endpoint: str) -> None:
    status, headers, body = fetch(endpoint + "/suppression.csv", auth=f"Bearer {TOKEN}")
    assert status == 200
    assert headers["Content-Type"].startswith("text/csv")
    assert headers["Cache-Control"] == "no-store"
    assert [r[0] for r in rows(body)] == ["email", "anna@example.se", "'+46701234567@sms.example"]
    status, _, body = fetch(endpoint + "/suppression.csv?hashed=1", auth=f"bearer {TOKEN}")
    assert status == 200
    assert [r[0] for r in rows(body)][1:] == [
        sha("anna@example.se"),
        sha("+46701234567@sms.example"),
    ]
    status, headers, body = fetch(
        endpoint + "/suppression.csv", method="HEAD", auth=f"Bearer {TOKEN}"
    )
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0


@pytest.mark.parametrize(
    "auth",
    [
        None,
        "",
        "Bearer",
        "Bearer wrong",
        f"Basic {TOKEN}",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
    ],
)
def test_endpoint_refuses_without_the_right_token(endpoint: str, auth: str | None) -> None:
    status, headers, body = fetch(endpoint + "/suppression.csv", auth=auth)
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Bearer realm="dsr-bot"'
    assert b"anna" not in body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_endpoint_is_read_only(endpoint: str, method: str) -> None:
    status, headers, _ = fetch(endpoint + "/suppression.csv", method=method, auth=f"Bearer {TOKEN}")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"


def test_endpoint_serves_nothing_else(endpoint: str) -> None:
    for path in ("/", "/suppression.csv/", "/suppression.json", "/../suppression.csv"):
        status, _, body = fetch(endpoint + path, auth=f"Bearer {TOKEN}")
        assert status == 404 and b"anna" not in body


def test_endpoint_refuses_to_start_without_a_token(factory: sessionmaker[Session]) -> None:
    with pytest.raises(ValueError, match="non-empty token"):
        suppression_wsgi(factory, "")
