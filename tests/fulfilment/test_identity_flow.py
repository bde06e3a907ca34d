"""Identity proof end to end (Art. 12(6), EDPB 01/2022 §3.3), over real Dovecot and SMTP and
the fake Slack's wire (Socket Mode):

*Ask for ID proof* opens a modal with staff's own questions and an optional deadline pause;
the letter carries both. The requester answers with a scan attached; *Verify* with "other"
needs a note; verification deletes the scan from storage (the text stays), records method,
verifier and time, and resumes the deadline as a suspension: the due date moves by the
days paused, it does not restart. Identity numbers never reach the card.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from dsr_bot.bootstrap import App
from dsr_bot.cases import deadlines
from dsr_bot.intake.watcher import MailboxWatcher
from dsr_bot.slack.runtime import SlackRuntime
from dsr_bot.store.tables import Event, InboundMessage
from tests.fixtures.bot import MAIL_FROM
from tests.fixtures.slack_api import FakeSlack
from tests.fixtures.slack_app import APPROVER, mail_bot, only_case
from tests.fixtures.slack_app import newest_card as card
from tests.fixtures.slack_payloads import (
    block_action,
    checked_values,
    select_value,
    text_value,
    view_submission,
)

pytestmark = pytest.mark.slow

SCAN = b"\xff\xd8\xff\xe0" + b"JFIF-passport-scan" * 200
PNR = "19850312-1234"
STOCKHOLM = ZoneInfo("Europe/Stockholm")


class Clock:
    """Now (receipt is the IMAP server's INTERNALDATE); the test moves it on."""

    def __init__(self) -> None:
        self.start = datetime.now(UTC)
        self.now = self.start

    def __call__(self) -> datetime:
        return self.now


def request_mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Karin Lind <karin.lind@example.se>"
    msg["To"] = MAIL_FROM
    msg["Subject"] = "Registerutdrag"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="example.se")
    msg.set_content(
        "Hej! Jag vill få ett registerutdrag enligt artikel 15, en kopia av alla "
        f"personuppgifter ni har om mig. Mitt personnummer är {PNR}. Mvh Karin Lind"
    )
    return msg.as_bytes()


def answer_with_scan(ref: str, in_reply_to: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Karin Lind <karin.lind@example.se>"
    msg["To"] = MAIL_FROM
    msg["Subject"] = f"Re: [{ref}] Vi behöver bekräfta att det är du"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="example.se")
    msg["In-Reply-To"] = in_reply_to
    msg.set_content("Här kommer en kopia av mitt pass och mitt kundnummer 4711.")
    msg.add_attachment(SCAN, maintype="image", subtype="jpeg", filename="pass.jpg")
    return msg.as_bytes()


def scans(raw: bytes | None) -> list[bytes]:
    parsed = message_from_bytes(raw or b"", policy=policy.default)
    return [
        part.get_payload(decode=True)
        for part in parsed.walk()
        if part.get_content_type() == "image/jpeg"
    ]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def bot(
    mailbox: Any,
    smtp_sink: Any,
    slack_api: FakeSlack,
    database_url: str,
    clock: Clock,
) -> Iterator[tuple[App, SlackRuntime]]:
    with mail_bot(
        mailbox,
        smtp_sink,
        slack_api,
        database_url,
        settings={"slack_excerpt": "full"},
        clock=clock,
        pump_interval=0.1,
    ) as started:
        yield started


def click(slack: FakeSlack, blocks: list[Any], action_id: str) -> None:
    for block in blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                slack.wait_ack(
                    slack.push("interactive", block_action(APPROVER, action_id, element["value"]))
                )
                return
    raise AssertionError(f"no {action_id} on the card")


