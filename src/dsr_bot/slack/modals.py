"""Block Kit modals for the card's actions: pure functions, like cards.py.

`private_metadata` carries the case id and the card version the modal was opened from, so a
resubmitted view maps to the same idempotency key (cases/desk.py). Modal limits: title 24
characters, submit/close 24, plain_text_input at most 3,000 characters per field, so a long
reply is split into several fields and joined again on submit.
"""

from __future__ import annotations

import json
from typing import Any

from dsr_bot.cases.actions import AUTHORITY_METHODS, IDENTITY_METHODS, REJECT_REASONS, Draft
from dsr_bot.cases.desk import state_token
from dsr_bot.cases.model import ALL_REQUEST_TYPES
from dsr_bot.slack.cards import TYPE_LABELS, Block, clip, escape, mrkdwn, plain
from dsr_bot.store.tables import Case

INPUT_LIMIT = 3000
REPLY_PARTS = 8

METHOD_LABELS = {
    "customer_record": "Matches customer record",
    "id_document": "ID document",
    "signed_letter": "Signed letter",
    "known_contact": "Known contact",
    "other": "Other",
}
REASON_LABELS = {
    "manifestly_unfounded": "Manifestly unfounded",
    "excessive": "Excessive (e.g. repetitive)",
    "identity_not_confirmed": "Identity not confirmed",
    "other": "Other",
}
assert set(METHOD_LABELS) == set(IDENTITY_METHODS) and set(REASON_LABELS) == set(REJECT_REASONS)


# The letter's language (replies/render.py: nn and no get bokmål, others English), so that
# staff write their sentences in it: an English letter must not carry Swedish.
_LETTER_LANGUAGE = {
    "sv": "Swedish",
    "nb": "Norwegian",
    "nn": "Norwegian",
    "no": "Norwegian",
    "da": "Danish",
}


def letter_language(case: Case) -> str:
    code = (case.language or "").lower().replace("_", "-").split("-")[0]
    return _LETTER_LANGUAGE.get(code, "English")


def metadata(case: Case) -> str:
    return json.dumps({"c": case.id, "v": state_token(case)}, separators=(",", ":"))


def _option(value: str, label: str) -> Block:
    return {"text": plain(label, 75), "value": value}


def _modal(
    callback_id: str, title: str, submit: str | None, blocks: list[Block], meta: str
) -> Block:
    view: Block = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, 24),
        "close": plain("Cancel", 24),
        "private_metadata": meta,
        "blocks": blocks,
    }
    if submit:
        view["submit"] = plain(submit, 24)
    return view


def _note(label: str, optional: bool = True, initial: str = "") -> Block:
    element: Block = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": True,
        "max_length": INPUT_LIMIT,
    }
    if initial:
        element["initial_value"] = initial
    return {
        "type": "input",
        "block_id": "note",
        "optional": optional,
        "label": plain(label, 2000),
        "element": element,
    }


def verify_modal(case: Case) -> Block:
    return _modal(
        "dsr_verify_submit",
        f"Verify {case.ref}"[:24],
        "Verify",
        [
            {
                "type": "input",
                "block_id": "method",
                "label": plain("How was the identity verified?"),
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "options": [_option(k, v) for k, v in METHOD_LABELS.items()],
                },
            },
            _note("Note (what you checked)"),
        ],
        metadata(case),
    )


def types_modal(case: Case) -> Block:
    options = [_option(t.value, TYPE_LABELS[t.value]) for t in ALL_REQUEST_TYPES]
    element: Block = {"type": "checkboxes", "action_id": "value", "options": options}
    initial = [o for o in options if o["value"] in case.types]
    if initial:
        element["initial_options"] = initial
    return _modal(
        "dsr_types_submit",
        "Change types",
        "Save",
        [
            {
                "type": "input",
                "block_id": "types",
                "label": plain("Request types"),
                "element": element,
            }
        ],
        metadata(case),
    )


