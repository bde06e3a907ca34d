"""`dsr-bot run`: the long-running service.

Several instances may run against one PostgreSQL for availability. Only the elected leader
(advisory lock; a file lock on SQLite) watches the mailbox and runs the scheduler, so IDLE
and reminders happen once; a standby takes over within a second of the lock coming free.
The leader's work runs on a fenced session factory (leader.py): every transaction proves
that this instance still leads, so a replaced leader cannot write next to its successor.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading

from dsr_bot import health
from dsr_bot.app import App
from dsr_bot.fulfilment.suppression_http import mount_suppression
from dsr_bot.leader import (
    LeaderState,
    Lease,
    fenced_factory,
    leader_lock_for,
    run_while_leader,
)
from dsr_bot.scheduler import scheduler_for_app
from dsr_bot.slack.runtime import SlackRuntime
from dsr_bot.watch import MailboxWatcher

log = logging.getLogger(__name__)


def run_service(app: App, stop: threading.Event, slack: SlackRuntime | None = None) -> None:
    """Slack runs on every instance (clicks are idempotent, the outbox leases rows); the
    mailbox watcher and scheduler only on the leader."""

    lock = leader_lock_for(app.settings.database_url)
    lease = Lease(app.engine, lock)
    state = LeaderState(lease)
    server = health.start_for(app)
    if server is not None:
        server.readiness.register("leader", health.leadership_check(state))
        token = app.settings.suppression_token
        mount_suppression(server, app.factory, token.get_secret_value() if token else None)
        if slack is not None:
            server.readiness.register(
                "slack",
                lambda: health.CheckResult(
                    slack.connected(),
                    "connected to Slack" if slack.connected() else "not connected to Slack",
                ),
            )

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


def fenced_app(app: App, lease: Lease) -> App:
    """The same app, but its intake, outbox and jobs write only while `lease` is ours."""
    factory = fenced_factory(app.engine, lease)
    intake = copy.copy(app.intake)
    intake._factory = factory  # the one place that rewires a built Intake
    return dataclasses.replace(app, factory=factory, intake=intake)
