"""Intake: one inbound message from raw bytes to a recorded decision.

Two transactions per message, on purpose:
  1. `store_raw` records the bytes under the unique (mailbox, UIDVALIDITY, UID) key. From
     then on the message cannot be lost, and re-fetching it is a no-op.
  2. `process` reads it back and runs the named steps below; the case, its audit events and
     the acknowledgement's outbox row commit together. A crash before the commit leaves the
     message unprocessed, and the next cycle processes it again from the stored bytes.

Steps of `process`: parse → duplicate? → loop/auto-reply? → thread to a case? → classify →
open case → stop marketing at once (Art. 21(3)) → enqueue acknowledgement.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from dsr_bot import metrics
from dsr_bot.cases import service
from dsr_bot.cases.letters import Letters
from dsr_bot.cases.model import OPEN_STATUSES, CaseStatus, Classification, Disposition
from dsr_bot.classify.base import Classifier
from dsr_bot.fulfilment.suppression import stop_marketing_at_once
from dsr_bot.mail.loops import auto_reply_reason, is_automatic_response
from dsr_bot.mail.parse import ParsedMessage, parse_message
from dsr_bot.matching import find_duplicate, thread_to_case
from dsr_bot.replies import ReplyRenderer
from dsr_bot.store.tables import Case, InboundMessage, Outbound

log = logging.getLogger(__name__)

NOT_A_REQUEST = "classified as not a request"


class IntakeListener(Protocol):
    """Told about each decision inside intake's transaction, e.g. to enqueue a Slack card.

    Listeners must only write to the session (outbox rows), never call out: the transaction
    may still roll back.
    """

    def case_opened(
        self, session: Session, case: Case, inbound: InboundMessage, now: datetime
    ) -> None: ...

    def requester_replied(
        self, session: Session, case: Case, inbound: InboundMessage, now: datetime
    ) -> None: ...

    def needs_staff(self, session: Session, inbound: InboundMessage, now: datetime) -> None:
        """A message that is not (clearly) a request: staff may open it as a case."""
        ...


@dataclass(frozen=True)
class IntakePolicy:
    case_policy: service.CasePolicy
    mail_from: str
    from_name: str
    own_addresses: frozenset[str]
    ack_limit_per_sender_per_day: int = 3


@dataclass(frozen=True)
class RawMessage:
    """One fetched message as the server gave it (INTERNALDATE is the receipt time)."""

    uid: int
    raw: bytes
    received_at: datetime
    size: int | None = None
    truncated: bool = False


@dataclass(frozen=True)
class Outcome:
    inbound_id: int
    disposition: Disposition
    case_ref: str | None
    acknowledged: bool
    types: tuple[str, ...] = ()
    language: str | None = None


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


class Intake:
    def __init__(
        self,
        factory: sessionmaker[Session],
        classifier: Classifier,
        renderer: ReplyRenderer,
        policy: IntakePolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self._factory = factory
        self._classifier = classifier
        self._letters = Letters(
            renderer, policy.mail_from, policy.from_name, policy.case_policy.timezone
        )
        self._policy = policy
        self._clock = clock
        self.listeners: list[IntakeListener] = []

    # -- step 1 -------------------------------------------------------------------------
    def store_batch(
        self,
        *,
        mailbox: str,
        uidvalidity: int,
        messages: Sequence[RawMessage],
        then: Callable[[Session], None] | None = None,
    ) -> list[int]:
        """Record a fetched batch in one transaction; returns the new row ids.

        UIDs stored before are skipped (re-fetching is harmless). `then` runs in the same
        transaction — the watcher advances `last_uid` there, so the high-water mark can never
        pass a message that is not stored.
        """
        with self._factory() as session, session.begin():
            uids = [m.uid for m in messages]
            known = set(
                session.execute(
                    sa.select(InboundMessage.uid).where(
                        InboundMessage.mailbox == mailbox,
                        InboundMessage.uidvalidity == uidvalidity,
                        InboundMessage.uid.in_(uids),
                    )
                ).scalars()
            )
            rows = [
                InboundMessage(
                    mailbox=mailbox,
                    uidvalidity=uidvalidity,
                    uid=m.uid,
                    raw=m.raw,
                    raw_sha256=sha256(m.raw),
                    size=m.size if m.size is not None else len(m.raw),
                    truncated=m.truncated,
                    received_at=m.received_at,
                    stored_at=self._clock(),
                    imap_done=False,
                )
                for m in messages
                if m.uid not in known
            ]
            session.add_all(rows)
            session.flush()
            if then is not None:
                then(session)
            return [row.id for row in rows]

    def store_raw(
        self,
        *,
        mailbox: str,
        uidvalidity: int,
        uid: int,
        raw: bytes,
        received_at: datetime,
        size: int | None = None,
        truncated: bool = False,
    ) -> int | None:
        """Record one message; returns the new row id, or None if this UID was stored before."""
        ids = self.store_batch(
            mailbox=mailbox,
            uidvalidity=uidvalidity,
            messages=[RawMessage(uid, raw, received_at, size, truncated)],
        )
        return ids[0] if ids else None

    def pending_ids(self) -> list[int]:
        with self._factory() as session:
            return list(
                session.execute(
                    sa.select(InboundMessage.id)
                    .where(InboundMessage.processed_at.is_(None))
                    .order_by(InboundMessage.id)
                ).scalars()
            )

    # -- step 2 -------------------------------------------------------------------------
    def process(self, inbound_id: int) -> Outcome | None:
        """Decide one stored message. Never raises for a bad message: it becomes needs_review."""
        outcomes = self.process_batch([inbound_id])
        return outcomes[0] if outcomes else None

    def process_batch(self, inbound_ids: Sequence[int]) -> list[Outcome]:
        """Decide several messages in one transaction, each inside its own savepoint.

        One commit per batch instead of per message (a commit is an fsync on SQLite); a
        message that trips a bug is rolled back to its savepoint alone and recorded as
        needs_review. A database error aborts the batch: nothing of it is committed and the
        next cycle does it again. Messages another instance already decided are skipped.
        """
        outcomes: list[Outcome] = []
        with self._factory() as session, session.begin():
            for inbound_id in inbound_ids:
                row = session.get(InboundMessage, inbound_id, with_for_update=True)
                if row is None or row.processed_at is not None:
                    continue
                try:
                    with session.begin_nested():
                        outcomes.append(self._decide(session, row))
                except sa.exc.DBAPIError:
                    raise  # the database, not the message
                except Exception as exc:
                    outcomes.append(self._record_failure(session, inbound_id, exc))
        for outcome in outcomes:
            metrics.record_outcome(outcome)  # after the commit: a rollback is never counted
        return outcomes

    def _record_failure(self, session: Session, inbound_id: int, exc: Exception) -> Outcome:
        # A bug or a hostile message we did not foresee: keep it, show it to a human.
        log.error(
            "intake failed on inbound %s (%s); marked for review",
            inbound_id,
            type(exc).__name__,
            exc_info=log.isEnabledFor(logging.DEBUG),  # a traceback may quote the mail
        )
        row = session.get_one(InboundMessage, inbound_id)
        now = self._clock()
        row.processed_at = now
        row.disposition = Disposition.NEEDS_REVIEW.value
        row.disposition_reason = f"internal error: {type(exc).__name__}"
        service.record_event(
            session,
            action="intake_failed",
            at=now,
            inbound_id=inbound_id,
            detail={"error": type(exc).__name__},
        )
        for listener in self.listeners:
            listener.needs_staff(session, row, now)
        return Outcome(inbound_id, Disposition.NEEDS_REVIEW, None, False)

    def process_pending(self, progress: Callable[[int], None] | None = None) -> list[Outcome]:
        outcomes = []
        for inbound_id in self.pending_ids():
            outcome = self.process(inbound_id)
            if outcome is not None:
                outcomes.append(outcome)
            if progress is not None:
                progress(1)
        return outcomes

    def _decide(self, session: Session, row: InboundMessage) -> Outcome:
        now = self._clock()
        msg = parse_message(row.raw or b"")
        row.message_id = msg.message_id
        row.sender = msg.sender_email
        row.sender_name = msg.sender_name
        row.subject = msg.subject
        row.processed_at = now

        def finish(
            disposition: Disposition,
            reason: str | None,
            case: Case | None,
            acknowledged: bool = False,
        ) -> Outcome:
            row.disposition = disposition.value
            row.disposition_reason = reason
            row.case_id = case.id if case is not None else row.case_id
            service.record_event(
                session,
                action="message_received",
                at=now,
                inbound_id=row.id,
                case_id=row.case_id,
                detail={"disposition": disposition.value, "reason": reason},
            )
            log.info("inbound %s: %s%s", row.id, disposition.value, f" {case.ref}" if case else "")
            if row.duplicate_of is None:
                self._notify(session, row, disposition, case, reason, now)
            return Outcome(
                row.id,
                disposition,
                case.ref if case else None,
                acknowledged,
                tuple(case.types) if case else (),
                row.language,
            )

        duplicate = find_duplicate(session, row)
        if duplicate is not None:
            row.duplicate_of = duplicate.id
            row.language = duplicate.language
            case = session.get(Case, duplicate.case_id) if duplicate.case_id else None
            return finish(
                Disposition(duplicate.disposition or Disposition.NEEDS_REVIEW.value),
                f"duplicate of inbound {duplicate.id}",
                case,
            )
        if not msg.ok:
            return finish(
                Disposition.NEEDS_REVIEW, "unparseable: " + "; ".join(msg.warnings)[:500], None
            )

        loop_reason = auto_reply_reason(msg, self._policy.own_addresses)
        threaded = thread_to_case(session, msg)
        if loop_reason is not None and is_automatic_response(loop_reason):
            # Bounces and out-of-office replies answer something; they never ask for anything.
            return finish(Disposition.NOT_REQUEST, loop_reason, threaded[0] if threaded else None)
        if threaded is not None:
            case, matched_by = threaded
            if CaseStatus(case.status) not in OPEN_STATUSES:
                # "Thanks — and now delete my data too" on a finished case: a person decides
                # whether it is a new request; it must not vanish into a closed thread.
                return finish(
                    Disposition.NEEDS_REVIEW, f"reply to a {case.status} case ({matched_by})", case
                )
            service.attach_reply(
                session,
                case,
                now=now,
                inbound_id=row.id,
                matched_by=matched_by,
                sender_matches=(msg.sender_email or "") == (case.requester_email or ""),
            )
            return finish(Disposition.REPLY, f"threaded by {matched_by}", case)

        # A bare forward has no new text of its own; then the forwarded text is all we have.
        with metrics.classification_timer():
            result = self._classifier.classify(msg.subject, msg.new_text.strip() or msg.text)
        row.language = result.language
        row.labels = [str(label) for label in result.labels]
        row.scores = result.scores
        if not result.is_request:
            if result.needs_review or row.truncated:
                return finish(Disposition.NEEDS_REVIEW, "uncertain classification", None)
            return finish(Disposition.NOT_REQUEST, loop_reason or NOT_A_REQUEST, None)

        case = service.open_case(
            session,
            policy=self._policy.case_policy,
            now=now,
            received_at=row.received_at,
            types=result.labels,
            requester_email=msg.sender_email,
            requester_name=msg.sender_name,
            language=result.language,
            scores=result.scores,
            request_message_id=msg.message_id,
            request_references=msg.references,
            request_subject=msg.subject,
            inbound_id=row.id,
        )
        stop_marketing_at_once(session, case, now)
        if loop_reason is not None:
            # A web form's no-reply mail or a list post can still carry a real request: the
            # case and its deadline stand, only the automatic answer is withheld (RFC 3834).
            service.record_event(
                session,
                action="acknowledgement_suppressed",
                at=now,
                case_id=case.id,
                detail={"reason": loop_reason},
            )
            return finish(Disposition.CASE, f"not acknowledged: {loop_reason}", case)
        acknowledged = self._acknowledge(session, case, msg, result, now)
        return finish(Disposition.CASE, None, case, acknowledged)

    def _notify(
        self,
        session: Session,
        row: InboundMessage,
        disposition: Disposition,
        case: Case | None,
        reason: str | None,
        now: datetime,
    ) -> None:
        for listener in self.listeners:
            if disposition is Disposition.CASE and case is not None:
                listener.case_opened(session, case, row, now)
            elif disposition is Disposition.REPLY and case is not None:
                listener.requester_replied(session, case, row, now)
            elif disposition is Disposition.NEEDS_REVIEW or (
                disposition is Disposition.NOT_REQUEST and reason == NOT_A_REQUEST
            ):
                # Auto-replies and bounces are not worth a human's attention in Slack.
                listener.needs_staff(session, row, now)

    def _acknowledge(
        self,
        session: Session,
        case: Case,
        msg: ParsedMessage,
        result: Classification,
        now: datetime,
    ) -> bool:
        if not msg.sender_email:
            return False
        limit = self._policy.ack_limit_per_sender_per_day
        recent = session.execute(
            sa.select(sa.func.count())
            .select_from(Outbound)
            .where(
                Outbound.purpose == "acknowledgement",
                Outbound.recipient == msg.sender_email,
                Outbound.created_at >= now - timedelta(days=1),
            )
        ).scalar_one()
        if recent >= limit:
            service.record_event(
                session,
                action="acknowledgement_suppressed",
                at=now,
                case_id=case.id,
                detail={"reason": f"more than {limit} acknowledgements to this sender in 24 h"},
            )
            return False
        message_id = self._letters.acknowledge(session, case, now)
        service.record_event(
            session,
            action="acknowledgement_queued",
            at=now,
            case_id=case.id,
            detail={"message_id": message_id, "language": case.language},
        )
        return True