def split_text(text: str, limit: int = INPUT_LIMIT) -> list[str]:
    """Split at paragraph breaks (or hard, for a monster paragraph) into fields ≤ limit."""
    parts: list[str] = []
    current = ""
    for para in text.split("\n\n"):
        while len(para) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(para[:limit])
            para = para[limit:]
        candidate = f"{current}\n\n{para}" if current else para
        if len(candidate) > limit:
            parts.append(current)
            current = para
        else:
            current = candidate
    if current or not parts:
        parts.append(current)
    return parts


def preparing_modal(case: Case) -> Block:
    """Opened at once (a trigger_id lives 3 s), then replaced by the reply modal once the
    dry run against the customer systems is done."""
    return _modal(
        "dsr_reply_preparing",
        f"Reply {case.ref}"[:24],
        None,
        [{"type": "section", "text": mrkdwn(":hourglass_flowing_sand: Preparing the reply…")}],
        metadata(case),
    )


def notice_modal(case: Case, text: str) -> Block:
    """Replaces the preparing modal when preparing was refused or failed."""
    return _modal(
        "dsr_reply_preparing",
        f"Reply {case.ref}"[:24],
        None,
        [{"type": "section", "text": mrkdwn(f":no_entry: {text}")}],
        metadata(case),
    )


def dry_run_blocks(draft: Draft) -> list[Block]:
    """What *Send* will do, before anyone approves it: counts per table, no values."""
    if not (draft.preview or draft.problems or draft.checklist):
        return []
    lines = [f"• {escape(line)}" for line in draft.preview]
    lines += [f":warning: {escape(p)} — Send will be refused" for p in draft.problems]
    lines += [
        f"{':white_check_mark:' if done else ':black_square_button:'} {escape(e.source)}"
        + (" (Art. 19 recipient)" if e.recipient else "")
        for e, done in draft.checklist
    ]
    return [
        {"type": "section", "text": mrkdwn("*Dry run: what Send will do*\n" + "\n".join(lines))},
        {"type": "divider"},
    ]


def reply_modal(case: Case, draft: Draft) -> Block:
    parts = split_text(draft.text)
    if len(parts) > REPLY_PARTS:
        raise ValueError(f"reply for {case.ref} is too long to edit in Slack")
    meta = json.dumps(
        {"c": case.id, "v": state_token(case), "d": draft.digest}, separators=(",", ":")
    )
    blocks: list[Block] = [
        *dry_run_blocks(draft),
        {
            "type": "section",
            "text": mrkdwn(
                f"Reply *{draft.template}* for *{case.ref}* in the requester's language. "
                "Edit as needed; *Send* releases it to the requester."
            ),
        },
        {
            "type": "input",
            "block_id": "subject",
            "label": plain("Subject"),
            "element": {
                "type": "plain_text_input",
                "action_id": "value",
                "initial_value": clip(draft.subject, 250),
                "max_length": 250,
            },
        },
    ]
    for n, part in enumerate(parts, 1):
        label = "Reply" if len(parts) == 1 else f"Reply (part {n} of {len(parts)})"
        element: Block = {
            "type": "plain_text_input",
            "action_id": "value",
            "multiline": True,
            "max_length": INPUT_LIMIT,
        }
        if part:
            element["initial_value"] = part
        blocks.append(
            {"type": "input", "block_id": f"text_{n}", "label": plain(label), "element": element}
        )
    return _modal("dsr_reply_submit", f"Reply {case.ref}"[:24], "Send", blocks, meta)


def reply_text(values: dict[str, Any]) -> str:
    """The edited reply from a submitted reply modal's state values."""
    parts = []
    for n in range(1, REPLY_PARTS + 1):
        block = values.get(f"text_{n}")
        if block is None:
            break
        parts.append((block["value"].get("value") or "").strip("\n"))
    return "\n\n".join(p for p in parts if p)


