"""The Bolt app: card buttons, modal submissions, App Home and `/dsr`, each calling the desk.

Slack wants an answer within 3 s. Buttons are acknowledged first and acted on after; modal
submissions run the (database-only, milliseconds) action before acknowledging, so that a
refusal can be shown in the modal itself. Anything slow — mail, card updates — is an outbox
row, sent by the outbox pump after the commit (`on_change`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App
from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from dsr_bot.cases.actions import StaffDesk
from dsr_bot.cases.desk import Done, Staff, state_token
from dsr_bot.cases.model import OPEN_STATUSES, RuleViolation, identity_pending
from dsr_bot.cases.service import OfflineRequest
from dsr_bot.slack import cards, modals
from dsr_bot.slack.approvers import Approvers
from dsr_bot.store import repositories
from dsr_bot.store.tables import Case

log = logging.getLogger(__name__)


class SlackHandlers:
    """Everything a click needs, and the listeners registered on the Bolt app."""

    def __init__(
        self,
        *,
        desk: StaffDesk,
        approvers: Approvers,
        factory: sessionmaker[Session],
        clock: Callable[[], datetime],
        tz: ZoneInfo,
        excerpt_mode: str,
        on_change: Callable[[], None],
    ) -> None:
        self.desk = desk
        self.approvers = approvers
        self.factory = factory
        self.clock = clock
        self.tz = tz
        self.excerpt_mode = excerpt_mode
        self.on_change = on_change

    def staff(self, user_id: str) -> Staff:
        # Carries the refusal sentence too (e.g. "Slack could not be asked…" when the approver
        # group cannot be read: we fail closed).
        return self.approvers.staff(user_id)

    def today(self) -> Any:
        return self.clock().astimezone(self.tz).date()

    # -- buttons ------------------------------------------------------------------------
    def on_button(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        action = body["actions"][0]
        action_id = action["action_id"]
        user = body["user"]["id"]
        value = json.loads(action.get("value") or "{}")
        try:
            self._button(action_id, value, user, body, client)
        except RuleViolation as exc:
            channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
                "channel_id"
            )
            if channel:
                client.chat_postEphemeral(channel=channel, user=user, text=f":no_entry: {exc}")

    def _button(
        self,
        action_id: str,
        value: dict[str, Any],
        user: str,
        body: dict[str, Any],
        client: WebClient,
    ) -> None:
        staff = self.staff(user)
        if action_id == "dsr_checklist":
            self._checklist(staff, user, body)
            return
        if "m" in value:  # triage card
            inbound_id = int(value["m"])
            if action_id == "dsr_triage_dismiss":
                self._done(
                    self.desk.dismiss_triage(staff, f"{action_id}:{inbound_id}:{user}", inbound_id)
                )
            else:
                self.desk.check_allowed(staff, "open_triage_as_case", None)
                client.views_open(
                    trigger_id=body["trigger_id"], view=modals.triage_open_modal(inbound_id)
                )
            return
        case_id = int(value["c"])
        key = f"{action_id}:{case_id}:{value.get('v', '')}:{user}"
        simple: dict[str, Callable[[Staff, str, int], Done]] = {
            "dsr_assign": self.desk.assign,
            "dsr_close": self.desk.close,
            "dsr_no_data": self.desk.answer_no_data,
        }
        if action_id in simple:
            self._done(simple[action_id](staff, key, case_id))
            return
        if action_id == "dsr_prepare":
            self._prepare(staff, case_id, body, client)
            return
        else:
            builders = {
                "dsr_verify": ("verify_identity", modals.verify_modal),
                "dsr_types": ("change_types", modals.types_modal),
                "dsr_extend": ("extend", modals.extend_modal),
                "dsr_reject": ("reject", modals.reject_modal),
                "dsr_ask_id": ("request_identity_proof", modals.ask_id_modal),
                "dsr_clarify": ("ask_clarification", modals.clarify_modal),
                "dsr_rep": ("record_representative", modals.representative_modal),
                "dsr_repverify": ("verify_representative", modals.verify_representative_modal),
                "dsr_redact": ("set_export_redactions", modals.redact_modal),
                "dsr_objection": ("decide_objection", modals.objection_modal),
            }
            name, build = builders[action_id]
            self.desk.check_allowed(staff, name, case_id)
            with self.factory() as session:
                view = build(session.get_one(Case, case_id))
        client.views_open(trigger_id=body["trigger_id"], view=view)

    def _prepare(self, staff: Staff, case_id: int, body: dict[str, Any], client: WebClient) -> None:
        """Open a modal at once, then fill it: the dry run reads the customer systems and may
        take longer than the 3 s a trigger_id lives."""
        self.desk.check_allowed(staff, "prepare_reply", case_id)
        with self.factory() as session:
            case = session.get_one(Case, case_id)
        if identity_pending(case.types, case.identity_status):
            # Send is refused until identity is verified (Art. 12(6)); a stale card or a
            # replayed click must not open a reply that can never go (issue 13).
            client.views_open(
                trigger_id=body["trigger_id"],
                view=modals.notice_modal(
                    case, "Verify first: the requester's identity is not verified yet."
                ),
            )
            return
        opened = client.views_open(trigger_id=body["trigger_id"], view=modals.preparing_modal(case))
        view_id = opened["view"]["id"]
        try:
            draft = self.desk.prepare_reply(staff, case_id)
            view = modals.reply_modal(case, draft)
        except (RuleViolation, ValueError) as exc:
            view = modals.notice_modal(case, str(exc))
        client.views_update(view_id=view_id, view=view)

    def _checklist(self, staff: Staff, user: str, body: dict[str, Any]) -> None:
        action = body["actions"][0]
        _, case_id, offset = str(action["block_id"]).split(":")
        selected = [str(o["value"]) for o in action.get("selected_options") or []]
        # A redelivered click has the same action_ts, hence the same key.
        key = f"dsr_checklist:{case_id}:{action.get('action_ts', '')}:{user}"
        done = self.desk.tick_checklist(
            staff, key, int(case_id), selected, offset=int(offset), size=cards.CHECKBOX_LIMIT
        )
        self._done(done)

    def _done(self, done: Done) -> None:
        if not done.repeated:
            self.on_change()

    # -- modal submissions ---------------------------------------------------------------
    def on_submit(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        meta = json.loads(view.get("private_metadata") or "{}")
        values = view["state"]["values"]
        callback = view["callback_id"]
        staff = self.staff(user)
        # A resubmitted view (retry, double click) has the same id and so the same key.
        key = f"{callback}:{view.get('id', '')}:{meta.get('v', '')}:{user}"
        error_block = {
            "dsr_verify_submit": "note",
            "dsr_types_submit": "types",
            "dsr_reply_submit": "subject",
            "dsr_extend_submit": "note",
            "dsr_reject_submit": "note",
            "dsr_objection_submit": "note",
            "dsr_triage_open_submit": "types",
            "dsr_askid_submit": "items",
            "dsr_clarify_submit": "questions",
            "dsr_rep_submit": "name",
            "dsr_repverify_submit": "note",
            "dsr_redact_submit": "redact",
            "dsr_new_submit": "received",
        }[callback]
        try:
            done = self._submit(callback, meta, values, staff, key)
        except RuleViolation as exc:
            ack(response_action="errors", errors={error_block: str(exc)[:150]})
            return
        ack()
        self._done(done)

    def _submit(
        self, callback: str, meta: dict[str, Any], values: dict[str, Any], staff: Staff, key: str
    ) -> Done:
        def text(block: str) -> str:
            return str((values.get(block) or {}).get("value", {}).get("value") or "")

        def selected(block: str) -> str:
            option = (values.get(block) or {}).get("value", {}).get("selected_option") or {}
            return str(option.get("value") or "")

        def checked(block: str) -> list[str]:
            options = (values.get(block) or {}).get("value", {}).get("selected_options") or []
            return [str(o["value"]) for o in options]

        def lines(block: str) -> list[str]:
            return [line for line in text(block).splitlines() if line.strip()]

        if callback == "dsr_triage_open_submit":
            return self.desk.open_triage_as_case(staff, key, int(meta["m"]), checked("types"))
        if callback == "dsr_new_submit":
            return self.desk.register_request(
                staff,
                key,
                OfflineRequest(
                    channel=selected("channel"),
                    received_at=self._local_time(text("received")),
                    types=checked("types"),
                    name=text("name"),
                    email=text("email") or None,
                    postal_address=text("address") or None,
                    language=selected("language") or "sv",
                ),
            )
        case_id = int(meta["c"])
        if callback == "dsr_askid_submit":
            return self.desk.request_identity_proof(
                staff, key, case_id, lines("items"), pause="pause" in checked("pause")
            )
        if callback == "dsr_clarify_submit":
            return self.desk.ask_clarification(staff, key, case_id, lines("questions"))
        if callback == "dsr_rep_submit":
            return self.desk.record_representative(
                staff,
                key,
                case_id,
                selected("kind"),
                text("name"),
                text("email"),
                text("subject_email"),
                text("subject_name"),
            )
        if callback == "dsr_repverify_submit":
            return self.desk.verify_representative(
                staff, key, case_id, selected("method"), text("note")
            )
        if callback == "dsr_redact_submit":
            return self.desk.set_export_redactions(staff, key, case_id, lines("redact"))
        if callback == "dsr_verify_submit":
            return self.desk.verify_identity(staff, key, case_id, selected("method"), text("note"))
        if callback == "dsr_types_submit":
            return self.desk.change_types(staff, key, case_id, checked("types"))
        if callback == "dsr_reply_submit":
            return self.desk.approve_and_send_reply(
                staff, key, case_id, text("subject"), modals.reply_text(values), meta.get("d")
            )
        if callback == "dsr_extend_submit":
            return self.desk.extend(staff, key, case_id, text("note"))
        if callback == "dsr_objection_submit":
            return self.desk.decide_objection(
                staff, key, case_id, selected("outcome"), text("note")
            )
        return self.desk.reject(staff, key, case_id, selected("reason"), text("note"), text("fee"))

    def _local_time(self, value: str) -> datetime:
        """What staff type in the modal: local wall-clock time, as the deadline counts it."""
        try:
            when = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
        except ValueError:
            raise RuleViolation(
                "Write the time as YYYY-MM-DD HH:MM, e.g. 2026-11-24 10:15."
            ) from None
        return when if when.tzinfo is not None else when.replace(tzinfo=self.tz)

    # -- App Home and /dsr ---------------------------------------------------------------
    def open_cases(self, session: Session) -> list[Case]:
        return repositories.cases_in(session, [s.value for s in OPEN_STATUSES])

    def on_home(self, event: dict[str, Any], client: WebClient) -> None:
        user = event["user"]
        if not self.approvers.is_approver(user):
            # App Home is visible to the whole workspace; cases are for approvers only.
            view = {"type": "home", "blocks": [cards_section("Only DSR approvers see cases here.")]}
        else:
            with self.factory() as session:
                view = cards.home_view(self.open_cases(session), self.today())
        client.views_publish(user_id=user, view=view)

    def on_command(self, ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        user = command["user_id"]
        words = (command.get("text") or "").split()
        if not self.approvers.is_approver(user):
            ack(text=":no_entry: Only DSR approvers can use /dsr.")
            return
        if words and words[0] == "new":
            # A request by phone, letter or at the desk (Art. 12(1): any channel counts).
            ack()
            client.views_open(trigger_id=command["trigger_id"], view=modals.new_request_modal())
            return
        with self.factory() as session:
            if not words or words[0] == "list":
                ack(text=cards.case_list_text(self.open_cases(session), self.today()))
                return
            if words[0] == "show" and len(words) == 2:
                case = repositories.case_by_ref(session, words[1].upper())
                if case is None:
                    ack(text=f"No case {words[1]}.")
                    return
                blocks = cards.case_card(case, today=self.today(), excerpt=None, with_actions=False)
                ack(text=cards.case_card_text(case), blocks=blocks)
                return
        ack(text="Usage: `/dsr list`, `/dsr show DSR-2026-0042` or `/dsr new`")


def cards_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": cards.mrkdwn(text)}


def register(app: App, handlers: SlackHandlers) -> None:
    app.action(re.compile(r"^dsr_"))(handlers.on_button)
    app.view(re.compile(r"^dsr_.*_submit$"))(handlers.on_submit)
    app.event("app_home_opened")(handlers.on_home)
    app.command("/dsr")(handlers.on_command)


__all__ = ["SlackHandlers", "register", "state_token"]
