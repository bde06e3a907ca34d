"""Read models for the CLI (and later Slack): plain dicts with stable keys for `--json`."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from dsr_bot.cases.model import RuleViolation
from dsr_bot.outbox import SENT
from dsr_bot.store import repositories
from dsr_bot.store.tables import Case


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def messages(session: Session) -> list[dict[str, Any]]:
    acked = repositories.cases_with_sent(session, "acknowledgement", SENT)
    out = []
    for msg, ref in repositories.messages_with_case_refs(session):
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
    return [case_summary(c) for c in repositories.all_cases(session)]


def case_detail(session: Session, ref: str) -> dict[str, Any]:
    case = repositories.case_by_ref(session, ref)
    if case is None:
        raise RuleViolation(f"No case {ref}.")
    events = repositories.case_events(session, case.id)
    detail = case_summary(case)
    detail["requester_name"] = case.requester_name
    detail["scores"] = case.scores
    detail["extension_reason"] = case.extension_reason
    detail["events"] = [
        {"at": _iso(e.at), "actor": e.actor, "action": e.action, "detail": e.detail} for e in events
    ]
    return detail