def extend_modal(case: Case) -> Block:
    return _modal(
        "dsr_extend_submit",
        "Extend deadline",
        "Extend",
        [
            {
                "type": "section",
                "text": mrkdwn(
                    "Art. 12(3): two further months where necessary, given the complexity and "
                    "number of requests. The reason goes to the requester, in their language."
                ),
            },
            _note(f"Reason (sent to the requester; write it in {letter_language(case)})", False),
        ],
        metadata(case),
    )


def reject_modal(case: Case) -> Block:
    fee: Block = {
        "type": "input",
        "block_id": "fee",
        "optional": True,
        "label": plain("Instead of refusing: reasonable fee (e.g. 500 kr)"),
        "element": {"type": "plain_text_input", "action_id": "value", "max_length": 100},
    }
    return _modal(
        "dsr_reject_submit",
        "Reject request",
        "Send",
        [
            {
                "type": "input",
                "block_id": "reason",
                "label": plain("Ground"),
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "options": [_option(k, v) for k, v in REASON_LABELS.items()],
                },
            },
            _note(
                f"Reason, written out (sent to the requester; write it in {letter_language(case)})",
                optional=False,
            ),
            fee,
            {
                "type": "context",
                "elements": [
                    mrkdwn(
                        "Art. 12(4): the requester is told the reason and the right to "
                        "complain to IMY and to a court. A fee (Art. 12(5)(a)) is possible "
                        "only for a manifestly unfounded or excessive request; it is its own "
                        'letter and the case stays open. "No personal data held" is not a '
                        "refusal: use *No data held* on the card."
                    )
                ],
            },
        ],
        metadata(case),
    )


def objection_modal(case: Case) -> Block:
    return _modal(
        "dsr_objection_submit",
        "Decide objection",
        "Decide",
        [
            {
                "type": "input",
                "block_id": "outcome",
                "label": plain("Outcome (Art. 21(1))"),
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "options": [
                        _option("upheld", "Upheld: we stop the processing"),
                        _option("not_upheld", "Not upheld: compelling legitimate grounds"),
                    ],
                },
            },
            _note(
                "If not upheld: the compelling legitimate grounds, written out (sent to the "
                "requester with the right to complain to IMY and to a court; write them in "
                f"{letter_language(case)})"
            ),
        ],
        metadata(case),
    )


def triage_open_modal(inbound_id: int) -> Block:
    options = [_option(t.value, TYPE_LABELS[t.value]) for t in ALL_REQUEST_TYPES]
    return _modal(
        "dsr_triage_open_submit",
        "Open as case",
        "Open case",
        [
            {
                "type": "input",
                "block_id": "types",
                "label": plain("Request types"),
                "element": {"type": "checkboxes", "action_id": "value", "options": options},
            }
        ],
        json.dumps({"m": inbound_id}),
    )


def _text_input(block_id: str, label: str, *, optional: bool, multiline: bool = False) -> Block:
    return {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": plain(label, 2000),
        "element": {
            "type": "plain_text_input",
            "action_id": "value",
            "multiline": multiline,
            "max_length": INPUT_LIMIT,
        },
    }


def _select(block_id: str, label: str, options: dict[str, str], *, optional: bool = False) -> Block:
    return {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": plain(label),
        "element": {
            "type": "static_select",
            "action_id": "value",
            "options": [_option(k, v) for k, v in options.items()],
        },
    }


def ask_id_modal(case: Case) -> Block:
    """Art. 12(6): what to ask for (one item a line; empty = the letter's usual list), and
    whether the deadline waits for the answer (a suspension: the days run stay run)."""
    return _modal(
        "dsr_askid_submit",
        "Ask for ID proof",
        "Send",
        [
            _text_input(
                "items",
                "What we need (one item a line; empty: the usual list)",
                optional=True,
                multiline=True,
            ),
            {
                "type": "input",
                "block_id": "pause",
                "optional": True,
                "label": plain("Deadline"),
                "element": {
                    "type": "checkboxes",
                    "action_id": "value",
                    "options": [
                        _option(
                            "pause",
                            "Pause the deadline until the proof arrives (only if the request "
                            "cannot be handled without it)",
                        )
                    ],
                },
            },
        ],
        metadata(case),
    )


