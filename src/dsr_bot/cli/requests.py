"""`dsr-bot cases new` and `dsr-bot letters …`: requests that did not come by e-mail, and the
letters the controller sent (kept as its record, Art. 5(2)).

Registered by `cli.py` with `cli_requests.register(main, cases)`. Belongs in `cli/` once the
CLI is split into one module per command group.
"""

from __future__ import annotations

import base64
import getpass
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from dsr_bot.cases.model import RequestType
from dsr_bot.cli.main import session_factory
from dsr_bot.cli.ops import SettingsSource, _now, now_option


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _received(value: str, settings: Any) -> datetime:
    try:
        received = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time, e.g. 2026-11-24T10:15", param_hint="--received"
        ) from None
    if received.tzinfo is None:
        # Staff write down local time: the controller's zone, as the deadline counts it.
        received = received.replace(tzinfo=settings.tz)
    return received


@click.command("new")
@click.option(
    "--channel",
    required=True,
    type=click.Choice(["phone", "post", "in_person"]),
    help="How the request reached us.",
)
@click.option("--received", required=True, help="When it was received (ISO 8601).")
@click.option(
    "--type",
    "types",
    required=True,
    multiple=True,
    type=click.Choice([str(t) for t in RequestType]),
    help="A right asked for; repeat for several.",
)
@click.option("--name", required=True, help="The data subject's name.")
@click.option("--email", default=None, help="The data subject's e-mail address, if known.")
@click.option("--address", default=None, help="Postal address for letters (use \\n for lines).")
@click.option(
    "--language",
    type=click.Choice(["sv", "en", "nb", "da"]),
    default="sv",
    show_default=True,
    help="The language to answer in.",
)
@click.option(
    "--representative-kind",
    type=click.Choice(["power_of_attorney", "guardian", "other"]),
    default=None,
    help="Someone acts for the data subject.",
)
@click.option("--representative-name", default=None)
@click.option("--representative-email", default=None)
@click.option("--actor", default=None, help="Who took the request; default cli:<login name>.")
@click.option("--json", "as_json", is_flag=True)
@now_option
@click.pass_obj
def cases_new(
    obj: SettingsSource,
    channel: str,
    received: str,
    types: tuple[str, ...],
    name: str,
    email: str | None,
    address: str | None,
    language: str,
    representative_kind: str | None,
    representative_name: str | None,
    representative_email: str | None,
    actor: str | None,
    as_json: bool,
    now_text: str | None,
) -> None:
    """Register a request taken by phone, by letter or in person (GDPR Art. 12(1)-(3)).

    The receipt time starts the one-month deadline. The acknowledgement is queued as mail
    when there is an e-mail address, otherwise as a printable letter (`letters print`).
    """
    from dsr_bot.cases import service
    from dsr_bot.cases.model import RuleViolation
    from dsr_bot.fulfilment.suppression import stop_marketing_at_once
    from dsr_bot.reports.queries import case_summary

    settings = obj.settings()
    settings.require("mail_from")
    now = _now(now_text)
    representative = None
    if representative_kind or representative_name or representative_email:
        if not (representative_kind and representative_name):
            raise click.UsageError(
                "A representative needs --representative-kind and --representative-name."
            )
        representative = service.Representative(
            representative_kind, representative_name, representative_email
        )
    request = service.OfflineRequest(
        channel=channel,
        received_at=_received(received, settings),
        types=types,
        name=name,
        email=email,
        postal_address=address.replace("\\n", "\n") if address else None,
        language=language,
        representative=representative,
    )
    who = _actor(actor)
    letters = _letters(settings)
    try:
        with session_factory(settings)() as session, session.begin():
            case = service.register_request(
                session,
                request,
                policy=service.CasePolicy.from_settings(settings),
                now=now,
                actor=who,
            )
            stop_marketing_at_once(session, case, now, actor=who)
            letters.acknowledge(session, case, now)
            session.flush()
            summary = {**case_summary(case), "printable": case_is_posted(case)}
    except RuleViolation as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
        return
    click.echo(f"{summary['ref']} registered ({channel}); due {summary['due_at']}.")
    if summary["printable"]:
        click.echo(f"Acknowledgement to print: dsr-bot letters print {summary['ref']}", err=True)


