"""Single active instance: exactly one leader, and a standby takes over when it dies."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from dsr_bot.jobs import leader
from dsr_bot.jobs.leader import (
    FileLeaderLock,
    PostgresLeaderLock,
    leader_lock_for,
    run_while_leader,
)

HOLD_LOCK = """
import sys
from dsr_bot.jobs.leader import leader_lock_for
lock = leader_lock_for(sys.argv[1])
assert lock.acquire()
print("leader", flush=True)
sys.stdin.read()
"""


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> float:
    """Poll an outside event (a dying process); returns how long it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not true within {timeout}s")
        time.sleep(0.05)
    return time.monotonic() - start


def test_exactly_one_leader_then_failover_on_release(database_url: str) -> None:
    a, b = leader_lock_for(database_url), leader_lock_for(database_url)
    try:
        assert a.acquire() is True
        assert b.acquire() is False
        assert a.acquire() is True  # re-entrant for the holder
        assert a.still_held() and not b.still_held()
        a.release()
        assert not a.still_held()
        assert b.acquire() is True
        assert a.acquire() is False
    finally:
        a.release()
        b.release()


def test_standby_takes_over_when_the_leader_process_is_killed(database_url: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, database_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    standby = leader_lock_for(database_url)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "leader"
        assert standby.acquire() is False
        holder.kill()  # SIGKILL: no clean-up code runs in the leader
        holder.wait(10)
        took = wait_for(standby.acquire)
        assert took < 60  # issue 5: "within a minute"; in practice well under a second
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        standby.release()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgres_leader_steps_down_when_its_session_is_terminated(database_url: str) -> None:
    url = database_url
    a, b = PostgresLeaderLock(url), PostgresLeaderLock(url)
    admin = sa.create_engine(url)
    try:
        assert a.acquire()
        assert not b.acquire()
        with admin.begin() as conn:
            # What the server does to a leader whose network died (after TCP keepalive).
            killed = conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND granted "
                    "AND ((classid::bigint << 32) | objid::bigint) = :key"
                ),
                {"key": a.key},
            ).all()
        assert killed == [(True,)]
        wait_for(b.acquire)
        assert a.still_held() is False
        assert a.acquire() is False
    finally:
        a.close()
        b.close()
        admin.dispose()


def test_installations_in_separate_schemas_elect_separate_leaders() -> None:
    assert leader.advisory_key("test", "t_one") != leader.advisory_key("test", "t_two")
    assert leader.advisory_key("test", "public") == leader.advisory_key("test", "public")


def test_sqlite_lock_file_sits_next_to_the_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    lock = leader_lock_for(url)
    assert isinstance(lock, FileLeaderLock)
    assert lock.path == tmp_path / "bot.sqlite3.leader.lock"
    with pytest.raises(ValueError, match="memory"):
        leader_lock_for("sqlite://")


def test_run_while_leader_hands_over_between_instances(database_url: str) -> None:
    """Two instances in threads: only one leads; stopping it lets the other lead."""
    started: list[str] = []
    events = {name: threading.Event() for name in ("a", "b", "a-led", "b-led")}
    stops = {"a": threading.Event(), "b": threading.Event()}

    def lead_as(name: str) -> Callable[[threading.Event], None]:
        def lead(stepping_down: threading.Event) -> None:
            started.append(name)
            events[f"{name}-led"].set()
            stepping_down.wait()

        return lead

    locks = {name: leader_lock_for(database_url) for name in ("a", "b")}
    threads = {
        name: threading.Thread(
            target=run_while_leader,
            args=(locks[name], stops[name], lead_as(name)),
            kwargs={"poll_seconds": 0.02},
        )
        for name in ("a", "b")
    }
    threads["a"].start()
    assert events["a-led"].wait(10)
    threads["b"].start()
    # b polls many times while a leads; none of its polls may succeed
    for _ in range(20):
        assert not events["b-led"].wait(0.02)
    stops["a"].set()
    threads["a"].join(10)
    assert events["b-led"].wait(10)
    stops["b"].set()
    threads["b"].join(10)
    assert started == ["a", "b"]
    assert not threads["a"].is_alive() and not threads["b"].is_alive()
