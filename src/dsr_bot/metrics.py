"""Prometheus metrics: what an operator graphs and alerts on. See docs/operations.md.

Two kinds, on purpose:
- *events* (messages received, cases opened, sends, reconnects, Slack errors, classification
  time) are counters/histograms kept in this process and bumped by small functions below,
  called by intake, the watcher, the outbox and the Slack adapter *after* their transaction
  committed, so a rolled-back decision is never counted;
- *state* (outbox backlog and the age of its oldest item, dead items, overdue cases) is read
  from the database when Prometheus scrapes (`DatabaseCollector`). It is then the same on
  every instance, survives restarts, and cannot drift from the truth.

Labels hold only closed vocabularies (dispositions, request types, ISO language codes,
outbox kinds): never an address, a subject or a case reference, which would be personal data
in the monitoring system and an unbounded number of time series.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

# `*_created` series double the output and no alert uses them.
disable_created_metrics()

# One registry for the process, not prometheus_client's global one: tests and embedders can
# read it without the default process/platform collectors, and nothing else writes to it.
REGISTRY = CollectorRegistry(auto_describe=True)

MESSAGES_RECEIVED = Counter(
    "dsr_bot_messages_received",
    "Inbound messages decided by intake, by disposition (case, reply, not_request, needs_review).",
    ["disposition"],
    registry=REGISTRY,
)
CASES_OPENED = Counter(
    "dsr_bot_cases_opened",
    "Cases opened, by request type and language; a case with two types counts once per type.",
    ["type", "language"],
    registry=REGISTRY,
)
ACKNOWLEDGEMENTS_SENT = Counter(
    "dsr_bot_acknowledgements_sent",
    "Acknowledgements handed to the mail server (Art. 12(3): the requester learns the case "
    "exists and its deadline).",
    registry=REGISTRY,
)
OUTBOX_SENT = Counter(
    "dsr_bot_outbox_sent",
    "Outbox items delivered, by kind (mail, slack, imap_copy) and purpose.",
    ["kind", "purpose"],
    registry=REGISTRY,
)
OUTBOX_FAILURES = Counter(
    "dsr_bot_outbox_failures",
    "Failed delivery attempts, by kind; outcome=retry will be tried again, outcome=dead not.",
    ["kind", "outcome"],
    registry=REGISTRY,
)
IMAP_RECONNECTS = Counter(
    "dsr_bot_imap_reconnects",
    "Times the IMAP connection was lost or refused and a reconnect was scheduled.",
    registry=REGISTRY,
)
SLACK_ERRORS = Counter(
    "dsr_bot_slack_errors",
    "Slack API calls or socket events that failed, by kind (e.g. the Slack error code).",
    ["kind"],
    registry=REGISTRY,
)
LEADERSHIP_CHANGES = Counter(
    "dsr_bot_leadership_changes",
    "Times this instance became leader (change=gained) or stopped leading (change=lost).",
    ["change"],
    registry=REGISTRY,
)
LEADER = Gauge(
    "dsr_bot_leader",
    "1 while this instance leads (watches the mailbox, runs the scheduler), else 0.",
    registry=REGISTRY,
)
TRANSPORT_UP = Gauge(
    "dsr_bot_transport_up",
    "0 while deliveries of this outbox kind fail and its circuit breaker paces retries.",
    ["kind"],
    registry=REGISTRY,
)
CLASSIFICATION_SECONDS = Histogram(
    "dsr_bot_classification_seconds",
    "Time to classify one message (language detection + model + rules).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)


class _DecidedMessage(Protocol):
    """What `record_outcome` reads: `intake.Outcome` plus the case's types and language."""

    @property
    def disposition(self) -> object: ...


def record_outcome(outcome: _DecidedMessage) -> None:
    """Count one committed intake decision (call after the transaction, never inside)."""
    disposition = str(getattr(outcome.disposition, "value", outcome.disposition))
    MESSAGES_RECEIVED.labels(disposition=disposition).inc()
    if disposition == "case":
        case_opened(getattr(outcome, "types", ()) or (), getattr(outcome, "language", None))


def case_opened(types: Iterable[object], language: str | None) -> None:
    lang = language or "unknown"
    for request_type in types or ("unknown",):
        CASES_OPENED.labels(type=str(request_type), language=lang).inc()


def outbox_sent(kind: str, purpose: str) -> None:
    OUTBOX_SENT.labels(kind=kind, purpose=purpose).inc()
    if kind == "mail" and purpose == "acknowledgement":
        ACKNOWLEDGEMENTS_SENT.inc()


def outbox_failed(kind: str, *, dead: bool) -> None:
    OUTBOX_FAILURES.labels(kind=kind, outcome="dead" if dead else "retry").inc()


def imap_reconnect() -> None:
    IMAP_RECONNECTS.inc()


