"""`dsr-bot …` commands. Thin: parse options, load settings once, call the library."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import exc as sa_exc

from dsr_bot.config import ConfigError, Settings, load_settings
from dsr_bot.store.db import DatabaseUnavailable, SchemaOutOfDate, is_transient

# Exit statuses: 2 = configuration error (restarting cannot help; the unit does not retry),
# 75 = EX_TEMPFAIL (sysexits.h): a dependency is away, try again later.
EXIT_CONFIG = 2
EXIT_TEMPFAIL = 75

log = logging.getLogger("dsr_bot")


class Context:
    def __init__(self, config: Path | None) -> None:
        self.config = config
        self._settings: Settings | None = None

    def settings(self, **overrides: Any) -> Settings:
        if self._settings is None or overrides:
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
        except ConfigError as exc:
            click.echo(f"dsr-bot: configuration error: {exc}", err=True)
            sys.exit(EXIT_CONFIG)
        except SchemaOutOfDate as exc:
            click.echo(f"dsr-bot: {exc}", err=True)
            sys.exit(EXIT_CONFIG)
        except DatabaseUnavailable as exc:
            click.echo(f"dsr-bot: database unavailable: {exc}", err=True)
            sys.exit(EXIT_TEMPFAIL)
        except (sa_exc.OperationalError, sa_exc.ArgumentError, sa_exc.InterfaceError) as exc:
            # Unreachable server, wrong credentials, unreadable file: name the setting, never
            # the URL (it may carry a password).
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
            if is_transient(exc):
                click.echo(
                    f"dsr-bot: database unavailable (DSR_BOT_DATABASE_URL): {reason}", err=True
                )
                sys.exit(EXIT_TEMPFAIL)
            click.echo(
                f"dsr-bot: cannot use the database (DSR_BOT_DATABASE_URL): {reason}", err=True
            )
            sys.exit(EXIT_CONFIG)


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


def _session(settings: Settings):  # type: ignore[no-untyped-def]
    from dsr_bot.app import open_database

    _, factory = open_database(settings)
    return factory()


# -- run --------------------------------------------------------------------------------
@main.command()
@click.option("--once", is_flag=True, help="Process everything in the folder now, then exit.")
@click.option("-v", "--verbose", is_flag=True)
@pass_ctx
def run(ctx: Context, once: bool, verbose: bool) -> None:
    """Watch the privacy mailbox (IMAP IDLE, polling as fallback) and handle what arrives."""
    settings = ctx.settings()
    settings.require("imap_host", "imap_user", "imap_password", "mail_from")
    if settings.mail_outbox_dir is None:
        settings.require("smtp_host")
    settings.resolved_controller()
    setup_logging(settings, verbose)

    from dsr_bot.app import build_app
    from dsr_bot.slack.runtime import attach_slack
    from dsr_bot.store.db import wait_for_database
    from dsr_bot.watch import MailboxWatcher

    stop = threading.Event()

    def _terminate(signum: int, _frame: Any) -> None:
        log.info("signal %s: finishing the message in hand, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    # A database that is down at start is an outage to wait out, not a configuration error.
    try:
        wait_for_database(settings.database_url, settings.database_wait_seconds, stop)
    except DatabaseUnavailable:
        if stop.is_set():
            return
        raise
    app = build_app(settings)
    slack = attach_slack(app)  # None unless DSR_BOT_SLACK_BOT_TOKEN is set
    if once:
        with progress_bar("processing", True) as update:
            watcher = MailboxWatcher(app, stop, progress=update)
            result = watcher.run_once()
        click.echo(
            f"fetched {result.fetched}, processed {result.processed}, sent {result.sent}"
            + "".join(f", {k} {v}" for k, v in sorted(result.dispositions.items())),
            err=True,
        )
        return
    from dsr_bot.service_runtime import run_service

    run_service(app, stop, slack)


# -- demo -------------------------------------------------------------------------------
@main.command()
@click.option(
    "--dir",
    "workdir",
    type=click.Path(path_type=Path),
    default=Path("dsr-bot-demo"),
    show_default=True,
    help="Where the demo keeps its database and sent mail.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def demo(ctx: Context, workdir: Path, as_json: bool) -> None:
    """Run the whole pipeline on bundled sample mail: no servers, SQLite, replies as .eml."""
    from dsr_bot.demo import run_demo

    workdir.mkdir(parents=True, exist_ok=True)
    settings = load_settings(
        None,
        database_url=f"sqlite:///{(workdir / 'demo.sqlite3').resolve()}",
        mail_from="personuppgiftsansvarig@micromedic.se",
        mail_outbox_dir=str(workdir / "outbox"),
        # The demo's table is its output; per-message log lines would only bury it.
        log_level="WARNING",
    )
    setup_logging(settings)
    with progress_bar("demo", not as_json) as update:
        cases, messages = run_demo(settings, progress=update)
    if as_json:
        click.echo(json.dumps({"cases": cases, "messages": messages}, ensure_ascii=False))
        return
    click.echo(f"Messages ({len(messages)}):")
    print_table(messages, ["sender", "subject", "disposition", "case_ref", "acknowledged"])
    click.echo(f"\nCases opened ({len(cases)}):")
    print_table(cases, ["ref", "types", "language", "received_at", "due_at"])
    click.echo(f"\nAcknowledgements written to {workdir / 'outbox'}/ as .eml files.")


# -- read models ------------------------------------------------------------------------
@main.group()
def messages() -> None:
    """Received messages and what intake decided."""


@messages.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def messages_list(ctx: Context, as_json: bool) -> None:
    from dsr_bot import queries

    with _session(ctx.settings()) as session:
        rows = queries.messages(session)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
    else:
        print_table(
            rows,
            ["id", "received_at", "sender", "subject", "disposition", "case_ref", "acknowledged"],
        )


@main.group()
def cases() -> None:
    """Cases and their audit trail."""


@cases.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def cases_list(ctx: Context, as_json: bool) -> None:
    from dsr_bot import queries

    with _session(ctx.settings()) as session:
        rows = queries.cases(session)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
    else:
        print_table(
            rows, ["ref", "status", "types", "requester", "language", "received_at", "due_at"]
        )


@cases.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def cases_show(ctx: Context, ref: str, as_json: bool) -> None:
    from dsr_bot import queries
    from dsr_bot.cases.model import RuleViolation

    with _session(ctx.settings()) as session:
        try:
            detail = queries.case_detail(session, ref)
        except RuleViolation as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(detail, ensure_ascii=False))
        return
    for key in (
        "ref",
        "status",
        "types",
        "requester",
        "requester_name",
        "language",
        "received_at",
        "due_on",
        "extended_due_on",
        "identity_status",
        "assignee",
    ):
        value = detail[key]
        click.echo(f"{key:16} {','.join(value) if isinstance(value, list) else value or '-'}")
    click.echo("\nAudit trail:")
    print_table(detail["events"], ["at", "actor", "action", "detail"])


# -- deadlines ----------------------------------------------------------------------------
@main.command()
@click.argument("timestamp")
@click.option("--extended", is_flag=True, help="The Art. 12(3) extended deadline (3 months).")
@pass_ctx
def deadline(ctx: Context, timestamp: str, extended: bool) -> None:
    """Print the due date (YYYY-MM-DD) for a request received at ISO TIMESTAMP."""
    from dsr_bot.cases.deadlines import due_date

    settings = ctx.settings()
    try:
        received = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{timestamp!r} is not an ISO 8601 timestamp") from None
    if received.tzinfo is None:
        received = received.replace(tzinfo=settings.tz)
    click.echo(
        due_date(
            received, tz=settings.timezone, country=settings.holiday_country, extended=extended
        ).isoformat()
    )


# -- database -----------------------------------------------------------------------------
@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(ctx: Context) -> None:
    """Apply schema migrations (PostgreSQL needs this after every upgrade of dsr-bot)."""
    from dsr_bot.store import db as store_db

    settings = ctx.settings()
    setup_logging(settings)
    # Under systemd this is ExecStartPre: a database still starting must not fail the unit.
    store_db.wait_for_database(settings.database_url, settings.database_wait_seconds)
    engine = store_db.make_engine(settings.database_url)
    store_db.upgrade(engine)
    click.echo(f"database schema at {store_db.current_revision(engine)}")


# Command modules register themselves on `main` when imported (they import it from here).
from dsr_bot import cli_doctor, cli_extra, cli_ops, cli_outbox  # noqa: E402
from dsr_bot.cli_fulfilment import fulfil, suppression  # noqa: E402

cli_ops.register(main, cases)
main.add_command(suppression)
main.add_command(fulfil)
assert cli_extra and cli_doctor and cli_outbox
