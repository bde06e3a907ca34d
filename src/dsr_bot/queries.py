"""Read models for the CLI (and later Slack): plain dicts with stable keys for `--json`."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsr_bot.cases.model import RuleViolation
from dsr_bot.outbox import SENT
from dsr_bot.store.tables import Case, Event, InboundMessage, Outbound


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def messages(session: Session) -> list[dict[str, Any]]:
    acked = set(
        session.execute(
            sa.select(Outbound.case_id).where(
                Outbound.purpose == "acknowledgement", Outbound.status == SENT
            )
        ).scalars()
    )
    rows = session.execute(
        sa.select(InboundMessage, Case.ref)
        .outerjoin(Case, Case.id == InboundMessage.case_id)
        .order_by(InboundMessage.id)
    ).all()
    out = []
    for msg, ref in rows:
        opened_case = msg.disposition == "case" and msg.duplicate_of is None
        out.append(
            {
                "id": msg.id,
                "message_id": msg.message_id,
                "sender": msg.sender,
                "subject": msg.subject,
                "received_at": _iso(msg.received_at),
                "disposition": msg.disposition or "pending",
                "reason": msg.disposition_reason,
                "case_ref": ref,
                "acknowledged": bool(opened_case and msg.case_id in acked),
                "duplicate_of": msg.duplicate_of,
            }
        )
    return out


def case_summary(case: Case) -> dict[str, Any]:
    return {
        "ref": case.ref,
        "status": case.status,
        "types": list(case.types),
        "requester": case.requester_email,
        "language": case.language,
        "received_at": _iso(case.received_at),
        "due_at": _iso(case.extended_due_on or case.due_on),
        "due_on": _iso(case.due_on),
        "extended_due_on": _iso(case.extended_due_on),
        "identity_status": case.identity_status,
        "assignee": case.assignee,
        "channel": case.channel or "email",
        "representative": case.representative_kind,
        "representative_verified": case.representative_verified_at is not None,
    }


def cases(session: Session) -> list[dict[str, Any]]:
    found = session.execute(sa.select(Case).order_by(Case.id)).scalars()
    return [case_summary(c) for c in found]


def case_detail(session: Session, ref: str) -> dict[str, Any]:
    case = session.execute(sa.select(Case).where(Case.ref == ref)).scalar_one_or_none()
    if case is None:
        raise RuleViolation(f"No case {ref}.")
    events = session.execute(
        sa.select(Event).where(Event.case_id == case.id).order_by(Event.at, Event.id)
    ).scalars()
    detail = case_summary(case)
    detail["requester_name"] = case.requester_name
    detail["scores"] = case.scores
    detail["extension_reason"] = case.extension_reason
    detail["events"] = [
        {"at": _iso(e.at), "actor": e.actor, "action": e.action, "detail": e.detail} for e in events
    ]
    return detail
