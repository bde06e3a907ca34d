"""The one way out of the process: a durable queue of mail and Slack posts.

A row is written in the same transaction as the state change that causes it, under a unique
idempotency key, so "case opened" and "acknowledgement owed" commit together or not at all.
A drainer claims due rows with a lease, hands them to the transport for their kind, and marks
them sent. The only window for a duplicate is a crash after the transport accepted the item
and before the row is marked sent; mail keeps the Message-ID fixed at enqueue time so even
then the copy is recognisably the same message. See docs/outbox.md.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from dsr_bot import metrics
from dsr_bot.store.tables import Outbound
from dsr_bot.store.upsert import insert_ignore

log = logging.getLogger(__name__)

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
DEAD = "dead"  # a permanent failure, or still failing when too old: fails /readyz

LEASE = timedelta(minutes=5)
# Test-only: called with "sent" after each item is marked sent, while the rest of the drain's
# items are still leased to this process (tests/fixtures/crashing_cli.py kills it there).
crash_hook: Callable[[str], None] | None = None
# Claimed rows read per query while draining: few enough that letters with attachments
# (exports of a requester's data) do not pile up in memory.
LOAD_AT_ONCE = 50


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (proc(5) field 22), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def holder_id() -> str:
    """Who holds a lease: host, pid and the pid's start time (a reused pid is not us)."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid) or '?'}"[:128]


def holder_dead(holder: str | None) -> bool:
    """True only when the holder was a process on this host that no longer runs.

    A crash leaves its lease behind; waiting LEASE for it would hold an acknowledgement for
    five minutes even through a later `run --once` (issue 13). Holders on other hosts are
    never judged: their lease runs out.
    """
    host, _, rest = (holder or "").partition(":")
    pid_text, _, ticks = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return ticks != (_start_ticks(pid) or "?")
    current = _start_ticks(pid)
    if current is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        return False  # alive (or a reused pid we cannot tell apart): let the lease run
    return ticks not in ("?", current)


class PermanentFailure(Exception):
    """The transport says retrying cannot help (e.g. recipient address rejected)."""


class ItemRetry(Exception):
    """This item cannot go now (e.g. SMTP 451 for its recipient) but the transport works:
    the item backs off on its own and the circuit breaker stays closed."""


# Breaker pacing: first retry after BREAKER_INITIAL s, doubling up to BREAKER_MAX s, so the
# first send after a transport comes back happens within BREAKER_MAX s (issue 16: all mail
# queued during an outage is out within 30 s of the server's return).
BREAKER_INITIAL = 1.0
BREAKER_MAX = 8.0
BREAKER_WARN_EVERY = 60.0