def submit(slack: FakeSlack, view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    return slack.wait_ack(slack.push("interactive", view_submission(APPROVER, view, values)))


def test_id_proof_asked_paused_verified_and_the_scan_deleted(
    bot: tuple[App, SlackRuntime],
    mailbox: Any,
    smtp_sink: Any,
    slack_api: FakeSlack,
    clock: Clock,
) -> None:
    app, runtime = bot
    mailbox.append(request_mail())
    MailboxWatcher(app).run_once()
    case = only_case(app)
    assert case.types == ["access"]
    first_due = case.due_on
    smtp_sink.wait_for(1)  # the acknowledgement
    blocks = card(slack_api, lambda b: "dsr_ask_id" in b)
    shown = json.dumps(blocks, ensure_ascii=False)
    assert PNR not in shown and "850312" not in shown and "[ID number hidden]" in shown

    # Day 1: ask, with our own question, pausing the deadline.
    clock.now = clock.start + timedelta(days=1)
    paused_on = clock.now.astimezone(STOCKHOLM).date()
    click(slack_api, blocks, "dsr_ask_id")
    view = slack_api.opened_view("dsr_askid_submit")
    answer = submit(
        slack_api,
        view,
        {
            "items": text_value("Ditt kundnummer\nDin leveransadress"),
            "pause": checked_values("pause"),
        },
    )
    assert "errors" not in json.dumps(answer)
    letter = smtp_sink.wait_for(2)[1].message
    text = letter.get_body(("plain",)).get_content()
    assert "- Ditt kundnummer" in text and "- Din leveransadress" in text
    assert "Ditt fullständiga namn" not in text  # staff's list replaces the default one
    assert "Tidsfristen fortsätter att löpa" not in text  # it does not: it is paused
    runtime.poke()
    card(slack_api, lambda b: f"paused since {clock.now.date().isoformat()}" in b)

    # Day 8: Karin answers with a passport scan; staff verify.
    clock.now = clock.start + timedelta(days=8)
    paused_days = (clock.now.astimezone(STOCKHOLM).date() - paused_on).days
    mailbox.append(answer_with_scan(case.ref, letter["Message-ID"]))
    MailboxWatcher(app).run_once()
    with app.factory() as session:
        reply = session.execute(
            sa.select(InboundMessage).where(InboundMessage.disposition == "reply")
        ).scalar_one()
        assert scans(reply.raw) == [SCAN]

    blocks = card(slack_api, lambda b: "dsr_verify" in b)
    click(slack_api, blocks, "dsr_verify")
    view = slack_api.opened_view("dsr_verify_submit")
    refused = submit(slack_api, view, {"method": select_value("other")})
    assert "Say in the note how" in json.dumps(refused)
    assert only_case(app).identity_status != "verified"
    answer = submit(
        slack_api,
        view,
        {"method": select_value("id_document"), "note": text_value("Pass, bild och namn stämmer")},
    )
    assert "errors" not in json.dumps(answer)

    verified = only_case(app)
    assert verified.identity_status == "verified" and verified.identity_method == "id_document"
    assert verified.identity_verified_by == f"slack:{APPROVER}"
    assert verified.identity_verified_at == clock.now
    # Paused for seven days: the due date moves by seven days (then to a working day); a
    # restart would have given a month from today, some three weeks later still.
    assert paused_days == 7
    expected = deadlines.next_working_day(first_due + timedelta(days=7))
    assert verified.due_on == expected and verified.paused_at is None
    assert verified.due_on < deadlines.due_date(clock.now)
    assert verified.id_documents_deleted_at == clock.now
    with app.factory() as session:
        stored = session.get_one(InboundMessage, reply.id)
        assert scans(stored.raw) == [] and b"cGFzc3BvcnQtc2Nhb" not in (stored.raw or b"")
        parsed = message_from_bytes(stored.raw or b"", policy=policy.default)
        body = parsed.get_body(("plain",))
        assert body is not None and "kundnummer 4711" in body.get_content()
        assert (
            "Attachment removed after identity verification: pass.jpg"
            in (stored.raw or b"").decode()
        )
        trail = {
            e.action: e
            for e in session.execute(sa.select(Event).where(Event.case_id == case.id)).scalars()
        }
        assert trail["identity_documents_deleted"].detail == {
            "messages": 1,
            "attachments": 1,
            "reason": "identity_verified",
        }
        assert trail["identity_verified"].detail["method"] == "id_document"
        assert trail["identity_verified"].actor == f"slack:{APPROVER}"
        assert trail["deadline_resumed"].detail == {
            "paused_days": 7,
            "due_on": expected.isoformat(),
        }
        assert trail["identity_requested"].detail["paused"] is True
    runtime.poke()
    blocks = card(slack_api, lambda b: expected.isoformat() in b)
    assert PNR not in json.dumps(blocks)
