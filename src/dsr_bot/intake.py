"""Intake: one inbound message from raw bytes to a recorded decision.

Two transactions per message, on purpose:
  1. `store_raw` records the bytes under the unique (mailbox, UIDVALIDITY, UID) key. From
     then on the message cannot be lost, and re-fetching it is a no-op.
  2. `process` reads it back and runs the named steps below; the case, its audit events and
     the acknowledgement's outbox row commit together. A crash before the commit leaves the
     message unprocessed, and the next cycle processes it again from the stored bytes.

Steps of `process`: parse → duplicate? → loop/auto-reply? → thread to a case? → classify →
open case → enqueue acknowledgement.

Before each decision its attempt is counted and committed (`inbound_message.attempts`), so a
message that kills the process (an out-of-memory kill, a parser bug) is retried alone and,
after `MAX_ATTEMPTS`, parked for review instead of crash-looping intake (issue 13). The
acknowledgement is optional to the decision: a case stands even when no acknowledgement can
be composed (no valid reply address) or may be sent (per-sender and hourly limits).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from dsr_bot import metrics
from dsr_bot.cases import service
from dsr_bot.cases.letters import Letters
from dsr_bot.cases.model import OPEN_STATUSES, CaseStatus, Disposition
from dsr_bot.classify.base import Classifier
from dsr_bot.mail.address import limit_key, reply_address
from dsr_bot.mail.loops import auto_reply_reason, is_automatic_response
from dsr_bot.mail.parse import ParsedMessage, parse_message, sniff_identity
from dsr_bot.matching import find_duplicate, thread_to_case
from dsr_bot.replies import ReplyRenderer
from dsr_bot.store.tables import Case, InboundMessage, Outbound

log = logging.getLogger(__name__)

NOT_A_REQUEST = "classified as not a request"
# Decisions started on one message before it is parked unread (see the module docstring).
MAX_ATTEMPTS = 3
# Issue 13's budget for one parse on the reference machine; a parse that takes longer is
# parked for review with the time it took (the header and structure budgets in parse.py make
# this a backstop, not the rule).
PARSE_BUDGET_SECONDS = 2.0


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
    ack_limit_per_hour: int = 200


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

        Another instance (a `run --once` beside the service) may store the same UIDs at the
        same moment; the unique key then refuses ours, and a second try skips what it stored:
        "someone else stored it" is success, not an error (issue 13).
        """
        try:
            return self._store_batch(mailbox, uidvalidity, messages, then)
        except sa.exc.IntegrityError:
            log.info("stored concurrently by another instance; retrying the batch")
            return self._store_batch(mailbox, uidvalidity, messages, then)

    def _store_batch(
        self,
        mailbox: str,
        uidvalidity: int,
        messages: Sequence[RawMessage],
        then: Callable[[Session], None] | None,
    ) -> list[int]:
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
        with self._factory() as session:
            prior = dict(
                session.execute(
                    sa.select(InboundMessage.id, InboundMessage.attempts).where(
                        InboundMessage.id.in_(list(inbound_ids)),
                        InboundMessage.processed_at.is_(None),
                    )
                ).all()
            )
        # A message tried before without a decision may be what killed the last run: alone,
        # so that it cannot take the rest of a batch with it again.
        for inbound_id in inbound_ids:
            if prior.get(inbound_id, 0) > 0:
                outcomes += self._decide_counted([inbound_id])
        fresh = [i for i in inbound_ids if prior.get(i) == 0]
        if fresh:
            outcomes += self._decide_counted(fresh)
        for outcome in outcomes:
            metrics.record_outcome(outcome)  # after the commit: a rollback is never counted
        return outcomes

    def _decide_counted(self, inbound_ids: Sequence[int]) -> list[Outcome]:
        with self._factory() as session, session.begin():
            session.execute(
                sa.update(InboundMessage)
                .where(InboundMessage.id.in_(list(inbound_ids)))
                .where(InboundMessage.processed_at.is_(None))
                .values(attempts=InboundMessage.attempts + 1)
            )  # committed before the work: a crash during it still counts
        try:
            return self._decide_rows(inbound_ids)
        except sa.exc.DBAPIError:
            # The database failed, not the message: the attempt must not count towards its
            # quarantine. Best effort; if the database is down this fails too, and then the
            # count stands (three database failures in a row on one batch are rare).
            try:
                with self._factory() as session, session.begin():
                    session.execute(
                        sa.update(InboundMessage)
                        .where(InboundMessage.id.in_(list(inbound_ids)))
                        .where(InboundMessage.processed_at.is_(None))
                        .where(InboundMessage.attempts > 0)
                        .values(attempts=InboundMessage.attempts - 1)
                    )
            except sa.exc.DBAPIError:
                pass
            raise

    def _decide_rows(self, inbound_ids: Sequence[int]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        with self._factory() as session, session.begin():
            for inbound_id in inbound_ids:
                row = session.get(InboundMessage, inbound_id, with_for_update=True)
                if row is None or row.processed_at is not None:
                    continue
                if row.attempts > MAX_ATTEMPTS:
                    outcomes.append(self._quarantine(session, row))
                    continue
                try:
                    with session.begin_nested():
                        outcomes.append(self._decide(session, row))
                except sa.exc.DBAPIError:
                    raise  # the database, not the message
                except Exception as exc:
                    outcomes.append(self._record_failure(session, inbound_id, exc))
        return outcomes

    def _park(self, session: Session, row: InboundMessage, reason: str, action: str) -> Outcome:
        """needs_review, keeping what the header block says about the message (issue 13)."""
        now = self._clock()
        message_id, sender, sender_name, subject = sniff_identity(row.raw or b"")
        row.message_id = row.message_id or message_id
        row.sender = row.sender or sender
        row.sender_name = row.sender_name or sender_name
        row.subject = row.subject or subject
        row.processed_at = now
        row.disposition = Disposition.NEEDS_REVIEW.value
        row.disposition_reason = reason
        service.record_event(
            session, action=action, at=now, inbound_id=row.id, detail={"reason": reason}
        )
        for listener in self.listeners:
            listener.needs_staff(session, row, now)
        return Outcome(row.id, Disposition.NEEDS_REVIEW, None, False)

    def _quarantine(self, session: Session, row: InboundMessage) -> Outcome:
        log.error(
            "inbound %s: %d attempts without a decision; parked for review",
            row.id,
            row.attempts - 1,
        )
        reason = (
            f"quarantined: {row.attempts - 1} attempts to process it did not finish "
            "(the process crashed or ran out of memory); read the original before acting"
        )
        return self._park(session, row, reason, "intake_quarantined")

    def _record_failure(self, session: Session, inbound_id: int, exc: Exception) -> Outcome:
        # A bug or a hostile message we did not foresee: keep it, show it to a human.
        log.error(
            "intake failed on inbound %s (%s); marked for review",
            inbound_id,
            type(exc).__name__,
            exc_info=log.isEnabledFor(logging.DEBUG),  # a traceback may quote the mail
        )
        row = session.get_one(InboundMessage, inbound_id)
        return self._park(session, row, f"internal error: {type(exc).__name__}", "intake_failed")

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
        started = time.monotonic()
        msg = parse_message(row.raw or b"")
        parse_seconds = time.monotonic() - started
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
            # Parked, but never anonymous: what the header block says, read by hand.
            message_id, sender, sender_name, subject = sniff_identity(row.raw or b"")
            row.message_id = row.message_id or message_id
            row.sender = row.sender or sender
            row.sender_name = row.sender_name or sender_name
            row.subject = row.subject or subject
            return finish(
                Disposition.NEEDS_REVIEW, "unparseable: " + "; ".join(msg.warnings)[:500], None
            )
        if parse_seconds > PARSE_BUDGET_SECONDS:
            reason = (
                f"over the parse budget: {parse_seconds:.1f} s (limit {PARSE_BUDGET_SECONDS} s)"
            )
            return finish(Disposition.NEEDS_REVIEW, reason, None)

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
        if row.truncated:
            # README: a message over DSR_BOT_MAX_MESSAGE_BYTES is flagged for review. Only its
            # start is stored, so neither the classifier nor an automatic answer may act on it.
            reason = (
                f"larger than DSR_BOT_MAX_MESSAGE_BYTES ({row.size} bytes): only the start "
                "was stored; read the original on the mail server"
            )
            return finish(Disposition.NEEDS_REVIEW, reason, None)

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
        why_not = self._acknowledge(session, case, msg, now)
        return finish(Disposition.CASE, why_not, case, why_not is None)

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
        self, session: Session, case: Case, msg: ParsedMessage, now: datetime
    ) -> str | None:
        """Queue the acknowledgement; None when queued, else why not (for the row and card).

        Never raises for the message: the case is the decision, the acknowledgement a
        courtesy (Art. 12(3) asks for information on action taken within a month, not for
        an automatic reply).
        """
        if not msg.sender_email:
            return "not acknowledged: no sender"
        why_not = self._ack_refusal(session, msg.sender_email, now)
        if why_not is None:
            try:
                with session.begin_nested():
                    message_id = self._letters.acknowledge(session, case, now)
            except ValueError as exc:  # the address or a template: the case still stands
                log.warning(
                    "case %s: acknowledgement not composed (%s)", case.ref, type(exc).__name__
                )
                why_not = (
                    "no valid reply address" if "address" in str(exc) else "could not be composed"
                )
            else:
                service.record_event(
                    session,
                    action="acknowledgement_queued",
                    at=now,
                    case_id=case.id,
                    detail={"message_id": message_id, "language": case.language},
                )
                return None
        service.record_event(
            session,
            action="acknowledgement_suppressed",
            at=now,
            case_id=case.id,
            detail={"reason": why_not},
        )
        return f"not acknowledged: {why_not}"

    def _ack_refusal(self, session: Session, sender: str, now: datetime) -> str | None:
        try:
            reply_address(sender)
        except ValueError as exc:
            return str(exc)  # "no valid reply address" (e.g. anna@localhost, a quoted part)
        hourly = self._policy.ack_limit_per_hour
        last_hour = session.execute(
            sa.select(sa.func.count())
            .select_from(Outbound)
            .where(
                Outbound.purpose == "acknowledgement",
                Outbound.created_at >= now - timedelta(hours=1),
            )
        ).scalar_one()
        if last_hour >= hourly:
            metrics.acknowledgement_capped()
            for listener in self.listeners:
                capped = getattr(listener, "acknowledgements_capped", None)
                if capped is not None:
                    capped(session, hourly, now)
            return f"more than {hourly} acknowledgements in the last hour"
        # Per sender, on the normalised address: Name+1@x.se and name+2@X.se are one sender.
        key = limit_key(sender)
        domain = (
            key.rpartition("@")[2].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        )
        recipients = session.execute(
            sa.select(Outbound.recipient).where(
                Outbound.purpose == "acknowledgement",
                Outbound.created_at >= now - timedelta(days=1),
                sa.func.lower(Outbound.recipient).like(f"%@{domain}", escape="\\"),
            )
        ).scalars()
        limit = self._policy.ack_limit_per_sender_per_day
        if sum(limit_key(r or "") == key for r in recipients) >= limit:
            return f"more than {limit} acknowledgements to this sender in 24 h"
        return None
