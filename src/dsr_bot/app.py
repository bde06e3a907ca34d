"""Wiring: settings in, ready components out. The only place that knows every adapter."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
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

    def outbox(self) -> outbox.Outbox:
        return outbox.Outbox(
            self.factory,
            self.transports,
            clock=self.clock,
            max_attempts=self.settings.outbox_max_attempts,
            retry_initial=self.settings.outbox_retry_initial,
            on_sent=self._after_send,
        )

    def _after_send(self, session: Session, item: Outbound, now: datetime) -> None:
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
        case_policy=CasePolicy(timezone=settings.timezone, country=settings.holiday_country),
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
    if settings.mail_outbox_dir is not None:
        from dsr_bot.mail.smtp import EmlDirectoryTransport

        app.transports["mail"] = EmlDirectoryTransport(Path(settings.mail_outbox_dir))
    elif settings.smtp_host:
        from dsr_bot.mail.smtp import SmtpTransport

        app.transports["mail"] = SmtpTransport(settings)
    return app
