"""Outbox transport for kind "slack": one Web API call per row (payload: see notify.py).

The slack_sdk client retries 429 (honouring Retry-After) and 5xx/connection errors a few
times itself; if Slack stays down, the exception goes back to the outbox, which retries with
backoff. So during an outage cards wait in the outbox and none is lost.

Exactly-once for the case card: the card's channel/ts is stored on the case as soon as Slack
returns it; a post retried after that becomes an update of the same message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session, sessionmaker

from dsr_bot import metrics
from dsr_bot.outbox import PENDING, SENT, ItemRetry, PermanentFailure
from dsr_bot.slack import notify, render
from dsr_bot.store import repositories
from dsr_bot.store.tables import Case, InboundMessage, Outbound

log = logging.getLogger(__name__)

# Errors that a retry cannot fix (https://api.slack.com/methods/chat.postMessage#errors).
PERMANENT_ERRORS = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_arguments",
        "msg_too_long",
        "no_text",
        "message_not_found",
        "cant_update_message",
        "is_archived",
    }
)


class CardNotPosted(ItemRetry):
    """A thread line or update for a card Slack has not got yet: retried later, on its own
    (Slack itself works, so the transport's circuit breaker stays closed)."""


class SlackTransport:
    def __init__(
        self,
        client: WebClient,
        factory: sessionmaker[Session],
        *,
        clock: Callable[[], datetime],
        tz: ZoneInfo,
        excerpt_mode: str = "excerpt",
        checklist: render.ChecklistFor | None = None,
    ) -> None:
        self.checklist = checklist
        self.client = client
        self.factory = factory
        self.clock = clock
        self.tz = tz
        self.excerpt_mode = excerpt_mode

    def deliver(self, item: Outbound) -> str | None:
        prepared = self._prepare(item)
        if prepared is None:
            return None  # superseded: nothing to send
        method, args = prepared
        try:
            response = self.client.api_call(method, json=args)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "")) if exc.response is not None else ""
            # Labelled by Slack's error code: a closed vocabulary, never message content.
            metrics.slack_error(error or "unknown")
            if error in PERMANENT_ERRORS:
                raise PermanentFailure(f"Slack {method}: {error}") from None
            raise
        except OSError as exc:  # connection refused, reset, timed out
            metrics.slack_error(type(exc).__name__)
            raise
        channel = str(response.get("channel") or args.get("channel") or "")
        ts = str(response.get("ts") or args.get("ts") or "")
        if item.purpose == "case_card" and item.case_id is not None and ts:
            with self.factory() as session, session.begin():
                case = session.get_one(Case, item.case_id)
                case.slack_channel, case.slack_ts = channel, ts
        log.info("slack outbox item %s (%s) delivered", item.id, item.purpose)
        return f"{channel}/{ts}" if ts else None

    def _prepare(self, item: Outbound) -> tuple[str, dict[str, Any]] | None:
        payload = item.payload
        method = str(payload["method"])
        args: dict[str, Any] = dict(payload.get("args") or {})
        with self.factory() as session:
            case = session.get(Case, item.case_id) if item.case_id is not None else None
            if payload.get("case_thread"):
                if case is None or not case.slack_ts:
                    raise CardNotPosted(f"case card for case {item.case_id} not posted yet")
                args.update(channel=case.slack_channel, thread_ts=case.slack_ts)
            kind = payload.get("render")
            if kind == "case_card":
                if case is None:
                    raise PermanentFailure(f"case {item.case_id} is gone")
                args.update(
                    render.case_card_args(
                        session,
                        case,
                        now=self.clock(),
                        tz=self.tz,
                        excerpt_mode=self.excerpt_mode,
                        checklist=self.checklist,
                    )
                )
                if case.slack_ts:  # posted before (or a retry after a crash): update in place
                    method = "chat.update"
                    args.update(channel=case.slack_channel, ts=case.slack_ts)
                elif method == "chat.update":
                    if _waiting(session, f"slack:card:{case.id}"):
                        return None  # the post, not yet rendered, will show the current state
                    raise CardNotPosted(f"case card for {case.ref} not posted yet")
            elif kind == "triage_card":
                inbound = session.get_one(InboundMessage, int(payload["inbound_id"]))
                args.update(
                    render.triage_card_args(session, inbound, excerpt_mode=self.excerpt_mode)
                )
                if method == "chat.update":
                    posted = _posted(session, notify.triage_card_key(inbound.id))
                    if posted is None:
                        if _waiting(session, notify.triage_card_key(inbound.id)):
                            return None
                        raise CardNotPosted(f"triage card for inbound {inbound.id} not posted yet")
                    channel, _, ts = posted.partition("/")
                    args.update(channel=channel, ts=ts)
        return method, args


def _waiting(session: Session, notify_key: str) -> bool:
    """The first post is queued and not yet taken by a sender: it will be rendered from the
    state as it is then, so an update before it has nothing to add. Once a sender holds it
    (SENDING) it may already have been rendered from an older state; an update then must
    wait for its ts and be retried (`CardNotPosted`), or the card would stay stale."""
    return repositories.outbound_status(session, notify_key) == PENDING


def _posted(session: Session, key: str) -> str | None:
    return repositories.external_id_if_sent(session, key, SENT)
