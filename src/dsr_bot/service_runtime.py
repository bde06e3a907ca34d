"""`dsr-bot run`: the long-running service. The mailbox watcher runs in the main thread."""

from __future__ import annotations

import logging
import threading

from dsr_bot.app import App
from dsr_bot.watch import MailboxWatcher

log = logging.getLogger(__name__)


def run_service(app: App, stop: threading.Event) -> None:
    watcher = MailboxWatcher(app, stop)
    log.info("dsr-bot running; watching %s", app.settings.imap_folder)
    watcher.run_forever()
    log.info("dsr-bot stopped")
