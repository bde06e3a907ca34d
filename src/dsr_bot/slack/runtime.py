"""Slack at run time: the Web API client, the Bolt app's transport, and the outbox pump.

Socket Mode (default) needs no public URL: the bot dials out to Slack. HTTP mode mounts
`/slack/events` on the process's one HTTP server (http/server.py), which refuses oversized
bodies before Bolt reads them; Bolt verifies each request's signature (X-Slack-Signature,
HMAC-SHA256 with the signing secret; requests older than five minutes are refused as replays
— bolt's RequestVerification answers 401). The wiring that builds all this from the settings
is in bootstrap.py.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from slack_bolt import App as BoltApp
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator

from dsr_bot import metrics, outbox
from dsr_bot.config import ConfigError, Settings, env_name
from dsr_bot.slack.app import SlackHandlers

log = logging.getLogger(__name__)

# Kinds the pump may send from its own thread; IMAP copies stay with the mailbox watcher,
# whose connection is not shared between threads.
PUMP_KINDS = ("slack", "mail")


def web_client(settings: Settings, *, retry_backoff: float = 0.5) -> WebClient:
    assert settings.slack_bot_token is not None
    base_url = settings.slack_api_url or "https://slack.com/api/"
    interval = BackoffRetryIntervalCalculator(backoff_factor=retry_backoff)
    return WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        timeout=15,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=interval),
            # Honours Retry-After (https://api.slack.com/apis/rate-limits).
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2, interval_calculator=interval),
        ],
    )


EVENTS_PATH = "/slack/events"
# How long a /readyz answer about Slack's Web API may be reused: probes come every few
# seconds, and auth.test is rate-limited (Tier 4, 100+ a minute, but there is no need).
WEB_API_CHECK_TTL = 30.0


class _Mount(Protocol):
    def mount(self, path: str, app: Callable[..., Iterable[bytes]]) -> None: ...


class OutboxPump:
    """Sends what staff clicks caused without waiting for the mailbox loop.

    Its own thread drains the outbox when poked (after every click) or every `interval`
    seconds; IMAP copies stay with the mailbox watcher, whose connection is not shared
    between threads.
    """

    def __init__(self, outbox_for: Callable[[tuple[str, ...]], outbox.Outbox]) -> None:
        self._outbox_for = outbox_for
        self._stop = threading.Event()
        self._poke = threading.Event()
        self._thread: threading.Thread | None = None

    def poke(self) -> None:
        self._poke.set()

    def pump_once(self) -> outbox.DrainResult:
        return self._outbox_for(PUMP_KINDS).drain(stop=self._stop)

    def start(self, interval: float) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(interval,), name="slack-outbox", daemon=True
        )
        self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            self._poke.wait(interval)
            self._poke.clear()
            if self._stop.is_set():
                break
            try:
                self.pump_once()
            except Exception:
                log.exception("outbox pump failed; retrying")

    def stop(self) -> None:
        self._stop.set()
        self._poke.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


class SlackRuntime:
    """Connects the Bolt app to Slack (Socket Mode) or to the HTTP server (HTTP mode)."""

    def __init__(
        self,
        settings: Settings,
        bolt: BoltApp,
        client: WebClient,
        handlers: SlackHandlers,
        pump: OutboxPump,
    ) -> None:
        self.settings = settings
        self.bolt = bolt
        self.client = client
        self.handlers = handlers
        self.pump = pump
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._socket: SocketModeHandler | None = None
        self._mounted = False
        self._web_api: tuple[float, bool] = (0.0, False)
        self._web_api_lock = threading.Lock()

    def poke(self) -> None:
        self.pump.poke()

    def pump_once(self) -> outbox.DrainResult:
        return self.pump.pump_once()

    # -- lifecycle ---------------------------------------------------------------------
    def serve_on(self, server: _Mount) -> None:
        """HTTP mode: answer Slack's requests at `/slack/events` on `server`."""
        server.mount(EVENTS_PATH, SlackRequestHandler(self.bolt, path=EVENTS_PATH))
        self._mounted = True

    def start(self, pump_interval: float = 5.0) -> None:
        self.pump.start(pump_interval)
        if self.settings.slack_mode == "http":
            log.info("Slack HTTP mode: events at %s on the HTTP server", EVENTS_PATH)
            return
        assert self.settings.slack_app_token is not None
        self._socket = SocketModeHandler(
            self.bolt,
            app_token=self.settings.slack_app_token.get_secret_value(),
            web_client=self.client,
        )
        self._spawn("slack-socket", self._connect)

    def _connect(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            try:
                assert self._socket is not None
                self._socket.connect()
                log.info("Slack Socket Mode connected")
                return
            except Exception as exc:
                # Slack down at start-up: intake goes on; cards wait in the outbox.
                metrics.slack_error("socket_connect")
                log.warning(
                    "Slack Socket Mode connect failed (%s); retrying in %.0f s",
                    type(exc).__name__,
                    delay,
                )
                self._stop.wait(delay)
                delay = min(delay * 2, 60.0)

    def _spawn(self, name: str, target: Callable[..., Any], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def connected(self) -> bool:
        """For /readyz: Slack's Web API answers, and in Socket Mode the WebSocket is up.

        In HTTP mode a listening endpoint says nothing about whether cards and letters
        reach Slack: only the Web API can tell (auth.test, its answer reused for a while).
        """
        if self._socket is None and not self._mounted:
            return False
        if self._socket is not None:
            try:
                if not self._socket.client.is_connected():
                    return False
            except Exception:
                return False
        return self.web_api_answers()

    def web_api_answers(self) -> bool:
        with self._web_api_lock:
            checked_at, ok = self._web_api
            if time.monotonic() - checked_at < WEB_API_CHECK_TTL:
                return ok
            try:
                ok = bool(self.client.auth_test().get("ok"))
            except Exception as exc:
                metrics.slack_error(type(exc).__name__)
                ok = False
            self._web_api = (time.monotonic(), ok)
            return ok

    def stop(self) -> None:
        self._stop.set()
        self.pump.stop()
        if self._socket is not None:
            self._socket.close()
        for thread in self._threads:
            thread.join(timeout=10)


def check_settings(settings: Settings) -> None:
    settings.require("slack_channel")
    if settings.slack_mode == "socket":
        settings.require("slack_app_token")
    else:
        settings.require("slack_signing_secret")
    if not settings.slack_approvers:
        raise ConfigError(
            f"{env_name('slack_approvers')} is empty: nobody could approve a reply "
            "(expected Slack user IDs U… and/or a user-group ID S…)"
        )
