"""The frame every staff action runs in: idempotency key, permission, audit of refusals.

See `cases/actions.py` for the actions themselves.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from dsr_bot.cases import service
from dsr_bot.cases.fulfiller import Fulfiller
from dsr_bot.cases.model import OPEN_STATUSES, CaseStatus, RuleViolation
from dsr_bot.cases.ports import LetterPort, Shredder
from dsr_bot.store import repositories
from dsr_bot.store.tables import Case, Event, InboundMessage, StaffAction
from dsr_bot.store.upsert import insert_ignore

log = logging.getLogger(__name__)

# Session.info key of the audit events an action must keep even if its transaction rolls back.
_SURVIVING = "dsr_bot.audit_surviving_rollback"


def audit_surviving_rollback(session: Session, action: str, detail: dict[str, Any]) -> None:
    """Record `action` even if the action's transaction rolls back: for work done outside
    it that cannot be undone, e.g. an erasure already committed in a customer database
    (Art. 5(2): the controller must be able to show what it did). On commit the caller's own
    event stands instead; on any failure `DeskBase._act` writes this one separately."""
    session.info.setdefault(_SURVIVING, []).append((action, detail))


@dataclass(frozen=True)
class Staff:
    """The person behind a click: `actor` as written to the audit trail."""

    actor: str
    approver: bool
    # Why a non-approver is refused, when it is not simply that they are not one (e.g. the
    # approver group could not be read); empty for the usual sentence.
    refusal: str = ""


@dataclass(frozen=True)
class Done:
    """What happened; `repeated` means the key was already used and nothing was done now."""

    message: str
    case_ref: str | None = None
    repeated: bool = False


class DeskListener(Protocol):
    """Told about every change inside the action's transaction (e.g. to update a card).

    Like intake's listeners: write outbox rows to the session only, never call out.
    """

    def case_changed(self, session: Session, case: Case, event: Event, now: datetime) -> None: ...

    def case_opened(
        self, session: Session, case: Case, inbound: InboundMessage | None, now: datetime
    ) -> None: ...

    def triage_resolved(
        self, session: Session, inbound: InboundMessage, event: Event, now: datetime
    ) -> None: ...


def state_token(case: Case) -> str:
    """A short fingerprint of what a card shows; part of click keys so that a second click
    on the same card version is recognised as a repeat (see module docstring)."""
    parts = (
        case.status,
        case.identity_status,
        ",".join(case.types),
        case.assignee or "",
        str(case.extended_due_on or ""),
    )
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:10]


class DeskBase:
    def __init__(
        self,
        factory: sessionmaker[Session],
        policy: service.CasePolicy,
        clock: Callable[[], datetime],
        letters: LetterPort,
        listeners: list[DeskListener] | None = None,
        fulfiller: Fulfiller | None = None,
        shred: Shredder | None = None,
    ) -> None:
        self.factory = factory
        self.policy = policy
        self.clock = clock
        self.letters = letters
        self.listeners: list[DeskListener] = listeners or []
        # None: replies are letters only, and staff fill in what fulfilment would.
        self.fulfiller = fulfiller
        # None: identity documents stay in the stored mail until retention purges it.
        self.shred = shred

    # -- the frame every action runs in -------------------------------------------------
    @contextmanager
    def _act(
        self, staff: Staff, key: str | None, action: str, case_id: int | None
    ) -> Iterator[tuple[Session, datetime] | None]:
        """Yields (session, now), or None when `key` was used before (a repeat)."""
        now = self.clock()
        surviving: list[tuple[str, dict[str, Any]]] = []
        try:
            with self.factory() as session, session.begin():
                session.info[_SURVIVING] = surviving
                if case_id is not None:
                    # Lock the case before the click's key row goes in: that row's foreign key
                    # takes a KEY SHARE lock on the case, and two clicks that each hold one and
                    # then ask for FOR UPDATE deadlock each other on PostgreSQL.
                    repositories.lock_case(session, case_id)
                if key is not None and not _claim(session, key, staff, action, case_id, now):
                    yield None
                    return
                if not staff.approver:
                    raise RuleViolation(
                        staff.refusal
                        or "Only approvers may do this (DSR_BOT_SLACK_APPROVERS); "
                        "your attempt has been recorded."
                    )
                yield session, now
        except RuleViolation as exc:
            # What a failed fulfilment did (e.g. row counts of an erasure) stays on record
            # although the approval's own transaction rolled back.
            done = [*surviving, *getattr(exc, "audit", ())]
            self._record_failure(staff, action, case_id, now, "action_refused", str(exc), done)
            raise
        except Exception as exc:
            if surviving:  # irreversible work was done: the trail must say so
                why = type(exc).__name__
                self._record_failure(staff, action, case_id, now, "action_failed", why, surviving)
            raise

    def _record_failure(
        self,
        staff: Staff,
        action: str,
        case_id: int | None,
        now: datetime,
        outcome: str,
        reason: str,
        events: list[tuple[str, dict[str, Any]]],
    ) -> None:
        """The refusal or failure and `events`, in a transaction of their own."""
        try:
            with self.factory() as session, session.begin():
                service.record_event(
                    session,
                    action=outcome,
                    at=now,
                    actor=staff.actor,
                    case_id=case_id,
                    detail={"action": action, "reason": reason},
                )
                for name, detail in events:
                    service.record_event(
                        session,
                        action=name,
                        at=now,
                        actor=staff.actor,
                        case_id=case_id,
                        detail=detail,
                    )
        except Exception:
            if not events:
                raise
            # The database is unreachable too: the log is the last place the irreversible
            # work can be written down (counts and table names only, no personal data).
            log.error("case %s %s: unrecorded audit events %s", case_id, action, events)
            raise

    def check_allowed(self, staff: Staff, action: str, case_id: int | None) -> None:
        """Refuse (and record the attempt) before showing a form to someone who may not act."""
        with self._act(staff, None, action, case_id):
            pass

    def _case(self, session: Session, case_id: int, *, open_only: bool = True) -> Case:
        case = session.get(Case, case_id, with_for_update=True)
        if case is None:
            raise RuleViolation("That case no longer exists.")
        if open_only and CaseStatus(case.status) not in OPEN_STATUSES:
            raise RuleViolation(f"{case.ref} is {case.status}; nothing more can be done on it.")
        return case

    def _changed(
        self,
        session: Session,
        case: Case,
        now: datetime,
        staff: Staff,
        action: str,
        detail: dict[str, Any],
    ) -> Event:
        event = service.record_event(
            session, action=action, at=now, actor=staff.actor, case_id=case.id, detail=detail
        )
        session.flush()
        for listener in self.listeners:
            listener.case_changed(session, case, event, now)
        return event


def _claim(
    session: Session, key: str, staff: Staff, action: str, case_id: int | None, now: datetime
) -> bool:
    """Insert the key unless present. On PostgreSQL a concurrent duplicate waits for the
    first transaction and then finds the row, so exactly one of two racing clicks acts."""
    return insert_ignore(
        session,
        StaffAction,
        {"key": key, "case_id": case_id, "actor": staff.actor, "action": action, "at": now},
    )
