"""One active instance: only the leader runs the scheduler and the IMAP listener.

Several instances may run against one PostgreSQL for availability. Two IMAP IDLE sessions and
two schedulers would only add noise (and a scheduled job must run once), so the instances
elect a leader with what the database already offers, and fence its work:

* Election. PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) on a dedicated
  connection held open while leading; when the leader dies its session ends and the server
  drops the lock. SQLite: one host, so an OS file lock (`flock`) next to the database file,
  which the kernel releases even on kill -9. Standbys try every `STANDBY_POLL_SECONDS`, so a
  free lock is taken at once.
* Lease and fence. The lock alone cannot stop a leader whose lock session died while its
  connection pool reconnected (a database restart): it would go on working next to the new
  leader. So an election also bumps an epoch in the `leader_lease` row, and every transaction
  of the leader's work (intake, outbox claims, scheduled jobs) first locks that row (`FOR KEY
  SHARE`) and checks the epoch and, on PostgreSQL, that its lock session still holds the lock
  (`fenced_factory`). A replaced leader cannot write; it steps down at its next heartbeat.
  The heartbeat in the same row lets standbys and `/readyz` tell "another instance leads" from
  "nobody leads", and a new leader waits out the old one's lease before starting.
* Outages. No database error ends the process: the loop retries with backoff, logging a line
  a minute, and the leader steps down once it cannot renew its lease.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from filelock import FileLock, Timeout
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from dsr_bot import metrics
from dsr_bot.store.db import LeadershipLost
from dsr_bot.store.tables import LeaderLease

log = logging.getLogger(__name__)

# Kept for callers that name it: the standby poll (it was 15 s before issue 16).
POLL_SECONDS = 0.5


class LeaderLock(Protocol):
    def acquire(self) -> bool:
        """Try once, without blocking; True if this instance now leads (or already did)."""
        ...

    def still_held(self) -> bool:
        """False once leadership is lost (e.g. the database connection died)."""
        ...

    def release(self) -> None: ...


def advisory_key(database: str, schema: str) -> int:
    """A signed 64-bit lock id per database and schema, so two installations sharing one
    PostgreSQL server (or one database, in separate schemas) elect separate leaders."""
    digest = hashlib.sha256(f"dsr-bot leader:{database}:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresLeaderLock:
    """`pg_try_advisory_lock` on a connection of its own, outside any pool."""

    def __init__(self, url: sa.URL | str, *, key: int | None = None) -> None:
        # NullPool: closing the connection really ends the session and so frees the lock.
        # connect_timeout: a host that drops packets must not stall the election for minutes.
        self._engine = sa.create_engine(
            url, poolclass=NullPool, connect_args={"connect_timeout": 5}
        )
        self._key = key
        self._conn: sa.Connection | None = None
        self.backend_pid: int | None = None

    @property
    def key(self) -> int | None:
        return self._key

    def acquire(self) -> bool:
        if self._conn is not None:
            return self.still_held()
        conn = self._engine.connect()
        try:
            if self._key is None:
                database, schema = conn.execute(
                    sa.text("SELECT current_database(), current_schema()")
                ).one()
                self._key = advisory_key(database, schema or "public")
            got, pid = conn.execute(
                sa.text("SELECT pg_try_advisory_lock(:key), pg_backend_pid()"), {"key": self._key}
            ).one()
            # Autobegun transaction: commit it so the session is idle, not "idle in transaction".
            conn.commit()
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        self.backend_pid = int(pid)
        return True

    def still_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            held = self._conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND pid = pg_backend_pid() AND granted "
                    "AND ((classid::bigint << 32) | objid::bigint) = :key"
                ),
                {"key": self._key},
            ).scalar_one()
            self._conn.commit()
        except sa.exc.DBAPIError:
            log.warning("leader lock session lost")
            self._drop()
            return False
        if not held:
            self._drop()
        return bool(held)

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            self._conn.commit()
        except sa.exc.DBAPIError:
            pass  # the session is gone, and the lock with it
        self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sa.exc.DBAPIError):
                self._conn.close()
            self._conn = None
        self.backend_pid = None

    def close(self) -> None:
        self.release()
        self._engine.dispose()


class FileLeaderLock:
    """An `flock` on `<database file>.leader.lock` (SQLite: all instances share one host)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        # thread_local=False: the lock is taken in one thread and checked from another.
        # preserve_lock_file: unlinking on release would let a waiter lock a dead inode while
        # a newcomer locks a fresh file, electing two leaders. No soft (O_EXCL) fallback: a
        # soft lock survives a crashed holder.
        self._lock = FileLock(
            str(self.path),
            thread_local=False,
            preserve_lock_file=True,
            fallback_to_soft=False,
        )

    def acquire(self) -> bool:
        if self._lock.is_locked:
            return True
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return False
        return True

    def still_held(self) -> bool:
        return self._lock.is_locked

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)


