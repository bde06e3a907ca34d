"""`/metrics`: the process's event counters (metrics.py) plus state read from the database.

State gauges (outbox backlog and the age of its oldest item, dead items, overdue cases) are
computed when Prometheus scrapes, so they are the same on every instance, survive restarts
and cannot drift from the truth. See docs/operations.md for what to alert on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from dsr_bot import metrics
from dsr_bot.cases.model import OPEN_STATUSES
from dsr_bot.http.server import RouteHandler
from dsr_bot.jobs.leader import LEASE_SECONDS
from dsr_bot.outbox import DEAD, PENDING, SENDING
from dsr_bot.store import repositories

log = logging.getLogger(__name__)


def scrape_registry(collectors: list[Any]) -> CollectorRegistry:
    """The process's event metrics plus scrape-time collectors (e.g. `DatabaseCollector`)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Forward(metrics.REGISTRY))
    for collector in collectors:
        registry.register(collector)
    return registry


class _Forward:
    def __init__(self, source: CollectorRegistry) -> None:
        self._source = source

    def collect(self) -> Any:
        return self._source.collect()


def metrics_route(registry: CollectorRegistry) -> RouteHandler:
    return lambda _headers: (200, CONTENT_TYPE_LATEST, generate_latest(registry))


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
        now = self._clock()
        today = now.astimezone(self._tz).date()
        with self._factory() as session:
            backlog_rows = repositories.outbox_backlog_by_kind(session, [PENDING, SENDING])
            dead_rows = repositories.outbox_count_by_kind(session, DEAD)
            overdue = repositories.count_overdue(session, [str(s) for s in OPEN_STATUSES], today)
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
        with self._factory() as session:
            holder, number, renewed, server_now = repositories.leader_lease(session)
        epoch = GaugeMetricFamily(
            "dsr_bot_leader_epoch",
            "Elections so far (grows by one whenever an instance takes over leadership).",
        )
        leaderless = GaugeMetricFamily(
            "dsr_bot_seconds_without_leader",
            "Seconds since the last leader heartbeat when no instance leads; 0 while one does.",
        )
        epoch.add_metric([], number)
        age = (server_now - _aware(renewed)).total_seconds() if renewed is not None else 0.0
        leads = holder is not None and renewed is not None and age < LEASE_SECONDS
        leaderless.add_metric([], 0.0 if leads or renewed is None else max(age, 0.0))
        return [epoch, leaderless]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
