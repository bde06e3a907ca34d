"""The daily digest in the Slack channel: what is open, what is due this week, what is late.

Sent once a day (outbox key `digest:<date>`, so a second instance or a rerun adds nothing),
and not at all on a day with nothing open: a digest that always says "nothing" trains people
to ignore it. Case references and dates only; no requester data goes to Slack here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from dsr_bot.cases import deadlines
from dsr_bot.cases.model import OPEN_STATUSES, CaseStatus
from dsr_bot.slack import notify
from dsr_bot.store import repositories

# Longest list of references shown per line before "and N more".
MAX_REFS = 15


@dataclass(frozen=True)
class OpenCase:
    ref: str
    status: str
    due: date


@dataclass(frozen=True)
class Digest:
    day: date
    by_status: dict[str, int]
    due_this_week: tuple[OpenCase, ...]
    overdue: tuple[OpenCase, ...]
    waiting_for_requester: tuple[OpenCase, ...]

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


def build_digest(cases: list[OpenCase], today: date) -> Digest | None:
    """None when nothing is open. "This week" runs from today to Sunday (ISO week)."""
    if not cases:
        return None
    sunday = today + timedelta(days=6 - today.weekday())
    by_due = sorted(cases, key=lambda c: (c.due, c.ref))
    return Digest(
        day=today,
        by_status=dict(sorted(Counter(c.status for c in cases).items())),
        due_this_week=tuple(c for c in by_due if today <= c.due <= sunday),
        overdue=tuple(c for c in by_due if c.due < today),
        # Art. 12(6): we asked for proof of identity and wait for the requester.
        waiting_for_requester=tuple(
            c for c in by_due if c.status == CaseStatus.AWAITING_IDENTITY.value
        ),
    )


def _refs(cases: tuple[OpenCase, ...], today: date) -> str:
    shown = [f"{c.ref} ({c.due.strftime('%d %b')})" for c in cases[:MAX_REFS]]
    more = f" and {len(cases) - MAX_REFS} more" if len(cases) > MAX_REFS else ""
    return ", ".join(shown) + more


def digest_text(digest: Digest) -> str:
    statuses = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in digest.by_status.items())
    lines = [
        f"*Data-subject requests, {digest.day.strftime('%a %d %b %Y')}*",
        f"Open: {digest.total} ({statuses})",
    ]
    if digest.overdue:
        lines.append(f":red_circle: Overdue: {_refs(digest.overdue, digest.day)}")
    if digest.due_this_week:
        lines.append(f"Due this week: {_refs(digest.due_this_week, digest.day)}")
    if digest.waiting_for_requester:
        lines.append(
            f"Waiting for the requester: {_refs(digest.waiting_for_requester, digest.day)}"
        )
    return "\n".join(lines)


def open_cases(session: Session) -> list[OpenCase]:
    rows = repositories.case_deadlines(session, [s.value for s in OPEN_STATUSES])
    return [OpenCase(ref, status, ext or due) for ref, status, due, ext in rows]


def post_digest(
    factory: sessionmaker[Session], *, now: datetime, timezone: str, channel: str | None
) -> bool:
    """Enqueue today's digest; False when nothing is open or it was already sent today."""
    today = deadlines.receipt_date(now, timezone)
    with factory() as session, session.begin():
        digest = build_digest(open_cases(session), today)
        if digest is None:
            return False
        key = f"digest:{today.isoformat()}"
        if repositories.outbound_key_exists(session, key):
            return False
        # Two instances racing past the check above still meet the unique key.
        return notify.enqueue_digest(
            session, digest_text(digest), key=key, channel=channel, now=now
        )
