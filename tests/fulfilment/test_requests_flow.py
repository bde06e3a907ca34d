"""Issue 11B over the Slack wire (HTTP mode, signed) with the real SMTP server and customer
database: `/dsr new` for a phone or letter request, a question to the requester, a
representative whose authority must be verified before the reply reaches them, and other
people's data removed from an access export (Art. 15(4))."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import pytest
import sqlalchemy as sa

from dsr_bot.store.tables import Case, Letter
from tests.fixtures.bot import MAIL_FROM
from tests.fixtures.customer_db import ANNA
from tests.fixtures.fulfilment_desk import Desk, attachments, events
from tests.fixtures.slack_app import APPROVER, GROUP_MEMBER, SIGNING_SECRET, only_case
from tests.fixtures.slack_blockkit import view_problems
from tests.fixtures.slack_payloads import (
    checked_values,
    post_body,
    select_value,
    slash_command,
    text_value,
)

pytestmark = pytest.mark.slow

REPRESENTATIVE = "per.persson@ombud.example"


def open_new_modal(desk: Desk, user: str = APPROVER) -> dict[str, Any]:
    status, body = post_body(desk.url, slash_command(user, "new"), SIGNING_SECRET)
    assert status == 200, body
    view = desk.slack.opened_view("dsr_new_submit")
    assert view_problems(view) == []
    return view


def new_request(desk: Desk, **fields: Any) -> dict[str, Any]:
    view = open_new_modal(desk)
    values = {
        "channel": select_value(fields.get("channel", "phone")),
        "received": text_value(fields["received"]),
        "types": checked_values(*fields.get("types", ["access"])),
        "name": text_value(fields.get("name", "Bo Ek")),
        "email": text_value(fields.get("email", "")),
        "address": text_value(fields.get("address", "")),
        "language": select_value(fields.get("language", "sv")),
    }
    return desk.submit(APPROVER, view, values)


def test_dsr_new_registers_a_phone_request_and_acknowledges_it_by_mail(
    desk: Desk,
    smtp_sink: Any,
) -> None:
    answer = new_request(
        desk, received="2026-11-24 10:15", types=["access", "erasure"], email="bo@example.se"
    )
    assert "errors" not in answer, answer
    case = only_case(desk.app)
    assert case.channel == "phone" and case.types == ["access", "erasure"]
    assert case.due_on == date(2026, 12, 24)  # the receipt time, not when it was typed in
    assert case.received_at == datetime(2026, 11, 24, 9, 15, tzinfo=UTC)  # 10:15 in Stockholm
    [ack] = smtp_sink.wait_for(1)
    assert ack.rcpt_tos == ["bo@example.se"] and case.ref in ack.message["Subject"]
    desk.card(lambda blocks: case.ref in blocks and "Channel" in blocks and "phone" in blocks)
    [opened] = events(desk.app, "case_opened")
    assert opened.actor == f"slack:{APPROVER}" and opened.detail["channel"] == "phone"


def test_dsr_new_without_e_mail_produces_a_printable_letter_and_refuses_bad_input(
    desk: Desk,
    smtp_sink: Any,
) -> None:
    bad = new_request(desk, received="tisdag förmiddag", address="Storgatan 1")
    assert bad.get("response_action") == "errors" and "YYYY-MM-DD HH:MM" in json.dumps(bad)
    nowhere = new_request(desk, received="2026-11-24 10:15", channel="post")
    assert "e-mail or a postal address" in json.dumps(nowhere, ensure_ascii=False)
    with desk.app.factory() as session:
        assert session.execute(sa.select(Case)).first() is None

    answer = new_request(
        desk, received="2026-11-24 10:15", channel="post", address="Storgatan 1\n111 22 Stockholm"
    )
    assert "errors" not in answer, answer
    with desk.app.factory() as session:
        [letter] = session.execute(sa.select(Letter)).scalars()
        assert letter.channel == "post" and letter.purpose == "acknowledgement"
        assert "Storgatan 1<br>111 22 Stockholm" in (letter.html or "")
    assert smtp_sink.received == []


def test_a_question_to_the_requester_keeps_the_deadline_running(
    desk: Desk,
    smtp_sink: Any,
) -> None:
    case = desk.receive("Mina uppgifter [access]")
    desk.click(APPROVER, "dsr_clarify")
    view = desk.slack.opened_view("dsr_clarify_submit")
    assert view_problems(view) == []
    empty = desk.submit(APPROVER, view, {"questions": text_value("  \n ")})
    assert empty.get("response_action") == "errors"
    answer = desk.submit(
        APPROVER, view, {"questions": text_value("Gäller det även Ortomedic AS?\nVilket år?")}
    )
    assert "errors" not in answer, answer
    mail = smtp_sink.wait_for(2)[1].message
    text = mail.get_body(("plain",)).get_content()
    assert "- Gäller det även Ortomedic AS?" in text and "- Vilket år?" in text
    assert "fortsätter att löpa" in text and case.ref in mail["Subject"]
    assert only_case(desk.app).due_on == case.due_on
    [asked] = events(desk.app, "clarification_requested")
    assert asked.detail["questions"] == 2


def representative_mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Per Persson <{REPRESENTATIVE}>"
    msg["To"] = MAIL_FROM
    msg["Subject"] = "Registerutdrag för min huvudman [access]"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="ombud.example")
    msg.set_content("Jag begär registerutdrag för Anna Andersson enligt bifogad fullmakt.")
    return msg.as_bytes()


def test_a_representative_gets_the_reply_only_once_their_authority_is_verified(
    desk: Desk,
    smtp_sink: Any,
) -> None:
    inbound = desk.app.intake.store_raw(
        mailbox="INBOX",
        uidvalidity=1,
        uid=7,
        raw=representative_mail(),
        received_at=datetime.now(UTC),
    )
    assert inbound is not None
    desk.app.intake.process(inbound)
    desk.runtime.poke()
    desk.card(lambda blocks: "dsr_rep" in blocks)
    desk.click(APPROVER, "dsr_rep")
    view = desk.slack.opened_view("dsr_rep_submit")
    assert view_problems(view) == []
    answer = desk.submit(
        APPROVER,
        view,
        {
            "kind": select_value("power_of_attorney"),
            "name": text_value("Per Persson"),
            "email": text_value(REPRESENTATIVE),
            "subject_email": text_value(ANNA),
            "subject_name": text_value("Anna Andersson"),
        },
    )
    assert "errors" not in answer, answer
    case = only_case(desk.app)
    assert (case.requester_email, case.representative_email) == (ANNA, REPRESENTATIVE)
    desk.card(lambda blocks: "dsr_repverify" in blocks and "not verified" in blocks)

    desk.verify()  # the data subject's identity, as ever
    view = desk.prepare()
    refused = desk.send(view)
    assert "verify the representative" in json.dumps(refused, ensure_ascii=False)

    desk.click(GROUP_MEMBER, "dsr_repverify")
    view = desk.slack.opened_view("dsr_repverify_submit")
    assert view_problems(view) == []
    answer = desk.submit(
        GROUP_MEMBER,
        view,
        {"method": select_value("signed_power_of_attorney"), "note": text_value("Fullmakt 2026")},
    )
    assert "errors" not in answer, answer
    desk.card(lambda blocks: ":white_check_mark: verified" in blocks and "dsr_prepare" in blocks)
    answer = desk.send(desk.prepare())
    assert "errors" not in answer, answer

    received = smtp_sink.wait_for(2)
    assert [r.rcpt_tos for r in received] == [[REPRESENTATIVE], [REPRESENTATIVE]]
    # Addressed to the representative, by name.
    assert "Hej Per Persson!" in received[1].message.get_body(("plain",)).get_content()
    export = json.loads(
        next(v for k, v in attachments(received[1].message).items() if k.endswith(".json"))
    )
    # Searched by Anna's identifiers, not the representative's.
    assert {s["table"]: [r["id"] for r in s["rows"]] for s in export["sources"]}["customers"] == [1]
    verified = only_case(desk.app)
    assert verified.representative_verified_method == "signed_power_of_attorney"
    assert verified.representative_verified_by == f"slack:{GROUP_MEMBER}"
    assert verified.representative_verified_at is not None
    [event] = events(desk.app, "representative_verified")
    assert event.detail == {"method": "signed_power_of_attorney", "note": "Fullmakt 2026"}


def test_other_peoples_data_is_removed_from_the_access_export_before_it_is_sent(
    desk: Desk,
    smtp_sink: Any,
) -> None:
    case = desk.receive("Registerutdrag [access]")
    desk.verify()
    desk.click(APPROVER, "dsr_redact")
    view = desk.slack.opened_view("dsr_redact_submit")
    assert view_problems(view) == []
    answer = desk.submit(APPROVER, view, {"redact": text_value("Karolinska\n")})
    assert "errors" not in answer, answer
    view = desk.prepare()
    assert "errors" not in desk.send(view)
    files = attachments(smtp_sink.wait_for(2)[1].message)
    for name, data in files.items():
        text = data.decode("utf-8-sig")
        assert "Karolinska" not in text and "[removed: Art. 15(4)]" in text, name
    [approved] = events(desk.app, "reply_approved")
    assert approved.detail["redactions"] == 1
    [setting] = events(desk.app, "export_redactions_set")
    assert setting.detail == {"count": 1}  # how many, never what
    assert only_case(desk.app).ref == case.ref
