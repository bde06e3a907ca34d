"""Intake: one inbound message from raw bytes to a recorded decision.

Two transactions per message, on purpose:
  1. `store_raw` records the bytes under the unique (mailbox, UIDVALIDITY, UID) key. From
     then on the message cannot be lost, and re-fetching it is a no-op.
  2. `process` reads it back and runs the named steps of steps.py; the case, its audit events and
     the acknowledgement's outbox row commit together, with the rest of its batch. A crash
     before the commit leaves the message unprocessed, and the next cycle processes it again
     from the stored bytes.

`process` parses the message and runs it through `steps.STEPS`: each step decides or passes
on (see steps.py for the order and why).

Before each decision its attempt is counted and committed (`inbound_message.attempts`), so a
message that kills the process (an out-of-memory kill, a parser bug) is retried alone and,
after `MAX_ATTEMPTS`, parked for review instead of crash-looping intake. The acknowledgement
is optional to the decision: a case stands even when no acknowledgement can be composed (no
valid reply address) or may be sent (per-sender and hourly limits).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from dsr_bot import metrics
from dsr_bot.cases import service
from dsr_bot.cases.model import Classification, Disposition
from dsr_bot.classify.base import Classifier, classify_batch
from dsr_bot.intake import steps
from dsr_bot.intake.steps import NOT_A_REQUEST, Decision, IntakePolicy, keep_identity
from dsr_bot.mail.parse import ParsedMessage, parse_message
from dsr_bot.replies import ReplyRenderer
from dsr_bot.replies.letters import Letters
from dsr_bot.store.tables import Case, InboundMessage

log = logging.getLogger(__name__)

# Decisions started on one message before it is parked unread (see the module docstring).
MAX_ATTEMPTS = 3


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


def _timed_parse(raw: bytes | None) -> tuple[ParsedMessage | None, float]:
    """Parsed ahead of the steps for the batch's one classifier call, with the time it took
    (the parse budget); a parser bug is left for `_decide` to meet again, inside the
    message's own savepoint, where it is recorded."""
    started = time.monotonic()
    try:
        msg: ParsedMessage | None = parse_message(raw or b"")
    except Exception:
        msg = None
    return msg, time.monotonic() - started


def _classifier_items(parsed: Iterable[ParsedMessage | None]) -> list[tuple[str, str]]:
    """What the batch's one classifier call reads: every message parsed without trouble."""
    return [steps.classifier_input(msg) for msg in parsed if msg and msg.ok]


@dataclass
class Prepared:
    """A batch read, parsed and classified ahead of its decision (`Intake.prepare`), while
    the batch before it is decided: the classifier's time overlaps the deciding's."""

    parsed: dict[int, tuple[str, ParsedMessage | None, float]]
    classified: dict[tuple[str, str], Classification]


class _MessageFailed(Exception):
    """A message raised while its batch was decided without savepoints (the cause)."""


