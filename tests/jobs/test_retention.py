"""Gallring: raw mail purged, then the case anonymised; suppressions and the skeleton stay."""

from __future__ import annotations

import hashlib
from datetime import date, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from dsr_bot import outbox
from dsr_bot.cases import service
from dsr_bot.cases.model import CaseStatus, RequestType
from dsr_bot.jobs.retention import RetentionPolicy, cutoff, purge
from dsr_bot.store.tables import Case, Event, InboundMessage, Outbound, Suppression
from tests.ops_support import POLICY, STOCKHOLM, local, move_case, open_db, seed_case

EMAIL = "anna.andersson@example.se"
RP = RetentionPolicy()


@pytest.mark.parametrize(
    ("today", "months", "first_day_not_yet_due"),
    [
        (date(2026, 2, 28), 6, date(2025, 9, 1)),  # closed 31 Aug: 6 months end 28 Feb
        (date(2026, 2, 27), 6, date(2025, 8, 28)),
        (date(2026, 3, 1), 12, date(2025, 3, 2)),
        (date(2028, 2, 29), 12, date(2027, 3, 1)),  # leap day: 28 Feb 2027 + 12 = 28 Feb
    ],
)
def test_cutoff_counts_months_like_the_deadlines(
    today: date, months: int, first_day_not_yet_due: date
) -> None:
    assert cutoff(today, months, "Europe/Stockholm") == datetime(
        first_day_not_yet_due.year,
        first_day_not_yet_due.month,
        first_day_not_yet_due.day,
        tzinfo=STOCKHOLM,
    )


def _message(factory: sessionmaker[Session], uid: int, received: datetime, case_id: int | None):  # type: ignore[no-untyped-def]
    raw = f"From: {EMAIL}\r\nSubject: Registerutdrag\r\n\r\nHej, jag heter Anna.".encode()
    with factory() as session, session.begin():
        msg = InboundMessage(
            mailbox="privacy",
            uidvalidity=1,
            uid=uid,
            raw=raw,
            raw_sha256=hashlib.sha256(raw).hexdigest(),
            size=len(raw),
            received_at=received,
            stored_at=received,
            processed_at=received,
            sender=EMAIL,
            sender_name="Anna Andersson",
            subject="Registerutdrag",
            case_id=case_id,
            disposition="case" if case_id else "not_request",
        )
        session.add(msg)
        session.flush()
        service.record_event(
            session, action="message_stored", at=received, inbound_id=msg.id, detail={"from": "x"}
        )
        return msg.id


def _closed_case(factory: sessionmaker[Session], received: datetime, closed: datetime) -> int:
    case_id = seed_case(
        factory, received, types=(RequestType.MARKETING_OPTOUT, RequestType.ERASURE)
    )
    _message(factory, case_id * 10, received, case_id)
    with factory() as session, session.begin():
        case = session.get_one(Case, case_id)
        service.extend_deadline(
            session, case, policy=POLICY, now=received, actor="slack:U0DPO", reason="Anna ringde"
        )
        service.record_event(
            session, action="note", at=received, case_id=case_id, detail={"note": f"{EMAIL} ok"}
        )
        outbox.enqueue(
            session,
            key=f"ack:{case_id}",
            kind="mail",
            purpose="acknowledgement",
            now=received,
            body=b"Hej Anna",
            recipient=EMAIL,
            case_id=case_id,
            payload={"to": [EMAIL]},
        )
        session.execute(sa.update(Outbound).values(status=outbox.SENT))
        session.add(
            Suppression(
                email_hash=hashlib.sha256(f"{case_id}{EMAIL}".encode()).hexdigest(),
                email=EMAIL,
                added_at=received,
                case_id=case_id,
            )
        )
    move_case(factory, case_id, CaseStatus.IN_PROGRESS, CaseStatus.ANSWERED, at=closed)
    move_case(factory, case_id, CaseStatus.CLOSED, at=closed)
    return case_id


def _audit(factory: sessionmaker[Session], action: str) -> list[Event]:
    with factory() as session:
        return list(session.execute(sa.select(Event).where(Event.action == action)).scalars())


