"""The composition root: settings in, a running service out. The one place that knows every
adapter and wires them together; nothing imports this module but the CLI (and tests).

- `build_app`: database, classifier, intake and mail transport from the settings;
- `attach_slack`: the Slack client, Bolt app, staff desk and outbox pump, when configured;
- `start_http`: the one HTTP server with probes, metrics, Slack events and the suppression
  list mounted;
- `work_for_app` / `scheduler_for_app`: the scheduled jobs bound to the app;
- `run_service`: `dsr-bot run` — Slack on every instance, the mailbox and the scheduler on
  the elected leader.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from slack_bolt import App as BoltApp
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dsr_bot import logs, outbox
from dsr_bot.cases.actions import StaffDesk
from dsr_bot.cases.model import Classification
from dsr_bot.cases.service import CasePolicy, utcnow
from dsr_bot.classify import load_classifier
from dsr_bot.classify.base import Classifier, classify_batch
from dsr_bot.classify.worker import ProcessClassifier
from dsr_bot.config import ConfigError, Settings, env_name
from dsr_bot.fulfilment.approval import CaseFulfiller
from dsr_bot.fulfilment.sources import DataSourceError, DataSources, load_data_sources
from dsr_bot.fulfilment.suppression import mount_suppression
from dsr_bot.http import health
from dsr_bot.http.metrics import DatabaseCollector, scrape_registry
from dsr_bot.intake.pipeline import Intake, IntakePolicy
from dsr_bot.intake.watcher import MailboxWatcher
from dsr_bot.jobs import digest, reminders, retention
from dsr_bot.jobs.leader import (
    LeaderState,
    Lease,
    fenced_factory,
    leader_lock_for,
    run_while_leader,
)
from dsr_bot.jobs.scheduler import (
    DAILY_DIGEST,
    DEADLINE_SWEEP,
    OUTBOX_RETRY,
    RETENTION_PURGE,
    SCHEDULER_OUTBOX_KINDS,
    DsrScheduler,
    job_specs,
    slack_off,
)
from dsr_bot.mail.smtp import EmlDirectoryTransport, SmtpTransport
from dsr_bot.mail.strip import without_attachments
from dsr_bot.replies import ReplyRenderer
from dsr_bot.replies.letters import Letters
from dsr_bot.slack.app import SlackHandlers, register
from dsr_bot.slack.approvers import Approvers
from dsr_bot.slack.listener import SlackNotifier
from dsr_bot.slack.runtime import OutboxPump, SlackRuntime, check_settings, web_client
from dsr_bot.slack.transport import SlackTransport
from dsr_bot.store import db
from dsr_bot.store.tables import Outbound

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    intake: Intake
    clock: Callable[[], datetime]
    transports: dict[str, outbox.Transport] = field(default_factory=dict)
    sent_copy_folder: str | None = None
    # One circuit breaker per transport kind, shared by every drain in this process.
    breakers: dict[str, outbox.Breaker] = field(default_factory=dict)

    def outbox(
        self,
        kinds: Iterable[str] | None = None,
        extra: dict[str, outbox.Transport] | None = None,
    ) -> outbox.Outbox:
        """The outbox over this process's transports, or only `kinds` of them, plus `extra`
        transports that belong to the caller's thread (the mailbox watcher's IMAP copy)."""
        transports = {**self.transports, **(extra or {})}
        if kinds is not None:
            transports = {k: v for k, v in transports.items() if k in set(kinds)}
        return outbox.Outbox(
            self.factory,
            transports,
            clock=self.clock,
            give_up_after=timedelta(hours=self.settings.outbox_give_up_hours),
            retry_initial=self.settings.outbox_retry_initial,
            on_sent=self.after_send,
            breakers=self.breakers,
        )

    def after_send(self, session: Session, item: Outbound, now: datetime) -> None:
        # RFC 3834 does not require it, but staff expect replies in the mailbox's Sent folder.
        if item.kind == "mail" and self.sent_copy_folder:
            outbox.enqueue(
                session,
                key=f"sentcopy:{item.id}",
                kind="imap_copy",
                purpose="sent_copy",
                now=now,
                body=item.body,
                case_id=item.case_id,
                payload={"folder": self.sent_copy_folder},
            )


class LoadingClassifier:
    """The shipped classifier, loaded in a thread of its own from the moment the app is
    built: the HTTP server, the leader election and the IMAP login (all waiting on the
    network) go on meanwhile, and only the first message to classify waits for the model
    (issue 15: from `dsr-bot run` to /readyz in under 1.5 s). A model that fails to load
    is logged, fails /readyz with the reason, and stops intake before it counts an attempt
    on any message (`Intake.process_batch` waits for `ready`): the mail waits in the
    mailbox, undecided, until the installation is fixed and the bot restarted."""

    def __init__(self, load: Callable[[], Classifier]) -> None:
        self._done = threading.Event()
        self._loaded: Classifier | None = None
        self._error: Exception | None = None
        threading.Thread(target=self._load, args=(load,), name="model-load", daemon=True).start()

    def _load(self, load: Callable[[], Classifier]) -> None:
        try:
            self._loaded = load()
        except Exception as exc:
            log.error("the classifier could not be loaded (%s: %s)", type(exc).__name__, exc)
            self._error = exc
        finally:
            self._done.set()

    def ready(self) -> Classifier:
        self._done.wait()
        if self._loaded is None:
            raise RuntimeError("the classifier could not be loaded") from self._error
        return self._loaded

    def check(self) -> tuple[bool, str]:
        """(ok, detail) for /readyz, as ProcessClassifier.check."""
        if not self._done.is_set():
            return True, "loading"
        if self._error is not None:
            return False, f"not loaded ({type(self._error).__name__})"
        return True, "loaded"

    def classify(self, subject: str, text: str) -> Classification:
        return self.ready().classify(subject, text)

    def classify_batch(self, items: Sequence[tuple[str, str]]) -> list[Classification]:
        return classify_batch(self.ready(), items)


def default_classifier(settings: Settings) -> Classifier:
    """The shipped classifier, loading in a thread of this process or, with
    `classifier_process`, in a worker process of its own (classify/worker.py)."""
    if settings.classifier_process:
        return ProcessClassifier(settings.classifier_threshold, settings.classifier_review_low)
    return LoadingClassifier(
        lambda: load_classifier(settings.classifier_threshold, settings.classifier_review_low)
    )


def open_database(settings: Settings) -> tuple[Engine, sessionmaker[Session]]:
    return db.open_database(settings.database_url, auto_upgrade=settings.is_sqlite)


def build_app(
    settings: Settings,
    *,
    classifier: Classifier | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> App:
    settings.require("mail_from")
    engine, factory = open_database(settings)
    controller = settings.resolved_controller()
    policy = IntakePolicy(
        case_policy=CasePolicy.from_settings(settings),
        mail_from=settings.mail_from or "",
        from_name=controller.name,
        own_addresses=settings.own_address_set(),
        ack_limit_per_sender_per_day=settings.ack_limit_per_sender_per_day,
        ack_limit_per_hour=settings.ack_limit_per_hour,
    )
    intake = Intake(
        factory,
        classifier or default_classifier(settings),
        ReplyRenderer(controller),
        policy,
        clock,
    )
    app = App(settings, engine, factory, intake, clock)
    # Every instance's sends get a Sent copy; only the leader's watcher (which owns the IMAP
    # connection) delivers those rows.
    if settings.imap_host and settings.imap_sent_folder:
        app.sent_copy_folder = settings.imap_sent_folder
    if settings.mail_outbox_dir is not None:
        app.transports["mail"] = EmlDirectoryTransport(Path(settings.mail_outbox_dir))
    elif settings.smtp_host:
        app.transports["mail"] = SmtpTransport(settings)
    return app


# -- Slack ------------------------------------------------------------------------------
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
    letters = Letters(
        ReplyRenderer(controller), settings.mail_from or "", controller.name, settings.timezone
    )
    notifier = SlackNotifier(settings.slack_channel or "")
    fulfiller = CaseFulfiller(data_sources(settings))
    desk = StaffDesk(
        app.factory,
        CasePolicy.from_settings(settings),
        app.clock,
        letters,
        [notifier],
        fulfiller,
        shred=without_attachments,
    )
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
        # whole body. The base logger is held at WARNING by logs.configure.
        logger=logging.getLogger("slack_bolt"),
    )
    logs.pin_library_levels(logging.getLogger("slack_bolt").getEffectiveLevel())
    pump = OutboxPump(lambda kinds: app.outbox(kinds))
    handlers = SlackHandlers(
        desk=desk,
        approvers=Approvers(client, settings.slack_approvers),
        factory=app.factory,
        clock=app.clock,
        tz=settings.tz,
        excerpt_mode=settings.slack_excerpt,
        on_change=pump.poke,
    )
    register(bolt, handlers)
    return SlackRuntime(settings, bolt, client, handlers, pump)


# -- HTTP ---------------------------------------------------------------------------------
def start_http(
    app: App,
    watcher: MailboxWatcher | None = None,
    readiness: health.Readiness | None = None,
    slack: SlackRuntime | None = None,
) -> health.HealthServer | None:
    """Start the one HTTP server if a port is configured (`DSR_BOT_HTTP_PORT`, or in Slack
    HTTP mode `DSR_BOT_SLACK_HTTP_PORT`); else None.

    Database, IMAP and outbox checks are registered here, plus Slack's when attached. Without
    a `watcher` (a standby instance) the IMAP check reports standby; the leader swaps in
    `health.imap_check(watcher)` when elected.
    """
    settings = app.settings
    port = settings.http_listen_port()
    if port is None:
        return None
    readiness = readiness or health.Readiness()
    readiness.register("database", health.database_check(app.engine))
    model = app.intake.classifier.inner
    if isinstance(model, LoadingClassifier | ProcessClassifier):
        loading = model
        readiness.register("classifier", lambda: health.CheckResult(*loading.check()))
    readiness.register(
        "imap", health.imap_check(watcher) if watcher is not None else health.standby_check
    )
    readiness.register(
        "outbox",
        health.outbox_check(
            lambda: app.outbox().backlog(), app.clock, dead=lambda: app.outbox().dead()
        ),
    )
    collector = DatabaseCollector(app.factory, timezone=settings.timezone, clock=app.clock)
    server = health.HealthServer(settings.http_host, port, readiness, scrape_registry([collector]))
    token = settings.suppression_token
    mount_suppression(server, app.factory, token.get_secret_value() if token else None)
    if slack is not None:
        if settings.slack_mode == "http":
            slack.serve_on(server)
        readiness.register(
            "slack",
            lambda: health.CheckResult(
                slack.connected(),
                "Slack answers" if slack.connected() else "Slack does not answer",
            ),
        )
    return server.start()


# -- scheduled jobs -----------------------------------------------------------------------
def work_for_app(app: App, stop: threading.Event | None = None) -> dict[str, Callable[[], Any]]:
    """The four jobs bound to a built `App` (settings, session factory, clock, outbox).

    The retry job runs in the scheduler's thread, so it leaves `imap_copy` rows to the
    watcher that owns the IMAP connection, and stops between items on shutdown. Reminders
    and digests only go to Slack: without Slack they would pile up unsendable in the outbox.
    """
    settings = app.settings
    policy = reminders.ReminderPolicy.from_settings(settings)
    slack = bool(getattr(settings, "slack_enabled", True))
    return {
        DEADLINE_SWEEP: (
            (lambda: reminders.sweep(app.factory, now=app.clock(), policy=policy))
            if slack
            else slack_off
        ),
        OUTBOX_RETRY: lambda: app.outbox(SCHEDULER_OUTBOX_KINDS).drain(stop=stop),
        DAILY_DIGEST: (
            lambda: digest.post_digest(
                app.factory,
                now=app.clock(),
                timezone=settings.timezone,
                channel=settings.slack_channel,
            )
        )
        if slack
        else slack_off,
        RETENTION_PURGE: lambda: retention.purge(
            app.factory, now=app.clock(), policy=retention.RetentionPolicy.from_settings(settings)
        ),
    }


def scheduler_for_app(
    app: App, stop: threading.Event | None = None, *, lease: Lease | None = None
) -> DsrScheduler:
    """The scheduler with its jobs; each run is claimed once per due time in `app.factory`
    (fenced on the leader), so no job runs twice across instances and restarts."""
    settings = app.settings
    specs = job_specs(
        timezone=settings.timezone,
        sweep_minutes=settings.deadline_sweep_minutes,
        digest_time=settings.digest_time,
    )
    return DsrScheduler(
        app.engine,
        work_for_app(app, stop),
        specs,
        timezone=settings.timezone,
        claims=app.factory,
        lease=lease,
    )


def fenced_app(app: App, lease: Lease) -> App:
    """The same app, but its intake, outbox and jobs write only while `lease` is ours: every
    transaction first proves that this instance still leads (jobs/leader.fenced_factory)."""
    factory = fenced_factory(app.engine, lease)
    intake = copy.copy(app.intake)
    intake._factory = factory  # the one place that rewires a built Intake
    return dataclasses.replace(app, factory=factory, intake=intake)


# -- the service ------------------------------------------------------------------------
def run_service(app: App, stop: threading.Event, slack: SlackRuntime | None = None) -> None:
    """`dsr-bot run`. Several instances may run against one PostgreSQL for availability.

    Slack runs on every instance (clicks are idempotent, the outbox leases rows); the
    mailbox watcher and the scheduler only on the elected leader (advisory lock; a file lock
    on SQLite), so IDLE and reminders happen once; a standby takes over within a second of
    the lock coming free. The leader's work runs on a fenced session factory, so a replaced
    leader cannot write next to its successor (jobs/leader.py).
    """
    lock = leader_lock_for(app.settings.database_url)
    lease = Lease(app.engine, lock)
    state = LeaderState(lease)
    server = start_http(app, slack=slack)
    if server is not None:
        server.readiness.register("leader", health.leadership_check(state))

    def lead(stepping_down: threading.Event) -> None:
        leader_app = fenced_app(app, lease)
        scheduler = scheduler_for_app(leader_app, stepping_down, lease=lease)
        watcher = MailboxWatcher(leader_app, stepping_down)
        if server is not None:
            server.readiness.register("imap", health.imap_check(watcher))
        try:
            scheduler.start_when_possible(stepping_down)
            watcher.run_forever()
        finally:
            scheduler.shutdown()
            if server is not None:
                server.readiness.register("imap", health.standby_check)

    if slack is not None:
        slack.start()
    try:
        log.info("dsr-bot running; standing by until elected leader")
        run_while_leader(lock, stop, lead, lease=lease, state=state)
    finally:
        if slack is not None:
            slack.stop()
        if server is not None:
            server.stop()
    log.info("dsr-bot stopped")
