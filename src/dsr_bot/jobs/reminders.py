"""Deadline reminders: which ones a case is owed today, and the sweep that sends them once.

Late answers are among the commonest complaints to supervisory authorities, so staff are
reminded in Slack before a deadline (default 7 and 2 days before, and on the day), every day
once it has passed, and 5 working days before the Art. 12(3) extension window closes.

Exactly once, across restarts and with several instances: each reminder has a key
`<case id>:<kind>:<milestone date>` that is unique in the `reminder` table. The sweep inserts
the row with ON CONFLICT DO NOTHING and enqueues the Slack post only when its own insert won,
in the same transaction, so a second sweeper (or a rerun after a crash) finds the key taken.

A reminder whose day was missed (the service was down) is sent late, once, until the next
milestone takes over; its key still carries the milestone date, so catching up never doubles.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from dsr_bot.cases import deadlines
from dsr_bot.cases.model import OPEN_STATUSES
from dsr_bot.cases.service import record_event
from dsr_bot.slack import notify
from dsr_bot.store.tables import Case, Reminder
from dsr_bot.store.upsert import insert_ignore

log = logging.getLogger(__name__)

DUE_TODAY = "due-today"
OVERDUE = "overdue"
EXTENSION_CUTOFF = "extension-cutoff"
# "Remind 5 working days before that window closes" (issue 5).
EXTENSION_CUTOFF_WORKING_DAYS = 5


def before_due_kind(days: int) -> str:
    return f"due-in-{days}d"


@dataclass(frozen=True)
class ReminderPolicy:
    """The controller's reminder choices (settings `reminder_offsets_days` and friends)."""

    offsets_days: tuple[int, ...] = (7, 2, 0)
    timezone: str = deadlines.DEFAULT_TZ
    country: str = deadlines.DEFAULT_COUNTRY
    extra_closed_days: bool = False
    extension_cutoff_working_days: int = EXTENSION_CUTOFF_WORKING_DAYS
    channel: str | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> ReminderPolicy:
        return cls(
            offsets_days=tuple(settings.reminder_offsets_days),
            timezone=settings.timezone,
            country=settings.holiday_country,
            extra_closed_days=settings.deadline_extra_closed_days,
            channel=settings.slack_channel,
        )


@dataclass(frozen=True)
class CaseDates:
    """What the decision needs to know about a case: dates and state, nothing personal."""

    case_id: int
    open: bool
    due_on: date  # end of the first month (Art. 12(3) first sentence)
    extended_due_on: date | None

    @property
    def effective_due(self) -> date:
        return self.extended_due_on or self.due_on


@dataclass(frozen=True)
class DueReminder:
    case_id: int
    kind: str
    milestone: date  # the day the reminder belongs to; part of the unique key
    due: date  # the deadline it is about

    @property
    def key(self) -> str:
        return f"{self.case_id}:{self.kind}:{self.milestone.isoformat()}"


def due_reminders(case: CaseDates, today: date, policy: ReminderPolicy) -> list[DueReminder]:
    """The reminders a case is owed on `today` (pure; the sweep removes those already sent)."""
    if not case.open:
        return []
    due = case.effective_due
    out: list[DueReminder] = []
    if today > due:
        out.append(DueReminder(case.case_id, OVERDUE, today, due))
    else:
        # Milestones furthest first; each one's window runs until the next one starts.
        offsets = sorted({d for d in policy.offsets_days if d >= 0}, reverse=True)
        milestones = [(due - timedelta(days=d), d) for d in offsets]
        for i, (start, days) in enumerate(milestones):
            end = milestones[i + 1][0] if i + 1 < len(milestones) else due + timedelta(days=1)
            if start <= today < end:
                kind = DUE_TODAY if days == 0 else before_due_kind(days)
                out.append(DueReminder(case.case_id, kind, start, due))
    if case.extended_due_on is None:
        # Art. 12(3): an extension must be decided and told within the first month.
        cutoff = deadlines.working_days_before(
            case.due_on,
            policy.extension_cutoff_working_days,
            policy.country,
            extra_closed_days=policy.extra_closed_days,
        )
        if cutoff <= today <= case.due_on:
            out.append(DueReminder(case.case_id, EXTENSION_CUTOFF, cutoff, case.due_on))
    return out


