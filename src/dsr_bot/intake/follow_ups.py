"""What intake does with a follow-up the classifier marked (issue 12).

Belongs in `intake/` once the restructuring lands (next to `matching`); it is a top-level
module today so that `intake.py` only gains two calls.

A message reaches this point only if `matching.thread_to_case` found no case reference in
the subject and no In-Reply-To/References to our own mail. Then:

* `route_follow_up`, right after classification:
  - a reminder or a process question that quotes an open case's reference in its body, or
    comes from the sender of an *open* case, is threaded to it
    (the same as a reply: event `requester_replied`, matched by "follow-up from the same
    sender"); among several open cases of that sender the one whose rights overlap the
    chased right, then the one received closest to the claimed date, then the newest wins;
  - a process question with no open case goes to review ("process question; no open case
    for this sender"): it is not a new request;
  - anything else returns None and intake goes on as before (a reminder whose right is told
    opens a case; one whose right cannot be told is already `needs_review`).
* `note_classification`, right after `open_case`, records on the new case what the card
  must show: `follow_up_unrecorded` (a reminder of a request we have no record of, with the
  date it claims, since the Art. 12(3) clock may have started then) and
  `classification_unsure` (a score near its threshold, with the candidate rights).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsr_bot.cases import service
from dsr_bot.cases.model import (
    OPEN_STATUSES,
    CaseStatus,
    Classification,
    Disposition,
    FollowUpKind,
    find_ref,
)
from dsr_bot.store.tables import Case

THREADED_BY = "follow-up from the same sender"
NO_OPEN_CASE = "process question; no open case for this sender"


@dataclass(frozen=True)
class Routed:
    disposition: Disposition
    reason: str
    case: Case | None


def _claimed(result: Classification, received: date) -> date | None:
    return result.follow_up.resolved_date(received) if result.follow_up else None


def open_case_of_sender(
    session: Session, sender: str | None, result: Classification, received: date
) -> Case | None:
    """The sender's open case this follow-up most likely continues (see module docstring)."""
    if not sender:
        return None
    cases = list(
        session.execute(
            sa.select(Case)
            .where(sa.func.lower(Case.requester_email) == sender.lower())
            .where(Case.status.in_([s.value for s in OPEN_STATUSES]))
            .order_by(Case.id)
        ).scalars()
    )
    if not cases:
        return None
    chased = {label.value for label in result.labels}
    if chased and result.follow_up and result.follow_up.kind is FollowUpKind.REMINDER:
        # A reminder for erasure does not belong to the sender's open access case.
        cases = [case for case in cases if chased & set(case.types)]
        if not cases:
            return None
    claimed = _claimed(result, received)

    def rank(case: Case) -> tuple[int, int, int]:
        overlap = 1 if chased & set(case.types) else 0
        distance = abs((case.received_at.date() - claimed).days) if claimed else 0
        return (overlap, -distance, case.id)

    return max(cases, key=rank)


def case_named_in(session: Session, text: str) -> Case | None:
    """An open case whose reference the follow-up quotes in its body ("your ref
    DSR-2026-0042"); a reference in the subject was already matched by `thread_to_case`."""
    ref = find_ref(text or "")
    if ref is None:
        return None
    case = session.execute(sa.select(Case).where(Case.ref == ref)).scalar_one_or_none()
    if case is None or CaseStatus(case.status) not in OPEN_STATUSES:
        return None
    return case


def route_follow_up(
    session: Session,
    result: Classification,
    *,
    sender: str | None,
    text: str,
    inbound_id: int,
    received_at: datetime,
    now: datetime,
) -> Routed | None:
    """Thread a follow-up to the open case it names or to the sender's open case, or send a
    process question with no case to review; None when intake should go on as for any
    other message."""
    follow_up = result.follow_up
    if follow_up is None:
        return None
    case = case_named_in(session, text)
    matched_by = "follow-up quoting the case reference"
    if case is None:
        case = open_case_of_sender(session, sender, result, received_at.date())
        matched_by = THREADED_BY
    if case is not None:
        service.attach_reply(
            session,
            case,
            now=now,
            inbound_id=inbound_id,
            matched_by=matched_by,
            sender_matches=(sender or "").lower() == (case.requester_email or "").lower(),
        )
        service.record_event(
            session,
            action="follow_up_received",
            at=now,
            case_id=case.id,
            inbound_id=inbound_id,
            detail=_detail(result, received_at.date()),
        )
        return Routed(Disposition.REPLY, f"{follow_up.kind.value}: {matched_by}", case)
    if follow_up.kind is FollowUpKind.PROCESS_QUESTION:
        return Routed(Disposition.NEEDS_REVIEW, NO_OPEN_CASE, None)
    return None


def note_classification(
    session: Session, case: Case, result: Classification, *, inbound_id: int, now: datetime
) -> None:
    """Record on a newly opened case what its card must flag (see module docstring)."""
    follow_up = result.follow_up
    if follow_up is not None and follow_up.kind is FollowUpKind.REMINDER:
        service.record_event(
            session,
            action="follow_up_unrecorded",
            at=now,
            case_id=case.id,
            inbound_id=inbound_id,
            detail=_detail(result, case.received_at.date()),
        )
    if result.needs_review and result.candidates:
        service.record_event(
            session,
            action="classification_unsure",
            at=now,
            case_id=case.id,
            inbound_id=inbound_id,
            detail={
                "candidates": [t.value for t in result.candidates],
                "scores": {t.value: result.scores.get(t.value) for t in result.candidates},
            },
        )


def _detail(result: Classification, received: date) -> dict[str, str | None]:
    follow_up = result.follow_up
    assert follow_up is not None
    claimed = follow_up.resolved_date(received)
    return {
        "kind": follow_up.kind.value,
        "claimed_date": claimed.isoformat() if claimed else None,
        # As written, never more: a date the writer gave, not their words.
        "claimed_text": (follow_up.claimed_text or "")[:40] or None,
    }
