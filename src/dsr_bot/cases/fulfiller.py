"""What the desk needs from fulfilment, as a port: the desk decides, an adapter does the work.

The desk (cases/replying.py) owns the rules — identity verified, four eyes, checklist
complete, nothing before approval — and calls a `Fulfiller` at two moments:

- `prepare`: when staff open the reply, a dry run (counts per table, no values) and the
  reply fields fulfilment can fill in (Art. 15(1)(a), (b), (g) facts, attachment names);
- `fulfil`: on approval, inside the approval's transaction: export, suppress, then — once
  `before_erasure` has checked that the confirmation letter can be completed — erase, last,
  because it commits in the customer systems and cannot be rolled back. A failure raises
  `FulfilmentFailed`, which rolls the approval back, so no confirmation is sent for work that
  was not done; the erasure's own audit event (row counts) survives that rollback via
  `cases.desk.audit_surviving_rollback`.

`dsr_bot.fulfilment.approval.CaseFulfiller` is the implementation; it talks to the
customer databases, which is why it lives outside `cases/`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from dsr_bot.cases.model import RuleViolation
from dsr_bot.store.tables import Case

# (file name, MIME type, bytes), as `compose_reply` takes them.
Attachment = tuple[str, str, bytes]


@dataclass(frozen=True)
class ChecklistEntry:
    """A system without a connector: staff do the work there and tick it off."""

    source: str
    instructions: str
    recipient: bool  # Art. 19: a recipient who must be told of erasure/rectification


@dataclass(frozen=True)
class Prepared:
    """The dry run shown before approval, and what it lets the draft fill in."""

    fields: dict[str, Any] = field(default_factory=dict)
    preview: tuple[str, ...] = ()  # one line per table: counts and actions, no values
    problems: tuple[str, ...] = ()  # sources that failed; approval would be refused
    audit: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Fulfilled:
    """What approval did: reply fields (summaries) and the reply's attachments."""

    fields: dict[str, Any] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()


class FulfilmentFailed(RuleViolation):
    """Fulfilment could not be done completely. `audit` holds (action, detail) events that
    must survive the approval's rollback (e.g. `erasure_failed` with the row counts)."""

    def __init__(self, message: str, audit: Sequence[tuple[str, dict[str, Any]]] = ()) -> None:
        super().__init__(message)
        self.audit = tuple(audit)


class Fulfiller(Protocol):
    def checklist(self, types: Sequence[str]) -> list[ChecklistEntry]: ...

    def case_opened(self, session: Session, case: Case, now: datetime, actor: str) -> None:
        """What must happen the moment a case exists (Art. 21(3): stop marketing)."""
        ...

    def prepare(self, case: Case, language: str) -> Prepared: ...

    def fulfil(
        self,
        session: Session,
        case: Case,
        *,
        language: str,
        now: datetime,
        actor: str,
        before_erasure: Callable[[dict[str, Any]], None] | None = None,
    ) -> Fulfilled:
        """Export, suppress, then (after `before_erasure` checked the letter) erase."""
        ...
