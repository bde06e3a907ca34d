"""A paused deadline is a suspension (EDPB 01/2022): no reminders while it waits, and on
resumption the due date moves by the days paused instead of starting a new month."""

from __future__ import annotations

from datetime import date

from dsr_bot.cases import service
from dsr_bot.cases.model import RuleViolation
from dsr_bot.jobs import reminders
from dsr_bot.jobs.reminders import ReminderPolicy
from dsr_bot.store.tables import Case
from tests.ops_support import POLICY, local, open_db, seed_case


def test_no_reminders_while_paused_and_the_due_date_moves_by_the_pause(
    database_url: str,
) -> None:
    engine, factory = open_db(database_url)
    # Due 3 April 2026 is Good Friday, 6 April Easter Monday: Tuesday 7 April.
    case_id = seed_case(factory, local(2026, 3, 3, 9))
    with factory() as session, session.begin():
        case = session.get_one(Case, case_id)
        assert case.due_on == date(2026, 4, 7)
        service.pause_deadline(session, case, now=local(2026, 3, 27), actor="slack:U1")
        try:
            service.pause_deadline(session, case, now=local(2026, 3, 28), actor="slack:U1")
        except RuleViolation as exc:
            assert "already paused" in str(exc)
        else:
            raise AssertionError("a second pause was accepted")
    # The week before the old due date, and the day itself: silence.
    for day in (27, 30, 31):
        reminders.sweep(factory, now=local(2026, 3, day), policy=ReminderPolicy())
    reminders.sweep(factory, now=local(2026, 4, 7), policy=ReminderPolicy())
    with factory() as session:
        assert reminders.sent_reminders(session) == []
    with factory() as session, session.begin():
        case = session.get_one(Case, case_id)
        # Paused 27 March to 8 April: 12 days. 7 April + 12 = Sunday 19 April, so Monday
        # 20 April; a restart would have given 8 May.
        days = service.resume_deadline(
            session, case, policy=POLICY, now=local(2026, 4, 8), actor="slack:U1"
        )
        assert days == 12 and case.due_on == date(2026, 4, 20) and case.paused_at is None
        assert (
            service.resume_deadline(
                session, case, policy=POLICY, now=local(2026, 4, 9), actor="slack:U1"
            )
            == 0
        )
    reminders.sweep(factory, now=local(2026, 4, 13, 12), policy=ReminderPolicy())
    with factory() as session:
        keys = [r.key for r in reminders.sent_reminders(session)]
    assert sorted(keys) == [
        f"{case_id}:due-in-7d:2026-04-13",
        f"{case_id}:extension-cutoff:2026-04-13",
    ]
    engine.dispose()


def test_a_pause_ending_on_the_day_it_began_moves_nothing(database_url: str) -> None:
    engine, factory = open_db(database_url)
    case_id = seed_case(factory, local(2026, 3, 3, 9))
    with factory() as session, session.begin():
        case = session.get_one(Case, case_id)
        service.pause_deadline(session, case, now=local(2026, 3, 10, 9), actor="slack:U1")
        assert (
            service.resume_deadline(
                session, case, policy=POLICY, now=local(2026, 3, 10, 16), actor="slack:U1"
            )
            == 0
        )
        assert case.due_on == date(2026, 4, 7)
    engine.dispose()


def test_after_a_pause_the_extension_window_and_date_move_by_the_pause(
    database_url: str,
) -> None:
    engine, factory = open_db(database_url)
    case_id = seed_case(factory, local(2026, 3, 3, 9))  # due Tue 7 April (Easter)
    with factory() as session, session.begin():
        case = session.get_one(Case, case_id)
        service.pause_deadline(session, case, now=local(2026, 3, 27), actor="slack:U1")
        service.resume_deadline(
            session, case, policy=POLICY, now=local(2026, 4, 8), actor="slack:U1"
        )
        assert case.due_on == date(2026, 4, 20) and case.paused_days == 12
        # 15 April: after the unpaused month, within the suspended one.
        service.extend_deadline(
            session, case, policy=POLICY, now=local(2026, 4, 15), actor="slack:U1", reason="x"
        )
        # Three months from receipt: Wed 3 June; plus 12 days: Mon 15 June.
        assert case.extended_due_on == date(2026, 6, 15)
    engine.dispose()
