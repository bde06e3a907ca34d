"""A database that is down is an outage, not a configuration error (issue 16): `run` and
`db upgrade` wait for it (bounded), then exit 75, never 2; a wrong database still exits 2."""

from __future__ import annotations

import time

import pytest

from tests.fixtures.bot import Bot
from tests.fixtures.database import _pg_url
from tests.fixtures.dovecot import free_port

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def down_url() -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"  # nothing listens


@sqlite_only
@pytest.mark.parametrize("command", [("db", "upgrade"), ("run",)])
def test_database_down_at_start_is_waited_for_then_exit_75(bot: Bot, command) -> None:  # type: ignore[no-untyped-def]
    began = time.monotonic()
    proc = bot.cli(
        *command, check=False, database_url=down_url(), database_wait_seconds="3", timeout=60
    )
    took = time.monotonic() - began
    assert proc.returncode == 75, proc.stderr[-2000:]
    assert "database unavailable" in proc.stderr
    assert took >= 3  # it waited, with a log line (the first one at once)
    assert "waiting up to" in proc.stderr


@sqlite_only
def test_a_database_that_does_not_exist_is_a_configuration_error(bot: Bot) -> None:
    base = _pg_url()
    assert base is not None
    wrong = base.rsplit("/", 1)[0] + "/no_such_database_i16"
    proc = bot.cli("db", "upgrade", check=False, database_url=wrong, timeout=60)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "cannot use the database" in proc.stderr
