"""The mailbox loop: fetch → store → process → send → tidy the server, then wait.

Order matters for "nothing lost, nothing doubled":
- bytes are stored (unique key) before anything else happens;
- the server copy is moved/flagged only after processing committed;
- `last_uid` only advances past messages that are stored.
After a crash any step is simply done again on the next cycle, and every step is idempotent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from dsr_bot import metrics, outbox
from dsr_bot.cases.service import record_event
from dsr_bot.config import Settings
from dsr_bot.intake.pipeline import Intake, Prepared, RawMessage
from dsr_bot.mail.imap import Backoff, ImapLoginRefused, ImapMailbox, ImapUnavailable
from dsr_bot.store.db import LeadershipLost
from dsr_bot.store.tables import InboundMessage, MailboxState, Outbound
from dsr_bot.store.upsert import insert_ignore

log = logging.getLogger(__name__)

# Messages per transaction. A commit is an fsync on SQLite; batching keeps intake well
# above the rate mail arrives, while a crash only ever repeats one batch.
STORE_BATCH = 100
STORE_BATCH_BYTES = 32 * 1024 * 1024
DECIDE_BATCH = 200
# Reconnect pacing (issue 16): back within RECONNECT_MAX s of the server's return, without
# hammering it; a refused login is a person's problem and is retried slowly.
RECONNECT_INITIAL = 0.5
RECONNECT_MAX = 5.0
LOGIN_REFUSED_MAX = 60.0
# A failing database is retried this often at most, whatever the outage's length.
DB_RETRY_MAX = 2.0
WARN_EVERY = 60.0


class _Every:
    """At most one warning per interval for a repeating condition; the rest go to DEBUG."""

    def __init__(self, interval: float = WARN_EVERY) -> None:
        self.interval = interval
        self._last = -interval
        self.suppressed = 0

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            return True
        self.suppressed += 1
        return False

    def reset(self) -> None:
        self._last = -self.interval
        self.suppressed = 0


# A backlog is worked through in chunks of this many fetched messages: stored, decided and
# acknowledged before the next chunk is fetched. Memory stays flat however long the
# backlog, and the first requesters hear from us within seconds, not after the last mail
# of a 50,000-mail history. A single new mail is a chunk of one: nothing waits to fill one.
STREAM_CHUNK = 1000

# Tests install a function here to die (os._exit, like kill -9) at a named point of the
# cycle and prove that nothing is lost or doubled: "store" (a chunk stored, nothing decided),
# "decide" (inside a batch's transaction, one message decided, not committed), "process"
# (a chunk decided, nothing sent), "drain" (one outbox pass sent and marked, more due).
# Never set otherwise.
crash_hook: Callable[[str], None] | None = None


class Service(Protocol):
    """What the watcher needs of the built application (bootstrap.App)."""

    settings: Settings
    factory: sessionmaker[Session]
    intake: Intake
    clock: Callable[[], datetime]

    def outbox(
        self,
        kinds: Iterable[str] | None = None,
        extra: dict[str, outbox.Transport] | None = None,
    ) -> outbox.Outbox: ...


class ImapAppendTransport:
    """Outbox transport for copies of sent mail into the Sent folder."""

    def __init__(self, mailbox: ImapMailbox) -> None:
        self._mailbox = mailbox

    def deliver(self, item: Outbound) -> str | None:
        assert item.body is not None
        self._mailbox.append(item.payload["folder"], item.body)
        return None

    def deliver_many(self, items: list[Outbound]) -> None:
        """A drain's copies in one MULTIAPPEND per folder: one round trip, not one each."""
        folders: dict[str, list[bytes]] = {}
        for item in items:
            assert item.body is not None
            folders.setdefault(item.payload["folder"], []).append(item.body)
        for folder, raws in folders.items():
            self._mailbox.append_many(folder, raws)


@dataclass
class CycleResult:
    fetched: int = 0
    processed: int = 0
    sent: int = 0
    dispositions: dict[str, int] = field(default_factory=dict)


