"""One active instance: only the leader runs the scheduler and the IMAP listener.

Several instances may run against one PostgreSQL for availability. Intake and the outbox are
safe to share (unique keys, leases), but two IMAP IDLE sessions and two schedulers would only
add noise, so the instances elect a leader with what the database already offers:

* PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) taken on a dedicated
  connection that is held open while leading. When the leader dies, its connection closes
  and the server drops the lock; a standby that polls every `poll_seconds` (default 15 s)
  takes over well within a minute. No home-made cluster protocol, no lease clock.
* SQLite: one host, so an OS file lock (`flock`, via `filelock`) next to the database file;
  the kernel releases it when the holder dies, even on kill -9.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from filelock import FileLock, Timeout
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

# Well inside "a standby takes over within a minute when the leader dies" (issue 5).
POLL_SECONDS = 15.0


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
        self._engine = sa.create_engine(url, poolclass=NullPool)
        self._key = key
        self._conn: sa.Connection | None = None

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
            got = conn.execute(
                sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}
            ).scalar_one()
            # Autobegun transaction: commit it so the session is idle, not "idle in transaction".
            conn.commit()
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
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
            log.warning("leader connection lost; stepping down")
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


def run_while_leader(
    lock: LeaderLock,
    stop: threading.Event,
    lead: Callable[[threading.Event], None],
    *,
    poll_seconds: float = POLL_SECONDS,
) -> None:
    """Stand by until elected, then run `lead(stepping_down)` in a thread until `stop` is set
    or leadership is lost; then stand by again. `lead` must return soon after its event is set.
    """
    while not stop.is_set():
        if not lock.acquire():
            stop.wait(poll_seconds)
            continue
        log.info("this instance is now the leader (scheduler and mailbox listener)")
        stepping_down = threading.Event()
        worker = threading.Thread(target=lead, args=(stepping_down,), name="dsr-leader")
        worker.start()
        try:
            while not stop.is_set() and worker.is_alive():
                stop.wait(poll_seconds)
                if not lock.still_held():
                    log.warning("leadership lost; stopping scheduler and mailbox listener")
                    break
        finally:
            stepping_down.set()
            worker.join()
            lock.release()
        if not stop.is_set():
            log.info("standing by for leadership")
            stop.wait(poll_seconds)
