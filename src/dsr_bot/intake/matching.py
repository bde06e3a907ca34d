"""Which earlier message or case a new message belongs to (the rules; the SQL is in store/)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from dsr_bot.cases.model import find_ref
from dsr_bot.mail.parse import ParsedMessage
from dsr_bot.store import repositories
from dsr_bot.store.tables import Case


def thread_to_case(session: Session, msg: ParsedMessage) -> tuple[Case, str] | None:
    """The case a message continues: a reference in the subject, or a reply to our mail.

    RFC 5322 3.6.4: In-Reply-To/References name the messages replied to; every mail we send
    is in the outbox with its Message-ID as `external_id`.
    """
    ref = find_ref(msg.subject)
    if ref is not None:
        case = repositories.case_by_ref(session, ref)
        if case is not None:
            return case, "reference in subject"
    ids = [i for i in (msg.in_reply_to, *msg.references) if i]
    case_id = repositories.case_of_sent_mail(session, ids)
    if case_id is not None:
        return session.get_one(Case, case_id), "In-Reply-To/References"
    return None