def lock_path_for(database_url: str) -> Path:
    database = sa.make_url(database_url).database
    if not database or database == ":memory:":
        raise ValueError("leader election on SQLite needs a database file, not :memory:")
    return Path(database).resolve().with_name(Path(database).name + ".leader.lock")


def leader_lock_for(database_url: str) -> LeaderLock:
    if database_url.startswith("sqlite"):
        return FileLeaderLock(lock_path_for(database_url))
    return PostgresLeaderLock(database_url)


# -- fencing: the lease row ------------------------------------------------------------------
# The leader renews its heartbeat every HEARTBEAT_SECONDS. A standby that holds the lock takes
# the lease only once the old holder's heartbeat is LEASE_SECONDS old (database time), and a
# leader that could not renew for LEASE_SECONDS - HEARTBEAT_SECONDS steps down by itself, so
# the two never believe they lead at once. The fence, not the clock, is what keeps writes safe.
HEARTBEAT_SECONDS = 0.5
LEASE_SECONDS = 3.0
# Standbys try the lock this often: a free lock is taken at once, not after a long poll.
STANDBY_POLL_SECONDS = 0.5
# While the database is away, try again at most this far apart (and log once a minute).
OUTAGE_RETRY_MAX = 2.0
OUTAGE_LOG_EVERY = 60.0
LEASE_ROW = 1


@dataclass(frozen=True)
class LeaseView:
    holder: str | None
    epoch: int
    age: float | None  # seconds since the holder's last heartbeat (database time)

    def leads(self, ttl: float = LEASE_SECONDS) -> bool:
        return self.holder is not None and self.age is not None and self.age < ttl