def test_raw_purge_then_anonymisation(database_url: str) -> None:
    engine, factory = open_db(database_url)
    old = _closed_case(factory, local(2024, 12, 20), local(2025, 1, 15))
    recent = _closed_case(factory, local(2025, 11, 3), local(2025, 12, 1))
    still_open = seed_case(factory, local(2025, 1, 10))
    _message(factory, 999, local(2024, 11, 2), None)  # spam, never a case
    _message(factory, 998, local(2025, 12, 2), None)

    preview = purge(factory, now=local(2026, 2, 1), policy=RP, dry_run=True)
    assert preview.as_dict() == {
        "dry_run": True,
        "raw_cases": ["DSR-2024-0001"],
        "raw_messages": 2,
        "anonymised_cases": [],
        "letter_cases": [],
    }
    with factory() as session:  # a dry run changes nothing
        assert (
            session.execute(
                sa.select(sa.func.count()).where(InboundMessage.purged_at.is_not(None))
            ).scalar_one()
            == 0
        )
    assert _audit(factory, "retention_raw_purged") == []

    done = purge(factory, now=local(2026, 2, 1), policy=RP)
    assert (done.raw_cases, done.raw_messages, done.dry_run) == (["DSR-2024-0001"], 2, False)
    with factory() as session:
        msgs = {m.uid: m for m in session.execute(sa.select(InboundMessage)).scalars()}
        case = session.get_one(Case, old)
        body = session.execute(sa.select(Outbound.body).where(Outbound.case_id == old)).scalar_one()
        assert (case.request_subject, case.extension_reason, body) == (None, None, None)
        assert case.requester_email == EMAIL  # identity stays until anonymisation
        assert session.get_one(Case, recent).request_subject is not None
        for uid in (old * 10, 999):
            assert (msgs[uid].raw, msgs[uid].sender, msgs[uid].subject) == (None, None, None)
            assert msgs[uid].purged_at is not None
            assert msgs[uid].raw_sha256  # what arrived stays provable by hash
        for uid in (recent * 10, 998):
            assert msgs[uid].raw is not None and msgs[uid].purged_at is None
    audit = _audit(factory, "retention_raw_purged")
    assert sorted((e.case_id or 0, e.detail["messages"]) for e in audit) == [(0, 1), (old, 1)]
    assert purge(factory, now=local(2026, 2, 2), policy=RP).raw_cases == []  # idempotent

    # 12 + 36 months after closing on 15 Jan 2025
    later = purge(factory, now=local(2029, 1, 15, 0, 30), policy=RP)
    assert later.anonymised_cases == ["DSR-2024-0001"]
    assert later.raw_cases == ["DSR-2025-0001"]  # the recent one, now old enough
    with factory() as session:
        case = session.get_one(Case, old)
        assert (case.requester_email, case.requester_name) == (None, None)
        assert case.anonymised_at is not None
        # the skeleton an auditor needs survives
        assert (case.ref, case.types, case.status) == (
            "DSR-2024-0001",
            ["erasure", "marketing_optout"],
            "closed",
        )
        assert case.extended_due_on is not None and case.closed_at is not None
        events = (
            session.execute(sa.select(Event).where(Event.case_id == old).order_by(Event.id))
            .scalars()
            .all()
        )
        actions = [e.action for e in events]
        assert actions[:3] == ["case_opened", "deadline_extended", "note"]
        assert actions[-1] == "retention_anonymised"
        assert events[1].detail["reason"] == "[removed]"
        assert events[1].detail["extended_due_on"] == case.extended_due_on.isoformat()
        assert events[2].detail == {"note": "[removed]"}
        assert events[0].detail["types"] == ["erasure", "marketing_optout"]
        assert EMAIL not in str([e.detail for e in events])
        assert events[1].actor == "slack:U0DPO"  # who decided stays on record
        recipient = session.execute(
            sa.select(Outbound.recipient).where(Outbound.case_id == old)
        ).scalar_one()
        assert recipient is None
        suppressions = session.execute(sa.select(Suppression)).scalars().all()
        assert sorted((s.case_id, s.email) for s in suppressions) == [
            (old, EMAIL),
            (recent, EMAIL),
        ]
        assert session.get_one(Case, recent).requester_email == EMAIL
        assert session.get_one(Case, still_open).requester_email == EMAIL
    assert len(_audit(factory, "retention_anonymised")) == 1
    engine.dispose()


def _case_with_message(factory: sessionmaker[Session], received: datetime, uid: int) -> int:
    case_id = seed_case(factory, received)
    _message(factory, uid, received, case_id)
    return case_id


