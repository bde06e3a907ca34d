"""The `dsr-bot` group and what every command shares: settings, errors, tables, progress.

Commands live one group per module beside this one and are registered in `cli/__init__.py`;
they import from here, never from the package, so nothing imports in a circle."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

# Exit statuses: 2 = configuration error (restarting cannot help; the unit does not retry),
# 75 = EX_TEMPFAIL (sysexits.h): a dependency is away, try again later.
EXIT_CONFIG = 2
EXIT_TEMPFAIL = 75

# Settings (pydantic), SQLAlchemy and Alembic are imported by the commands that use them:
# `dsr-bot --help` and a mistyped command answer without loading them (start-up budget).
if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from dsr_bot.config import Settings

log = logging.getLogger("dsr_bot")


class Context:
    def __init__(self, config: Path | None) -> None:
        self.config = config
        self._settings: Settings | None = None

    def settings(self, **overrides: Any) -> Settings:
        if self._settings is None or overrides:
            from dsr_bot.config import load_settings

            self._settings = load_settings(self.config, **overrides)
        return self._settings


pass_ctx = click.make_pass_decorator(Context)


def setup_logging(settings: Settings | None, verbose: bool = False) -> None:
    from dsr_bot.logs import configure

    configure(settings, verbose=verbose)


class Main(click.Group):
    """Turns configuration and schema errors into one clear line and exit status 2, and a
    database outage into exit status 75 (temporary: systemd restarts, operators retry)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            clear = _clear_error(exc)
            if clear is None:
                raise
            message, status = clear
            click.echo(message, err=True)
            sys.exit(status)


def _clear_error(exc: Exception) -> tuple[str, int] | None:
    """One line and an exit status for configuration, schema and database errors; None for
    anything else. A module not yet imported cannot have raised its exception, so none is
    imported here."""
    config = sys.modules.get("dsr_bot.config")
    if config is not None and isinstance(exc, config.ConfigError):
        return f"dsr-bot: configuration error: {exc}", EXIT_CONFIG
    store = sys.modules.get("dsr_bot.store.db")
    if store is not None and isinstance(exc, store.SchemaOutOfDate):
        return f"dsr-bot: {exc}", EXIT_CONFIG
    if store is not None and isinstance(exc, store.DatabaseUnavailable):
        return f"dsr-bot: database unavailable: {exc}", EXIT_TEMPFAIL
    if "sqlalchemy" in sys.modules:
        from sqlalchemy import exc as sa_exc

        if isinstance(exc, sa_exc.OperationalError | sa_exc.ArgumentError | sa_exc.InterfaceError):
            # Unreachable server, wrong credentials, unreadable file: name the setting, never
            # the URL (it may carry a password).
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
            if store is not None and store.is_transient(exc):
                return (
                    f"dsr-bot: database unavailable (DSR_BOT_DATABASE_URL): {reason}",
                    EXIT_TEMPFAIL,
                )
            return f"dsr-bot: cannot use the database (DSR_BOT_DATABASE_URL): {reason}", EXIT_CONFIG
    return None


@click.group(cls=Main)
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path),
    default=None,
    envvar="DSR_BOT_CONFIG",
    help="TOML settings file (env DSR_BOT_* wins over it).",
)
@click.version_option(package_name="dsr-bot")
@click.pass_context
def main(ctx: click.Context, config: Path | None) -> None:
    """dsr-bot: GDPR data-subject requests from a privacy mailbox to answered cases."""
    ctx.obj = Context(config)


# -- output helpers ---------------------------------------------------------------------
def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    def cell(v: Any) -> str:
        if isinstance(v, list | tuple):
            return ",".join(str(x) for x in v)
        if v is None:
            return "-"
        if isinstance(v, bool):
            return "yes" if v else "no"
        text = str(v).replace("\n", " ")
        return text if len(text) <= 48 else text[:47] + "…"

    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@contextmanager
def progress_bar(label: str, enabled: bool) -> Iterator[Callable[[int, int], None]]:
    """Progress only for a person at a terminal: never in --json or piped output."""
    if not enabled or not sys.stderr.isatty():
        yield lambda done, total: None
        return
    state: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in state:
            state["bar"] = click.progressbar(length=total, label=label, file=sys.stderr)
            state["bar"].__enter__()
        state["bar"].update(done - state.get("done", 0))
        state["done"] = done

    try:
        yield update
    finally:
        if "bar" in state:
            state["bar"].__exit__(None, None, None)


def session_factory(settings: Settings) -> sessionmaker[Session]:
    """The one way commands open the database: as the service does (`store.db`), so a schema
    that is out of date is reported the same way everywhere."""
    from dsr_bot.store import db

    return db.open_database(settings.database_url, auto_upgrade=settings.is_sqlite)[1]