def case_is_posted(case: Any) -> bool:
    from dsr_bot.replies.letters import addressee

    return addressee(case)[0] is None


def _letters(settings: Any) -> Any:
    from dsr_bot.replies import ReplyRenderer
    from dsr_bot.replies.letters import Letters

    controller = settings.resolved_controller()
    return Letters(
        ReplyRenderer(controller), settings.mail_from or "", controller.name, settings.timezone
    )


@click.group("letters")
def letters_group() -> None:
    """Letters sent to requesters: the kept record, and letters to print and post."""


@letters_group.command("print")
@click.argument("ref")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True
)
@click.option("--all", "everything", is_flag=True, help="Also letters printed before.")
@now_option
@click.pass_obj
def letters_print(
    obj: SettingsSource, ref: str, out: Path, everything: bool, now_text: str | None
) -> None:
    """Write case REF's letters for posting as HTML files (print from a browser, A4)."""
    import sqlalchemy as sa

    from dsr_bot.cases.model import RuleViolation
    from dsr_bot.cases.service import get_case, record_event
    from dsr_bot.cli.fulfilment import _write_private
    from dsr_bot.store.tables import Letter

    settings = obj.settings()
    now = _now(now_text)
    written = []
    with session_factory(settings)() as session, session.begin():
        try:
            case = get_case(session, ref.upper())
        except RuleViolation as exc:
            raise click.ClickException(str(exc)) from None
        query = sa.select(Letter).where(Letter.case_id == case.id, Letter.channel == "post")
        if not everything:
            query = query.where(Letter.printed_at.is_(None))
        found = list(session.execute(query.order_by(Letter.id)).scalars())
        out.mkdir(parents=True, exist_ok=True)
        for letter in found:
            if letter.html is None:
                continue  # purged under retention: only the fact remains
            path = out / f"{case.ref}-{letter.id:05d}-{letter.purpose}.html"
            _write_private(path, letter.html.encode("utf-8"))
            written.append(str(path))
            for item in letter.attachments or []:
                # The export goes with the letter (on paper or a USB stick), then leaves
                # the database: kept only until printed (Art. 5(1)(c)).
                name = Path(item["name"]).name
                attached = out / f"{case.ref}-{letter.id:05d}-{name}"
                _write_private(attached, base64.b64decode(item["data"]))
                written.append(str(attached))
            letter.attachments = None
            if letter.printed_at is None:
                letter.printed_at = now
                record_event(
                    session,
                    action="letter_printed",
                    at=now,
                    actor=_actor(None),
                    case_id=case.id,
                    detail={"purpose": letter.purpose, "letter": letter.id},
                )
    for path in written:
        click.echo(path)
    if not written:
        click.echo(f"{ref}: no letters to print.", err=True)


@letters_group.command("list")
@click.option("--month", required=True, help="YYYY-MM: letters written that month.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def letters_list(obj: SettingsSource, month: str, as_json: bool) -> None:
    """The letters of one month (also `report --month M --letters`)."""
    from dsr_bot.reports import report

    settings = obj.settings()
    try:
        year, mon = report.parse_month(month)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--month") from None
    with session_factory(settings)() as session:
        rows = report.month_letters(session, year, mon, timezone=settings.timezone)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    sys.stdout.write(report.letters_table(rows))


@letters_group.command("show")
@click.argument("letter_id", type=int)
@click.pass_obj
def letters_show(obj: SettingsSource, letter_id: int) -> None:
    """The kept text of one letter (id from `letters list`), as the requester got it."""
    from dsr_bot.store.tables import Case, Letter

    settings = obj.settings()
    with session_factory(settings)() as session:
        letter = session.get(Letter, letter_id)
        if letter is None:
            raise click.ClickException(f"No letter {letter_id}.")
        if letter.text is None:
            raise click.ClickException(f"Letter {letter_id} was purged under retention.")
        case = session.get_one(Case, letter.case_id)
        click.echo(f"Case:    {case.ref}\nPurpose: {letter.purpose}\nChannel: {letter.channel}")
        click.echo(f"Written: {letter.created_at.isoformat()}\nSubject: {letter.subject}\n")
        click.echo(letter.text)