def instance_id() -> str:
    """Unique per process (a restarted process is a new instance); no personal data."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Lease:
    """The `leader_lease` row: election epoch, heartbeat, and the fence every leader
    transaction passes (see `fenced_factory`)."""

    def __init__(
        self,
        engine: sa.Engine,
        lock: LeaderLock | None = None,
        *,
        instance: str | None = None,
        ttl: float = LEASE_SECONDS,
    ) -> None:
        self._engine = engine
        self._lock = lock
        self.instance = instance or instance_id()
        self.ttl = ttl
        self.epoch: int | None = None  # ours while we lead
        self._pg = engine.dialect.name == "postgresql"

    def _now(self, conn: sa.Connection) -> datetime:
        if self._pg:
            return conn.execute(sa.text("SELECT now()")).scalar_one()
        return datetime.now(UTC)

    def claim(self) -> bool:
        """Take the lease if it is ours already, released, or its holder fell silent.
        Called only while holding the lock, so two claimers never race for a live lease."""
        with self._engine.begin() as conn:
            row = conn.execute(
                sa.select(LeaderLease.epoch, LeaderLease.holder, LeaderLease.renewed_at)
                .where(LeaderLease.id == LEASE_ROW)
                .with_for_update()
            ).first()
            if row is None:
                conn.execute(sa.insert(LeaderLease).values(id=LEASE_ROW, epoch=0))
                epoch, holder, renewed = 0, None, None
            else:
                epoch, holder, renewed = row
            now = self._now(conn)
            fresh = renewed is not None and (now - _aware(renewed)).total_seconds() < self.ttl
            if holder not in (None, self.instance) and fresh:
                return False  # the previous leader may still be finishing: wait it out
            conn.execute(
                sa.update(LeaderLease)
                .where(LeaderLease.id == LEASE_ROW)
                .values(epoch=epoch + 1, holder=self.instance, renewed_at=now)
            )
        self.epoch = epoch + 1
        return True

    def renew(self) -> bool:
        """Heartbeat; False if another instance took the lease meanwhile."""
        if self.epoch is None:
            return False
        with self._engine.begin() as conn:
            now = self._now(conn)
            result = conn.execute(
                sa.update(LeaderLease)
                .where(
                    LeaderLease.id == LEASE_ROW,
                    LeaderLease.epoch == self.epoch,
                    LeaderLease.holder == self.instance,
                )
                .values(renewed_at=now)
            )
            return bool(result.rowcount)

    def resign(self) -> None:
        """Clear the holder so a standby need not wait out the lease (a clean stop)."""
        epoch, self.epoch = self.epoch, None
        if epoch is None:
            return
        with contextlib.suppress(sa.exc.DBAPIError), self._engine.begin() as conn:
            conn.execute(
                sa.update(LeaderLease)
                .where(LeaderLease.id == LEASE_ROW, LeaderLease.epoch == epoch)
                .values(holder=None)
            )

    def view(self) -> LeaseView:
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(LeaderLease.holder, LeaderLease.epoch, LeaderLease.renewed_at).where(
                    LeaderLease.id == LEASE_ROW
                )
            ).first()
            if row is None:
                return LeaseView(None, 0, None)
            holder, epoch, renewed = row
            age = None
            if renewed is not None:
                age = max((self._now(conn) - _aware(renewed)).total_seconds(), 0.0)
            return LeaseView(holder, int(epoch), age)

    def check(self, conn: sa.Connection) -> None:
        """The fence, run first in every leader transaction.

        `FOR KEY SHARE` on the lease row: a new leader's claim (`FOR UPDATE`, then the epoch
        bump) waits until this transaction ends, and after it this transaction's epoch no
        longer matches; the heartbeat (a plain UPDATE) does not wait for the leader's own
        work. On PostgreSQL the advisory lock must also still be held by our lock session, so
        a leader whose lock session died stops before its next write, not at its heartbeat.
        """
        epoch = self.epoch
        if epoch is None:
            raise LeadershipLost("this instance does not lead")
        current = conn.execute(
            sa.select(LeaderLease.epoch)
            .where(LeaderLease.id == LEASE_ROW)
            .with_for_update(read=True, key_share=True)
        ).scalar_one_or_none()
        if current != epoch:
            raise LeadershipLost(f"leadership passed on (epoch {epoch} -> {current})")
        if self._pg and isinstance(self._lock, PostgresLeaderLock):
            pid, key = self._lock.backend_pid, self._lock.key
            held = (
                pid is not None
                and conn.execute(
                    sa.text(
                        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                        "AND granted AND pid = :pid "
                        "AND ((classid::bigint << 32) | objid::bigint) = :key)"
                    ),
                    {"pid": pid, "key": key},
                ).scalar_one()
            )
            if not held:
                raise LeadershipLost("the leader lock's session is gone")


def fenced_factory(engine: sa.Engine, lease: Lease) -> sessionmaker[Session]:
    """Sessions whose every transaction first proves that this instance still leads."""
    factory = sessionmaker(engine, expire_on_commit=False)

    @sa.event.listens_for(factory, "after_begin")
    def _fence(_session: Session, _transaction: object, connection: sa.Connection) -> None:
        lease.check(connection)

    return factory


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class LeaderState:
    """What this instance knows about leadership, for readiness and metrics."""

    def __init__(self, lease: Lease | None = None) -> None:
        self.lease = lease
        self.leading = False
        self.database_error: str | None = None  # set while the last attempt failed

    def set_leading(self, leading: bool) -> None:
        if leading != self.leading:
            metrics.leadership_changed(gained=leading)
        self.leading = leading


class _Outage:
    """Backoff and a log line a minute while the database is unreachable."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.since: float | None = None
        self._logged = 0.0
        self._delay = 0.0

    def failed(self, exc: BaseException) -> float:
        now = time.monotonic()
        if self.since is None:
            self.since, self._logged = now, now
            log.warning("%s: database unavailable (%s); retrying", self.what, type(exc).__name__)
        elif now - self._logged >= OUTAGE_LOG_EVERY:
            self._logged = now
            log.warning(
                "%s: database still unavailable after %.0f s (%s); retrying",
                self.what,
                now - self.since,
                type(exc).__name__,
            )
        self._delay = min(max(self._delay * 2, 0.25), OUTAGE_RETRY_MAX)
        return self._delay

    def ok(self) -> None:
        if self.since is not None:
            log.info("%s: database back after %.1f s", self.what, time.monotonic() - self.since)
        self.since, self._delay = None, 0.0