def reminder_text(reminder: DueReminder, *, ref: str, today: date, assignee: str | None) -> str:
    """Slack text: the case reference and dates only, never the requester's data."""
    # Assignees are stored like audit actors ("slack:U123"); Slack mentions want <@U123>.
    who = f"<@{assignee.removeprefix('slack:')}> " if assignee else ""
    left = deadlines.days_left(reminder.due, today)
    due = reminder.due.strftime("%a %d %b %Y")
    if reminder.kind == EXTENSION_CUTOFF:
        return (
            f"{who}{ref}: the first month ends on {due}. If this case needs more time, extend "
            "it and tell the requester before then (Art. 12(3)); after that it cannot be extended."
        )
    if reminder.kind == OVERDUE:
        return f"{who}{ref} is overdue by {-left} day(s): it was due on {due}."
    if left == 0:
        return f"{who}{ref} is due today ({due})."
    return f"{who}{ref} is due in {left} day(s), on {due}."


@dataclass
class SweepResult:
    checked: int = 0
    queued: list[str] = field(default_factory=list)  # keys of reminders this sweep sent


def _insert_reminder(session: Session, reminder: DueReminder, now: datetime) -> bool:
    values = {
        "case_id": reminder.case_id,
        "key": reminder.key,
        "kind": reminder.kind,
        "at": now,
    }
    return insert_ignore(session, Reminder, values)


def remind_case(
    session: Session, case: Case, *, now: datetime, policy: ReminderPolicy
) -> list[str]:
    """Record and enqueue what `case` is owed now; returns the keys this call won."""
    today = deadlines.receipt_date(now, policy.timezone)
    dates = CaseDates(
        case_id=case.id,
        open=case.status in OPEN_STATUSES,
        due_on=case.due_on,
        extended_due_on=case.extended_due_on,
    )
    won = []
    for reminder in due_reminders(dates, today, policy):
        if not _insert_reminder(session, reminder, now):
            continue
        text = reminder_text(reminder, ref=case.ref, today=today, assignee=case.assignee)
        notify.enqueue_reminder(
            session, case, text, key=f"reminder:{reminder.key}", channel=policy.channel, now=now
        )
        record_event(
            session,
            action="reminder_queued",
            at=now,
            case_id=case.id,
            detail={"kind": reminder.kind, "due_on": reminder.due.isoformat()},
        )
        won.append(reminder.key)
    return won


def open_case_ids(session: Session) -> list[int]:
    return list(
        session.execute(
            sa.select(Case.id)
            .where(Case.status.in_([s.value for s in OPEN_STATUSES]))
            # A paused deadline is suspended (waiting for ID proof): nothing is due yet.
            .where(Case.paused_at.is_(None))
            .order_by(Case.id)
        ).scalars()
    )


def sweep(
    factory: sessionmaker[Session],
    *,
    now: datetime,
    policy: ReminderPolicy,
    case_ids: Iterable[int] | None = None,
) -> SweepResult:
    """One pass over the open cases, one short transaction per case.

    Cases are visited in id order so two racing sweepers take row locks in the same order.
    """
    result = SweepResult()
    if case_ids is None:
        with factory() as session:
            case_ids = open_case_ids(session)
    for case_id in case_ids:
        with factory() as session, session.begin():
            case = session.get(Case, case_id)
            if case is None:
                continue
            result.checked += 1
            result.queued.extend(remind_case(session, case, now=now, policy=policy))
    if result.queued:
        log.info("deadline sweep: %d reminder(s) queued", len(result.queued))
    return result


def sent_reminders(session: Session, case_ids: Sequence[int] | None = None) -> list[Reminder]:
    query = sa.select(Reminder).order_by(Reminder.id)
    if case_ids is not None:
        query = query.where(Reminder.case_id.in_(list(case_ids)))
    return list(session.execute(query).scalars())
