"""`dsr-bot suppression …` and `dsr-bot fulfil …`: what happens to the data for each right.

Register in cli.py with `main.add_command(suppression)` and `main.add_command(fulfil)`.
Thin: load settings and the data-source file, call `dsr_bot.fulfilment`, print the result.
Printed results are counts, actions and reasons; personal data goes only into the export
files, which are written readable by their owner alone.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from dsr_bot.cli.main import Context, pass_ctx, print_table, session_factory

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from dsr_bot.config import Settings


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in a bare container
        return "cli"


actor_option = click.option(
    "--actor", default=_default_actor, show_default="cli:<login>", help="Who, for the audit trail."
)
phone_option = click.option(
    "--phone", default=None, help="Also match this phone number (the case knows only e-mail)."
)


def _sources(settings: Settings) -> Any:
    from dsr_bot.fulfilment.sources import DataSourceError, load_data_sources

    settings.require("data_sources")
    assert settings.data_sources is not None
    try:
        return load_data_sources(settings.data_sources)
    except DataSourceError as exc:
        raise click.ClickException(f"DSR_BOT_DATA_SOURCES: {exc}") from None


def _now() -> datetime:
    return datetime.now(UTC)


# -- suppression --------------------------------------------------------------------------
@click.group()
def suppression() -> None:
    """The marketing suppression list (GDPR Art. 21(3): an opt-out is absolute)."""


@suppression.command("add")
@click.argument("email")
@click.option("--case", "ref", default=None, help="The case the opt-out came in (DSR-…).")
@actor_option
@pass_ctx
def suppression_add(ctx: Context, email: str, ref: str | None, actor: str) -> None:
    """Put EMAIL on the list now (audited; adding it twice changes nothing)."""
    from dsr_bot.cases.model import RuleViolation
    from dsr_bot.cases.service import get_case
    from dsr_bot.fulfilment.suppression import suppress
    from dsr_bot.store.db import transaction

    with transaction(session_factory(ctx.settings())) as session:
        try:
            case_id = get_case(session, ref).id if ref else None
            added = suppress(session, email, case_id=case_id, now=_now(), actor=actor)
        except (RuleViolation, ValueError) as exc:
            raise click.ClickException(f"{exc}") from None
    click.echo("added to the suppression list" if added else "already on the suppression list")


@suppression.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv"]), default="csv", show_default=True)
@click.option("--hashed", is_flag=True, help="SHA-256 of the lower-cased address, not the address.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@pass_ctx
def suppression_export(ctx: Context, fmt: str, hashed: bool, output: Path | None) -> None:
    """Print the list as CSV (email,added_at or email_sha256,added_at) for the marketing tool."""
    from dsr_bot.fulfilment.suppression import suppression_csv, suppression_entries

    with session_factory(ctx.settings())() as session:
        data = suppression_csv(suppression_entries(session), hashed=hashed)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        _write_private(output, data)


@suppression.command("serve")
@click.option("--host", default=None, help="Default DSR_BOT_HTTP_HOST.")
@click.option("--port", type=int, default=None, help="Default DSR_BOT_HTTP_PORT.")
@pass_ctx
def suppression_serve(ctx: Context, host: str | None, port: int | None) -> None:
    """Serve GET /suppression.csv (Bearer DSR_BOT_SUPPRESSION_TOKEN) until stopped."""
    import signal
    import threading

    from dsr_bot.fulfilment.suppression import mount_suppression
    from dsr_bot.http.server import HttpServer

    settings = ctx.settings()
    settings.require("suppression_token")
    assert settings.suppression_token is not None
    port = port if port is not None else settings.http_port
    if port is None:
        raise click.UsageError("give --port or set DSR_BOT_HTTP_PORT")
    # The same server (and the same limits on what a client may send) as `dsr-bot run`.
    server = HttpServer(host or settings.http_host, port)
    mount_suppression(
        server, session_factory(settings), settings.suppression_token.get_secret_value()
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    click.echo(f"serving /suppression.csv on {host or settings.http_host}:{port}", err=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


# -- fulfil ---------------------------------------------------------------------------------
@click.group()
def fulfil() -> None:
    """Preview, export and erase a case's data in the configured data sources."""


@fulfil.command("check")
@pass_ctx
def fulfil_check(ctx: Context) -> None:
    """Check DSR_BOT_DATA_SOURCES against the live databases (tables, columns, keys)."""
    import sqlalchemy as sa

    from dsr_bot.fulfilment.sources import DataSourceError
    from dsr_bot.fulfilment.sql_connector import SqlConnector, describe_error

    sources = _sources(ctx.settings())
    problems = 0
    for source in sources.sql:
        try:
            with SqlConnector(source) as connector:
                connector.check()
            click.echo(f"ok      {source.name} ({len(source.tables)} tables)")
        except (DataSourceError, sa.exc.SQLAlchemyError, ImportError) as exc:
            problems += 1
            click.echo(f"FAILED  {describe_error(exc)}")
    for manual in sources.manual:
        click.echo(f"manual  {manual.name}" + (" (Art. 19 recipient)" if manual.recipient else ""))
    if problems:
        sys.exit(1)


