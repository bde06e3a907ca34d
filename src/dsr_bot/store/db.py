"""Engine, sessions and schema migrations for SQLite (default) and PostgreSQL (production)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")


class SchemaOutOfDate(Exception):
    pass


class DatabaseUnavailable(Exception):
    """The database did not answer within the configured wait: an outage, not a mistake in
    the settings, so the exit status is 75 (EX_TEMPFAIL), not 2."""


# What a server that is down, starting, stopping or unreachable says (libpq's wording). Wrong
# passwords, unknown databases and roles, and malformed URLs are not here: waiting cannot help.
_TRANSIENT = (
    "connection refused",
    "could not connect",
    "connection timeout",
    "timeout expired",
    "timed out",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "server closed the connection",
    "terminating connection due to administrator command",
    "connection is closed",
    "connection reset",
    "no route to host",
    "network is unreachable",
    "temporary failure in name resolution",
    "consuming input failed",
    "the connection is lost",
    "ssl syscall error",
    "database is locked",
)


def is_transient(exc: BaseException) -> bool:
    """True if `exc` looks like a database outage rather than a configuration error."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | OSError):
        return False
    text = str(getattr(exc, "orig", None) or exc).lower()
    return any(marker in text for marker in _TRANSIENT)


def wait_for_database(
    url: str,
    timeout: float,
    stop: threading.Event | None = None,
    *,
    log_every: float = 60.0,
) -> None:
    """Block until the database answers (a server that is down at start is waited for, with
    a log line a minute). Configuration errors raise at once; an outage longer than `timeout`
    raises `DatabaseUnavailable`."""
    began = time.monotonic()
    logged = began
    delay = 0.25
    engine = make_engine(url)
    try:
        while True:
            try:
                with engine.connect() as conn:
                    conn.execute(sa.text("SELECT 1"))
                if time.monotonic() - began > 1:
                    log.info("database reachable after %.0f s", time.monotonic() - began)
                return
            except sa.exc.DBAPIError as exc:
                if not is_transient(exc):
                    raise
                waited = time.monotonic() - began
                if waited >= timeout:
                    raise DatabaseUnavailable(
                        f"the database did not answer within {timeout:.0f} s "
                        f"({type(exc.orig).__name__}); DSR_BOT_DATABASE_WAIT_SECONDS sets the wait"
                    ) from None
                if waited < 0.5 or time.monotonic() - logged >= log_every:
                    logged = time.monotonic()
                    log.warning(
                        "database unavailable (%s); waiting up to %.0f s more",
                        type(exc.orig).__name__,
                        timeout - waited,
                    )
            if stop is not None:
                if stop.wait(delay):
                    raise DatabaseUnavailable("stopped while waiting for the database")
            else:
                time.sleep(delay)
            delay = min(delay * 2, 2.0)
    finally:
        engine.dispose()


class LeadershipLost(Exception):
    """This instance no longer (provably) leads: the transaction must not write.

    Raised by a fenced session factory (jobs/leader.fenced_factory) when a transaction
    begins; defined here, below every layer that opens sessions, so they can catch it."""


def make_engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        # hide_parameters: a failing statement's values (names, subjects) stay out of logs.
        engine = sa.create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # WAL lets the CLI read while `run` writes; busy_timeout rides out short locks.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # type: ignore[no-untyped-def]
            # pysqlite's deferred BEGIN lets two writers deadlock on upgrade; take the
            # write lock up front so the case counter and unique checks serialise.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        # Let SQLAlchemy, not pysqlite, issue BEGIN (documented pysqlite recipe).
        @sa.event.listens_for(engine, "connect", insert=True)
        def _no_autobegin(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None

        return engine
    return sa.create_engine(url, pool_pre_ping=True, hide_parameters=True)


def session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with factory() as session, session.begin():
        yield session


def _alembic_config(engine: sa.Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str | None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: sa.Engine) -> None:
    command.upgrade(_alembic_config(engine), "head")


def ensure_schema(engine: sa.Engine, *, auto_upgrade: bool) -> None:
    """SQLite upgrades itself on start; PostgreSQL is upgraded deliberately by the operator."""
    if current_revision(engine) == head_revision():
        return
    if auto_upgrade:
        log.info("upgrading database schema to %s", head_revision())
        upgrade(engine)
        return
    raise SchemaOutOfDate(
        f"database schema is at {current_revision(engine) or 'nothing'}, the code needs "
        f"{head_revision()}: run `dsr-bot db upgrade`"
    )


def open_database(url: str, *, auto_upgrade: bool) -> tuple[sa.Engine, sessionmaker[Session]]:
    """Engine and session factory for `url`, with the schema checked (and on SQLite, where
    there is no separate upgrade step to forget, brought up to date)."""
    engine = make_engine(url)
    ensure_schema(engine, auto_upgrade=auto_upgrade)
    return engine, session_factory(engine)
