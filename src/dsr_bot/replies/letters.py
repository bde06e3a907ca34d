"""Letters to the requester that staff actions cause: rendered, composed and enqueued at once.

The bytes (and so the Message-ID) are fixed when the row is written, in the same transaction
as the decision that caused the letter, so a retry sends exactly the same message. Each letter
threads to the request (RFC 5322 3.6.4: In-Reply-To the request's Message-ID, References its
chain) so the requester's mail client shows the conversation in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from html import escape
from typing import Any

from sqlalchemy.orm import Session

from dsr_bot import outbox
from dsr_bot.cases import deadlines
from dsr_bot.cases.fulfiller import Attachment
from dsr_bot.cases.replying import PLACEHOLDER
from dsr_bot.replies import ReplyContext, ReplyRenderer, compose_reply, make_message_id
from dsr_bot.replies.compose import message_bytes
from dsr_bot.replies.context import REQUIRED_FIELDS, RenderedReply
from dsr_bot.replies.markup import to_html_document
from dsr_bot.store.tables import Case


@dataclass(frozen=True)
class Letters:
    """Renders templates for a case and enqueues the composed mail in the caller's session
    (the domain's `cases.ports.LetterPort`)."""

    renderer: ReplyRenderer
    mail_from: str
    from_name: str
    timezone: str = "Europe/Stockholm"

    def template_language(self, language: str | None) -> str:
        return self.renderer.template_language(language)

    def context(self, case: Case, **fields: Any) -> ReplyContext:
        return ReplyContext(
            ref=case.ref,
            types=tuple(case.types),
            language=case.language,
            requester_name=case.requester_name,
            requester_email=case.requester_email or "",
            received_on=deadlines.receipt_date(case.received_at, self.timezone),
            due_on=case.due_on,
            extended_due_on=case.extended_due_on,
            extension_reason=case.extension_reason,
            original_subject=case.request_subject or "",
            **fields,
        )

    def render(self, name: str, case: Case, **fields: Any) -> RenderedReply:
        return self.renderer.render(name, self.context(case, **fields))

    def draft(self, name: str, case: Case, **fields: Any) -> RenderedReply:
        """A reply for staff to complete: `fields` are what fulfilment could fill in (see
        cases/fulfiller.py); required fields still empty become placeholders."""
        ctx = self.context(case, **fields)
        gaps = {
            f: (f"{PLACEHOLDER}: {f}]]",) if isinstance(getattr(ctx, f), tuple) else None
            for f in REQUIRED_FIELDS.get(name, ())
            if getattr(ctx, f) in (None, "", ())
        }
        filled = {f: v if v is not None else f"{PLACEHOLDER}: {f}]]" for f, v in gaps.items()}
        return self.renderer.render(name, replace(ctx, **filled))

    def enqueue(
        self,
        session: Session,
        case: Case,
        *,
        key: str,
        purpose: str,
        subject: str,
        text: str,
        html: str | None,
        now: datetime,
        attachments: Sequence[Attachment] = (),
        auto_submitted: str | None = None,
    ) -> str:
        """Compose and queue one letter to the requester; returns its Message-ID.

        `html` None (staff edited the text) means: build the HTML part from the text, which
        is written in the same light markup the templates use (replies/markup.py).
        """
        if not case.requester_email:
            raise ValueError(f"{case.ref} has no requester address")
        if html is None:
            html = to_html_document(
                escape(text, quote=False),
                subject=subject,
                language=self.renderer.template_language(case.language),
            )
        message_id = make_message_id(self.mail_from.rsplit("@", 1)[1])
        mail = compose_reply(
            from_addr=self.mail_from,
            from_name=self.from_name,
            to_addr=case.requester_email,
            to_name=case.requester_name,
            subject=subject,
            text=text,
            html=html,
            in_reply_to=case.request_message_id,
            # As intake does for the acknowledgement: compose_reply owns the chain rule.
            references=list(case.request_references or []),
            message_id=message_id,
            # RFC 3834 5: a letter a person decided on and approved is not auto-submitted;
            # only the acknowledgement is ("auto-replied").
            auto_submitted=auto_submitted,
            attachments=attachments,
        )
        outbox.enqueue(
            session,
            key=key,
            kind="mail",
            purpose=purpose,
            now=now,
            body=message_bytes(mail),
            recipient=case.requester_email,
            case_id=case.id,
            payload={"to": [case.requester_email], "message_id": message_id},
            external_id=message_id,
        )
        return message_id

    def send(
        self,
        session: Session,
        case: Case,
        name: str,
        *,
        key: str,
        now: datetime,
        purpose: str | None = None,
        auto_submitted: str | None = None,
        **fields: Any,
    ) -> str:
        """Render template `name` for the case and queue it; returns its Message-ID."""
        letter = self.render(name, case, **fields)
        return self.enqueue(
            session,
            case,
            key=key,
            purpose=purpose or name,
            subject=letter.subject,
            text=letter.text,
            html=letter.html,
            now=now,
            auto_submitted=auto_submitted,
        )

    def acknowledge(self, session: Session, case: Case, now: datetime) -> str:
        """The one acknowledgement a case gets (key `ack:<id>`), whoever opened it. It is an
        automatic response, so it says so (RFC 3834 3.1.7: Auto-Submitted: auto-replied)."""
        return self.send(
            session,
            case,
            "acknowledgement",
            key=f"ack:{case.id}",
            now=now,
            auto_submitted="auto-replied",
        )
