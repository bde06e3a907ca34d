"""The process's one HTTP server: probes, metrics, Slack events and the suppression list.

One listener on `DSR_BOT_HTTP_HOST:DSR_BOT_HTTP_PORT`, routing by path to WSGI apps:
`/healthz`, `/readyz`, `/metrics` (http/health.py, http/metrics.py), `/slack/events` (Bolt's
WSGI adapter, Slack HTTP mode) and `/suppression.csv` (fulfilment/suppression.py). One port
is one thing to firewall, proxy and probe; a reverse proxy in front exposes only
`/slack/events` to the internet (docs/operations.md).

Everything here faces unauthenticated clients, so every request is bounded before any
application code runs:
- a body over `max_body` bytes is refused with 413 *before it is read*, and a body without a
  length with 411 (Bolt would otherwise read any size before it checks the signature);
- each connection has a read timeout, so a client that never finishes its request
  (slowloris) holds a thread only that long;
- at most `max_connections` requests are served at once; the next gets 503 at once instead
  of a thread of its own.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from dsr_bot.config import ConfigError, env_name

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Response = tuple[int, str, bytes]
RouteHandler = Callable[[dict[str, str]], Response]

_REASONS = {
    200: "OK",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Limits:
    """Bounds on what one client can make the process do (see the module docstring)."""

    max_body: int = 1024 * 1024  # Slack's interaction payloads are a few KB
    read_timeout: float = 10.0
    max_connections: int = 32


def json_response(status: int, body: dict[str, Any]) -> Response:
    return status, "application/json", json.dumps(body).encode() + b"\n"


def route_app(handler: RouteHandler) -> WSGIApp:
    """A WSGI app from a small GET handler `handler(headers) -> (status, type, body)`."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            status, ctype, body = json_response(405, {"error": "method not allowed"})
        else:
            headers = {
                key[5:].replace("_", "-").title(): value
                for key, value in environ.items()
                if key.startswith("HTTP_")
            }
            status, ctype, body = handler(headers)
        return _reply(environ, start_response, status, ctype, body)

    return app


def _reply(
    environ: dict[str, Any],
    start_response: StartResponse,
    status: int,
    ctype: str,
    body: bytes,
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    start_response(
        f"{status} {_REASONS.get(status, '')}".rstrip(),
        [
            ("Content-Type", ctype),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            *(extra or []),
        ],
    )
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


class _Router:
    def __init__(self, limits: Limits) -> None:
        self.apps: dict[str, WSGIApp] = {}
        self.limits = limits

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        app = self.apps.get(path)
        if app is None:
            return _reply(environ, start_response, *json_response(404, {"error": "not found"}))
        refusal = self._refuse_body(environ)
        if refusal is not None:
            return _reply(
                environ, start_response, *json_response(refusal[0], {"error": refusal[1]})
            )
        try:
            return app(environ, start_response)
        except Exception:
            # The path only: a query string or body may carry personal data.
            log.exception("HTTP %s failed", path)
            return _reply(
                environ,
                start_response,
                *json_response(500, {"error": "internal error"}),
            )

    def _refuse_body(self, environ: dict[str, Any]) -> tuple[int, str] | None:
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return None
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return 411, "a request body needs a Content-Length"
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return 411, "a request body needs a valid Content-Length"
        if length > self.limits.max_body:
            return 413, f"request body over {self.limits.max_body} bytes"
        return None


class _Handler(WSGIRequestHandler):
    """wsgiref's handler with a read timeout and no request lines at INFO."""

    timeout: float | None = 10.0  # StreamRequestHandler applies it to the socket

    def log_message(self, format: str, *args: Any) -> None:
        # Probes every few seconds and Slack's retries are not news; the path is enough.
        log.debug("http %s", format % args)

    def handle(self) -> None:
        # A client that went away or never finished its request: nothing to answer.
        with contextlib.suppress(TimeoutError, ConnectionError):
            super().handle()


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    _slots: threading.BoundedSemaphore

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            _busy(request)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def _busy(request: socket.socket) -> None:
    with contextlib.suppress(OSError):
        request.sendall(
            b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 5\r\nRetry-After: 1\r\nConnection: close\r\n\r\nbusy\n"
        )


class HttpServer:
    """Serves mounted WSGI apps by exact path in daemon threads; `stop()` is quick."""

    def __init__(self, host: str, port: int, *, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._router = _Router(self.limits)
        handler = type("Handler", (_Handler,), {"timeout": self.limits.read_timeout})
        try:
            self._httpd = _Server((host, port), handler)
        except OSError as exc:
            raise ConfigError(
                f"{env_name('http_port')}: cannot listen on {host}:{port}: {exc.strerror}"
            ) from None
        self._httpd._slots = threading.BoundedSemaphore(self.limits.max_connections)
        self._httpd.set_app(self._router)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._httpd.server_address[0]}:{self.port}"

    @property
    def paths(self) -> list[str]:
        return sorted(self._router.apps)

    def mount(self, path: str, app: WSGIApp) -> None:
        self._router.apps[path] = app

    def route(self, path: str, handler: RouteHandler) -> None:
        """Serve GET `path` with `handler(headers) -> (status, content type, body)`."""
        self.mount(path, route_app(handler))

    def start(self) -> HttpServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="http",
            daemon=True,
        )
        self._thread.start()
        log.info("HTTP endpoint on %s (%s)", self.url, ", ".join(self.paths))
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=2)
            self._thread = None
        self._httpd.server_close()
