"""Staff actions' rules, straight through the desk (no Slack): table-driven where it fits."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
import sqlalchemy as sa

from dsr_bot.cases.actions import StaffDesk
from dsr_bot.cases.desk import Staff
from dsr_bot.cases.model import RuleViolation
from dsr_bot.store.tables import Case, StaffAction
from tests.fixtures.desk import RECEIVED, events, mails, open_case

APPROVER = Staff("slack:UAPPROVER", approver=True)
OTHER_APPROVER = Staff("slack:UOTHER", approver=True)
COLLEAGUE = Staff("slack:UCOLLEAGUE", approver=False)


def test_a_non_approver_is_refused_and_the_attempt_is_on_record(desk: StaffDesk) -> None:
    case_id = open_case(desk)
    with pytest.raises(RuleViolation, match="Only approvers"):
        desk.verify_identity(COLLEAGUE, "k1", case_id, "id_document")
    refused = events(desk, "action_refused")
    assert [(e.actor, e.case_id, e.detail["action"]) for e in refused] == [
        ("slack:UCOLLEAGUE", case_id, "verify_identity")
    ]
    with desk.factory() as session:
        assert session.get_one(Case, case_id).identity_status == "unverified"
        assert session.execute(sa.select(StaffAction)).first() is None


def test_no_reply_before_identity_then_four_eyes_then_sent_once(desk: StaffDesk) -> None:
    case_id = open_case(desk)
    draft = desk.prepare_reply(APPROVER, case_id)
    assert draft.template == "erasure_confirmation"
    # No fulfiller: nothing records what was erased, so staff write it in.
    text = draft.text.replace("[[FILL IN: erased_summary]]", "Kundregistret")
    draft = replace(draft, text=text)
    with pytest.raises(RuleViolation, match="verify the requester's identity"):
        desk.approve_and_send_reply(APPROVER, "send-1", case_id, draft.subject, draft.text)
    desk.verify_identity(APPROVER, "verify-1", case_id, "customer_record", "kundnr 123")
    with pytest.raises(RuleViolation, match="four-eyes"):
        desk.approve_and_send_reply(APPROVER, "send-2", case_id, draft.subject, draft.text)
    done = desk.approve_and_send_reply(OTHER_APPROVER, "send-3", case_id, draft.subject, draft.text)
    again = desk.approve_and_send_reply(
        OTHER_APPROVER, "send-3", case_id, draft.subject, draft.text
    )
    assert not done.repeated and again.repeated
    [row] = mails(desk, "substantive_reply")
    mail = message_from_bytes(row.body or b"", policy=policy.default)
    assert mail["In-Reply-To"] == "<req-1@example.se>"
    assert "DSR-" in mail["Subject"] and mail["Auto-Submitted"] is None
    assert [e.actor for e in events(desk, "reply_approved")] == ["slack:UOTHER"]
    with desk.factory() as session:
        assert session.get_one(Case, case_id).status == "answered"


def test_racing_clicks_with_one_key_act_once(desk: StaffDesk) -> None:
    case_id = open_case(desk)
    results: list[object] = []

    def click() -> None:
        try:
            results.append(desk.assign(APPROVER, "same-click", case_id).repeated)
        except RuleViolation as exc:
            results.append(exc)

    threads = [threading.Thread(target=click) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=str) == [False, True, True, True]
    assert len(events(desk, "assigned")) == 1


def test_an_access_reply_with_gaps_for_fulfilment_cannot_be_sent(desk: StaffDesk) -> None:
    case_id = open_case(desk, ("access",), "en")
    desk.verify_identity(APPROVER, "v", case_id, "id_document")
    draft = desk.prepare_reply(OTHER_APPROVER, case_id)
    assert draft.template == "access_response" and "[[FILL IN" in draft.text
    with pytest.raises(RuleViolation, match="FILL IN"):
        desk.approve_and_send_reply(OTHER_APPROVER, "s", case_id, draft.subject, draft.text)
    # Art. 15(1)(a), (b), (g) come from the controller profile; the copy itself is the gap.
    assert "[[FILL IN: attachments]]" in draft.text
    edited = draft.text.replace("[[FILL IN: attachments]]", "Customer administration").replace(
        "[[FILL IN", "x"
    )
    desk.approve_and_send_reply(OTHER_APPROVER, "s2", case_id, draft.subject, edited)
    [row] = mails(desk, "substantive_reply")
    assert b"Customer administration" in (row.body or b"")


@pytest.mark.parametrize(
    ("days_after_receipt", "allowed"),
    [(1, True), (31, True), (32, False)],  # due 2 April 2026 (a Thursday): last day counts
)
def test_extension_only_within_the_first_month(
    desk: StaffDesk, days_after_receipt: int, allowed: bool
) -> None:
    case_id = open_case(desk)
    desk.clock.now = RECEIVED + timedelta(days=days_after_receipt)  # type: ignore[attr-defined]
    if not allowed:
        with pytest.raises(RuleViolation, match="can no longer be extended"):
            desk.extend(APPROVER, "x", case_id, "Många system att gå igenom.")
        assert mails(desk, "extension_notice") == []
        return
    desk.extend(APPROVER, "x", case_id, "Många system att gå igenom.")
    [notice] = mails(desk, "extension_notice")
    assert "Många system".encode() in (notice.body or b"") or b"M=C3=A5nga" in (notice.body or b"")


def test_reject_sends_the_refusal_with_the_right_to_complain(desk: StaffDesk) -> None:
    case_id = open_case(desk)
    desk.reject(APPROVER, "r", case_id, "excessive", "Fjärde gången denna vecka.")
    [row] = mails(desk, "refusal")
    text = message_from_bytes(row.body or b"", policy=policy.default).get_body(("plain",))
    assert text is not None
    content = text.get_content()
    assert "IMY" in content or "Integritetsskyddsmyndigheten" in content
    assert "Fjärde gången" in content
    with pytest.raises(RuleViolation, match="rejected"):
        desk.verify_identity(APPROVER, "late", case_id, "id_document")


def test_assign_change_types_and_close(desk: StaffDesk) -> None:
    case_id = open_case(desk)
    desk.assign(APPROVER, "a", case_id)
    desk.change_types(APPROVER, "t", case_id, ["access", "erasure"])
    with pytest.raises(RuleViolation, match="at least one"):
        desk.change_types(APPROVER, "t2", case_id, [])
    desk.close(APPROVER, "c", case_id)
    with desk.factory() as session:
        case = session.get_one(Case, case_id)
        assert (case.assignee, case.types, case.status) == (
            "slack:UAPPROVER",
            ["access", "erasure"],
            "closed",
        )
