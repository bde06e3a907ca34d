"""Turns intake decisions and staff actions into outbox rows for Slack (never calls out).

Implements both `intake.IntakeListener` and `cases.desk.DeskListener`: each method runs
inside the caller's transaction, so a card is owed exactly when the change committed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from dsr_bot.slack import notify
from dsr_bot.slack.cards import timeline_text
from dsr_bot.store.tables import Case, Event, InboundMessage


class SlackNotifier:
    def __init__(self, channel: str) -> None:
        self.channel = channel

    # -- intake ---------------------------------------------------------------------------
    def case_opened(
        self, session: Session, case: Case, inbound: InboundMessage | None, now: datetime
    ) -> None:
        notify.enqueue_case_card(session, case, self.channel, now)

    def requester_replied(
        self, session: Session, case: Case, inbound: InboundMessage, now: datetime
    ) -> None:
        notify.enqueue_thread_message(
            session, case, "The requester wrote again.", f"replied:{inbound.id}", now
        )
        notify.enqueue_card_update(session, case, f"replied:{inbound.id}", now)

    def needs_staff(self, session: Session, inbound: InboundMessage, now: datetime) -> None:
        notify.enqueue_triage_card(session, inbound, self.channel, now)

    def acknowledgements_capped(self, session: Session, limit: int, now: datetime) -> None:
        text = (
            f":warning: More than {limit} acknowledgements in the last hour: automatic "
            "acknowledgements are paused until the rate falls. Cases are still opened; "
            "check the new cases for a storm of forged or repeated requests."
        )
        notify.enqueue_channel_notice(
            session, self.channel, text, f"ack-cap:{now:%Y-%m-%dT%H}", now
        )

    # -- staff actions --------------------------------------------------------------------
    def case_changed(self, session: Session, case: Case, event: Event, now: datetime) -> None:
        notify.enqueue_card_update(session, case, f"ev{event.id}", now)
        line = timeline_text(event)
        if line:
            notify.enqueue_thread_message(session, case, line, f"ev{event.id}", now)

    def triage_resolved(
        self, session: Session, inbound: InboundMessage, event: Event, now: datetime
    ) -> None:
        notify.enqueue_triage_update(session, inbound, now)
