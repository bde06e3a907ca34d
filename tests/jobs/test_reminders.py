"""Deadline reminders: the pure decision, and the sweep's exactly-once promise on both DBs."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from dsr_bot.cases import service
from dsr_bot.cases.model import CaseStatus
from dsr_bot.jobs import reminders
from dsr_bot.jobs.reminders import CaseDates, ReminderPolicy, due_reminders
from dsr_bot.store.tables import Case, Event, Outbound, Reminder
from tests.ops_support import POLICY, local, move_case, open_db, seed_case

RP = ReminderPolicy()

# Received 3 Mar 2026: one month is Fri 3 Apr = Good Friday, Easter Monday 6 Apr, so due
# Tue 7 Apr. Five working days before 7 Apr, skipping Easter: 2, 1 Apr, 31, 30, 27 Mar.
CASE = CaseDates(case_id=1, open=True, due_on=date(2026, 4, 7), extended_due_on=None)


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 3, 26), []),
        (date(2026, 3, 27), [("extension-cutoff", date(2026, 3, 27))]),
        (date(2026, 3, 30), [("extension-cutoff", date(2026, 3, 27))]),
        (
            date(2026, 3, 31),
            [("due-in-7d", date(2026, 3, 31)), ("extension-cutoff", date(2026, 3, 27))],
        ),
        # missed days catch up under the milestone's own key, so they cannot double
        (
            date(2026, 4, 2),
            [("due-in-7d", date(2026, 3, 31)), ("extension-cutoff", date(2026, 3, 27))],
        ),
        (
            date(2026, 4, 5),
            [("due-in-2d", date(2026, 4, 5)), ("extension-cutoff", date(2026, 3, 27))],
        ),
        (
            date(2026, 4, 7),
            [("due-today", date(2026, 4, 7)), ("extension-cutoff", date(2026, 3, 27))],
        ),
        (date(2026, 4, 8), [("overdue", date(2026, 4, 8))]),
        (date(2026, 5, 20), [("overdue", date(2026, 5, 20))]),
    ],
)
def test_which_reminders_are_due(today: date, expected: list[tuple[str, date]]) -> None:
    got = [(r.kind, r.milestone) for r in due_reminders(CASE, today, RP)]
    assert got == expected


def test_extended_case_counts_to_the_extended_date_and_has_no_cutoff_reminder() -> None:
    case = CaseDates(1, True, date(2026, 4, 7), extended_due_on=date(2026, 6, 3))
    assert due_reminders(case, date(2026, 4, 7), RP) == []
    assert [r.kind for r in due_reminders(case, date(2026, 5, 27), RP)] == ["due-in-7d"]
    assert [r.kind for r in due_reminders(case, date(2026, 6, 4), RP)] == ["overdue"]


def test_closed_cases_and_custom_offsets() -> None:
    closed = CaseDates(1, False, date(2026, 4, 7), None)
    assert due_reminders(closed, date(2026, 4, 8), RP) == []
    only_three = ReminderPolicy(offsets_days=(3,))
    # no 0 offset: the 3-day reminder's window runs through the due day itself
    assert [r.kind for r in due_reminders(CASE, date(2026, 4, 7), only_three)][:1] == ["due-in-3d"]


def test_reminder_text_mentions_assignee_and_no_personal_data() -> None:
    (r,) = [x for x in due_reminders(CASE, date(2026, 4, 5), RP) if x.kind == "due-in-2d"]
    text = reminders.reminder_text(
        r, ref="DSR-2026-0001", today=date(2026, 4, 5), assignee="slack:U1"
    )
    assert text == "<@U1> DSR-2026-0001 is due in 2 day(s), on Tue 07 Apr 2026."


def _sweep_every_six_hours(factory, start: date, end: date, policy: ReminderPolicy) -> None:  # type: ignore[no-untyped-def]
    day = start
    while day <= end:
        for hour in (1, 7, 13, 19):
            reminders.sweep(factory, now=local(day.year, day.month, day.day, hour), policy=policy)
        day += timedelta(days=1)


def test_each_reminder_once_over_a_month_with_a_restart(database_url: str) -> None:
    engine, factory = open_db(database_url)
    case_id = seed_case(
        factory, local(2026, 3, 3, 9), assignee="U0ANNA", slack_ts="1700000000.000100"
    )
    policy = ReminderPolicy(channel="C0DEFAULT")
    _sweep_every_six_hours(factory, date(2026, 3, 3), date(2026, 3, 31), policy)
    engine.dispose()  # "restart": a new engine, new sessions, nothing kept in memory
    engine, factory = open_db(database_url, upgrade=False)
    _sweep_every_six_hours(factory, date(2026, 3, 31), date(2026, 4, 10), policy)

    with factory() as session:
        keys = [r.key for r in reminders.sent_reminders(session)]
        posts = session.execute(
            sa.select(Outbound).where(Outbound.purpose == "reminder").order_by(Outbound.id)
        ).scalars()
        payloads = [p.payload for p in posts]
        audited = session.execute(
            sa.select(sa.func.count()).where(Event.action == "reminder_queued")
        ).scalar_one()
    assert keys == [
        f"{case_id}:extension-cutoff:2026-03-27",
        f"{case_id}:due-in-7d:2026-03-31",
        f"{case_id}:due-in-2d:2026-04-05",
        f"{case_id}:due-today:2026-04-07",
        f"{case_id}:overdue:2026-04-08",
        f"{case_id}:overdue:2026-04-09",
        f"{case_id}:overdue:2026-04-10",
    ]
    assert len(payloads) == len(keys) == audited
    first = payloads[1]
    assert first["method"] == "chat.postMessage"
    assert first["case_thread"] is True
    assert first["args"]["channel"] == "C0CASES"
    assert first["args"]["text"].startswith("<@U0ANNA> DSR-2026-0001 is due in 7 day(s)")
    engine.dispose()


def test_extension_stops_cutoff_and_moves_the_due_reminders(database_url: str) -> None:
    engine, factory = open_db(database_url)
    case_id = seed_case(factory, local(2026, 3, 3, 9))
    with factory() as session, session.begin():
        case = session.get_one(Case, case_id)
        service.extend_deadline(
            session, case, policy=POLICY, now=local(2026, 3, 20), actor="cli:dpo", reason="Complex"
        )
    _sweep_every_six_hours(factory, date(2026, 3, 20), date(2026, 4, 8), RP)
    with factory() as session:
        assert reminders.sent_reminders(session) == []
    # 3 Mar + 3 months = Wed 3 Jun 2026
    reminders.sweep(factory, now=local(2026, 5, 27), policy=RP)
    move_case(factory, case_id, CaseStatus.IN_PROGRESS, CaseStatus.ANSWERED, at=local(2026, 5, 28))
    reminders.sweep(factory, now=local(2026, 6, 1), policy=RP)
    with factory() as session:
        got = [r.key for r in reminders.sent_reminders(session)]
    assert got == [f"{case_id}:due-in-7d:2026-05-27"]
    engine.dispose()


def test_no_assignee_no_thread_goes_to_the_configured_channel(database_url: str) -> None:
    engine, factory = open_db(database_url)
    seed_case(factory, local(2026, 3, 3, 9))
    reminders.sweep(factory, now=local(2026, 4, 7), policy=ReminderPolicy(channel="C0DEFAULT"))
    with factory() as session:
        payloads = [
            o.payload
            for o in session.execute(sa.select(Outbound).where(Outbound.kind == "slack")).scalars()
        ]
    assert {p["case_thread"] for p in payloads} == {False}
    assert {p["args"]["channel"] for p in payloads} == {"C0DEFAULT"}
    assert all("<@" not in p["args"]["text"] for p in payloads)
    engine.dispose()


def test_two_sweepers_racing_send_each_reminder_once(database_url: str) -> None:
    engine, factory = open_db(database_url)
    for n in range(12):
        seed_case(factory, local(2026, 3, 3 + n % 5, 9), email=f"p{n}@example.se")
    # All twelve are due Tue 7 Apr (Easter moves four of them): 7-day and cut-off reminders.
    now = local(2026, 4, 1, 8)
    engines = [open_db(database_url, upgrade=False) for _ in range(2)]
    barrier = threading.Barrier(2)
    results: list[reminders.SweepResult] = []
    errors: list[BaseException] = []

    def run(f) -> None:  # type: ignore[no-untyped-def]
        try:
            barrier.wait()
            results.append(reminders.sweep(f, now=now, policy=RP))
        except BaseException as exc:  # surfaced below, in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f,)) for _, f in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    won = [k for r in results for k in r.queued]
    with factory() as session:
        stored = session.execute(sa.select(Reminder.key)).scalars().all()
        posts = session.execute(
            sa.select(sa.func.count()).where(Outbound.purpose == "reminder")
        ).scalar_one()
    assert len(won) == len(set(won)) == len(stored) == posts
    assert len(stored) == 24
    for e, _ in engines:
        e.dispose()
    engine.dispose()
