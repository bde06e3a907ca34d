"""Health and readiness probes for systemd, Docker and Kubernetes, and the server they live on.

The HTTP server is off unless `DSR_BOT_HTTP_PORT` is set, and bound to `DSR_BOT_HTTP_HOST`
(127.0.0.1 by default): the endpoints reveal no personal data, but nothing outside the host
needs them unless the operator says so.

- `/healthz`: the process answers. A restart helps only if this fails.
- `/readyz`: every registered readiness check passes: database reachable, IMAP connected,
  outbox not stuck, plus what other parts register (Slack connected). 200 or 503 with a JSON
  body naming each check, so "not ready" always says why.
- `/metrics`: Prometheus text format (see `http/metrics.py`).

Other components add checks with `Readiness.register(name, callable)` and their own paths with
`HealthServer.mount(path, wsgi_app)` (Slack events, the suppression list): one listener for
the process (`http/server.py`). This module knows nothing about Slack or the scheduler.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from dsr_bot.http.metrics import metrics_route, scrape_registry
from dsr_bot.http.server import HttpServer, Limits, Response, json_response

log = logging.getLogger(__name__)

# Retries back off 30 s, 1, 2, 4, 8 min…: an item still unsent after 15 min has failed about
# five times, which is a real outage (or a dead transport), not a blip.
OUTBOX_STUCK_AFTER = timedelta(minutes=15)
CHECK_TIMEOUT = 5.0


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str = ""


ReadinessCheck = Callable[[], "CheckResult | bool"]


class Readiness:
    """Named readiness checks, each run with a time limit so one hung check cannot hang
    the probe (a PostgreSQL host that drops packets would otherwise block for minutes)."""

    def __init__(self, timeout: float = CHECK_TIMEOUT) -> None:
        self._checks: dict[str, ReadinessCheck] = {}
        self._lock = threading.Lock()
        self._timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")

    def register(self, name: str, check: ReadinessCheck) -> None:
        with self._lock:
            self._checks[name] = check

    @property
    def names(self) -> list[str]:
        with self._lock:
            return list(self._checks)

    def evaluate(self) -> tuple[bool, dict[str, CheckResult]]:
        with self._lock:
            checks = dict(self._checks)
        futures = {name: self._pool.submit(check) for name, check in checks.items()}
        results: dict[str, CheckResult] = {}
        for name, future in futures.items():
            try:
                value = future.result(timeout=self._timeout)
                results[name] = value if isinstance(value, CheckResult) else CheckResult(value)
            except FutureTimeout:
                results[name] = CheckResult(False, f"no answer within {self._timeout:.0f} s")
            except Exception as exc:
                results[name] = CheckResult(False, f"check failed: {type(exc).__name__}")
        return all(r.ok for r in results.values()), results

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


# -- the standard checks ------------------------------------------------------------------
def database_check(engine: sa.Engine) -> ReadinessCheck:
    def check() -> CheckResult:
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except Exception as exc:
            # The driver's message may contain the URL; the exception type is enough here.
            return CheckResult(False, f"cannot query the database ({type(exc).__name__})")
        return CheckResult(True, engine.dialect.name)

    return check


class _Mailbox(Protocol):
    @property
    def connected(self) -> bool: ...


class Watcher(Protocol):
    """What the IMAP check reads of the mailbox watcher (intake/watcher.py)."""

    @property
    def mailbox(self) -> _Mailbox: ...

    @property
    def reconnects(self) -> int: ...


def imap_check(watcher: Watcher) -> ReadinessCheck:
    def check() -> CheckResult:
        if watcher.mailbox.connected:
            return CheckResult(True, "connected")
        return CheckResult(False, f"not connected (reconnects since start: {watcher.reconnects})")

    return check


def outbox_check(
    backlog: Callable[[], tuple[int, datetime | None]],
    clock: Callable[[], datetime],
    stuck_after: timedelta = OUTBOX_STUCK_AFTER,
    dead: Callable[[], int] = lambda: 0,
) -> ReadinessCheck:
    def check() -> CheckResult:
        given_up = dead()
        if given_up:
            # A requester or staff member did not get something: a person must act
            # (`dsr-bot outbox list`, then `dsr-bot outbox retry`).
            return CheckResult(False, f"{given_up} item(s) given up on: see `dsr-bot outbox list`")
        count, oldest = backlog()
        if oldest is None:
            return CheckResult(True, "empty")
        age = clock() - oldest
        detail = f"{count} waiting, oldest {int(age.total_seconds())} s"
        if age > stuck_after:
            return CheckResult(
                False, f"{detail}: stuck (limit {int(stuck_after.total_seconds())} s)"
            )
        return CheckResult(True, detail)

    return check


class HealthServer(HttpServer):
    """The process's HTTP server with `/healthz`, `/readyz` and `/metrics` mounted."""

    def __init__(
        self,
        host: str,
        port: int,
        readiness: Readiness,
        registry: CollectorRegistry | None = None,
        *,
        limits: Limits | None = None,
    ) -> None:
        super().__init__(host, port, limits=limits)
        self.readiness = readiness
        self.route("/healthz", lambda _h: json_response(200, {"status": "ok"}))
        self.route("/readyz", self._readyz)
        self.route("/metrics", metrics_route(registry or scrape_registry([])))

    def stop(self) -> None:
        super().stop()
        self.readiness.close()

    def _readyz(self, _headers: dict[str, str]) -> Response:
        ready, results = self.readiness.evaluate()
        body = {
            "status": "ready" if ready else "not ready",
            "checks": {n: {"ok": r.ok, "detail": r.detail} for n, r in results.items()},
        }
        return json_response(200 if ready else 503, body)


def standby_check() -> CheckResult:
    """IMAP on an instance that is not the leader: another instance watches the mailbox."""
    return CheckResult(True, "standby: the leader instance watches the mailbox")


class _Lease(Protocol):
    epoch: int | None
    instance: str
    ttl: float

    def view(self) -> Any: ...


class _LeaderState(Protocol):
    """What the leader check reads of jobs/leader.LeaderState."""

    leading: bool
    lease: _Lease | None


def leadership_check(state: _LeaderState) -> ReadinessCheck:
    """Ready while this instance leads, or while another one does (its heartbeat in the lease
    row is fresh). Nobody leading means nobody reads the mailbox: every instance says so."""

    def check() -> CheckResult:
        lease = state.lease
        if lease is None:
            return CheckResult(state.leading, "leads" if state.leading else "not leading")
        if state.leading and lease.epoch is not None:
            return CheckResult(True, f"this instance leads (epoch {lease.epoch})")
        try:
            view = lease.view()
        except Exception as exc:
            return CheckResult(
                False, f"cannot tell who leads: database unavailable ({type(exc).__name__})"
            )
        if view.leads(lease.ttl) and view.holder != lease.instance:
            return CheckResult(
                True,
                f"standby: instance {view.holder} leads (epoch {view.epoch}, "
                f"heartbeat {view.age or 0:.1f} s ago)",
            )
        if view.age is None:
            return CheckResult(False, "no instance leads: none has been elected yet")
        return CheckResult(False, f"no instance leads: last leader heartbeat {view.age:.0f} s ago")

    return check
