"""Card and modal builders, tested as pure functions against Slack's Block Kit limits."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from dsr_bot.cases.actions import Draft
from dsr_bot.cases.desk import state_token
from dsr_bot.slack import cards, modals
from dsr_bot.store.tables import Case, Event, InboundMessage
from tests.fixtures.slack_blockkit import blocks_problems, view_problems

TODAY = date(2026, 3, 10)


def a_case(**changes: object) -> Case:
    values: dict[str, object] = {
        "id": 7,
        "ref": "DSR-2026-0007",
        "types": ["erasure", "marketing_optout"],
        "status": "open",
        "requester_email": "karin.lind@example.se",
        "requester_name": "Karin <Lind>",
        "language": "sv",
        "received_at": datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        "due_on": date(2026, 4, 2),
        "extended_due_on": None,
        "identity_status": "unverified",
        "assignee": None,
        "scores": {"erasure": 0.92, "marketing_optout": 0.61},
    }
    values.update(changes)
    return Case(**values)


def texts(blocks: list[dict]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def action_ids(blocks: list[dict]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_new_case_card_shows_what_staff_need_and_is_valid_block_kit() -> None:
    blocks = cards.case_card(a_case(), today=TODAY, excerpt="Radera mina uppgifter, tack.")
    assert blocks_problems(blocks) == []
    shown = texts(blocks)
    assert "DSR-2026-0007" in blocks[0]["text"]["text"]
    assert "Erasure (Art. 17) (92%)" in shown and "Marketing opt-out (Art. 21(2)) (61%)" in shown
    assert "2026-04-02 · 23 days left" in shown
    assert "not verified" in shown
    assert "Karin &lt;Lind&gt; (karin.lind@example.se)" in shown  # mrkdwn escaped
    assert action_ids(blocks)[:2] == ["dsr_verify", "dsr_ask_id"]
    assert "dsr_prepare" not in action_ids(blocks)
    button = blocks[-3]["elements"][0]
    assert json.loads(button["value"]) == {"c": 7, "v": state_token(a_case())}


def test_requester_text_is_plain_text_so_a_mail_cannot_ping_the_channel() -> None:
    blocks = cards.case_card(a_case(), today=TODAY, excerpt="<!channel> hej <http://x|y>")
    excerpt = next(b for b in blocks if b["type"] == "section" and "text" in b)
    assert excerpt["text"]["type"] == "plain_text"


def test_excerpt_modes_show_no_more_than_configured() -> None:
    long_text = "ord " * 2000
    assert cards.excerpt_of(long_text, "none") is None
    short = cards.excerpt_of(long_text, "excerpt")
    assert short is not None and len(short) <= cards.EXCERPT_CHARS
    full = cards.excerpt_of(long_text, "full")
    assert full is not None and cards.EXCERPT_CHARS < len(full) <= 3000
    blocks = cards.case_card(a_case(), today=TODAY, excerpt=full)
    assert blocks_problems(blocks) == []
    without = cards.case_card(a_case(), today=TODAY, excerpt=None)
    assert len(without) == len(blocks) - 1


def test_due_summary_counts_down_then_overdue_and_shows_extension() -> None:
    assert cards.due_summary(a_case(), date(2026, 4, 2)).endswith("due today")
    assert cards.due_summary(a_case(), date(2026, 4, 5)).endswith("overdue by 3 days")
    extended = a_case(extended_due_on=date(2026, 6, 2))
    assert "2026-06-02 (extended, Art. 12(3))" in cards.due_summary(extended, TODAY)


def test_buttons_follow_the_case_state() -> None:
    verified = a_case(identity_status="verified", status="in_progress", assignee="slack:U1")
    blocks = cards.case_card(verified, today=TODAY, excerpt=None)
    ids = action_ids(blocks)
    assert "dsr_prepare" in ids and "dsr_verify" not in ids
    assert "<@U1>" in texts(blocks)
    assert action_ids(cards.case_card(a_case(status="answered"), today=TODAY, excerpt=None)) == [
        "dsr_close"
    ]
    assert action_ids(cards.case_card(a_case(status="closed"), today=TODAY, excerpt=None)) == []
    assert state_token(verified) != state_token(a_case())


def test_home_lists_open_cases_by_due_date_overdue_first_within_slack_limits() -> None:
    many = [
        a_case(id=n, ref=f"DSR-2026-{n:04d}", due_on=date(2026, 3, 1 + n % 28))
        for n in range(1, 201)
    ]
    view = cards.home_view(many, TODAY)
    assert view_problems(view) == []
    lines = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    assert lines[0].startswith(":red_circle:")  # overdue first
    dues = [line.split(" · ")[2][:10] for line in lines]
    assert dues == sorted(dues)
    assert "…and" in texts(view["blocks"][-1:])


def test_modals_are_valid_and_carry_case_and_version() -> None:
    case = a_case()
    for view in (
        modals.verify_modal(case),
        modals.types_modal(case),
        modals.extend_modal(case),
        modals.reject_modal(case),
        modals.triage_open_modal(3),
    ):
        assert view_problems(view) == [], view["callback_id"]
    meta = json.loads(modals.verify_modal(case).get("private_metadata"))
    assert meta == {"c": 7, "v": state_token(case)}


def test_a_long_reply_is_split_into_editable_parts_and_joined_back_unchanged() -> None:
    paragraphs = [f"Stycke {n}: " + "text " * 120 for n in range(12)]
    text = "\n\n".join(paragraphs)
    view = modals.reply_modal(
        a_case(), Draft("erasure_confirmation", "Ämne DSR-2026-0007", text, "")
    )
    assert view_problems(view) == []
    parts = [b for b in view["blocks"] if b.get("block_id", "").startswith("text_")]
    assert len(parts) >= 3
    values = {b["block_id"]: {"value": {"value": b["element"]["initial_value"]}} for b in parts}
    assert modals.reply_text(values) == text


def test_triage_card_and_timeline_lines() -> None:
    inbound = InboundMessage(
        id=3, sender="x@example.se", subject="Fråga", disposition="needs_review"
    )
    blocks = cards.triage_card(inbound, excerpt="Kan ni ta bort mig?")
    assert blocks_problems(blocks) == []
    assert action_ids(blocks) == ["dsr_triage_open", "dsr_triage_dismiss"]
    decided = cards.triage_card(inbound, excerpt=None, decided="Dismissed by <@U1>")
    assert action_ids(decided) == []
    event = Event(action="identity_verified", actor="slack:U9", detail={"method": "id_document"})
    assert cards.timeline_text(event) == "Identity verified by <@U9> (id_document)."
    assert cards.timeline_text(Event(action="status_changed", actor="system")) is None


def test_triage_card_shows_low_candidates_only_for_review() -> None:
    low = {"erasure": 0.12, "access": 0.08, "objection": 0.01, "restriction": 0.0}
    review = InboundMessage(id=4, disposition="needs_review", scores=low, labels=[])
    text = str(cards.triage_card(review, excerpt=None))
    assert "Candidates: Erasure (Art. 17) 12%, Access (Art. 15) 8%, Objection" in text
    newsletter = InboundMessage(id=5, disposition="not_request", scores=low, labels=[])
    assert "Candidates" not in str(cards.triage_card(newsletter, excerpt=None))


def test_manifest_declares_what_the_bot_uses() -> None:
    """The manifest must grant what the code calls (no YAML parser needed for that)."""
    from pathlib import Path

    manifest = (Path(__file__).parents[2] / "deploy" / "slack-app-manifest.yml").read_text()
    for needed in (
        "chat:write",
        "commands",
        "usergroups:read",
        "command: /dsr",
        "app_home_opened",
        "home_tab_enabled: true",
        "socket_mode_enabled: true",
        "/slack/events",
    ):
        assert needed in manifest, needed
