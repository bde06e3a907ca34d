"""`dsr-bot run`: the long-running service.

Several instances may run against one PostgreSQL for availability. Only the elected leader
(advisory lock; a file lock on SQLite) watches the mailbox and runs the scheduler, so IDLE
and reminders happen once; a standby takes over within the lock's poll interval when the
leader dies. Intake would be safe to run twice anyway (unique keys), the lock just avoids
the wasted work and duplicate Slack chatter.
"""

from __future__ import annotations

import logging
import threading

from dsr_bot import health
from dsr_bot.app import App
from dsr_bot.fulfilment.suppression_http import mount_suppression
from dsr_bot.intake.watcher import MailboxWatcher
from dsr_bot.jobs.leader import leader_lock_for, run_while_leader
from dsr_bot.jobs.scheduler import scheduler_for_app
from dsr_bot.slack.runtime import SlackRuntime

log = logging.getLogger(__name__)


def run_service(app: App, stop: threading.Event, slack: SlackRuntime | None = None) -> None:
    """Slack runs on every instance (clicks are idempotent, the outbox leases rows); the
    mailbox watcher and scheduler only on the leader."""

    server = health.start_for(app)
    if server is not None:
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
        scheduler = scheduler_for_app(app, stepping_down)
        scheduler.start()
        watcher = MailboxWatcher(app, stepping_down)
        if server is not None:
            server.readiness.register("imap", health.imap_check(watcher))
        try:
            watcher.run_forever()
        finally:
            scheduler.shutdown()
            if server is not None:
                server.readiness.register("imap", health.standby_check)

    if slack is not None:
        slack.start()
    try:
        log.info("dsr-bot running; standing by until elected leader")
        run_while_leader(leader_lock_for(app.settings.database_url), stop, lead)
    finally:
        if slack is not None:
            slack.stop()
        if server is not None:
            server.stop()
    log.info("dsr-bot stopped")
