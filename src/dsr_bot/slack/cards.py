"""Block Kit for case cards, triage cards, App Home and timeline lines: pure functions.

Nothing here talks to Slack or the database; tests call these directly. Limits we keep
(https://api.slack.com/reference/block-kit/blocks): at most 50 blocks per message, 100 in a
Home tab; section text at most 3,000 characters; header text 150; button text 75; button
value 2,000. Anything the requester wrote is shown as `plain_text`, so a mail cannot ping
`@channel` or smuggle a link into the card.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date
from typing import Any

from dsr_bot.cases.deadlines import days_left
from dsr_bot.cases.desk import state_token
from dsr_bot.cases.fulfiller import ChecklistEntry
from dsr_bot.cases.model import (
    OPEN_STATUSES,
    CaseStatus,
    Disposition,
    IdentityStatus,
    opt_out_only,
)
from dsr_bot.store.tables import Case, Event, InboundMessage

Block = dict[str, Any]

EXCERPT_CHARS = 300
SECTION_LIMIT = 3000
HOME_LIMIT = 100

TYPE_LABELS = {
    "access": "Access (Art. 15)",
    "erasure": "Erasure (Art. 17)",
    "rectification": "Rectification (Art. 16)",
    "restriction": "Restriction (Art. 18)",
    "portability": "Portability (Art. 20)",
    "objection": "Objection (Art. 21(1))",
    "marketing_optout": "Marketing opt-out (Art. 21(2))",
    "consent_withdrawal": "Consent withdrawal (Art. 7(3))",
}
IDENTITY_LABELS = {
    IdentityStatus.UNVERIFIED.value: ":grey_question: not verified",
    IdentityStatus.REQUESTED.value: ":hourglass_flowing_sand: proof requested",
    IdentityStatus.VERIFIED.value: ":white_check_mark: verified",
    IdentityStatus.FAILED.value: ":x: not confirmed",
}


def plain(text: str, limit: int = SECTION_LIMIT) -> Block:
    return {"type": "plain_text", "text": clip(text, limit) or " ", "emoji": False}


def mrkdwn(text: str, limit: int = SECTION_LIMIT) -> Block:
    return {"type": "mrkdwn", "text": clip(text, limit) or " "}


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Slack mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def user_mention(actor: str | None) -> str:
    if actor and actor.startswith("slack:"):
        return f"<@{actor.removeprefix('slack:')}>"
    return escape(actor or "—")


def button_value(case_id: int, token: str) -> str:
    return json.dumps({"c": case_id, "v": token}, separators=(",", ":"))


def type_summary(case: Case) -> str:
    scores = case.scores or {}
    parts = []
    for t in case.types:
        score = scores.get(t)
        label = TYPE_LABELS.get(t, t)
        parts.append(f"{label} ({score:.0%})" if isinstance(score, int | float) else label)
    return ", ".join(parts) or "—"


def due_summary(case: Case, today: date) -> str:
    if case.paused_at is not None:
        return f"paused since {case.paused_at.date().isoformat()} (waiting for ID proof)"
    due = case.extended_due_on or case.due_on
    left = days_left(due, today)
    when = (
        f"overdue by {-left} day{'s' if left != -1 else ''}"
        if left < 0
        else "due today"
        if left == 0
        else f"{left} day{'s' if left != 1 else ''} left"
    )
    extended = " (extended, Art. 12(3))" if case.extended_due_on else ""
    return f"{due.isoformat()}{extended} · {when}"


def requester_summary(case: Case) -> str:
    name = escape(mask_id_numbers(case.requester_name or ""))
    email = escape(case.requester_email or "unknown sender")
    return f"{name} ({email})" if name else email


def case_fields(case: Case, today: date) -> list[Block]:
    return [
        mrkdwn(f"*Types*\n{type_summary(case)}", 2000),
        mrkdwn(f"*Requester*\n{requester_summary(case)}", 2000),
        mrkdwn(f"*Language*\n{escape(case.language)}"),
        mrkdwn(f"*Received*\n{case.received_at.date().isoformat()}"),
        mrkdwn(f"*Due*\n{due_summary(case, today)}"),
        mrkdwn(f"*Identity*\n{IDENTITY_LABELS.get(case.identity_status, case.identity_status)}"),
        mrkdwn(f"*Assignee*\n{user_mention(case.assignee) if case.assignee else '—'}"),
        mrkdwn(f"*Status*\n{case.status.replace('_', ' ')}"),
        *special_fields(case),
    ]


def special_fields(case: Case) -> list[Block]:
    """What staff must know at a glance beyond the usual fields (Slack allows 10)."""
    extra: list[Block] = []
    if case.marketing_stopped_at is not None:
        extra.append(mrkdwn("*Marketing*\n:no_bell: suppressed at intake (Art. 21(3))"))
    channel = case.channel or "email"
    if channel != "email" or case.representative_kind:
        how = channel.replace("_", " ") + (
            f" · representative ({case.representative_kind.replace('_', ' ')}): "
            + (":white_check_mark: verified" if case.representative_verified_at else "not verified")
            if case.representative_kind
            else ""
        )
        extra.append(mrkdwn(f"*Channel*\n{escape(how)}"))
    return extra[:2]


# Personal identity numbers: Swedish personnummer/samordningsnummer (YYMMDD-NNNN, with or
# without century, '-' or '+'), Danish CPR (DDMMYY-NNNN), Norwegian fødselsnummer (DDMMYY
# NNNNN). A match must be a possible date in one of those orders, so order numbers and
# phone numbers mostly stay visible.
_ID_NUMBER = re.compile(
    r"(?<![\d-])(?:(?P<century>19|20))?(?P<a>\d{2})(?P<b>\d{2})(?P<c>\d{2})"
    r"\s?(?P<sep>[-+]?)\s?(?P<tail>\d{4,5})(?![\d-])"
)
ID_MASK = "[ID number hidden]"


def _possible_date(day: int, month: int) -> bool:
    day = day - 60 if day > 60 else day  # samordningsnummer: day + 60
    return 1 <= month <= 12 and 1 <= day <= 31


def mask_id_numbers(text: str) -> str:
    """Slack shows only what staff need (Art. 5(1)(c); Art. 87 and Swedish dataskyddslag
    3 kap. 10 §: identity numbers only where clearly justified): never the number itself."""

    def replace(m: re.Match[str]) -> str:
        a, b, c = int(m["a"]), int(m["b"]), int(m["c"])
        tail = m["tail"]
        if m["century"] and len(tail) != 4:
            return m.group(0)
        swedish = len(tail) == 4 and _possible_date(c, b)  # YYMMDD
        nordic = _possible_date(a, b)  # DDMMYY (Danish CPR, Norwegian fødselsnummer)
        return ID_MASK if swedish or nordic else m.group(0)

    return _ID_NUMBER.sub(replace, text)


def excerpt_of(text: str | None, mode: str) -> str | None:
    """Staff see only what they need (Art. 5(1)(c)): none, a short excerpt, or the text;
    identity numbers are always masked."""
    if mode == "none" or not text:
        return None
    text = " ".join(text.split()) if mode == "excerpt" else text.strip()
    limit = EXCERPT_CHARS if mode == "excerpt" else SECTION_LIMIT - 100
    return clip(mask_id_numbers(text), limit)


def case_actions(case: Case) -> list[Block]:
    status = CaseStatus(case.status)
    value = button_value(case.id, state_token(case))

    def button(action_id: str, text: str, style: str | None = None) -> Block:
        b: Block = {"type": "button", "action_id": action_id, "text": plain(text, 75)}
        b["value"] = value
        if style:
            b["style"] = style
        return b

    if status is CaseStatus.CLOSED:
        return []
    if status not in OPEN_STATUSES:  # answered or rejected: only closing is left
        return [
            {
                "type": "actions",
                "block_id": "case_actions",
                "elements": [button("dsr_close", "Close")],
            }
        ]
    verified = case.identity_status == IdentityStatus.VERIFIED.value or opt_out_only(case.types)
    first = []
    if not verified:
        first += [
            button("dsr_verify", "Verify identity", "primary"),
            button("dsr_ask_id", "Ask for ID proof"),
        ]
    else:
        first.append(button("dsr_prepare", "Prepare reply", "primary"))
    if "objection" in case.types:
        # Art. 21(1): the letter states staff's decision, so it is taken before the reply.
        first.append(button("dsr_objection", "Decide objection"))
    first += [button("dsr_types", "Change types"), button("dsr_assign", "Assign to me")]
    second = []
    if list(case.types) == ["access"]:
        # Art. 15(1): "we hold no data about you" is a complete answer, not a refusal.
        second.append(button("dsr_no_data", "No data held"))
    if not opt_out_only(case.types):
        second.append(button("dsr_extend", "Extend deadline"))
    second.append(button("dsr_clarify", "Ask a question"))
    if case.representative_kind and case.representative_verified_at is None:
        second.append(button("dsr_repverify", "Verify representative"))
    elif not case.representative_kind:
        second.append(button("dsr_rep", "Representative…"))
    if {"access", "portability"} & set(case.types):
        second.append(button("dsr_redact", "Remove from export"))
    second += [
        button("dsr_reject", "Reject", "danger"),
        button("dsr_close", "Close"),
    ]
    return [
        {"type": "actions", "block_id": "case_actions", "elements": first},
        {"type": "actions", "block_id": "case_actions_2", "elements": second},
    ]


# Slack allows at most 10 options in one checkbox group.
CHECKBOX_LIMIT = 10


def checklist_blocks(case: Case, checklist: Sequence[tuple[ChecklistEntry, bool]]) -> list[Block]:
    """Systems without a connector, ticked off by staff (cases/replying.py `tick_checklist`);
    Art. 19 recipients are marked, since the reply tells the requester they were told."""
    if not checklist or CaseStatus(case.status) not in OPEN_STATUSES:
        return []
    lines = [
        f"• *{escape(e.source)}*{' (Art. 19 recipient)' if e.recipient else ''}"
        + (f": {escape(e.instructions)}" if e.instructions else "")
        for e, _ in checklist
    ]
    blocks: list[Block] = [
        {
            "type": "section",
            "text": mrkdwn(
                "*Checklist* (tick each when done; Send needs all)\n" + "\n".join(lines)
            ),
        }
    ]
    for n in range(0, len(checklist), CHECKBOX_LIMIT):
        group = checklist[n : n + CHECKBOX_LIMIT]
        options = [{"text": plain(e.source, 75), "value": e.source[:150]} for e, _ in group]
        element: Block = {"type": "checkboxes", "action_id": "dsr_checklist", "options": options}
        ticked = [o for o, (_, done) in zip(options, group, strict=True) if done]
        if ticked:
            element["initial_options"] = ticked
        blocks.append(
            {"type": "actions", "block_id": f"dsr_checklist:{case.id}:{n}", "elements": [element]}
        )
    return blocks


def candidates_text(scores: dict[str, float] | None, limit: int = 3, floor: float = 0.2) -> str:
    """The most likely rights, best first: "Erasure (Art. 17) 53%, Restriction (Art. 18) 41%"."""
    ranked = sorted(
        ((v, k) for k, v in (scores or {}).items() if isinstance(v, int | float) and v >= floor),
        reverse=True,
    )[:limit]
    return ", ".join(f"{TYPE_LABELS.get(k, escape(k))} {v:.0%}" for v, k in ranked)


def classification_notes(events: Sequence[Event]) -> list[str]:
    """Flags the classifier left on a case (issue 12), as card lines: a follow-up of a
    request we have no record of, with the date it claims (the Art. 12(3) clock may have
    started then), and a classification near its threshold, with the candidate rights."""
    notes = []
    for event in events:
        d = event.detail or {}
        if event.action == "follow_up_unrecorded":
            claimed = d.get("claimed_date") or escape(str(d.get("claimed_text") or "no date given"))
            notes.append(
                ":warning: *Follow-up of a request we have no record of.* The requester says "
                f"they wrote on *{claimed}*; the one-month clock (Art. 12(3)) may have "
                "started then."
            )
        elif event.action == "classification_unsure":
            scores = d.get("scores") or {}
            notes.append(
                ":grey_question: *Unsure which rights.* Candidates: "
                + (candidates_text(scores, floor=0.0) or "none")
                + ". Check the types."
            )
    return notes


def case_card(
    case: Case,
    *,
    today: date,
    excerpt: str | None,
    with_actions: bool = True,
    checklist: Sequence[tuple[ChecklistEntry, bool]] = (),
    notes: Sequence[str] = (),
    ack_note: str | None = None,
) -> list[Block]:
    blocks: list[Block] = [
        {"type": "header", "text": plain(f"{case.ref} · {case.status.replace('_', ' ')}", 150)},
        {"type": "section", "fields": case_fields(case, today)},
    ]
    for note in notes:
        blocks.append({"type": "section", "text": mrkdwn(note)})
    if ack_note:
        blocks.append({"type": "context", "elements": [plain(ack_note, 300)]})
    if excerpt:
        blocks.append({"type": "section", "text": plain(excerpt)})
    if with_actions:
        blocks.extend(checklist_blocks(case, checklist))
        blocks.extend(case_actions(case))
    blocks.append(
        {
            "type": "context",
            "elements": [mrkdwn("Every click is recorded in the case's audit trail.")],
        }
    )
    return blocks


def case_card_text(case: Case) -> str:
    """Notification text: the reference and types only, no personal data."""
    return f"{case.ref}: {', '.join(case.types) or 'request'} ({case.status.replace('_', ' ')})"


def triage_card(
    inbound: InboundMessage, *, excerpt: str | None, decided: str | None = None
) -> list[Block]:
    """Lower key than a case card: one line, the excerpt, two buttons."""
    why = escape(inbound.disposition_reason or inbound.disposition or "unclear")
    sender = escape(inbound.sender or "unknown sender")
    subject = escape(mask_id_numbers(inbound.subject or "(no subject)"))
    blocks: list[Block] = [
        {
            "type": "section",
            "text": mrkdwn(f":mag: *Is this a request?* From {sender}: _{subject}_ ({why})"),
        }
    ]
    # A mail sent to review without a label (unsure, or about the writer's own data with
    # every score low: classify/own_data.py) shows its best guesses however low they are.
    unsure = inbound.disposition == Disposition.NEEDS_REVIEW.value
    candidates = (
        candidates_text(inbound.scores, floor=0.0 if unsure else 0.2) if not inbound.labels else ""
    )
    if candidates:
        blocks.append({"type": "context", "elements": [mrkdwn(f"Candidates: {candidates}")]})
    if excerpt:
        blocks.append({"type": "context", "elements": [plain(excerpt, 2000)]})
    if decided:
        blocks.append({"type": "context", "elements": [mrkdwn(decided)]})
        return blocks
    value = json.dumps({"m": inbound.id})
    blocks.append(
        {
            "type": "actions",
            "block_id": "triage_actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "dsr_triage_open",
                    "text": plain("Open as case of type…", 75),
                    "value": value,
                },
                {
                    "type": "button",
                    "action_id": "dsr_triage_dismiss",
                    "text": plain("Dismiss", 75),
                    "value": value,
                },
            ],
        }
    )
    return blocks


def timeline_text(event: Event) -> str | None:
    """One line in the card's thread for an audit event, or None if not worth a line."""
    who = user_mention(event.actor) if event.actor != "system" else "dsr-bot"
    d = event.detail or {}
    lines = {
        "identity_verified": f"Identity verified by {who} ({d.get('method', '')}).",
        "identity_requested": f"{who} asked the requester for ID proof (Art. 12(6)).",
        "types_changed": f"{who} changed the types to {', '.join(d.get('to', []))}.",
        "assigned": f"Assigned to {who}.",
        "reply_approved": f"Reply ({d.get('template')}) approved by {who}; queued for sending"
        + (f" with {len(d['attachments'])} attachment(s)." if d.get("attachments") else "."),
        "checklist_ticked": f"{who} ticked off {escape(str(d.get('source')))}.",
        "checklist_unticked": f"{who} unticked {escape(str(d.get('source')))}.",
        "deadline_extended": f"{who} extended the deadline to {d.get('extended_due_on')}.",
        "extension_notice_queued": "Extension notice queued to the requester (Art. 12(3)).",
        "rejected": f"Rejected by {who} ({d.get('reason')}); refusal queued (Art. 12(4)).",
        "clarification_requested": f"{who} asked the requester a question.",
        "representative_changed": f"{who} recorded a representative ({d.get('kind')}).",
        "representative_verified": f"Representative's authority verified by {who} "
        f"({d.get('method', '')}).",
        "export_redactions_set": f"{who} set {d.get('count')} value(s) to remove from the "
        "export (Art. 15(4)).",
        "fee_requested": f"{who} asked for a reasonable fee ({escape(str(d.get('fee')))}) "
        "instead of refusing (Art. 12(5)(a)).",
        "objection_decided": f"{who} decided the objection: "
        + ("upheld." if d.get("upheld") else "not upheld (grounds written out)."),
        "closed": f"Closed by {who}.",
        "requester_replied": "The requester wrote again.",
        "follow_up_received": "The requester sent a follow-up"
        + (f" about a request of {d['claimed_date']}." if d.get("claimed_date") else "."),
    }
    return lines.get(event.action)


