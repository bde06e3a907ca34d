"""Health, readiness and metrics over HTTP, for systemd/Docker/Kubernetes probes and Prometheus.

Off unless `DSR_BOT_HTTP_PORT` is set, and bound to `DSR_BOT_HTTP_HOST` (127.0.0.1 by
default): the endpoints reveal no personal data, but nothing outside the host needs them
unless the operator says so.

- `/healthz`: the process answers. A restart helps only if this fails.
- `/readyz`: every registered readiness check passes: database reachable, IMAP connected,
  outbox not stuck, plus what other parts register (Slack connected). 200 or 503 with a JSON
  body naming each check, so "not ready" always says why.
- `/metrics`: Prometheus text format (see `metrics.py`).

Other components add checks with `Readiness.register(name, callable)` and extra routes with
`HealthServer.route(path, handler)`; this module knows nothing about Slack or the scheduler.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from dsr_bot import metrics
from dsr_bot.config import ConfigError, env_name

if TYPE_CHECKING:
    from dsr_bot.app import App
    from dsr_bot.leader import LeaderState
    from dsr_bot.watch import MailboxWatcher

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

    def unregister(self, name: str) -> None:
        with self._lock:
            self._checks.pop(name, None)

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


def imap_check(watcher: MailboxWatcher) -> ReadinessCheck:
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


# -- the server -----------------------------------------------------------------------------
Response = tuple[int, str, bytes]
RouteHandler = Callable[[dict[str, str]], Response]


class HealthServer:
    """A small threaded HTTP server in daemon threads; `stop()` is quick and idempotent."""

    def __init__(
        self,
        host: str,
        port: int,
        readiness: Readiness,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.readiness = readiness
        self._registry = registry or scrape_registry([])
        self._routes: dict[str, RouteHandler] = {
            "/healthz": lambda _h: _json(200, {"status": "ok"}),
            "/readyz": self._readyz,
            "/metrics": self._metrics,
        }
        try:
            self._httpd = ThreadingHTTPServer((host, port), _handler_for(self._routes))
        except OSError as exc:
            raise ConfigError(
                f"{env_name('http_port')}: cannot listen on {host}:{port}: {exc.strerror}"
            ) from None
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = self._httpd.server_address[0]
        return f"http://{host}:{self.port}"

    def route(self, path: str, handler: RouteHandler) -> None:
        """Serve `path` with `handler(headers) -> (status, content type, body)`."""
        self._routes[path] = handler

    def start(self) -> HealthServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )
        self._thread.start()
        log.info("health endpoint on %s (/healthz, /readyz, /metrics)", self.url)
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=2)
            self._thread = None
        self._httpd.server_close()
        self.readiness.close()

    def _readyz(self, _headers: dict[str, str]) -> Response:
        ready, results = self.readiness.evaluate()
        body = {
            "status": "ready" if ready else "not ready",
            "checks": {n: {"ok": r.ok, "detail": r.detail} for n, r in results.items()},
        }
        return _json(200 if ready else 503, body)

    def _metrics(self, _headers: dict[str, str]) -> Response:
        return 200, CONTENT_TYPE_LATEST, generate_latest(self._registry)


def _json(status: int, body: dict[str, Any]) -> Response:
    return status, "application/json", json.dumps(body).encode() + b"\n"


def _handler_for(routes: dict[str, RouteHandler]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "dsr-bot"
        sys_version = ""

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def _answer(self, *, send_body: bool) -> None:
            handler = routes.get(self.path.split("?", 1)[0])
            if handler is None:
                status, ctype, body = _json(404, {"error": "not found"})
            else:
                try:
                    status, ctype, body = handler(dict(self.headers.items()))
                except Exception:
                    log.exception("health endpoint %s failed", self.path)
                    status, ctype, body = _json(500, {"error": "internal error"})
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http %s", format % args)  # probes every few seconds: not for INFO

    return Handler


def standby_check() -> CheckResult:
    """IMAP on an instance that is not the leader: the leader watches the mailbox. Whether
    one does is the `leader` check's business (`leadership_check`)."""
    return CheckResult(True, "standby: the leader instance watches the mailbox")


def leadership_check(state: LeaderState) -> ReadinessCheck:
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


def start_for(
    app: App, watcher: MailboxWatcher | None = None, readiness: Readiness | None = None
) -> HealthServer | None:
    """Start the endpoint for `dsr-bot run` if `DSR_BOT_HTTP_PORT` is set; else None.

    `readiness` may already hold checks registered by other components (Slack); database,
    IMAP and outbox checks are added here. Without a `watcher` (a standby instance) the IMAP
    check reports standby; the leader swaps in `imap_check(watcher)` when elected:
    `server.readiness.register("imap", health.imap_check(watcher))`.
    """
    settings = app.settings
    if settings.http_port is None:
        return None
    readiness = readiness or Readiness()
    readiness.register("database", database_check(app.engine))
    readiness.register("imap", imap_check(watcher) if watcher is not None else standby_check)
    readiness.register(
        "outbox",
        outbox_check(lambda: app.outbox().backlog(), app.clock, dead=lambda: app.outbox().dead()),
    )
    collector = metrics.DatabaseCollector(app.factory, timezone=settings.timezone, clock=app.clock)
    server = HealthServer(
        settings.http_host, settings.http_port, readiness, scrape_registry([collector])
    )
    return server.start()