class Breaker:
    """One circuit breaker per transport kind, shared by every drain in the process.

    A failure that is about the transport (connection refused, timeout, login) opens it:
    the remaining items of that kind are put back untouched instead of each failing and
    backing off on its own, and one probe is let through at a doubling interval. The first
    success closes it and pulls every waiting item of the kind forward, so a backlog goes out
    at once instead of item by item as individual backoffs expire. One warning per interval,
    not one per item.
    """

    def __init__(
        self,
        kind: str,
        *,
        initial: float = BREAKER_INITIAL,
        maximum: float = BREAKER_MAX,
        warn_every: float = BREAKER_WARN_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kind = kind
        self._initial, self._maximum, self._warn_every = initial, maximum, warn_every
        self._clock = clock
        self._lock = threading.Lock()
        self._delay = 0.0
        self._retry_at = 0.0
        self._since: float | None = None
        self._warned = 0.0
        self._failures = 0

    @property
    def is_open(self) -> bool:
        return self._since is not None

    def allows(self) -> bool:
        with self._lock:
            return self._since is None or self._clock() >= self._retry_at

    def wait_seconds(self) -> float | None:
        """Until the next probe; None when closed."""
        with self._lock:
            if self._since is None:
                return None
            return max(self._retry_at - self._clock(), 0.0)

    def failed(self, error: str) -> None:
        with self._lock:
            now = self._clock()
            self._failures += 1
            self._delay = min(max(self._delay * 2, self._initial), self._maximum)
            self._retry_at = now + self._delay
            first = self._since is None
            if first:
                self._since = now
            if first or now - self._warned >= self._warn_every:
                self._warned = now
                log.warning(
                    "outbox: %s transport failing (%s) for %.0f s; retrying every %.0f s "
                    "or less, waiting items keep their place",
                    self.kind,
                    error,
                    now - self._since,
                    self._maximum,
                )
        metrics.transport_up(self.kind, False)

    def succeeded(self) -> float | None:
        """Close; returns how long it was open (None if it was closed)."""
        with self._lock:
            since, self._since = self._since, None
            self._delay, self._retry_at, self._failures = 0.0, 0.0, 0
            if since is None:
                return None
            down = self._clock() - since
        metrics.transport_up(self.kind, True)
        log.info("outbox: %s transport works again after %.0f s", self.kind, down)
        return down


class Transport(Protocol):
    """Sends one item. A transport may also offer `deliver_many(items) -> None` (all or
    none; raise to retry them all): the drain then hands it a chunk's items of its kind at
    once and marks them sent together. Only for kinds where a duplicate after a crash
    harms nobody (the Sent-folder copy), since the window for one becomes the group."""

    def deliver(self, item: Outbound) -> str | None:
        """Send one item; return an external id (Message-ID, Slack ts). Raise to retry."""
        ...


def enqueue(
    session: Session,
    *,
    key: str,
    kind: str,
    purpose: str,
    now: datetime,
    payload: dict[str, Any] | None = None,
    body: bytes | None = None,
    recipient: str | None = None,
    case_id: int | None = None,
    external_id: str | None = None,
    recipient_key: str | None = None,
) -> bool:
    """Add an item unless one with this key exists. Returns True if it was added.

    `recipient_key` is the recipient as per-sender limits count it (the caller normalises:
    this layer knows no address rules)."""
    values = {
        "idempotency_key": key,
        "kind": kind,
        "purpose": purpose,
        "payload": payload or {},
        "body": body,
        "recipient": recipient,
        "recipient_key": recipient_key,
        "case_id": case_id,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "external_id": external_id,
    }
    return insert_ignore(session, Outbound, values)


def backoff_delay(attempts: int, initial: float = 30.0) -> timedelta:
    """30 s, 1 min, 2 min … capped at 1 h: a mail server outage of a day is ridden out."""
    return timedelta(seconds=min(initial * 2 ** max(attempts - 1, 0), 3600))


@dataclass
class DrainResult:
    sent: int = 0
    failed: int = 0
    dead: int = 0


class Outbox:
    def __init__(
        self,
        factory: sessionmaker[Session],
        transports: Mapping[str, Transport],
        *,
        clock: Callable[[], datetime],
        give_up_after: timedelta = timedelta(hours=72),
        retry_initial: float = 30.0,
        on_sent: Callable[[Session, Outbound, datetime], None] | None = None,
        breakers: dict[str, Breaker] | None = None,
    ) -> None:
        self._breakers = breakers if breakers is not None else {}
        for kind in transports:
            self._breakers.setdefault(kind, Breaker(kind))
        self._factory = factory
        self._transports = transports
        self._clock = clock
        self._give_up_after = give_up_after
        self._retry_initial = retry_initial
        self._on_sent = on_sent

    def _claim(self, limit: int) -> list[int]:
        """Lease due rows. The conditional UPDATE is the lock: only one instance wins a row."""
        now = self._clock()
        me = holder_id()
        kinds = [k for k in self._transports if self._breakers[k].allows()]
        if not kinds:
            return []
        with self._factory() as session, session.begin():
            orphans = [
                (item_id, holder)
                for item_id, holder in session.execute(
                    sa.select(Outbound.id, Outbound.claimed_by)
                    .where(Outbound.kind.in_(list(self._transports)))
                    .where(Outbound.status == SENDING, Outbound.claimed_until >= now)
                ).all()
                if holder != me and holder_dead(holder)
            ]
            for item_id, holder in orphans:
                log.warning("outbox item %s: its sender died mid-send; taking it back", item_id)
                session.execute(
                    sa.update(Outbound)
                    .where(Outbound.id == item_id, Outbound.status == SENDING)
                    .where(Outbound.claimed_by == holder)
                    .values(status=PENDING, claimed_until=None, claimed_by=None)
                )
            due = (
                session.execute(
                    sa.select(Outbound.id)
                    .where(Outbound.kind.in_(kinds))
                    .where(
                        sa.or_(
                            sa.and_(Outbound.status == PENDING, Outbound.next_attempt_at <= now),
                            sa.and_(Outbound.status == SENDING, Outbound.claimed_until < now),
                        )
                    )
                    .order_by(Outbound.next_attempt_at, Outbound.id)
                    .limit(limit)
                )
                .scalars()
                .all()
            )
            if not due:
                return []
            # One conditional UPDATE for the lot; RETURNING says which rows this call won
            # (a row another instance claimed meanwhile fails the WHERE and is not ours).
            claimed = session.execute(
                sa.update(Outbound)
                .where(Outbound.id.in_(due))
                .where(
                    sa.or_(
                        Outbound.status == PENDING,
                        sa.and_(Outbound.status == SENDING, Outbound.claimed_until < now),
                    )
                )
                .values(status=SENDING, claimed_until=now + LEASE, claimed_by=me)
                .returning(Outbound.id)
                .execution_options(synchronize_session=False)
            ).scalars()
            order = {item_id: n for n, item_id in enumerate(due)}
            return sorted(claimed, key=order.__getitem__)

    def drain(self, limit: int = 500, stop: threading.Event | None = None) -> DrainResult:
        """Send what is due. With `stop` set mid-way, the rest is released, not left leased,
        so a SIGTERM neither waits for a slow server nor delays the next start by the lease."""
        result = DrainResult()
        claimed = self._claim(limit)
        try:
            self._deliver(claimed, result, stop)
        finally:
            for transport in self._transports.values():
                close = getattr(transport, "close", None)
                if close is not None:
                    close()  # e.g. end the SMTP session kept open for this batch
        return result

    def _deliver(
        self, claimed: list[int], result: DrainResult, stop: threading.Event | None
    ) -> None:
        for start in range(0, len(claimed), LOAD_AT_ONCE):
            chunk = claimed[start : start + LOAD_AT_ONCE]
            loaded = self._load(chunk)
            grouped: dict[str, list[Outbound]] = {}
            for n, item_id in enumerate(chunk):
                if stop is not None and stop.is_set():
                    held = [i.id for items in grouped.values() for i in items]
                    self._release(held + claimed[start + n :])
                    return
                item = loaded[item_id]
                if hasattr(self._transports[item.kind], "deliver_many"):
                    grouped.setdefault(item.kind, []).append(item)
                else:
                    self._deliver_one(item, result)
            kinds = list(grouped)
            for k, kind in enumerate(kinds):
                if stop is not None and stop.is_set():
                    held = [i.id for later in kinds[k:] for i in grouped[later]]
                    self._release(held + claimed[start + len(chunk) :])
                    return
                self._deliver_group(kind, grouped[kind], result)

    def _deliver_one(self, item: Outbound, result: DrainResult) -> None:
        transport = self._transports[item.kind]
        breaker = self._breakers[item.kind]
        if not breaker.allows():
            # The transport failed earlier in this drain: leave the item for the probe.
            self._hold(item)
            return
        try:
            external_id = transport.deliver(item)
        except Exception as exc:
            self._attempt_failed(item, exc, result)
            return
        self._sent([item], external_id)
        self._after_sent(item, result)

    def _deliver_group(self, kind: str, items: list[Outbound], result: DrainResult) -> None:
        """Items whose transport takes several at once (the Sent copies: one MULTIAPPEND),
        marked sent together. The window for a duplicate after a crash is the group, so
        only kinds whose duplicate harms nobody (a second copy in the Sent folder) offer
        `deliver_many`; letters to people go one at a time."""
        transport = self._transports[kind]
        breaker = self._breakers[kind]
        if not breaker.allows():
            for item in items:
                self._hold(item)
            return
        try:
            transport.deliver_many(items)  # type: ignore[attr-defined]
        except Exception as exc:
            for item in items:
                self._attempt_failed(item, exc, result, breaker_counted=item is not items[0])
            return
        self._sent(items, None)
        for item in items:
            self._after_sent(item, result)

    def _attempt_failed(
        self,
        item: Outbound,
        exc: Exception,
        result: DrainResult,
        *,
        breaker_counted: bool = False,
    ) -> None:
        if isinstance(exc, PermanentFailure):
            self._failed(item.id, str(exc), permanent=True)
            metrics.outbox_failed(item.kind, dead=True)
            result.dead += 1
            log.error("outbox item %s (%s) failed permanently: %s", item.id, item.purpose, exc)
            return
        dead = self._failed(item.id, f"{type(exc).__name__}: {exc}", permanent=False)
        metrics.outbox_failed(item.kind, dead=dead)
        result.dead += dead
        result.failed += not dead
        if isinstance(exc, ItemRetry):
            log.warning(
                "outbox item %s (%s) attempt failed: %s",
                item.id,
                item.purpose,
                type(exc).__name__,
            )
        else:
            log.debug("outbox item %s attempt failed: %s", item.id, type(exc).__name__)
            if not breaker_counted:
                self._breakers[item.kind].failed(type(exc).__name__)

    def _after_sent(self, item: Outbound, result: DrainResult) -> None:
        if crash_hook is not None:
            crash_hook("sent")
        metrics.outbox_sent(item.kind, item.purpose)
        result.sent += 1
        if self._breakers[item.kind].succeeded() is not None:
            self._pull_forward(item.kind)

    def _hold(self, item: Outbound) -> None:
        """Put an item back as it was (no attempt counted), or give up on it by age."""
        if self._clock() - _aware(item.created_at) >= self._give_up_after:
            self._failed(item.id, "transport unavailable", permanent=False)
            metrics.outbox_failed(item.kind, dead=True)
            return
        self._release([item.id])

    def _pull_forward(self, kind: str) -> None:
        """The transport is back: everything of its kind waiting on a backoff is due now."""
        now = self._clock()
        with self._factory() as session, session.begin():
            moved = session.execute(
                sa.update(Outbound)
                .where(
                    Outbound.kind == kind,
                    Outbound.status == PENDING,
                    Outbound.next_attempt_at > now,
                )
                .values(next_attempt_at=now)
            ).rowcount
        if moved:
            log.info("outbox: %d waiting %s item(s) due now", moved, kind)

    def next_due(self) -> float | None:
        """Seconds until something here may be sent (a due item or a breaker probe)."""
        now = self._clock()
        kinds = list(self._transports)
        with self._factory() as session:
            rows = session.execute(
                sa.select(Outbound.kind, sa.func.min(Outbound.next_attempt_at))
                .where(Outbound.status == PENDING, Outbound.kind.in_(kinds))
                .group_by(Outbound.kind)
            ).all()
        waits = []
        for kind, at in rows:
            wait = max((_aware(at) - now).total_seconds(), 0.0)
            probe = self._breakers[kind].wait_seconds()
            waits.append(max(wait, probe) if probe is not None else wait)
        return min(waits) if waits else None

    def _load(self, item_ids: list[int]) -> dict[int, Outbound]:
        """Claimed rows, detached, read in one query rather than one session per item."""
        with self._factory() as session:
            items = session.execute(sa.select(Outbound).where(Outbound.id.in_(item_ids))).scalars()
            loaded = {item.id: item for item in items}
            session.expunge_all()
        return loaded

    def _release(self, item_ids: list[int]) -> None:
        with self._factory() as session, session.begin():
            session.execute(
                sa.update(Outbound)
                .where(Outbound.id.in_(item_ids), Outbound.status == SENDING)
                .values(status=PENDING, claimed_until=None)
            )

    def _sent(self, items: list[Outbound], external_id: str | None) -> None:
        """Marked sent at once, in a transaction of their own: a letter is one item, so the
        window for a duplicate after a crash is one letter, whatever the drain. One UPDATE,
        no ORM load: the items are the detached copies `_deliver` already holds."""
        now = self._clock()
        values: dict[str, Any] = {
            "status": SENT,
            "sent_at": now,
            "attempts": Outbound.attempts + 1,
            "claimed_until": None,
            "last_error": None,
        }
        if external_id:
            values["external_id"] = external_id
        with self._factory() as session, session.begin():
            session.execute(
                sa.update(Outbound)
                .where(Outbound.id.in_([item.id for item in items]))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if self._on_sent is not None:
                for item in items:
                    self._on_sent(session, item, now)

    def _failed(self, item_id: int, error: str, *, permanent: bool) -> bool:
        now = self._clock()
        with self._factory() as session, session.begin():
            item = session.get(Outbound, item_id)
            assert item is not None
            item.attempts += 1
            item.last_error = error[:2000]
            item.claimed_until = None
            if permanent or now - item.created_at >= self._give_up_after:
                item.status = DEAD
                return True
            item.status = PENDING
            item.next_attempt_at = now + backoff_delay(item.attempts, self._retry_initial)
            return False

    def backlog(self) -> tuple[int, datetime | None]:
        """Waiting items this outbox can send (kinds without a transport here are not ours)."""
        with self._factory() as session:
            count, oldest = session.execute(
                sa.select(sa.func.count(), sa.func.min(Outbound.created_at)).where(
                    Outbound.status.in_([PENDING, SENDING]),
                    Outbound.kind.in_(list(self._transports)),
                )
            ).one()
            if oldest is not None and oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=UTC)  # SQLite's MIN() bypasses the column type
            return int(count), oldest

    def dead(self) -> int:
        with self._factory() as session:
            return int(
                session.execute(
                    sa.select(sa.func.count()).select_from(Outbound).where(Outbound.status == DEAD)
                ).scalar_one()
            )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def retry_dead(factory: sessionmaker[Session], now: datetime, item_id: int | None = None) -> int:
    """Put dead items (one, or all) back in the queue; they get a fresh give-up window."""
    with factory() as session, session.begin():
        query = sa.update(Outbound).where(Outbound.status == DEAD)
        if item_id is not None:
            query = query.where(Outbound.id == item_id)
        result = session.execute(
            query.values(status=PENDING, next_attempt_at=now, created_at=now, claimed_until=None)
        )
        return int(result.rowcount or 0)