class MailboxWatcher:
    def __init__(
        self,
        app: Service,
        stop: threading.Event | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.app = app
        self.settings = app.settings
        self.stop = stop or threading.Event()
        self.mailbox = ImapMailbox(app.settings)
        self.reconnects = 0
        self._progress = progress
        name = f"{self.settings.imap_user}@{self.settings.imap_host}/{self.settings.imap_folder}"
        self.mailbox_key = name
        # The Sent-folder copy goes over this watcher's own IMAP connection, which is not
        # shared between threads: only this watcher's outbox gets that transport.
        self._own_transports: dict[str, outbox.Transport] = (
            {"imap_copy": ImapAppendTransport(self.mailbox)}
            if self.settings.imap_sent_folder
            else {}
        )

    # -- one cycle --------------------------------------------------------------------
    def _last_uid(self, uidvalidity: int) -> int:
        now = self.app.clock()
        with self.app.factory() as session, session.begin():
            state = session.get(MailboxState, self.mailbox_key, with_for_update=True)
            if state is None:
                # A first start with a `run --once` beside it: both may find no row; the
                # second insert is skipped (it waits for the first on PostgreSQL) and reads
                # the first one's row.
                values = {
                    "mailbox": self.mailbox_key,
                    "uidvalidity": uidvalidity,
                    "last_uid": 0,
                    "updated_at": now,
                }
                if insert_ignore(session, MailboxState, values):
                    return 0
                state = session.get(MailboxState, self.mailbox_key, with_for_update=True)
                assert state is not None
            if state.uidvalidity != uidvalidity:
                # RFC 3501 2.3.1.1: old UIDs mean nothing now. Refetch everything; stored
                # copies are recognised by content hash/Message-ID, so nothing is doubled.
                log.warning(
                    "UIDVALIDITY changed (%s -> %s); rescanning folder",
                    state.uidvalidity,
                    uidvalidity,
                )
                record_event(
                    session,
                    action="uidvalidity_changed",
                    at=now,
                    detail={"old": state.uidvalidity, "new": uidvalidity},
                )
                state.uidvalidity = uidvalidity
                state.last_uid = 0
                state.updated_at = now
            return state.last_uid

    def _advancer(self, uidvalidity: int, uid: int) -> Callable[[Session], None]:
        def advance(session: Session) -> None:
            state = session.get(MailboxState, self.mailbox_key, with_for_update=True)
            assert state is not None
            if state.uidvalidity == uidvalidity and uid > state.last_uid:
                state.last_uid = uid
                state.updated_at = self.app.clock()

        return advance

    def _store(self, uidvalidity: int, batch: list[RawMessage]) -> None:
        self.app.intake.store_batch(
            mailbox=self.mailbox_key,
            uidvalidity=uidvalidity,
            messages=batch,
            then=self._advancer(uidvalidity, max(m.uid for m in batch)),
        )

    def fetch_and_store(self) -> int:
        """Store what is new, a batch per transaction (bounded in count and bytes)."""
        return sum(self._store_in_chunks(chunk=None))

    def _store_in_chunks(self, chunk: int | None = STREAM_CHUNK) -> Iterator[int]:
        """Store what is new; yield the count stored after every `chunk` messages and at the
        end (at least once, 0 when nothing is new). The FETCH generator is paused between
        chunks, not abandoned: the caller may use the connection meanwhile (Sent copies)."""
        uidvalidity = self.mailbox.uidvalidity
        last = self._last_uid(uidvalidity)
        count = 0
        in_chunk = 0
        batch: list[RawMessage] = []
        batch_bytes = 0
        for fetched in self.mailbox.fetch_since(last):
            batch.append(
                RawMessage(
                    fetched.uid,
                    fetched.raw,
                    fetched.internaldate,
                    fetched.size,
                    fetched.truncated,
                )
            )
            batch_bytes += len(fetched.raw)
            count += 1
            in_chunk += 1
            if len(batch) >= STORE_BATCH or batch_bytes >= STORE_BATCH_BYTES:
                self._store(uidvalidity, batch)
                batch, batch_bytes = [], 0
            if self.stop.is_set():
                break
            if chunk is not None and in_chunk >= chunk:
                if batch:
                    self._store(uidvalidity, batch)
                    batch, batch_bytes = [], 0
                yield in_chunk
                in_chunk = 0
        if batch:
            self._store(uidvalidity, batch)
        if in_chunk or not count:
            yield in_chunk

    def tidy_server(self) -> None:
        uidvalidity = self.mailbox.uidvalidity
        with self.app.factory() as session:
            uids = list(
                session.execute(
                    sa.select(InboundMessage.uid).where(
                        InboundMessage.mailbox == self.mailbox_key,
                        InboundMessage.uidvalidity == uidvalidity,
                        InboundMessage.processed_at.is_not(None),
                        InboundMessage.imap_done.is_(False),
                    )
                ).scalars()
            )
        for start in range(0, len(uids), 500):
            chunk = uids[start : start + 500]
            self.mailbox.mark_processed(chunk)
            with self.app.factory() as session, session.begin():
                session.execute(
                    sa.update(InboundMessage)
                    .where(
                        InboundMessage.mailbox == self.mailbox_key,
                        InboundMessage.uidvalidity == uidvalidity,
                        InboundMessage.uid.in_(chunk),
                    )
                    .values(imap_done=True)
                )

    def _crash_point(self, step: str) -> None:
        if crash_hook is not None:
            crash_hook(step)

    def cycle(self) -> CycleResult:
        """Fetch, store, decide and send chunk by chunk (STREAM_CHUNK), then tidy the server."""
        result = CycleResult()
        for stored in self._store_in_chunks():
            result.fetched += stored
            self._crash_point("store")
            self._decide_pending(result)
            self._crash_point("process")
            result.sent += self.drain_outbox()
            if self.stop.is_set():
                break
        self.tidy_server()
        return result

    def _decide_pending(self, result: CycleResult) -> None:
        """Batch after batch. With the classifier in a worker process, the next batch is
        read, parsed and classified in a thread (`Intake.prepare`) while one is decided;
        what runs ahead writes nothing, so a crash or a stop loses no work that was not done
        again anyway. With the classifier in this process nothing runs ahead: the two would
        only take turns (the GIL), and measured no faster, with 13 MB more resident at 50,000
        mails (a second thread's malloc arena)."""
        intake = self.app.intake
        pending = intake.pending_ids()
        chunks = [pending[i : i + DECIDE_BATCH] for i in range(0, len(pending), DECIDE_BATCH)]
        lookahead = intake.classifier.apart
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="intake-ahead") as ahead:
            upcoming: Future[Prepared] | None = None
            for n, chunk in enumerate(chunks):
                current, upcoming = upcoming, None
                if lookahead and n + 1 < len(chunks):
                    upcoming = ahead.submit(intake.prepare, chunks[n + 1])
                try:
                    outcomes = intake.process_batch(
                        chunk,
                        checkpoint=lambda: self._crash_point("decide"),
                        stop=self.stop,
                        prepared=self._prepared(current),
                    )
                except BaseException:
                    if upcoming is not None:
                        upcoming.cancel()
                    raise
                for outcome in outcomes:
                    result.processed += 1
                    key = outcome.disposition.value
                    result.dispositions[key] = result.dispositions.get(key, 0) + 1
                if self._progress is not None:
                    left = sum(len(c) for c in chunks[n + 1 :])
                    self._progress(result.processed, result.processed + left)
                if self.stop.is_set():
                    if upcoming is not None:
                        upcoming.cancel()
                    break

    @staticmethod
    def _prepared(future: Future[Prepared] | None) -> Prepared | None:
        """The batch prepared ahead, or None to prepare it inline: a failure there (the
        database, a classifier error) is met again, and handled, by the batch itself."""
        if future is None:
            return None
        try:
            return future.result()
        except Exception as exc:
            log.warning("preparing a batch ahead failed (%s)", type(exc).__name__)
            return None

    def drain_outbox(self) -> int:
        """Send everything due, pass after pass (`outbox_batch` items each), until a pass
        sends nothing or we are told to stop: `run --once` must not exit with decided
        acknowledgements unsent. A sent mail enqueues its Sent-folder copy, which a later
        pass delivers. Passes end when one sends nothing, so an item that fails and is due
        again at once (retry delay 0) cannot keep the loop going by itself."""
        box = self.app.outbox(extra=self._own_transports)
        limit = self.settings.outbox_batch
        sent = 0
        while not self.stop.is_set():
            drained = box.drain(limit=limit, stop=self.stop).sent
            sent += drained
            if not drained:
                break
            self._crash_point("drain")
        return sent

    def _drain_quietly(self) -> None:
        try:
            self.drain_outbox()
        except Exception as exc:
            log.warning("outbox drain failed (%s)", type(exc).__name__)

    # -- loops ------------------------------------------------------------------------
    def run_once(self) -> CycleResult:
        self.mailbox.connect()
        try:
            return self.cycle()
        finally:
            self.mailbox.close()

    def run_forever(self) -> None:
        backoff = Backoff(initial=RECONNECT_INITIAL, maximum=RECONNECT_MAX)
        db_backoff = Backoff(initial=0.25, maximum=DB_RETRY_MAX)
        imap_warn, db_warn = _Every(), _Every()
        while not self.stop.is_set():
            try:
                if not self.mailbox.connected:
                    self.mailbox.connect()
                    backoff.reset()
                    imap_warn.reset()
                result = self.cycle()
                db_backoff.reset()
                db_warn.reset()
                if result.fetched or result.sent:
                    log.info(
                        "cycle: fetched %d, processed %d, sent %d",
                        result.fetched,
                        result.processed,
                        result.sent,
                    )
                    continue  # new mail may have arrived while we worked
                self.mailbox.wait_for_change(self._wait_budget(), self.stop)
            except ImapUnavailable as exc:
                self.mailbox.close()
                self.reconnects += 1
                metrics.imap_reconnect()
                if isinstance(exc, ImapLoginRefused):
                    backoff.maximum = LOGIN_REFUSED_MAX
                else:
                    backoff.maximum = RECONNECT_MAX
                delay = backoff.next_delay()
                if imap_warn.due():
                    log.warning("IMAP unavailable (%s); reconnecting in %.1f s", exc, delay)
                else:
                    log.debug("IMAP unavailable (%s); reconnecting in %.1f s", exc, delay)
                # Mail already decided still goes out while the mailbox is away.
                self._drain_quietly()
                self.stop.wait(delay)
            except LeadershipLost as exc:
                # The fence refused the write: the election loop decides what happens next
                # (take the lock back after a database restart, or step down).
                log.info("intake paused: %s", exc)
                self.stop.wait(db_backoff.next_delay())
            except Exception as exc:
                # The database or a bug: nothing is lost (every step repeats), so back off and
                # try again rather than let the leader thread die. The IMAP session stays:
                # it has nothing to do with the database.
                delay = db_backoff.next_delay()
                if db_warn.due():
                    log.error(
                        "intake cycle failed (%s); retrying every %.1f s or less",
                        type(exc).__name__,
                        DB_RETRY_MAX,
                        exc_info=log.isEnabledFor(logging.DEBUG),
                    )
                self.stop.wait(delay)
        self.mailbox.close()

    def _wait_budget(self) -> float:
        """How long to wait for mail: no longer than until the outbox has something due, so a
        backlog goes out soon after its transport returns even when no mail arrives."""
        budget = self.settings.imap_idle_timeout
        try:
            due = self.app.outbox(extra=self._own_transports).next_due()
        except Exception:
            return min(budget, DB_RETRY_MAX)
        if due is not None:
            budget = min(budget, max(due, 0.2))
        return budget
