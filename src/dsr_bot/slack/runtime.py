"""Wiring Slack into a running `App`: client, Bolt app, listeners, transport, outbox pump.

`attach_slack(app)` returns None when Slack is not configured. Socket Mode (default) needs no
public URL: the bot dials out to Slack. HTTP mode serves `/slack/events` and verifies each
request's signature (X-Slack-Signature, HMAC-SHA256 with the signing secret; requests older
than five minutes are refused as replays — bolt's RequestVerification answers 401).
"""

from __future__ import annotations

import logging
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

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

from dsr_bot import logs, outbox
from dsr_bot.app import App
from dsr_bot.cases.actions import StaffDesk
from dsr_bot.cases.letters import Letters
from dsr_bot.cases.service import CasePolicy
from dsr_bot.config import ConfigError, Settings, env_name
from dsr_bot.fulfilment.approval import CaseFulfiller
from dsr_bot.fulfilment.sources import DataSourceError, DataSources, load_data_sources
from dsr_bot.replies import ReplyRenderer
from dsr_bot.slack.app import SlackHandlers, register
from dsr_bot.slack.approvers import Approvers
from dsr_bot.slack.listener import SlackNotifier
from dsr_bot.slack.transport import SlackTransport

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


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        log.debug("http: " + format, *args)


class SlackRuntime:
    def __init__(self, app: App, bolt: BoltApp, client: WebClient, handlers: SlackHandlers) -> None:
        self.app = app
        self.bolt = bolt
        self.client = client
        self.handlers = handlers
        self.settings = app.settings
        self._stop = threading.Event()
        self._poke = threading.Event()
        self._threads: list[threading.Thread] = []
        self._socket: SocketModeHandler | None = None
        self._http: WSGIServer | None = None
        self.http_port: int | None = None

    # -- outbox pump: sends what clicks caused without waiting for the mailbox loop ----------
    def poke(self) -> None:
        self._poke.set()

    def pump_once(self) -> outbox.DrainResult:
        return self.app.outbox(PUMP_KINDS).drain(stop=self._stop)

    def _pump(self, interval: float) -> None:
        while not self._stop.is_set():
            self._poke.wait(interval)
            self._poke.clear()
            if self._stop.is_set():
                break
            try:
                self.pump_once()
            except Exception:
                log.exception("outbox pump failed; retrying")

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, pump_interval: float = 5.0) -> None:
        self._spawn("slack-outbox", self._pump, pump_interval)
        if self.settings.slack_mode == "http":
            handler = SlackRequestHandler(self.bolt, path="/slack/events")
            self._http = make_server(
                "0.0.0.0",
                self.settings.slack_http_port,
                handler,
                server_class=_ThreadingWSGIServer,
                handler_class=_QuietHandler,
            )
            self.http_port = self._http.server_port
            self._spawn("slack-http", self._http.serve_forever)
            log.info("Slack HTTP mode: listening on port %s at /slack/events", self.http_port)
        else:
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
                log.warning("Slack Socket Mode connect failed (%s); retrying in %.0f s", exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 60.0)

    def _spawn(self, name: str, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def connected(self) -> bool:
        """For /readyz: Socket Mode's WebSocket is up, or the HTTP endpoint is listening."""
        if self._http is not None:
            return True
        if self._socket is None:
            return False
        try:
            return bool(self._socket.client.is_connected())
        except Exception:
            return False

    def stop(self) -> None:
        self._stop.set()
        self._poke.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
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


def data_sources(settings: Settings) -> DataSources:
    """The data-source file, read once at start; none configured means no SQL systems
    (approval still puts opt-outs on the suppression list)."""
    if settings.data_sources is None:
        return DataSources()
    try:
        return load_data_sources(settings.data_sources)
    except DataSourceError as exc:
        raise ConfigError(f"{env_name('data_sources')}: {exc}") from None


def attach_slack(app: App, *, retry_backoff: float = 0.5) -> SlackRuntime | None:
    """Register the Slack listener and transport on `app`; None if Slack is not configured."""
    settings = app.settings
    if not settings.slack_enabled:
        return None
    check_settings(settings)
    client = web_client(settings, retry_backoff=retry_backoff)
    controller = settings.resolved_controller()
    policy = CasePolicy.from_settings(settings)
    letters = Letters(
        ReplyRenderer(controller), settings.mail_from or "", controller.name, settings.timezone
    )
    notifier = SlackNotifier(settings.slack_channel or "")
    fulfiller = CaseFulfiller(data_sources(settings))
    desk = StaffDesk(app.factory, policy, app.clock, letters, [notifier], fulfiller)
    app.intake.listeners.append(notifier)
    app.transports["slack"] = SlackTransport(
        client,
        app.factory,
        clock=app.clock,
        tz=settings.tz,
        excerpt_mode=settings.slack_excerpt,
        checklist=fulfiller.checklist,
    )
    bolt = BoltApp(
        token=settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None,
        signing_secret=(
            settings.slack_signing_secret.get_secret_value()
            if settings.slack_signing_secret
            else ""
        ),
        client=client,
        # Socket Mode envelopes come over our own authenticated connection, unsigned.
        request_verification_enabled=settings.slack_mode == "http",
        # No auth.test at start-up: if Slack is down, `run` must start anyway.
        token_verification_enabled=False,
        process_before_response=False,
        # Bolt copies its base logger's level onto every `slack_bolt.<Class>` logger; without
        # one it copies the root level (INFO), and logs a bad-signature request with its
        # whole body (issue 13). The base logger is held at WARNING by logs.configure.
        logger=logging.getLogger("slack_bolt"),
    )
    logs.pin_library_levels(logging.getLogger("slack_bolt").getEffectiveLevel())
    runtime_ref: list[SlackRuntime] = []
    handlers = SlackHandlers(
        desk=desk,
        approvers=Approvers(client, settings.slack_approvers),
        factory=app.factory,
        clock=app.clock,
        tz=settings.tz,
        excerpt_mode=settings.slack_excerpt,
        on_change=lambda: runtime_ref[0].poke(),
    )
    register(bolt, handlers)
    runtime = SlackRuntime(app, bolt, client, handlers)
    runtime_ref.append(runtime)
    return runtime