class BatchClassifier:
    """The classifier as the steps see it: results of the batch's one `classify_batch` call
    are handed out by (subject, text); anything else is classified on its own. Per thread,
    so two intakes in one process (tests, a second mailbox) cannot see each other's batch."""

    def __init__(self, inner: Classifier) -> None:
        self.inner = inner
        self._local = threading.local()

    def prime(
        self,
        items: Sequence[tuple[str, str]],
        ahead: dict[tuple[str, str], Classification] | None = None,
    ) -> None:
        """Classify the batch's items in one call, except those classified `ahead`."""
        ready = dict(ahead or {})
        ready.update(self.results([item for item in items if item not in ready]))
        self._local.ready = ready

    def results(self, items: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Classification]:
        """One `classify_batch` call over the distinct items, timed for the metrics; safe
        from any thread."""
        items = list(dict.fromkeys(items))
        if not items:
            return {}
        began = time.perf_counter()
        results = classify_batch(self.inner, items)
        metrics.observe_classification((time.perf_counter() - began) / len(items), len(items))
        return dict(zip(items, results, strict=True))

    def clear(self) -> None:
        self._local.ready = {}

    @property
    def apart(self) -> bool:
        """The classifier runs in a process of its own (classify/worker.py): classifying a
        batch ahead then overlaps with deciding the one before it."""
        return bool(getattr(self.inner, "apart", False))

    def wait_ready(self) -> None:
        """Block until a classifier still loading (bootstrap.LoadingClassifier) is ready;
        raises if it failed, before any attempt is counted against a message."""
        ready = getattr(self.inner, "ready", None)
        if ready is not None:
            ready()

    def classify(self, subject: str, text: str) -> Classification:
        ready: dict[tuple[str, str], Classification] = getattr(self._local, "ready", {})
        found = ready.get((subject, text))
        if found is not None:
            return found
        with metrics.classification_timer():
            return self.inner.classify(subject, text)

    def classify_batch(self, items: Sequence[tuple[str, str]]) -> list[Classification]:
        return classify_batch(self.inner, items)


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
        self.classifier = BatchClassifier(classifier)
        self.letters = Letters(
            renderer, policy.mail_from, policy.from_name, policy.case_policy.timezone
        )
        self.policy = policy
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
        "someone else stored it" is success, not an error.
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
    def prepare(self, inbound_ids: Sequence[int]) -> Prepared:
        """Read, parse and classify a batch without deciding it or writing anything, to be
        handed to `process_batch(…, prepared=…)` later. With the classifier in a worker
        process (classify/worker.py), the watcher runs this for the next batch in a thread
        while the current one is decided, and the classifying happens on another core. A row
        decided meanwhile by another instance is simply not used; the raw bytes never change
        (their digest is checked all the same)."""
        self.classifier.wait_ready()
        with self._factory() as session:
            rows = session.execute(
                sa.select(InboundMessage.id, InboundMessage.raw, InboundMessage.raw_sha256)
                .where(
                    InboundMessage.id.in_(list(inbound_ids)),
                    InboundMessage.processed_at.is_(None),
                )
                .order_by(InboundMessage.id)
            ).all()
        parsed: dict[int, tuple[str, ParsedMessage | None, float]] = {}
        for row_id, raw, digest in rows:
            msg, seconds = _timed_parse(raw)
            parsed[row_id] = (digest, msg, seconds)
        items = _classifier_items(msg for _, msg, _ in parsed.values())
        return Prepared(parsed, self.classifier.results(items))

    def process(self, inbound_id: int) -> Outcome | None:
        """Decide one stored message. Never raises for a bad message: it becomes needs_review."""
        outcomes = self.process_batch([inbound_id])
        return outcomes[0] if outcomes else None

    def process_batch(
        self,
        inbound_ids: Sequence[int],
        *,
        checkpoint: Callable[[], None] | None = None,
        stop: threading.Event | None = None,
        prepared: Prepared | None = None,
    ) -> list[Outcome]:
        """Decide several messages in one transaction, each inside its own savepoint.

        One commit per batch instead of per message (a commit is an fsync on SQLite); a
        message that trips a bug rolls the batch back, which is then decided again with a
        savepoint per message, so the bad one alone is recorded as needs_review. A database
        error aborts the batch: nothing of it is committed and the next cycle does it again.
        Messages another instance already decided are skipped.

        The batch is read in one query and parsed up front, and every readable message is
        classified in one `classify_batch` call (one `nlp.pipe`): the `classify` step then
        finds its result ready. `checkpoint` runs after each decided message, inside the
        transaction (the crash tests kill the process there). When `stop` is set, the batch
        ends after the message in hand: what is decided commits, the rest is left as it was
        (its attempt uncounted) for the next start.
        """
        outcomes: list[Outcome] = []
        self.classifier.wait_ready()
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
                outcomes += self._decide_counted([inbound_id], checkpoint, stop, prepared)
        fresh = [i for i in inbound_ids if prior.get(i) == 0]
        if fresh:
            outcomes += self._decide_counted(fresh, checkpoint, stop, prepared)
        for outcome in outcomes:
            # After the commit: a rolled-back decision is never counted, nor logged.
            metrics.record_outcome(outcome)
            log.info(
                "inbound %s: %s%s",
                outcome.inbound_id,
                outcome.disposition.value,
                f" {outcome.case_ref}" if outcome.case_ref else "",
            )
        return outcomes

    def _decide_counted(
        self,
        inbound_ids: Sequence[int],
        checkpoint: Callable[[], None] | None,
        stop: threading.Event | None = None,
        prepared: Prepared | None = None,
    ) -> list[Outcome]:
        with self._factory() as session, session.begin():
            session.execute(
                sa.update(InboundMessage)
                .where(InboundMessage.id.in_(list(inbound_ids)))
                .where(InboundMessage.processed_at.is_(None))
                .values(attempts=InboundMessage.attempts + 1)
            )  # committed before the work: a crash during it still counts
        try:
            return self._decide_rows(inbound_ids, checkpoint, stop, prepared)
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

    def _decide_rows(
        self,
        inbound_ids: Sequence[int],
        checkpoint: Callable[[], None] | None,
        stop: threading.Event | None = None,
        prepared: Prepared | None = None,
    ) -> list[Outcome]:
        """A batch without savepoints first: a SAVEPOINT and a RELEASE per message were a
        fifth of a backlog's statements, for failures that almost never happen. If a message
        raises, the whole batch rolls back and is decided again with a savepoint per
        message, so that only the bad one is parked. A message decided alone (a retry) gets
        its savepoint at once."""
        if len(inbound_ids) > 1:
            try:
                return self._decide_rows_in(inbound_ids, checkpoint, stop, prepared, guarded=False)
            except _MessageFailed as failed:
                log.warning(
                    "a message of a batch failed (%s); deciding the batch again, each message "
                    "on its own",
                    type(failed.__cause__).__name__,
                )
        return self._decide_rows_in(inbound_ids, checkpoint, stop, prepared, guarded=True)

    def _decide_rows_in(
        self,
        inbound_ids: Sequence[int],
        checkpoint: Callable[[], None] | None,
        stop: threading.Event | None,
        prepared: Prepared | None,
        *,
        guarded: bool,
    ) -> list[Outcome]:
        outcomes: list[Outcome] = []
        with self._factory() as session, session.begin():
            rows = []
            for row in self._lock_unprocessed(session, inbound_ids):
                if row.attempts > MAX_ATTEMPTS:
                    outcomes.append(self._quarantine(session, row))
                else:
                    rows.append(row)
            parsed = {row.id: self._parsed(row, prepared) for row in rows}
            self.classifier.prime(
                _classifier_items(msg for msg, _ in parsed.values()),
                ahead=prepared.classified if prepared is not None else None,
            )
            readable = [msg for msg, _ in parsed.values() if msg is not None]
            batch = steps.BatchMemo.load(
                session,
                self._clock(),
                [row.raw_sha256 for row in rows],
                [msg.message_id for msg in readable],
                [msg.sender_email for msg in readable],
            )
            try:
                for n, row in enumerate(rows):
                    if stop is not None and stop.is_set():
                        self._uncount(session, [r.id for r in rows[n:]])
                        break
                    msg, seconds = parsed[row.id]
                    try:
                        if guarded:
                            with session.begin_nested():
                                outcomes.append(self._decide(session, row, msg, seconds, batch))
                        else:
                            outcomes.append(self._decide(session, row, msg, seconds, batch))
                    except sa.exc.DBAPIError:
                        raise  # the database, not the message
                    except Exception as exc:
                        if not guarded:
                            raise _MessageFailed from exc  # rolls the batch back
                        outcomes.append(self._record_failure(session, row.id, exc))
                    batch.decided(row)
                    if checkpoint is not None:
                        checkpoint()
            finally:
                self.classifier.clear()
        return outcomes

    @staticmethod
    def _parsed(
        row: InboundMessage, prepared: Prepared | None
    ) -> tuple[ParsedMessage | None, float]:
        ahead = prepared.parsed.get(row.id) if prepared is not None else None
        if ahead is not None and ahead[0] == row.raw_sha256:
            return ahead[1], ahead[2]
        return _timed_parse(row.raw)

    @staticmethod
    def _uncount(session: Session, inbound_ids: list[int]) -> None:
        """Messages a stop left unread: their attempt did not happen."""
        session.execute(
            sa.update(InboundMessage)
            .where(InboundMessage.id.in_(inbound_ids), InboundMessage.attempts > 0)
            .values(attempts=InboundMessage.attempts - 1)
            .execution_options(synchronize_session=False)
        )

    def _lock_unprocessed(
        self, session: Session, inbound_ids: Sequence[int]
    ) -> list[InboundMessage]:
        """The batch's rows not yet decided, locked (FOR UPDATE on PostgreSQL: a second
        instance deciding the same rows waits, then sees them processed), in id order."""
        rows = session.execute(
            sa.select(InboundMessage)
            .where(InboundMessage.id.in_(list(inbound_ids)))
            .order_by(InboundMessage.id)
            .with_for_update()
        ).scalars()
        return [row for row in rows if row.processed_at is None]

    def _park(self, session: Session, row: InboundMessage, reason: str, action: str) -> Outcome:
        """needs_review, keeping what the header block says about the message."""
        now = self._clock()
        keep_identity(row)
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

    def _decide(
        self,
        session: Session,
        row: InboundMessage,
        msg: ParsedMessage | None = None,
        parse_seconds: float = 0.0,
        batch: steps.BatchMemo | None = None,
    ) -> Outcome:
        now = self._clock()
        if msg is None:
            started = time.monotonic()
            msg = parse_message(row.raw or b"")
            parse_seconds = time.monotonic() - started
        row.message_id = msg.message_id
        row.sender = msg.sender_email
        row.sender_name = msg.sender_name
        row.subject = msg.subject
        row.processed_at = now
        deciding = steps.Deciding(
            session, row, msg, now, self, parse_seconds=parse_seconds, batch=batch
        )
        decision = steps.decide(deciding)
        return self._record(session, row, decision, now)

    def _record(
        self, session: Session, row: InboundMessage, decision: Decision, now: datetime
    ) -> Outcome:
        """Write the decision on the row and the audit trail, and tell the listeners."""
        case = decision.case
        row.disposition = decision.disposition.value
        row.disposition_reason = decision.reason
        row.case_id = case.id if case is not None else row.case_id
        service.record_event(
            session,
            action="message_received",
            at=now,
            inbound_id=row.id,
            case_id=row.case_id,
            detail={"disposition": decision.disposition.value, "reason": decision.reason},
        )
        if row.duplicate_of is None:
            self._notify(session, row, decision.disposition, case, decision.reason, now)
        return Outcome(
            row.id,
            decision.disposition,
            case.ref if case else None,
            decision.acknowledged,
            tuple(case.types) if case else (),
            row.language,
        )

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
