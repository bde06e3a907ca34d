"""`dsr-bot run` and `dsr-bot demo`: the service itself, and the same pipeline on sample mail."""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from typing import Any

import click

from dsr_bot.cli.main import Context, pass_ctx, print_table, progress_bar, setup_logging

log = logging.getLogger("dsr_bot")


# -- run -------------------------------------------------------------------------------
@click.command()
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

    # Imported here: the wiring loads Slack, spaCy and the database drivers, which
    # `dsr-bot --help` and the other commands do not need.
    from dsr_bot.limits import apply_memory_limit

    apply_memory_limit(settings)
    from dsr_bot.bootstrap import attach_slack, build_app, run_service
    from dsr_bot.intake.watcher import MailboxWatcher
    from dsr_bot.store.db import DatabaseUnavailable, wait_for_database

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
    run_service(app, stop, slack)


# -- demo -------------------------------------------------------------------------------
@click.command()
@click.option(
    "--dir",
    "workdir",
    type=click.Path(path_type=Path),
    default=None,
    envvar="DSR_BOT_DEMO_DIR",
    help="Where the demo keeps its database and sent mail "
    "[default: ./dsr-bot-demo, or under the temporary directory if . is read-only].",
)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def demo(ctx: Context, workdir: Path | None, as_json: bool) -> None:
    """Run the whole pipeline on bundled sample mail: no servers, SQLite, replies as .eml."""
    from dsr_bot.cli.demo import run_demo

    workdir = workdir or _demo_dir()
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / ".write-test").touch()
        (workdir / ".write-test").unlink()
    except OSError as exc:
        raise click.ClickException(
            f"cannot write the demo to {workdir}: {exc.strerror}; "
            "pass --dir (or DSR_BOT_DEMO_DIR) with a writable directory"
        ) from None
    from dsr_bot.config import load_settings

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


def _demo_dir() -> Path:
    """./dsr-bot-demo where the working directory is writable; else (a container's read-only
    root) the same name under the temporary directory."""
    import os
    import tempfile

    if os.access(Path.cwd(), os.W_OK):
        return Path("dsr-bot-demo")
    return Path(tempfile.gettempdir()) / "dsr-bot-demo"