def home_view(cases: Sequence[Case], today: date) -> Block:
    """App Home: open cases by due date, overdue first (they sort first by date anyway)."""
    ordered = sorted(cases, key=lambda c: (c.extended_due_on or c.due_on, c.id))
    blocks: list[Block] = [
        {"type": "header", "text": plain(f"Open requests ({len(ordered)})", 150)},
    ]
    if not ordered:
        blocks.append({"type": "section", "text": mrkdwn("Nothing open. :tada:")})
    shown = ordered[: HOME_LIMIT - 3]
    for case in shown:
        blocks.append({"type": "section", "text": mrkdwn(case_line(case, today))})
    if len(ordered) > len(shown):
        more = len(ordered) - len(shown)
        blocks.append({"type": "context", "elements": [mrkdwn(f"…and {more} more.")]})
    return {"type": "home", "blocks": blocks}


def case_line(case: Case, today: date) -> str:
    due = case.extended_due_on or case.due_on
    flag = ":red_circle:" if days_left(due, today) < 0 else ":large_blue_circle:"
    return (
        f"{flag} *{case.ref}* · {', '.join(case.types)} · {due_summary(case, today)} · "
        f"{case.status.replace('_', ' ')}"
    )


def case_list_text(cases: Sequence[Case], today: date) -> str:
    ordered = sorted(cases, key=lambda c: (c.extended_due_on or c.due_on, c.id))
    if not ordered:
        return "No open requests."
    return clip("\n".join(case_line(c, today) for c in ordered), SECTION_LIMIT)