def _case_and_person(session: Session, ref: str, phone: str | None) -> tuple[Any, Any]:
    from dsr_bot.cases.model import RuleViolation
    from dsr_bot.cases.service import get_case
    from dsr_bot.fulfilment.plan import person_for_case

    try:
        case = get_case(session, ref)
        return case, person_for_case(case, phone)
    except (RuleViolation, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


@fulfil.command("preview")
@click.argument("ref")
@phone_option
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def fulfil_preview(ctx: Context, ref: str, phone: str | None, as_json: bool) -> None:
    """What would be exported and erased for case REF, and the manual checklist. Reads only."""
    from dsr_bot.cases.model import RequestType
    from dsr_bot.fulfilment.plan import preview_case

    settings = ctx.settings()
    sources = _sources(settings)
    with session_factory(settings)() as session:
        case, person = _case_and_person(session, ref, phone)
        types = [RequestType(t) for t in case.types]
    preview = preview_case(sources, person, types)
    if as_json:
        click.echo(json.dumps({"ref": ref, **preview.as_dict()}, ensure_ascii=False))
    else:
        click.echo(f"{ref}: {preview.findings.row_count} row(s) found")
        _print_reports(list(preview.erasure))
        _print_checklist(preview.as_dict()["checklist"])
    if preview.errors:
        sys.exit(1)


@fulfil.command("export")
@click.argument("ref")
@phone_option
@click.option("--portability", is_flag=True, help="Art. 20: only data the person provided.")
@click.option(
    "--force",
    is_flag=True,
    help="Export although the identity is not verified (recorded in the audit trail).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
)
@actor_option
@pass_ctx
def fulfil_export(
    ctx: Context,
    ref: str,
    phone: str | None,
    portability: bool,
    force: bool,
    out: Path,
    actor: str,
) -> None:
    """Write the JSON and CSV attachments for case REF's access or portability reply.

    Refused until the requester's identity is verified (Art. 12(6): handing a stranger
    someone's data is a breach, Art. 4(12)); `--force` overrides, and says so in the trail.
    """
    from dsr_bot.cases.model import IdentityStatus
    from dsr_bot.cases.service import record_event
    from dsr_bot.fulfilment.plan import FulfilmentError, export_for_case
    from dsr_bot.store.db import transaction

    settings = ctx.settings()
    sources = _sources(settings)
    with transaction(session_factory(settings)) as session:
        case, person = _case_and_person(session, ref, phone)
        if case.identity_status != IdentityStatus.VERIFIED.value:
            if not force:
                raise click.ClickException(
                    f"{ref}: the requester's identity is not verified (Art. 12(6)); verify it "
                    "first, or pass --force (recorded in the audit trail)."
                )
            record_event(
                session,
                action="export_forced",
                at=_now(),
                actor=actor,
                case_id=case.id,
                detail={"identity_status": case.identity_status},
            )
        try:
            files = export_for_case(
                session, sources, case, person, portability=portability, now=_now(), actor=actor
            )
        except FulfilmentError as exc:
            raise click.ClickException(f"export not written, a source failed: {exc}") from None
        stem = f"{ref}-{'personuppgifter' if case.language == 'sv' else 'personal-data'}"
        out.mkdir(parents=True, exist_ok=True)
        for ext, data in files.items():
            _write_private(out / f"{stem}.{ext}", data)
            click.echo(str(out / f"{stem}.{ext}"))


@fulfil.command("erase")
@click.argument("ref")
@phone_option
@click.option("--dry-run", is_flag=True, help="Run every statement, then roll back.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True)
@actor_option
@pass_ctx
def fulfil_erase(
    ctx: Context,
    ref: str,
    phone: str | None,
    dry_run: bool,
    yes: bool,
    as_json: bool,
    actor: str,
) -> None:
    """Erase case REF's data in every SQL source (one transaction per source), audited."""
    from dsr_bot.cases.model import RuleViolation
    from dsr_bot.fulfilment.plan import check_erasure_allowed, erase_sources, record_erasure
    from dsr_bot.store.db import transaction

    settings = ctx.settings()
    sources = _sources(settings)
    factory = session_factory(settings)
    with factory() as session:
        case, person = _case_and_person(session, ref, phone)
        try:
            if not dry_run:
                check_erasure_allowed(case)
        except RuleViolation as exc:
            raise click.ClickException(str(exc)) from None
    if not dry_run and not yes:
        click.confirm(f"Erase {ref}'s data in {len(sources.sql)} source(s)?", abort=True)
    # dsr-bot's own database is not held open (on SQLite: locked) while the sources work.
    reports = erase_sources(sources, person, dry_run=dry_run)
    with transaction(factory) as session:
        record_erasure(session, sources, case, reports, now=_now(), actor=actor, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps([r.as_detail() for r in reports], ensure_ascii=False))
    else:
        _print_reports(reports)
    if any(not r.ok for r in reports):
        sys.exit(1)


# -- output ---------------------------------------------------------------------------------
def _print_reports(reports: list[Any]) -> None:
    for report in reports:
        state = {"preview": "would", "rehearsal": "rehearsed (rolled back)"}.get(report.mode, "")
        click.echo(f"\n{report.source}" + (f" — {state}" if state else ""))
        if report.outcomes:
            print_table(
                [
                    {"table": o.table, "rows": o.rows, "action": o.action.value, "reason": o.reason}
                    for o in report.outcomes
                ],
                ["table", "rows", "action", "reason"],
            )
        if report.error:
            click.echo(f"FAILED: {report.error}")


def _print_checklist(items: list[dict[str, Any]]) -> None:
    if not items:
        return
    click.echo("\nBy hand (tick off in the case card):")
    for item in items:
        tag = " [Art. 19 recipient]" if item["recipient"] else ""
        click.echo(f"  [ ] {item['source']}{tag}: {item['instructions']}")


def _write_private(path: Path, data: bytes) -> None:
    """Personal data on disk: readable by the owner only (0600), never group/world."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
