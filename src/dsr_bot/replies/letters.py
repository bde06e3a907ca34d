"""Letters to the requester that staff actions cause: rendered, composed and enqueued at once.

The bytes (and so the Message-ID) are fixed when the row is written, in the same transaction
as the decision that caused the letter, so a retry sends exactly the same message. Each letter
threads to the request (RFC 5322 3.6.4: In-Reply-To the request's Message-ID, References its
chain) so the requester's mail client shows the conversation in one place.
"""

from __future__ import annotations

import base64
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
from dsr_bot.mail.address import limit_key
from dsr_bot.replies import ReplyContext, ReplyRenderer, make_message_id
from dsr_bot.replies.compose import addr_spec, compose_reply_bytes, needs_smtputf8
from dsr_bot.replies.context import RenderedReply, acknowledgement_name, missing_fields
from dsr_bot.replies.markup import to_html_document, to_print_document
from dsr_bot.replies.render import long_date
from dsr_bot.store.tables import Case, Letter


def addressee(case: Case) -> tuple[str | None, str | None]:
    """Who a letter goes to: (e-mail or None for post, name).

    A recorded representative (fullmakt, guardian) gets the letters; the desk refuses the
    substantive reply until their authority is verified (cases/replying.py), so personal
    data reaches them only then.
    """
    if case.representative_kind:
        return case.representative_email, case.representative_name
    return case.requester_email, case.requester_name


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
        values: dict[str, Any] = {
            "ref": case.ref,
            "types": tuple(case.types),
            "language": case.language,
            "requester_name": case.requester_name,
            "requester_email": case.requester_email or "",
            "received_on": deadlines.receipt_date(case.received_at, self.timezone),
            "due_on": case.due_on,
            "extended_due_on": case.extended_due_on,
            "extension_reason": case.extension_reason,
            "original_subject": case.request_subject or "",
            "marketing_stopped": case.marketing_stopped_at is not None,
            "representative_name": (case.representative_name if case.representative_kind else None),
            "by_post": addressee(case)[0] is None,
        }
        return ReplyContext(**{**values, **fields})

    def render(self, name: str, case: Case, **fields: Any) -> RenderedReply:
        return self.renderer.render(name, self.context(case, **fields))

    def draft(self, name: str, case: Case, **fields: Any) -> RenderedReply:
        """A reply for staff to complete: `fields` are what fulfilment could fill in (see
        cases/fulfiller.py); required fields still empty become placeholders."""
        ctx = self.context(case, **fields)
        gaps = {
            f: (f"{PLACEHOLDER}: {f}]]",) if isinstance(getattr(ctx, f), tuple) else None
            for f in missing_fields(name, ctx)
        }
        if "objection_upheld" in gaps:  # a decision, not text: staff take it first
            raise ValueError(f"{case.ref}: the objection has not been decided (Art. 21(1))")
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
        to_name: str | None = None,
    ) -> str:
        """Compose and queue one letter to the requester; returns its Message-ID.

        Everything that can refuse a letter (ValueError: no address, a bad address, a
        template) happens before the first write, so a caller may catch it and go on in
        the same transaction without a savepoint (intake's acknowledgement does).

        `html` None (staff edited the text) means: build the HTML part from the text, which
        is written in the same light markup the templates use (replies/markup.py).

        Every letter is also kept as text in `letter` (Art. 5(2): the controller must be
        able to show what it told the requester), longer than the mail itself (retention.py).
        A case with no e-mail address (a request by phone or post) gets a printable letter
        instead of mail: `dsr-bot letters print` writes it out for posting.
        """
        language = self.renderer.template_language(case.language)
        to_addr, addressee_name = addressee(case)
        # The acknowledgement passes a name it has checked (no URLs, at most 60 characters).
        to_name = to_name if to_name is not None else addressee_name
        if html is None:
            html = to_html_document(escape(text, quote=False), subject=subject, language=language)
        if to_addr is None:
            if not case.postal_address:
                raise ValueError(f"{case.ref} has neither an e-mail nor a postal address")
            if session.query(Letter.id).filter(Letter.key == key).first() is not None:
                return f"post:{key}"  # the same effect again: nothing new to print
            recipient = [p for p in (to_name, *case.postal_address.splitlines()) if p.strip()]
            controller = self.renderer.controller
            printable = to_print_document(
                html,
                subject=subject,
                language=language,
                sender=[controller.name, controller.postal_address],
                recipient=recipient,
                dated=long_date(deadlines.receipt_date(now, self.timezone), language),
            )
            session.add(
                Letter(
                    case_id=case.id,
                    key=key,
                    purpose=purpose,
                    channel="post",
                    recipient="\n".join(recipient),
                    subject=subject,
                    text=text,
                    html=printable,
                    created_at=now,
                    attachments=[
                        {"name": n, "type": t, "data": base64.b64encode(d).decode("ascii")}
                        for n, t, d in attachments
                    ]
                    or None,
                )
            )
            session.flush()
            return f"post:{key}"
        message_id = make_message_id(self.mail_from.rsplit("@", 1)[1])
        # The envelope address: A-label domain; a UTF-8 local part needs SMTPUTF8 (RFC 6531).
        envelope_to = addr_spec(to_addr)
        mail = compose_reply_bytes(
            from_addr=self.mail_from,
            from_name=self.from_name,
            to_addr=to_addr,
            to_name=to_name,
            subject=subject,
            text=text,
            html=html,
            in_reply_to=case.request_message_id,
            # As intake does for the acknowledgement: compose_reply_bytes owns the chain rule.
            references=list(case.request_references or []),
            message_id=message_id,
            # RFC 3834 5: a letter a person decided on and approved is not auto-submitted;
            # only the acknowledgement is ("auto-replied").
            auto_submitted=auto_submitted,
            attachments=attachments,
        )
        added = outbox.enqueue(
            session,
            key=key,
            kind="mail",
            purpose=purpose,
            now=now,
            body=mail,
            recipient=to_addr,
            recipient_key=limit_key(to_addr),
            case_id=case.id,
            payload={
                "to": [envelope_to],
                "message_id": message_id,
                **({"smtputf8": True} if needs_smtputf8(to_addr) else {}),
            },
            external_id=message_id,
        )
        if added:
            session.add(
                Letter(
                    case_id=case.id,
                    key=key,
                    purpose=purpose,
                    channel="email",
                    recipient=to_addr,
                    subject=subject,
                    text=text,
                    html=html,
                    message_id=message_id,
                    created_at=now,
                )
            )  # written with the next flush: on a backlog, with the batch's other rows
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
        to_name: str | None = None,
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
            to_name=to_name,
        )

    def acknowledge(self, session: Session, case: Case, now: datetime) -> str:
        """The one acknowledgement a case gets (key `ack:<id>`), whoever opened it. It is an
        automatic response, so it says so (RFC 3834 3.1.7: Auto-Submitted: auto-replied).

        It says little (issue 13): no subject and no free text from the request, and the
        name only when `acknowledgement_name` keeps it, in the greeting and the To header
        alike. Staff-approved letters may quote more."""
        name = acknowledgement_name(case.requester_name)
        return self.send(
            session,
            case,
            "acknowledgement",
            key=f"ack:{case.id}",
            now=now,
            auto_submitted="auto-replied",
            to_name=name or "",
            requester_name=name,
            original_subject="",
        )