def test_answered_and_rejected_cases_end_at_their_last_status_change(database_url: str) -> None:
    """Nobody has to click Close: an answered or rejected case has ended too (Art. 5(1)(e))."""
    engine, factory = open_db(database_url)
    answered = _case_with_message(factory, local(2024, 11, 4), 1)
    move_case(factory, answered, CaseStatus.IN_PROGRESS, at=local(2024, 11, 20))
    move_case(factory, answered, CaseStatus.ANSWERED, at=local(2025, 1, 15))
    rejected = _case_with_message(factory, local(2024, 12, 2), 2)
    move_case(factory, rejected, CaseStatus.REJECTED, at=local(2025, 1, 20))
    reopened = _case_with_message(factory, local(2024, 10, 1), 3)  # answered, reopened, answered
    move_case(factory, reopened, CaseStatus.IN_PROGRESS, CaseStatus.ANSWERED, at=local(2024, 12, 1))
    move_case(factory, reopened, CaseStatus.IN_PROGRESS, at=local(2025, 3, 1))
    move_case(factory, reopened, CaseStatus.ANSWERED, at=local(2025, 6, 1))
    working = _case_with_message(factory, local(2024, 9, 1), 4)
    move_case(factory, working, CaseStatus.IN_PROGRESS, at=local(2024, 9, 2))
    with factory() as session:
        ref = {c.id: c.ref for c in session.execute(sa.select(Case)).scalars()}

    preview = purge(factory, now=local(2026, 2, 1), policy=RP, dry_run=True)
    assert (preview.raw_cases, preview.raw_messages) == ([ref[answered], ref[rejected]], 2)
    assert _audit(factory, "retention_raw_purged") == []  # a dry run changes nothing

    done = purge(factory, now=local(2026, 2, 1), policy=RP)
    assert done.raw_cases == [ref[answered], ref[rejected]] and done.anonymised_cases == []
    with factory() as session:
        raw = {m.uid: m.raw for m in session.execute(sa.select(InboundMessage)).scalars()}
        assert (raw[1], raw[2]) == (None, None)
        assert raw[3] is not None and raw[4] is not None
        assert session.get_one(Case, answered).request_subject is None
        assert session.get_one(Case, reopened).request_subject is not None
    audited = sorted(e.case_id for e in _audit(factory, "retention_raw_purged"))
    assert audited == sorted([answered, rejected])

    # 12 + 36 months after the last change (15 and 20 Jan 2025); the case stays as it was.
    later = purge(factory, now=local(2029, 1, 21), policy=RP)
    assert later.anonymised_cases == [ref[answered], ref[rejected]]
    assert later.raw_cases == [ref[reopened]]  # ended 1 June 2025
    with factory() as session:
        for case_id, status in ((answered, "answered"), (rejected, "rejected")):
            case = session.get_one(Case, case_id)
            assert (case.requester_email, case.status, case.closed_at) == (None, status, None)
        assert session.get_one(Case, reopened).requester_email == EMAIL
        still_working = session.get_one(Case, working)
        assert still_working.requester_email == EMAIL and still_working.request_subject
        assert session.execute(
            sa.select(InboundMessage.raw).where(InboundMessage.uid == 4)
        ).scalar_one()
    engine.dispose()


def test_a_late_reply_keeps_its_own_retention_clock(database_url: str) -> None:
    """A reply to an ended case goes to a person; it must not be purged the day it arrives."""
    engine, factory = open_db(database_url)
    case_id = _case_with_message(factory, local(2024, 11, 4), 1)
    move_case(factory, case_id, CaseStatus.IN_PROGRESS, CaseStatus.ANSWERED, at=local(2025, 1, 15))
    _message(factory, 2, local(2026, 1, 30), case_id)  # "thanks — now delete my data too"

    done = purge(factory, now=local(2026, 2, 1), policy=RP)
    assert done.raw_messages == 1
    with factory() as session:
        raw = {m.uid: m.raw for m in session.execute(sa.select(InboundMessage)).scalars()}
    assert raw[1] is None and raw[2] is not None
    # A year on, the late reply is old enough too.
    assert purge(factory, now=local(2027, 2, 1), policy=RP).raw_messages == 1
    engine.dispose()