def clarify_modal(case: Case) -> Block:
    return _modal(
        "dsr_clarify_submit",
        "Ask a question",
        "Send",
        [
            _text_input(
                "questions",
                "Questions to the requester (one a line)",
                optional=False,
                multiline=True,
            ),
            {
                "type": "context",
                "elements": [mrkdwn("The deadline keeps running while we wait for the answer.")],
            },
        ],
        metadata(case),
    )


REPRESENTATIVE_LABELS = {
    "power_of_attorney": "Power of attorney (fullmakt)",
    "guardian": "Guardian (parent, förvaltare, god man)",
    "other": "Other (assess the authority)",
}
AUTHORITY_LABELS = {
    "signed_power_of_attorney": "Signed power of attorney seen",
    "guardianship_record": "Guardianship record seen",
    "other": "Other (say how in the note)",
}
assert set(AUTHORITY_LABELS) == set(AUTHORITY_METHODS)


def representative_modal(case: Case) -> Block:
    return _modal(
        "dsr_rep_submit",
        "Representative",
        "Save",
        [
            _select("kind", "Acting for the data subject as", REPRESENTATIVE_LABELS),
            _text_input("name", "Representative's name", optional=False),
            _text_input("email", "Representative's e-mail (letters go here)", optional=True),
            _text_input(
                "subject_email", "Data subject's e-mail (data is searched by it)", optional=True
            ),
            _text_input("subject_name", "Data subject's name", optional=True),
        ],
        metadata(case),
    )


def verify_representative_modal(case: Case) -> Block:
    return _modal(
        "dsr_repverify_submit",
        "Verify representative",
        "Verify",
        [
            _select("method", "How was the authority verified?", AUTHORITY_LABELS),
            _note("Note (what you checked)"),
        ],
        metadata(case),
    )


CHANNEL_LABELS = {"phone": "Phone", "post": "Letter", "in_person": "In person"}
LANGUAGE_LABELS = {"sv": "Svenska", "en": "English", "nb": "Norsk (bokmål)", "da": "Dansk"}


def new_request_modal() -> Block:
    """`/dsr new`: a request taken by phone, by letter or at the desk."""
    options = [_option(t.value, TYPE_LABELS[t.value]) for t in ALL_REQUEST_TYPES]
    return _modal(
        "dsr_new_submit",
        "New request",
        "Register",
        [
            _select("channel", "How it reached us", CHANNEL_LABELS),
            _text_input("received", "Received (YYYY-MM-DD HH:MM, local time)", optional=False),
            {
                "type": "input",
                "block_id": "types",
                "label": plain("Request types"),
                "element": {"type": "checkboxes", "action_id": "value", "options": options},
            },
            _text_input("name", "Data subject's name", optional=False),
            _text_input("email", "E-mail (empty: letters are printed)", optional=True),
            _text_input("address", "Postal address", optional=True, multiline=True),
            _select("language", "Answer in", LANGUAGE_LABELS),
        ],
        "{}",
    )


def redact_modal(case: Case) -> Block:
    """Art. 15(4): values to take out of the access export before it is made (another
    person's name, a colleague's note). *Prepare reply* shows the export after it."""
    block = _text_input(
        "redact",
        "Remove from the export: other people's data, one value a line",
        optional=True,
        multiline=True,
    )
    if case.export_redactions:
        block["element"]["initial_value"] = "\n".join(case.export_redactions)
    return _modal(
        "dsr_redact_submit",
        "Remove from export",
        "Save",
        [
            block,
            {
                "type": "context",
                "elements": [
                    mrkdwn(
                        "Art. 15(4): the copy must not adversely affect the rights and "
                        "freedoms of others. Every occurrence is replaced by "
                        "“[removed: Art. 15(4)]”."
                    )
                ],
            },
        ],
        metadata(case),
    )