def run_while_leader(
    lock: LeaderLock,
    stop: threading.Event,
    lead: Callable[[threading.Event], None],
    *,
    lease: Lease | None = None,
    state: LeaderState | None = None,
    poll_seconds: float = STANDBY_POLL_SECONDS,
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
) -> None:
    """Stand by until elected, then run `lead(stepping_down)` in a thread until `stop` is set
    or leadership is lost; then stand by again. `lead` must return soon after its event is set.

    No database error ends this loop: the standby retries with backoff however long the
    outage lasts, and the leader steps down once it cannot renew its lease.
    """
    state = state or LeaderState(lease)
    outage = _Outage("leader election")
    while not stop.is_set():
        try:
            got = lock.acquire() and (lease is None or lease.claim())
        except Exception as exc:  # the database (or its network) is away: wait, never exit
            state.database_error = type(exc).__name__
            _quietly(lock.release)
            stop.wait(outage.failed(exc))
            continue
        outage.ok()
        state.database_error = None
        if not got:
            stop.wait(poll_seconds)
            continue
        log.info("this instance is now the leader (scheduler and mailbox listener)")
        state.set_leading(True)
        stepping_down = threading.Event()
        worker = threading.Thread(target=lead, args=(stepping_down,), name="dsr-leader")
        worker.start()
        # The heartbeat runs in a thread of its own: on SQLite it may wait for the write
        # lock behind an intake batch, and a signal is only handled by the main thread
        # between bytecodes, so SIGTERM would wait for that batch (and the next ones).
        halt = threading.Event()

        def hold(halt: threading.Event = halt, worker: threading.Thread = worker) -> None:
            try:
                _hold(lock, lease, state, halt, worker, heartbeat_seconds)
            finally:
                halt.set()

        monitor = threading.Thread(target=hold, name="dsr-leader-lease", daemon=True)
        monitor.start()
        try:
            while not stop.is_set() and not halt.is_set():
                stop.wait(0.2)
        finally:
            halt.set()
            stepping_down.set()
            state.set_leading(False)
            worker.join()
            monitor.join()
            if lease is not None:
                lease.resign()
            _quietly(lock.release)
        if not stop.is_set():
            log.info("standing by for leadership")


def _hold(
    lock: LeaderLock,
    lease: Lease | None,
    state: LeaderState,
    stop: threading.Event,
    worker: threading.Thread,
    heartbeat: float,
) -> None:
    """Keep leading while the lock and the lease are ours; return to step down."""
    confirmed = time.monotonic()
    ttl = lease.ttl if lease is not None else LEASE_SECONDS
    while not stop.is_set() and worker.is_alive():
        stop.wait(heartbeat)
        if stop.is_set():
            return
        try:
            held = lock.still_held()
            if not held:
                # The lock session died (a database restart): take the free lock back at
                # once; the lease tells whether somebody else led meanwhile.
                held = lock.acquire() and (lease is None or lease.claim())
                if held:
                    log.info("leader lock re-taken after its session was lost")
                else:
                    log.warning("leadership lost; stopping scheduler and mailbox listener")
                    return
            if lease is not None and not lease.renew():
                log.warning("leadership taken over; stopping scheduler and mailbox listener")
                return
        except Exception as exc:
            state.database_error = type(exc).__name__
            if time.monotonic() - confirmed > ttl - heartbeat:
                log.warning("cannot confirm leadership (%s); stepping down", type(exc).__name__)
                return
            continue
        state.database_error = None
        confirmed = time.monotonic()


def _quietly(action: Callable[[], None]) -> None:
    try:
        action()
    except Exception:
        log.debug("ignored during leader clean-up", exc_info=True)
