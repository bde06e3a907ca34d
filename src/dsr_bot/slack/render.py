"""Cards as they are now, read from the database (the transport calls this at delivery)."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from dsr_bot import outbox
from dsr_bot.cases.fulfiller import ChecklistEntry
from dsr_bot.cases.model import Disposition
from dsr_bot.cases.replying import ticked_sources
from dsr_bot.slack import cards
from dsr_bot.store import repositories
from dsr_bot.store.tables import Case, InboundMessage

# Every card update re-renders the excerpt, and a message may be up to 25 MB. The request
# text sits at the top of a message and a card shows at most SECTION_LIMIT characters, so
# only a prefix is parsed, once per message; the cache is keyed by content hash and holds
# nothing once a message is purged (raw is None is checked first).
RENDER_RAW_BYTES = 4 << 20
RENDER_TEXT_CHARS = 20_000  # several cards' worth, even after whitespace is collapsed
_CACHE_SIZE = 64
_texts: OrderedDict[str, str] = OrderedDict()
_texts_lock = threading.Lock()


def request_text(inbound: InboundMessage | None) -> str | None:
    """The requester's new text (quoted history stripped), or None once purged."""
    if inbound is None or inbound.raw is None:
        return None
    key = inbound.raw_sha256 or hashlib.sha256(inbound.raw).hexdigest()
    with _texts_lock:
        if key in _texts:
            _texts.move_to_end(key)
            return _texts[key]
    from dsr_bot.mail.parse import parse_message

    text = parse_message(inbound.raw[:RENDER_RAW_BYTES]).new_text[:RENDER_TEXT_CHARS]
    with _texts_lock:
        _texts[key] = text
        while len(_texts) > _CACHE_SIZE:
            _texts.popitem(last=False)
    return text


def case_request(session: Session, case: Case) -> InboundMessage | None:
    return repositories.first_message_with(session, case.id, Disposition.CASE.value)


ChecklistFor = Callable[[Sequence[str]], list[ChecklistEntry]]


def case_card_args(
    session: Session,
    case: Case,
    *,
    now: datetime,
    tz: ZoneInfo,
    excerpt_mode: str,
    checklist: ChecklistFor | None = None,
) -> dict[str, Any]:
    excerpt = None
    if excerpt_mode != "none":
        excerpt = cards.excerpt_of(request_text(case_request(session, case)), excerpt_mode)
    items: list[tuple[ChecklistEntry, bool]] = []
    if checklist is not None:
        ticked = ticked_sources(session, case.id)
        items = [(e, e.source in ticked) for e in checklist(case.types)]
    flags = repositories.events_of(
        session, actions=("follow_up_unrecorded", "classification_unsure"), case_id=case.id
    )
    return {
        "text": cards.case_card_text(case),
        "blocks": cards.case_card(
            case,
            today=now.astimezone(tz).date(),
            excerpt=excerpt,
            checklist=items,
            notes=cards.classification_notes(list(flags)),
            ack_note=acknowledgement_note(session, case),
        ),
    }


def acknowledgement_note(session: Session, case: Case) -> str | None:
    """Why the requester got no acknowledgement, when they did not (issue 13): withheld at
    intake (no valid reply address, a limit) or refused for good by the relay (no SMTPUTF8)."""
    dead = repositories.last_error_of(session, case.id, "acknowledgement", outbox.DEAD)
    if dead is not None:
        return f"Acknowledgement not delivered: {dead}"
    withheld = repositories.events_of(
        session, actions=("acknowledgement_suppressed",), case_id=case.id
    )
    if withheld:
        return f"Not acknowledged: {(withheld[-1].detail or {}).get('reason', 'withheld')}"
    return None


def triage_card_args(
    session: Session, inbound: InboundMessage, *, excerpt_mode: str
) -> dict[str, Any]:
    decisions = repositories.events_of(
        session, actions=("triage_opened", "triage_dismissed"), inbound_id=inbound.id
    )
    decision = decisions[0] if decisions else None
    decided = None
    if decision is not None:
        who = cards.user_mention(decision.actor)
        if decision.action == "triage_opened":
            decided = f":white_check_mark: Opened as {(decision.detail or {}).get('ref')} by {who}."
        else:
            decided = f":wastebasket: Dismissed by {who}: not a request."
    excerpt = (
        cards.excerpt_of(request_text(inbound), excerpt_mode) if excerpt_mode != "none" else None
    )
    return {
        "text": "A message that may be a data-subject request needs a look.",
        "blocks": cards.triage_card(inbound, excerpt=excerpt, decided=decided),
    }
