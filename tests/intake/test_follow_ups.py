"""Issue 12 in intake: a reminder threads to the sender's open case or opens a case flagged as
the follow-up of a request we have no record of (with the date it claims); a process
question goes to the open case or to review; the card shows the flags. Real database, real
shipped classifier."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa

from dsr_bot.cases.model import Classification, Disposition, FollowUp, FollowUpKind, RequestType
from dsr_bot.intake.follow_ups import NO_OPEN_CASE
from dsr_bot.slack import cards
from dsr_bot.store.tables import Case, Event
from tests.fixtures.app import offline_app
from tests.intake.test_intake_e2e import mail

ACCESS = mail(
    "ann.berg@example.se",
    "Subject access request",
    "Dear Sir or Madam, under Article 15 GDPR please send me a copy of all personal data you "
    "hold about me. Regards, Ann Berg",
)
ACCESS_REMINDER = mail(
    "ann.berg@example.se",
    "Reminder",
    "Hello, on 2 March 2026 I sent you a request under Article 15 GDPR and have had no reply. "
    "Please deal with it now. Ann",
)
ERASURE_REMINDER = mail(
    "ann.berg@example.se",
    "Second request - no reply",
    "Hello, I wrote to you on 14 February 2026 asking for erasure of my data under Article 17. "
    "Still no reply. Ann",
)
STRANGER_REMINDER = mail(
    "ola.nordmann@example.no",
    "Påminnelse",
    "Hei, den 27. januar 2026 sendte jeg dere et krav etter personvernforordningen artikkel 18 "
    "og har ikke fått svar. Ola",
)
QUESTION = mail(
    "ann.berg@example.se",
    "Verification?",
    "Hi, which documents do you need from me to confirm my identity? Ann",
)
STRANGER_QUESTION = mail(
    "per.hansen@example.dk",
    "Identifikation?",
    "Hej, hvilke dokumenter skal I bruge fra mig for at bekræfte min identitet? Per",
)


_UIDS = itertools.count(1)


def _process(app, *raws: bytes):  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    for raw in raws:
        uid = next(_UIDS)
        app.intake.store_raw(mailbox="t", uidvalidity=1, uid=uid, raw=raw, received_at=now)
    return app.intake.process_batch(app.intake.pending_ids())


def _events(app, action: str) -> list[Event]:  # type: ignore[no-untyped-def]
    with app.factory() as session:
        return list(session.execute(sa.select(Event).where(Event.action == action)).scalars())


def test_a_reminder_threads_to_the_senders_open_case(database_url: str, tmp_path: Path) -> None:
    app = offline_app(database_url, tmp_path)
    [opened] = _process(app, ACCESS)
    assert opened.disposition is Disposition.CASE
    [reminder] = _process(app, ACCESS_REMINDER)
    assert reminder.disposition is Disposition.REPLY
    assert reminder.case_ref == opened.case_ref
    [event] = _events(app, "follow_up_received")
    assert event.detail == {
        "kind": "reminder",
        "claimed_date": "2026-03-02",
        "claimed_text": "2 march 2026",
    }


def test_a_reminder_for_another_right_opens_its_own_flagged_case(
    database_url: str, tmp_path: Path
) -> None:
    app = offline_app(database_url, tmp_path)
    _process(app, ACCESS)
    [reminder] = _process(app, ERASURE_REMINDER)
    assert reminder.disposition is Disposition.CASE
    assert reminder.types == (RequestType.ERASURE,)
    [flag] = _events(app, "follow_up_unrecorded")
    assert (flag.detail or {})["claimed_date"] == "2026-02-14"


def test_a_reminder_of_a_request_we_never_saw_opens_a_case_that_shows_the_claimed_date(
    database_url: str, tmp_path: Path
) -> None:
    app = offline_app(database_url, tmp_path)
    [outcome] = _process(app, STRANGER_REMINDER)
    assert outcome.disposition is Disposition.CASE
    assert outcome.types == (RequestType.RESTRICTION,)
    flags = _events(app, "follow_up_unrecorded")
    assert [(f.detail or {})["claimed_date"] for f in flags] == ["2026-01-27"]
    [note] = cards.classification_notes(flags)
    assert "no record of" in note and "2026-01-27" in note
    with app.factory() as session:
        case = session.execute(sa.select(Case)).scalar_one()
        blocks = cards.case_card(
            case, today=date(2026, 3, 1), excerpt=None, notes=cards.classification_notes(flags)
        )
    assert any("2026-01-27" in str(b) for b in blocks)


def test_a_process_question_goes_to_the_open_case(database_url: str, tmp_path: Path) -> None:
    app = offline_app(database_url, tmp_path)
    [opened] = _process(app, ACCESS)
    [question] = _process(app, QUESTION)
    assert question.disposition is Disposition.REPLY
    assert question.case_ref == opened.case_ref


def test_a_process_question_without_a_case_goes_to_review(database_url: str, tmp_path: Path):
    app = offline_app(database_url, tmp_path)
    [question] = _process(app, STRANGER_QUESTION)
    assert question.disposition is Disposition.NEEDS_REVIEW
    assert question.case_ref is None
    with app.factory() as session:
        from dsr_bot.store.tables import InboundMessage

        row = session.execute(sa.select(InboundMessage)).scalar_one()
        assert row.disposition_reason == NO_OPEN_CASE


def test_the_card_names_the_candidates_when_the_classifier_is_unsure() -> None:
    event = Event(
        case_id=1,
        at=datetime.now(UTC),
        actor="system",
        action="classification_unsure",
        detail={
            "candidates": ["erasure", "restriction"],
            "scores": {"erasure": 0.53, "restriction": 0.41},
        },
    )
    [note] = cards.classification_notes([event])
    assert "Erasure (Art. 17) 53%" in note and "Restriction (Art. 18) 41%" in note


def test_a_follow_up_date_without_a_year_is_shown_resolved() -> None:
    follow_up = FollowUp(FollowUpKind.REMINDER, None, "27 december", (12, 27))
    result = Classification((), {}, "en", True, follow_up)
    assert result.follow_up is not None
    assert result.follow_up.resolved_date(date(2027, 1, 5)) == date(2026, 12, 27)


def test_a_reminder_quoting_the_case_reference_threads_to_it_from_any_address(
    database_url: str, tmp_path: Path
) -> None:
    app = offline_app(database_url, tmp_path)
    [opened] = _process(app, ACCESS)
    assert opened.case_ref
    reminder = mail(
        "ann.private@example.net",
        "Still waiting",
        f"Hello, about your ref {opened.case_ref}: I sent my request under Article 15 on "
        "2 March 2026 and have had no reply. Ann Berg",
    )
    [outcome] = _process(app, reminder)
    assert outcome.disposition is Disposition.REPLY
    assert outcome.case_ref == opened.case_ref
    [replied] = _events(app, "requester_replied")
    assert (replied.detail or {})["sender_matches_requester"] is False
