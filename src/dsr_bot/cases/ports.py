"""What the domain needs from the outside world, as protocols it owns.

The use cases in `cases/` decide *that* a letter goes out and *which* one; composing the mail,
rendering the template and queueing it in the outbox are an adapter's business
(`replies/letters.py`). Keeping the dependency pointed inward is what lets `cases/` be read,
and tested, without SMTP, Jinja or the outbox loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from dsr_bot.cases.fulfiller import Attachment
from dsr_bot.store.tables import Case


class RenderedLetter(Protocol):
    """A rendered template: what staff see in the reply modal and what is mailed."""

    @property
    def subject(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def html(self) -> str: ...


class LetterPort(Protocol):
    """Renders letters for a case and queues them in the caller's transaction.

    Every method that queues writes only to `session`, so a letter commits together with the
    decision that caused it (the transactional outbox), and returns the Message-ID.
    """

    def template_language(self, language: str | None) -> str:
        """The language a letter to a writer of `language` is written in."""
        ...

    def render(self, name: str, case: Case, **fields: Any) -> RenderedLetter: ...

    def draft(self, name: str, case: Case, **fields: Any) -> RenderedLetter:
        """A reply for staff to complete; required fields still empty become placeholders."""
        ...

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
    ) -> str: ...

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
    ) -> str: ...

    def acknowledge(self, session: Session, case: Case, now: datetime) -> str: ...


class Shredder(Protocol):
    """Removes the attachments from one stored mail, keeping its text: (new bytes, count).

    The domain decides when identity documents must go (EDPB 01/2022 §3.3); taking a MIME
    message apart is the mail adapter's business (`mail/strip.without_attachments`).
    """

    def __call__(self, raw: bytes) -> tuple[bytes, int]: ...
