"""Enqueue Slack posts through the outbox: for the case card, its thread and triage cards.

Payload contract for outbox rows of kind "slack" (others enqueue to it too):
    {"method": "chat.postMessage" | "chat.update" | …, "args": {...},
     "case_thread": bool,            # post into the case card's thread (case.slack_ts)
     "render": "case_card" | "triage_card" | None,   # blocks built at delivery time
     "inbound_id": int}              # for triage cards
Cards are rendered when delivered, not when enqueued, so a card that waited out a Slack
outage shows the case as it is now, and updates can never arrive out of order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from dsr_bot import outbox
from dsr_bot.store.tables import Case, InboundMessage

KIND = "slack"


def _enqueue(
    session: Session,
    *,
    key: str,
    purpose: str,
    now: datetime,
    payload: dict[str, Any],
    case_id: int | None,
) -> bool:
    return outbox.enqueue(
        session, kind=KIND, purpose=purpose, key=key, now=now, payload=payload, case_id=case_id
    )


def enqueue_thread_message(
    session: Session, case: Case, text: str, key: str, now: datetime
) -> bool:
    """A line in the case card's thread (timeline: reminders, replies, sends).

    `text` is Slack mrkdwn; keep personal data out of it (the thread is read by everyone in
    the channel). `key` must be unique for this message, e.g. `reminder:42:7d`.
    """
    return _enqueue(
        session,
        key=f"slack:thread:{key}",
        purpose="case_thread",
        now=now,
        payload={"method": "chat.postMessage", "args": {"text": text}, "case_thread": True},
        case_id=case.id,
    )


def enqueue_channel_notice(
    session: Session, channel: str, text: str, key: str, now: datetime
) -> bool:
    """A plain line in the channel (operational notices); `key` makes it once per cause."""
    return _enqueue(
        session,
        key=f"slack:notice:{key}",
        purpose="notice",
        now=now,
        payload={"method": "chat.postMessage", "args": {"channel": channel, "text": text}},
        case_id=None,
    )


def enqueue_case_card(session: Session, case: Case, channel: str, now: datetime) -> bool:
    return _enqueue(
        session,
        key=f"slack:card:{case.id}",
        purpose="case_card",
        now=now,
        payload={"method": "chat.postMessage", "args": {"channel": channel}, "render": "case_card"},
        case_id=case.id,
    )


def enqueue_card_update(session: Session, case: Case, key: str, now: datetime) -> bool:
    return _enqueue(
        session,
        key=f"slack:card-update:{case.id}:{key}",
        purpose="case_card_update",
        now=now,
        payload={"method": "chat.update", "args": {}, "render": "case_card"},
        case_id=case.id,
    )


def enqueue_triage_card(
    session: Session, inbound: InboundMessage, channel: str, now: datetime
) -> bool:
    return _enqueue(
        session,
        key=triage_card_key(inbound.id),
        purpose="triage_card",
        now=now,
        payload={
            "method": "chat.postMessage",
            "args": {"channel": channel},
            "render": "triage_card",
            "inbound_id": inbound.id,
        },
        case_id=None,
    )


def enqueue_triage_update(session: Session, inbound: InboundMessage, now: datetime) -> bool:
    return _enqueue(
        session,
        key=f"slack:triage-update:{inbound.id}",
        purpose="triage_card_update",
        now=now,
        payload={
            "method": "chat.update",
            "args": {},
            "render": "triage_card",
            "inbound_id": inbound.id,
        },
        case_id=None,
    )


def triage_card_key(inbound_id: int) -> str:
    return f"slack:triage:{inbound_id}"


def enqueue_reminder(
    session: Session, case: Case, text: str, *, key: str, channel: str | None, now: datetime
) -> bool:
    """A deadline reminder: in the case card's thread when there is one, else the channel."""
    args: dict[str, Any] = {"text": text}
    channel = case.slack_channel or channel
    if channel:
        args["channel"] = channel
    in_thread = case.slack_ts is not None
    if in_thread and not case.assignee:
        # Nobody to mention: a thread reply alone would go unseen, so show it in the channel.
        args["reply_broadcast"] = True
    return _enqueue(
        session,
        key=key,
        purpose="reminder",
        now=now,
        payload={"method": "chat.postMessage", "args": args, "case_thread": in_thread},
        case_id=case.id,
    )


def enqueue_digest(
    session: Session, text: str, *, key: str, channel: str | None, now: datetime
) -> bool:
    """The daily digest, a post of its own in the channel (never in a case's thread)."""
    args: dict[str, Any] = {"text": text}
    if channel:
        args["channel"] = channel
    return _enqueue(
        session,
        key=key,
        purpose="digest",
        now=now,
        payload={"method": "chat.postMessage", "args": args, "case_thread": False},
        case_id=None,
    )
