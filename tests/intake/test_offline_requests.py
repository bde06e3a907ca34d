"""Requests by phone, post or in person (`dsr-bot cases new`), and `deadline` agreeing with
the due date such a case gets, through the real command, database and SMTP server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.bot import Bot

pytestmark = pytest.mark.slow

# Received 24 Nov: one month is 24 Dec, Christmas Eve, a Thursday. It is a working day in
# the strict EU reading and closed under the optional Swedish rule (docs/deadlines.md),
# which moves it past Christmas Day, Boxing Day and the weekend to Monday 28 Dec.
CHRISTMAS = "2026-11-24T10:15"


@pytest.mark.parametrize(
    ("received", "extra_closed", "expected"),
    [
        (CHRISTMAS, "false", "2026-12-24"),
        (CHRISTMAS, "true", "2026-12-28"),
        # Midsummer Eve 2026 is Friday 19 June: the rule moves it to Monday 22 June.
        ("2026-05-19T09:00", "true", "2026-06-22"),
        ("2026-05-19T09:00", "false", "2026-06-19"),
        # 23:30 UTC on 24 Nov is 25 Nov in Stockholm: Christmas Day, then the weekend.
        ("2026-11-24T23:30Z", "false", "2026-12-28"),
    ],
)
def test_deadline_command_and_a_registered_case_agree(
    bot: Bot, received: str, extra_closed: str, expected: str
) -> None:
    printed = bot.cli("deadline", received, deadline_extra_closed_days=extra_closed)
    case = json.loads(
        bot.cli(
            "cases",
            "new",
            "--channel",
            "phone",
            "--received",
            received,
            "--type",
            "access",
            "--name",
            "Anna Andersson",
            "--email",
            "anna@example.se",
            "--json",
            deadline_extra_closed_days=extra_closed,
        ).stdout
    )
    assert printed.stdout.strip() == case["due_at"] == expected


def test_a_phone_request_gets_its_acknowledgement_by_mail_from_its_receipt_time(
    bot: Bot, smtp_sink: Any
) -> None:
    case = bot.json(
        "cases",
        "new",
        "--channel",
        "phone",
        "--received",
        "2026-11-02T09:14+01:00",
        "--type",
        "access",
        "--type",
        "erasure",
        "--name",
        "Anna Andersson",
        "--email",
        "Anna@Example.se",
    )
    assert case["channel"] == "phone" and case["ref"].startswith("DSR-2026-")
    assert case["types"] == ["access", "erasure"] and case["due_at"] == "2026-12-02"
    assert case["printable"] is False
    bot.cli("run", "--once")
    [ack] = smtp_sink.wait_for(1)
    assert ack.rcpt_tos == ["anna@example.se"]
    text = ack.message.get_body(("plain",)).get_content()
    assert case["ref"] in ack.message["Subject"] and "2 november 2026" in text
    assert "2 december 2026" in text
    shown = bot.json("cases", "show", case["ref"])
    [opened] = [e for e in shown["events"] if e["action"] == "case_opened"]
    assert opened["detail"]["channel"] == "phone" and opened["actor"].startswith("cli")


def test_a_letter_request_without_e_mail_is_answered_on_paper(
    bot: Bot, smtp_sink: Any, tmp_path: Path
) -> None:
    case = bot.json(
        "cases",
        "new",
        "--channel",
        "post",
        "--received",
        "2026-11-24T10:15",
        "--type",
        "access",
        "--name",
        "Bo Ek",
        "--address",
        "Storgatan 1\\n111 22 Stockholm",
        "--now",
        "2026-11-25T08:00:00Z",
    )
    assert case["printable"] is True and case["requester"] is None
    bot.cli("run", "--once")
    assert smtp_sink.received == []  # nothing to mail to

    printed = bot.cli("letters", "print", case["ref"], "--out", str(tmp_path / "print"))
    [path] = printed.stdout.split()
    page = Path(path).read_text(encoding="utf-8")
    assert '<div class="address">Bo Ek<br>Storgatan 1<br>111 22 Stockholm</div>' in page
    assert "@page { size: A4" in page and "Micromedic AB" in page
    assert case["ref"] in page and "24 december 2026" in page
    assert (Path(path).stat().st_mode & 0o077) == 0  # personal data: owner only
    # Printed once; a second run finds nothing new, --all writes it again.
    again = bot.cli("letters", "print", case["ref"], "--out", str(tmp_path / "again"))
    assert again.stdout.strip() == "" and "no letters to print" in again.stderr
    assert bot.cli("letters", "print", case["ref"], "--all", "--out", str(tmp_path / "a")).stdout

    [listed] = bot.json("letters", "list", "--month", "2026-11")
    assert listed["ref"] == case["ref"] and listed["channel"] == "post"
    assert listed["status"] == "printed" and listed["purpose"] == "acknowledgement"
    table = bot.cli("report", "--month", "2026-11", "--letters").stdout
    assert case["ref"] in table and "printed" in table and "Bo Ek" not in table


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--received", "2099-01-01T10:00"], "received in the future"),
        (["--received", "yesterday"], "not an ISO 8601 time"),
        (["--received", "2026-11-24T10:15", "--email", "not an address"], "not an e-mail"),
        (["--received", "2026-11-24T10:15", "--name", "   "], "name is needed"),
        (["--received", "2026-11-24T10:15", "--no-address"], "e-mail or a postal address"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(bot: Bot, args: list[str], says: str) -> None:
    base = ["cases", "new", "--channel", "post", "--type", "access"]
    if "--name" not in args:
        base += ["--name", "Bo Ek"]
    if "--no-address" in args:
        args = [a for a in args if a != "--no-address"]
    elif "--email" not in args:
        base += ["--address", "Storgatan 1"]
    proc = bot.cli(*base, *args, check=False)
    assert proc.returncode != 0 and says in proc.stderr
    assert "Traceback" not in proc.stderr
    assert bot.json("cases", "list") == []


def test_a_posted_reply_carries_its_attachments_until_printed_then_drops_them(
    bot: Bot, tmp_path: Path
) -> None:
    import sqlalchemy as sa

    from dsr_bot.config import load_controller_profile
    from dsr_bot.replies import ReplyRenderer
    from dsr_bot.replies.letters import Letters
    from dsr_bot.store import db
    from dsr_bot.store.tables import Case, Letter
    from tests.fixtures.bot import CONTROLLER, MAIL_FROM

    ref = bot.json(
        "cases",
        "new",
        "--channel",
        "post",
        "--received",
        "2026-11-24T10:15",
        "--type",
        "access",
        "--name",
        "Bo Ek",
        "--address",
        "Storgatan 1",
    )["ref"]
    engine = db.make_engine(bot.settings["database_url"])
    factory = db.session_factory(engine)
    controller = load_controller_profile(CONTROLLER)
    letters = Letters(ReplyRenderer(controller), MAIL_FROM, controller.name)
    export = b'{"sources": []}'
    with factory() as session, session.begin():
        case = session.execute(sa.select(Case).where(Case.ref == ref)).scalar_one()
        letters.enqueue(
            session,
            case,
            key="reply:test",
            purpose="substantive_reply",
            subject=f"[{ref}] Ditt registerutdrag",
            text="Hej Bo Ek!\n\nHär är ditt registerutdrag.",
            html=None,
            now=case.opened_at,
            attachments=[(f"{ref}-personuppgifter.json", "application/json", export)],
        )
    out = tmp_path / "print"
    printed = bot.cli("letters", "print", ref, "--out", str(out)).stdout.split()
    assert len(printed) == 3  # acknowledgement, reply, the reply's export
    [attached] = [Path(p) for p in printed if p.endswith(".json")]
    assert attached.read_bytes() == export and (attached.stat().st_mode & 0o077) == 0
    with factory() as session:
        kept = session.execute(sa.select(Letter).where(Letter.key == "reply:test")).scalar_one()
        assert kept.attachments is None and kept.printed_at is not None
        assert kept.text is not None  # the letter itself stays on record
    engine.dispose()


def test_an_opt_out_taken_by_phone_is_on_the_suppression_list_at_once(bot: Bot) -> None:
    case = bot.json(
        "cases",
        "new",
        "--channel",
        "phone",
        "--received",
        "2026-11-24T10:15",
        "--type",
        "marketing_optout",
        "--name",
        "Lena Berg",
        "--email",
        "Lena.Berg@Example.se",
    )
    listed = bot.cli("suppression", "export").stdout
    assert "lena.berg@example.se" in listed.splitlines()[1]
    shown = bot.json("cases", "show", case["ref"])
    [added] = [e for e in shown["events"] if e["action"] == "suppression_added"]
    assert added["actor"].startswith("cli")
