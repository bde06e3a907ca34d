"""Wiring: settings in, ready components out. The only place that knows every adapter."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dsr_bot import outbox
from dsr_bot.cases.service import CasePolicy, utcnow
from dsr_bot.classify import load_classifier
from dsr_bot.classify.base import Classifier
from dsr_bot.config import Settings
from dsr_bot.intake import Intake, IntakePolicy
from dsr_bot.replies import ReplyRenderer
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

    def outbox(self, kinds: Iterable[str] | None = None) -> outbox.Outbox:
        """The outbox over this process's transports, or only `kinds` of them (the IMAP
        connection belongs to the watcher's thread, so other threads leave `imap_copy` out)."""
        transports = self.transports
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


def open_database(settings: Settings) -> tuple[Engine, sessionmaker[Session]]:
    engine = db.make_engine(settings.database_url)
    db.ensure_schema(engine, auto_upgrade=settings.is_sqlite)
    return engine, db.session_factory(engine)


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
    )
    intake = Intake(
        factory,
        classifier
        or load_classifier(settings.classifier_threshold, settings.classifier_review_low),
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
        from dsr_bot.mail.smtp import EmlDirectoryTransport

        app.transports["mail"] = EmlDirectoryTransport(Path(settings.mail_outbox_dir))
    elif settings.smtp_host:
        from dsr_bot.mail.smtp import SmtpTransport

        app.transports["mail"] = SmtpTransport(settings)
    return app