def leadership_changed(*, gained: bool) -> None:
    LEADERSHIP_CHANGES.labels(change="gained" if gained else "lost").inc()
    LEADER.set(1 if gained else 0)


def transport_up(kind: str, up: bool) -> None:
    TRANSPORT_UP.labels(kind=kind).set(1 if up else 0)


def slack_error(kind: str) -> None:
    SLACK_ERRORS.labels(kind=kind).inc()


@contextmanager
def classification_timer() -> Iterator[None]:
    """`with metrics.classification_timer(): result = classifier.classify(...)`."""
    began = time.perf_counter()
    try:
        yield
    finally:
        CLASSIFICATION_SECONDS.observe(time.perf_counter() - began)


class DatabaseCollector(Collector):
    """State gauges computed from the database at scrape time.

    A failing query must not break the scrape (the event counters are still worth having),
    so errors yield `dsr_bot_database_up 0` and no state gauges.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        timezone: str = "Europe/Stockholm",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._factory = factory
        self._warned = -60.0
        self._tz = ZoneInfo(timezone)
        self._clock = clock

    def describe(self) -> list[Metric]:
        return []  # computed at collect time; no fixed description needed

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("dsr_bot_database_up", "1 if the last scrape could read the DB.")
        try:
            gauges = self._state()
        except Exception as exc:  # the database being down is exactly when we must answer
            # Scraped every few seconds: one warning a minute, not one per scrape.
            now = time.monotonic()
            if now - self._warned >= 60:
                self._warned = now
                log.warning("metrics: database query failed: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from gauges

    def _state(self) -> list[Metric]:
        from dsr_bot.cases.model import OPEN_STATUSES
        from dsr_bot.outbox import DEAD, PENDING, SENDING
        from dsr_bot.store.tables import Case, Outbound

        now = self._clock()
        today = now.astimezone(self._tz).date()
        with self._factory() as session:
            backlog_rows = session.execute(
                sa.select(Outbound.kind, sa.func.count(), sa.func.min(Outbound.created_at))
                .where(Outbound.status.in_([PENDING, SENDING]))
                .group_by(Outbound.kind)
            ).all()
            dead_rows = session.execute(
                sa.select(Outbound.kind, sa.func.count())
                .where(Outbound.status == DEAD)
                .group_by(Outbound.kind)
            ).all()
            due = sa.func.coalesce(Case.extended_due_on, Case.due_on)
            overdue = session.execute(
                sa.select(sa.func.count())
                .select_from(Case)
                .where(Case.status.in_([str(s) for s in OPEN_STATUSES]), due < today)
            ).scalar_one()
        backlog = GaugeMetricFamily(
            "dsr_bot_outbox_backlog", "Outbox items waiting to be sent, by kind.", labels=["kind"]
        )
        oldest = GaugeMetricFamily(
            "dsr_bot_outbox_oldest_age_seconds",
            "Age of the oldest unsent outbox item (0 when the outbox is empty).",
        )
        dead = GaugeMetricFamily(
            "dsr_bot_outbox_dead",
            "Outbox items given up on (need a person), by kind.",
            labels=["kind"],
        )
        ages = [0.0]
        for kind, count, created in backlog_rows:
            backlog.add_metric([kind], count)
            if created is not None:
                ages.append((now - _aware(created)).total_seconds())
        for kind, count in dead_rows:
            dead.add_metric([kind], count)
        oldest.add_metric([], max(ages))
        cases = GaugeMetricFamily(
            "dsr_bot_cases_overdue",
            "Open cases past their (extended) Art. 12(3) due date.",
        )
        cases.add_metric([], overdue)
        return [backlog, oldest, dead, cases, *self._leadership()]

    def _leadership(self) -> list[Metric]:
        """Cluster-wide, from the lease row: the same answer on every instance."""
        from dsr_bot.leader import LEASE_SECONDS
        from dsr_bot.store.tables import LeaderLease

        with self._factory() as session:
            row = session.execute(
                sa.select(LeaderLease.holder, LeaderLease.epoch, LeaderLease.renewed_at)
            ).first()
            server_now = (
                session.execute(sa.text("SELECT now()")).scalar_one()
                if session.get_bind().dialect.name == "postgresql"
                else datetime.now(UTC)
            )
        epoch = GaugeMetricFamily(
            "dsr_bot_leader_epoch",
            "Elections so far (grows by one whenever an instance takes over leadership).",
        )
        leaderless = GaugeMetricFamily(
            "dsr_bot_seconds_without_leader",
            "Seconds since the last leader heartbeat when no instance leads; 0 while one does.",
        )
        holder, number, renewed = row if row is not None else (None, 0, None)
        epoch.add_metric([], number)
        age = (server_now - _aware(renewed)).total_seconds() if renewed is not None else 0.0
        leads = holder is not None and renewed is not None and age < LEASE_SECONDS
        leaderless.add_metric([], 0.0 if leads or renewed is None else max(age, 0.0))
        return [epoch, leaderless]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
