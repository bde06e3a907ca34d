"""Operations commands: `cases extend`, `reminders run-once`, `report`, `retention run`.

Registered on the main group (`cases extend` on the cases group) in `cli/__init__.py`. Like
the rest of the CLI they take the settings from the click context object (`ctx.obj.settings()`), so
the TOML file and the environment are read once, in one place.
"""

from __future__ import annotations

import csv
import getpass
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import click

from dsr_bot.cli.main import session_factory

if TYPE_CHECKING:
    from dsr_bot.config import Settings


class SettingsSource(Protocol):
    """What `cli.Context` offers: the settings, loaded once."""

    def settings(self, **overrides: Any) -> Settings: ...


def _now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        now = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 timestamp") from None
    if now.tzinfo is None:
        raise click.BadParameter("--now needs a time zone, e.g. 2026-11-30T08:00+01:00")
    return now


# A hidden clock override: tests and "what would happen on that day" rehearsals.
now_option = click.option("--now", "now_text", default=None, hidden=True)


@click.command("extend")
@click.argument("ref")
@click.option("--reason", required=True, help="Why more time is needed (Art. 12(3)).")
@click.option("--actor", default=None, help="Who decided; default cli:<login name>.")
@now_option
@click.pass_obj
def cases_extend(
    obj: SettingsSource, ref: str, reason: str, actor: str | None, now_text: str | None
) -> None:
    """Extend REF by two further months while its first month runs (GDPR Article 12(3))."""
    from dsr_bot.cases import service
    from dsr_bot.cases.model import RuleViolation
    from dsr_bot.replies import ReplyRenderer
    from dsr_bot.replies.letters import Letters

    settings = obj.settings()
    settings.require("mail_from")
    policy = service.CasePolicy.from_settings(settings)
    now = _now(now_text)
    try:
        with session_factory(settings)() as session, session.begin():
            case = service.get_case(session, ref)
            service.extend_deadline(
                session,
                case,
                policy=policy,
                now=now,
                actor=actor or f"cli:{getpass.getuser()}",
                reason=reason,
            )
            first_due, extended = case.due_on, case.extended_due_on
            # Art. 12(3): the requester is told, with the reasons, within the first month.
            # The notice goes through the outbox like every letter; the running service (or
            # the next `dsr-bot run --once`) sends it.
            letters = Letters(
                ReplyRenderer(settings.resolved_controller()),
                settings.mail_from or "",
                settings.resolved_controller().name,
                settings.timezone,
            )
            letters.send(session, case, "extension_notice", key=f"extend:{case.id}", now=now)
    except RuleViolation as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{ref} extended: now due {extended}.")
    click.echo(
        f"Extension notice queued; it must reach the requester by {first_due} (Art. 12(3)).",
        err=True,
    )


@click.group("reminders")
def reminders_group() -> None:
    """Deadline reminders in Slack."""


@reminders_group.command("run-once")
@now_option
@click.pass_obj
def reminders_run_once(obj: SettingsSource, now_text: str | None) -> None:
    """Run one deadline sweep now: queue the reminders that are due (each only once)."""
    from dsr_bot.jobs import reminders

    settings = obj.settings()
    result = reminders.sweep(
        session_factory(settings),
        now=_now(now_text),
        policy=reminders.ReminderPolicy.from_settings(settings),
    )
    click.echo(f"checked {result.checked} open case(s), queued {len(result.queued)} reminder(s)")
    for key in result.queued:
        click.echo(f"  {key}")


@click.command("report")
@click.option("--month", required=True, help="YYYY-MM, by date of receipt.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "html"]),
    default="table",
    show_default=True,
)
@click.option("--output", type=click.Path(path_type=Path), default=None, help="Default: stdout.")
@click.option(
    "--letters", "list_letters", is_flag=True, help="List the letters written that month instead."
)
@now_option
@click.pass_obj
def report_command(
    obj: SettingsSource,
    month: str,
    fmt: str,
    output: Path | None,
    list_letters: bool,
    now_text: str | None,
) -> None:
    """Monthly figures for an auditor: received, on time, median days, extensions, refusals."""
    from dsr_bot.reports import report

    settings = obj.settings()
    try:
        year, mon = report.parse_month(month)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--month") from None
    if list_letters:
        with session_factory(settings)() as session:
            rows = report.month_letters(session, year, mon, timezone=settings.timezone)
        if fmt == "html":
            raise click.BadParameter("letters are listed as table or csv", param_hint="--format")
        if fmt == "csv":
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["id"])
            writer.writeheader()
            writer.writerows(rows)
            text = out.getvalue()
        else:
            text = report.letters_table(rows)
        if output is None:
            click.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
        return
    with session_factory(settings)() as session:
        figures = report.month_report(
            session, year, mon, now=_now(now_text), timezone=settings.timezone
        )
    if fmt == "csv":
        text = report.as_csv(figures)
    elif fmt == "html":
        from dsr_bot.config import ConfigError
        from dsr_bot.reports.report_html import as_html

        try:
            controller = settings.resolved_controller().name
        except ConfigError:
            controller = ""
        text = as_html(figures, controller)
    else:
        text = report.as_table(figures) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


@click.group("retention")
def retention_group() -> None:
    """Gallring: purge raw mail, then anonymise closed cases."""


@retention_group.command("run")
@click.option("--dry-run", is_flag=True, help="Show what would go; change nothing.")
@click.option("--json", "as_json", is_flag=True)
@now_option
@click.pass_obj
def retention_run(obj: SettingsSource, dry_run: bool, as_json: bool, now_text: str | None) -> None:
    """Purge what the retention settings say is no longer needed (each purge audited)."""
    from dsr_bot.jobs import retention

    settings = obj.settings()
    result = retention.purge(
        session_factory(settings),
        now=_now(now_text),
        policy=retention.RetentionPolicy.from_settings(settings),
        dry_run=dry_run,
    )
    if as_json:
        click.echo(json.dumps(result.as_dict()))
        return
    verb = "would purge" if dry_run else "purged"
    click.echo(
        f"{verb} raw mail of {len(result.raw_cases)} closed case(s) and "
        f"{result.raw_messages} message(s) in all"
    )
    verb = "would anonymise" if dry_run else "anonymised"
    click.echo(f"{verb} {len(result.anonymised_cases)} case(s)")
    for ref in result.raw_cases:
        click.echo(f"  raw       {ref}")
    for ref in result.anonymised_cases:
        click.echo(f"  anonymise {ref}")
    for ref in result.letter_cases:
        click.echo(f"  letters   {ref}")
