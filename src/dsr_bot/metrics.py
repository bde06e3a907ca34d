"""Prometheus metrics: what an operator graphs and alerts on. See docs/operations.md.

Two kinds, on purpose:
- *events* (messages received, cases opened, sends, reconnects, Slack errors, classification
  time) are counters/histograms kept in this process and bumped by small functions below,
  called by intake, the watcher, the outbox and the Slack adapter *after* their transaction
  committed, so a rolled-back decision is never counted;
- *state* (outbox backlog and the age of its oldest item, dead items, overdue cases) is read
  from the database when Prometheus scrapes (`http/metrics.DatabaseCollector`). It is then
  the same on every instance, survives restarts, and cannot drift from the truth.

Labels hold only closed vocabularies (dispositions, request types, ISO language codes,
outbox kinds): never an address, a subject or a case reference, which would be personal data
in the monitoring system and an unbounded number of time series.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

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
ACKNOWLEDGEMENTS_CAPPED = Counter(
    "dsr_bot_acknowledgements_capped",
    "Acknowledgements withheld because the global hourly cap was reached (a storm of "
    "requests or forged senders; the cases are opened all the same).",
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


def acknowledgement_capped() -> None:
    ACKNOWLEDGEMENTS_CAPPED.inc()


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


def observe_classification(seconds_each: float, count: int) -> None:
    """A batch classified in one call: each message counts with its share of the time."""
    for _ in range(count):
        CLASSIFICATION_SECONDS.observe(seconds_each)
