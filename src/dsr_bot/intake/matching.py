"""Which earlier message or case a new message belongs to. Read-only queries for intake."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsr_bot.cases.model import find_ref
from dsr_bot.mail.parse import ParsedMessage
from dsr_bot.store.tables import Case, InboundMessage, Outbound


def find_duplicate(session: Session, row: InboundMessage) -> InboundMessage | None:
    """Same mail seen under another UID (moved back, UIDVALIDITY reset, two aliases)."""
    same = sa.or_(
        InboundMessage.raw_sha256 == row.raw_sha256,
        sa.and_(
            InboundMessage.message_id == row.message_id,
            InboundMessage.sender == row.sender,
        )
        if row.message_id
        else sa.false(),
    )
    return session.execute(
        sa.select(InboundMessage)
        .where(InboundMessage.id != row.id, InboundMessage.processed_at.is_not(None), same)
        .order_by(InboundMessage.id)
        .limit(1)
    ).scalar_one_or_none()


def thread_to_case(session: Session, msg: ParsedMessage) -> tuple[Case, str] | None:
    """The case a message continues: a reference in the subject, or a reply to our mail.

    RFC 5322 3.6.4: In-Reply-To/References name the messages replied to; every mail we send
    is in the outbox with its Message-ID as `external_id`.
    """
    ref = find_ref(msg.subject)
    if ref is not None:
        case = session.execute(sa.select(Case).where(Case.ref == ref)).scalar_one_or_none()
        if case is not None:
            return case, "reference in subject"
    ids = [i for i in (msg.in_reply_to, *msg.references) if i]
    if not ids:
        return None
    case_id = session.execute(
        sa.select(Outbound.case_id)
        .where(Outbound.kind == "mail", Outbound.external_id.in_(ids))
        .where(Outbound.case_id.is_not(None))
        .limit(1)
    ).scalar_one_or_none()
    if case_id is not None:
        return session.get_one(Case, case_id), "In-Reply-To/References"
    return None
