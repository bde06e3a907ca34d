"""The decisions a letter states are taken by staff, with their reasons, or not at all."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dsr_bot.cases.actions import StaffDesk
from dsr_bot.cases.model import RuleViolation
from dsr_bot.cases.replying import letter_outcomes
from dsr_bot.fulfilment.approval import CaseFulfiller
from dsr_bot.fulfilment.sources import DataSources
from dsr_bot.store.tables import Case, Event
from tests.fixtures.desk import open_case
from tests.slack.test_desk import APPROVER, OTHER_APPROVER


def test_objection_decision_rules(desk: StaffDesk) -> None:
    erasure = open_case(desk, ("erasure",))
    with pytest.raises(RuleViolation, match="no objection"):
        desk.decide_objection(APPROVER, "a", erasure, "upheld")
    case_id = open_case(desk, ("objection",))
    with pytest.raises(RuleViolation, match="compelling legitimate grounds"):
        desk.decide_objection(APPROVER, "b", case_id, "not_upheld", "   ")
    with pytest.raises(RuleViolation, match="Unknown outcome"):
        desk.decide_objection(APPROVER, "c", case_id, "maybe")
    desk.verify_identity(APPROVER, "v", case_id, "customer_record")
    with pytest.raises(RuleViolation, match="decide the objection first"):
        desk.prepare_reply(OTHER_APPROVER, case_id)
    desk.decide_objection(APPROVER, "d", case_id, "not_upheld", "Pågående tvist.")
    draft = desk.prepare_reply(OTHER_APPROVER, case_id)
    assert "Pågående tvist." in draft.text and "allmän domstol" in draft.text
    desk.decide_objection(APPROVER, "e", case_id, "upheld")  # the latest decision counts
    assert "godtar den" in desk.prepare_reply(OTHER_APPROVER, case_id).text


def test_no_data_answers_an_access_request_only(desk: StaffDesk) -> None:
    both = open_case(desk, ("access", "erasure"))
    with pytest.raises(RuleViolation, match="access request alone"):
        desk.answer_no_data(APPROVER, "n1", both)
    alone = open_case(desk, ("access",))
    desk.answer_no_data(APPROVER, "n2", alone)
    with desk.factory() as session:
        assert session.get_one(Case, alone).status == "answered"
        [event] = session.execute(
            sa.select(Event).where(Event.action == "reply_approved", Event.case_id == alone)
        ).scalars()
        assert event.detail["outcomes"] == {"access": "no_data"}


@pytest.mark.parametrize(
    ("reason", "note", "fee", "refused"),
    [
        ("excessive", "", "", "Write the reason out"),
        ("manifestly_unfounded", "   ", "300 kr", "Write the reason out"),
        ("other", "Skäl.", "300 kr", "manifestly unfounded or excessive"),
        ("identity_not_confirmed", "Skäl.", "300 kr", "manifestly unfounded or excessive"),
        ("nonsense", "Skäl.", "", "Unknown reason"),
    ],
)
def test_refusal_and_fee_rules(
    desk: StaffDesk,
    reason: str,
    note: str,
    fee: str,
    refused: str,
) -> None:
    case_id = open_case(desk, ("access",))
    with pytest.raises(RuleViolation, match=refused):
        desk.reject(APPROVER, "r", case_id, reason, note, fee)


def test_letter_outcomes_per_right() -> None:
    assert letter_outcomes(["access"], {"no_data": True}) == {"access": "no_data"}
    assert letter_outcomes(["access"], {}) == {"access": "copy_sent"}
    erasure = {
        "erasure": "erased",
    }
    assert letter_outcomes(["erasure"], {"erased_summary": ("a",)}) == erasure
    assert letter_outcomes(["erasure"], {"erased_summary": ("a",), "kept_summary": ("b",)}) == {
        "erasure": "partly_kept"
    }
    assert letter_outcomes(["erasure"], {"kept_summary": ("b",)}) == {"erasure": "kept"}
    assert letter_outcomes(["erasure"], {"searched": ("x",)}) == {"erasure": "nothing_found"}
    assert letter_outcomes(["objection"], {"objection_upheld": False}) == {
        "objection": "not_upheld"
    }
    assert letter_outcomes(["consent_withdrawal"], {"consent_erased": ("n",)}) == {
        "consent_withdrawal": "erased"
    }


def test_a_system_erased_by_hand_is_listed_only_for_erasure(
    desk: StaffDesk,
) -> None:
    sources = DataSources.model_validate(
        {
            "sources": [
                {"kind": "manual", "name": "Arkivskåpet", "applies_to": ["erasure"]},
                {"kind": "manual", "name": "Servicesystemet", "applies_to": ["rectification"]},
            ]
        }
    )
    manual = StaffDesk(
        desk.factory, desk.policy, desk.clock, desk.letters, [], CaseFulfiller(sources)
    )
    case_id = open_case(manual, ("erasure", "rectification"))
    manual.verify_identity(APPROVER, "v", case_id, "customer_record")
    before = manual.prepare_reply(OTHER_APPROVER, case_id)
    assert "[[FILL IN: erased_summary]]" in before.text  # nothing recorded yet
    manual.tick_checklist(APPROVER, "t", case_id, ["Arkivskåpet", "Servicesystemet"])
    text = manual.prepare_reply(OTHER_APPROVER, case_id).text
    erasure_part = text[text.index("Radering (artikel 17)") :]
    assert "Vi har raderat dina personuppgifter" in erasure_part
    assert "- Arkivskåpet" in erasure_part and "Servicesystemet" not in erasure_part
