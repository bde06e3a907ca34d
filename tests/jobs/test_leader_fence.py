"""Fencing the leader (issue 16): a replaced leader cannot write, each scheduled due time runs
once, a standby is ready only while somebody leads, and outages are told from mistakes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
import sqlalchemy.dialects.postgresql

from dsr_bot.http import health
from dsr_bot.jobs.leader import (
    LeadershipLost,
    LeaderState,
    Lease,
    PostgresLeaderLock,
    fenced_factory,
    leader_lock_for,
)
from dsr_bot.jobs.scheduler import claim_run
from dsr_bot.outbox import Breaker
from dsr_bot.store.db import is_transient
from dsr_bot.store.tables import MailboxState
from tests.ops_support import open_db


def write(factory, name: str) -> None:  # type: ignore[no-untyped-def]
    with factory() as session, session.begin():
        session.add(MailboxState(mailbox=name, uidvalidity=1, last_uid=0, updated_at=_now()))


def _now() -> datetime:
    return datetime.now(UTC)


def rows(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(MailboxState.mailbox)).scalars())


def test_a_replaced_leader_cannot_write(database_url: str) -> None:
    engine, _ = open_db(database_url)
    a, b = Lease(engine, instance="a"), Lease(engine, instance="b")
    fa, fb = fenced_factory(engine, a), fenced_factory(engine, b)
    with pytest.raises(LeadershipLost):
        write(fa, "before election")  # not elected: no write
    assert a.claim() and a.epoch is not None
    assert not b.claim()  # a's heartbeat is fresh: b waits it out
    write(fa, "a leads")
    assert health.leadership_check(LeaderState(b))().ok  # standby: somebody leads
    epoch_a = a.epoch
    # a falls silent (no resign, no heartbeat); b takes over once a's lease has run out
    b.ttl = 0.0
    assert b.claim() and b.epoch == epoch_a + 1
    with pytest.raises(LeadershipLost, match="epoch"):
        write(fa, "a after b took over")
    write(fb, "b leads")
    assert rows(engine) == ["a leads", "b leads"]
    assert not a.renew()  # a's heartbeat is refused: it steps down
    b.resign()
    state = LeaderState(a)
    result = health.leadership_check(state)()
    assert not result.ok and "no instance leads" in result.detail
    engine.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgres_leader_whose_lock_session_died_stops_before_its_next_write(
    database_url: str,
) -> None:
    engine, _ = open_db(database_url)
    lock = leader_lock_for(database_url)
    assert isinstance(lock, PostgresLeaderLock)
    lease = Lease(engine, lock, instance="a")
    factory = fenced_factory(engine, lease)
    try:
        assert lock.acquire() and lease.claim()
        write(factory, "while held")
        with engine.begin() as conn:  # what a database restart does to the lock session
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": lock.backend_pid})
        with pytest.raises(LeadershipLost, match="session"):
            write(factory, "after the session died")
        assert not lock.still_held()
        assert lock.acquire() and lease.claim()  # the free lock is taken back at once
        write(factory, "taken back")
        assert rows(engine) == ["taken back", "while held"]
    finally:
        lock.close()
        engine.dispose()


def test_a_scheduled_due_time_runs_once(database_url: str) -> None:
    engine, factory = open_db(database_url)
    due = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    assert claim_run(factory, "daily_digest", due, 1) is True
    assert claim_run(factory, "daily_digest", due, 2) is False  # another instance, a restart
    assert claim_run(factory, "retention_purge", due, 2) is True
    assert claim_run(factory, "daily_digest", due.replace(day=8), 2) is True
    engine.dispose()


def test_breaker_paces_probes_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    breaker = Breaker("mail", initial=1.0, maximum=8.0, clock=lambda: now[0])
    assert breaker.allows() and breaker.wait_seconds() is None
    with caplog.at_level("WARNING"):
        for _ in range(6):
            breaker.failed("ConnectionRefusedError")
            assert not breaker.allows()
            now[0] += breaker.wait_seconds() or 0.0
            assert breaker.allows()
    assert breaker.wait_seconds() == 0.0
    assert len([r for r in caplog.records if "transport failing" in r.message]) == 1
    breaker.failed("ConnectionRefusedError")
    assert breaker.wait_seconds() == 8.0  # capped
    assert breaker.succeeded() is not None and breaker.allows()
    assert breaker.succeeded() is None


def test_outage_is_not_a_configuration_error() -> None:
    def op(message: str) -> sa.exc.OperationalError:
        return sa.exc.OperationalError("SELECT 1", {}, Exception(message))

    assert is_transient(op("connection failed: connection refused\n\tIs the server running"))
    assert is_transient(op("FATAL: the database system is starting up"))
    assert not is_transient(op('FATAL: password authentication failed for user "dsrbot"'))
    assert not is_transient(op('FATAL: database "dsrbot" does not exist'))
