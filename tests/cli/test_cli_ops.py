"""The operations commands as an operator runs them (settings from DSR_BOT_* variables)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from dsr_bot.cli import main
from dsr_bot.store.tables import Case, Event, Outbound
from tests.ops_support import local, open_db, seed_case


def make_cli() -> click.Group:
    """The real `dsr-bot` group: the operations commands as cli/__init__.py registers them."""
    return main


@pytest.fixture
def run(database_url: str):  # type: ignore[no-untyped-def]
    def invoke(*args: str) -> Result:
        env = {
            "DSR_BOT_DATABASE_URL": database_url,
            "DSR_BOT_SLACK_CHANNEL": "C0OPS",
            "DSR_BOT_MAIL_FROM": "privacy@example.se",
            "DSR_BOT_CONTROLLER_PROFILE": str(
                Path(__file__).parents[2] / "deploy" / "controller.example.toml"
            ),
        }
        return CliRunner().invoke(make_cli(), list(args), env=env, catch_exceptions=False)

    return invoke


def test_extend_reminders_and_retention_commands(database_url: str, run) -> None:  # type: ignore[no-untyped-def]
    engine, factory = open_db(database_url)
    case_id = seed_case(factory, local(2026, 3, 3, 9))

    result = run("reminders", "run-once", "--now", "2026-03-31T08:00:00+02:00")
    assert result.exit_code == 0, result.output
    assert "queued 2 reminder(s)" in result.output
    assert f"{case_id}:due-in-7d:2026-03-31" in result.output
    again = run("reminders", "run-once", "--now", "2026-03-31T09:00:00+02:00")
    assert "queued 0 reminder(s)" in again.output

    refused = run(
        "cases",
        "extend",
        "DSR-2026-0001",
        "--reason",
        "Complex",
        "--now",
        "2026-04-08T09:00:00+02:00",
    )
    assert refused.exit_code == 1
    assert "can no longer be extended" in refused.output
    done = run(
        "cases", "extend", "DSR-2026-0001", "--reason", "Many systems",
        "--actor", "cli:dpo", "--now", "2026-04-01T09:00:00+02:00",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "now due 2026-06-03" in done.output
    with factory() as session:
        case = session.get_one(Case, case_id)
        assert case.extension_reason == "Many systems"
        actors = (
            session.execute(sa.select(Event.actor).where(Event.action == "deadline_extended"))
            .scalars()
            .all()
        )
        outbound = session.execute(sa.select(Outbound)).scalars().all()
        channels = {o.payload["args"].get("channel") for o in outbound if o.kind == "slack"}
        notices = [o for o in outbound if o.purpose == "extension_notice"]
    assert actors == ["cli:dpo"]
    assert channels == {"C0OPS"}
    # Art. 12(3): the requester is told, with the reason, and the letter is queued.
    assert len(notices) == 1
    assert b"Many systems" in notices[0].body or b"Many=20systems" in notices[0].body

    preview = run("retention", "run", "--dry-run", "--json", "--now", "2027-01-01T00:00:00Z")
    assert json.loads(preview.output) == {
        "dry_run": True,
        "raw_cases": [],
        "raw_messages": 0,
        "anonymised_cases": [],
        "letter_cases": [],
    }
    engine.dispose()


def test_report_command_writes_table_csv_and_html(
    database_url: str,
    run,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    engine, factory = open_db(database_url)
    seed_case(factory, local(2026, 11, 2), language="en")
    table = run("report", "--month", "2026-11", "--now", "2026-12-15T12:00:00Z")
    assert table.exit_code == 0
    assert "November 2026" in table.output
    csv_out = run("report", "--month", "2026-11", "--format", "csv", "--now", "2026-12-15T12:00Z")
    assert "2026-11,received,,1" in csv_out.output
    assert "2026-11,still_open_overdue,,1" in csv_out.output  # due Wed 2 Dec
    page = tmp_path / "nov.html"
    html = run("report", "--month", "2026-11", "--format", "html", "--output", str(page))
    assert html.exit_code == 0
    text = page.read_text(encoding="utf-8")
    assert text.count("<svg") == 1  # weeks chart; nothing answered yet, so no answer chart
    assert "has been answered yet" in text
    bad = run("report", "--month", "November")
    assert bad.exit_code == 2 and "YYYY-MM" in bad.output
    engine.dispose()
