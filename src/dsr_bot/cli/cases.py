"""`dsr-bot messages …`, `dsr-bot cases …` and `dsr-bot deadline`: what intake decided, the
cases and their audit trail, and the Art. 12(3) date arithmetic on its own."""

from __future__ import annotations

import json
from datetime import datetime

import click

from dsr_bot.cli.main import Context, pass_ctx, print_table, session_factory


# -- read models ------------------------------------------------------------------------
@click.group()
def messages() -> None:
    """Received messages and what intake decided."""


@messages.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def messages_list(ctx: Context, as_json: bool) -> None:
    from dsr_bot.reports import queries

    with session_factory(ctx.settings())() as session:
        rows = queries.messages(session)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
    else:
        print_table(
            rows,
            ["id", "received_at", "sender", "subject", "disposition", "case_ref", "acknowledged"],
        )


@click.group()
def cases() -> None:
    """Cases and their audit trail."""


@cases.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def cases_list(ctx: Context, as_json: bool) -> None:
    from dsr_bot.reports import queries

    with session_factory(ctx.settings())() as session:
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
    from dsr_bot.cases.model import RuleViolation
    from dsr_bot.reports import queries

    with session_factory(ctx.settings())() as session:
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
@click.command()
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
    # The same calendar a case gets (cases/service.CasePolicy), including the optional
    # Midsummer/Christmas/New Year's Eve rule, so the two can never disagree.
    click.echo(
        due_date(
            received,
            tz=settings.timezone,
            country=settings.holiday_country,
            extended=extended,
            extra_closed_days=settings.deadline_extra_closed_days,
        ).isoformat()
    )
