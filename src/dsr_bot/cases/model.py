"""Case vocabulary and the rules that decide what may happen to a case.

Pure: no database, mail or Slack imports. The service layer asks these rules before it
changes anything, so the same rule holds whether the click came from Slack or the CLI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class RequestType(StrEnum):
    """The rights a data subject can exercise by mail (GDPR articles in comments)."""

    ACCESS = "access"  # Art. 15
    ERASURE = "erasure"  # Art. 17
    RECTIFICATION = "rectification"  # Art. 16
    RESTRICTION = "restriction"  # Art. 18
    PORTABILITY = "portability"  # Art. 20
    OBJECTION = "objection"  # Art. 21(1)
    MARKETING_OPTOUT = "marketing_optout"  # Art. 21(2)-(3)
    CONSENT_WITHDRAWAL = "consent_withdrawal"  # Art. 7(3)


ALL_REQUEST_TYPES: tuple[RequestType, ...] = tuple(RequestType)

# Art. 12(1)-(3): a request is valid whichever way it reaches the controller; the month runs
# from receipt by phone or letter just as from an e-mail (EDPB 01/2022 §3.1.2).
CHANNELS = ("email", "phone", "post", "in_person")
OFFLINE_CHANNELS = CHANNELS[1:]

# Someone acting for the data subject: a power of attorney (fullmakt), a guardian (a
# parent for a child, förvaltare/god man), or another requester staff must assess.
REPRESENTATIVE_KINDS = ("power_of_attorney", "guardian", "other")


class CaseStatus(StrEnum):
    OPEN = "open"  # received, acknowledged, nobody has acted yet
    AWAITING_IDENTITY = "awaiting_identity"  # we asked the requester for proof (Art. 12(6))
    IN_PROGRESS = "in_progress"  # identity verified, reply being prepared
    ANSWERED = "answered"  # substantive reply sent
    REJECTED = "rejected"  # refused under Art. 12(5) or identity not confirmed
    CLOSED = "closed"


def opt_out_only(types: list[str] | tuple[str, ...]) -> bool:
    """Only a marketing opt-out: done at intake (Art. 21(3)), so no identity check, no
    extension; the confirmation discloses nothing."""
    return bool(types) and set(types) <= {RequestType.MARKETING_OPTOUT.value}


def identity_pending(types: list[str] | tuple[str, ...], identity_status: str | None) -> bool:
    """A substantive reply must wait for a verified identity (Art. 12(6)), except an
    opt-out's confirmation, which discloses nothing (Art. 21(3))."""
    return identity_status != IdentityStatus.VERIFIED.value and not opt_out_only(types)


OPEN_STATUSES = frozenset({CaseStatus.OPEN, CaseStatus.AWAITING_IDENTITY, CaseStatus.IN_PROGRESS})


class IdentityStatus(StrEnum):
    UNVERIFIED = "unverified"
    REQUESTED = "requested"
    VERIFIED = "verified"
    FAILED = "failed"


class Disposition(StrEnum):
    """What intake decided about one inbound message."""

    CASE = "case"  # opened a new case
    REPLY = "reply"  # attached to an existing case
    NOT_REQUEST = "not_request"
    NEEDS_REVIEW = "needs_review"  # a human must look (unparseable, uncertain classification)


# Transitions staff may cause; the service refuses anything else with a reason.
ALLOWED_TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.OPEN: frozenset(
        {
            CaseStatus.AWAITING_IDENTITY,
            CaseStatus.IN_PROGRESS,
            CaseStatus.REJECTED,
            CaseStatus.CLOSED,
        }
    ),
    CaseStatus.AWAITING_IDENTITY: frozenset(
        {CaseStatus.IN_PROGRESS, CaseStatus.REJECTED, CaseStatus.CLOSED}
    ),
    CaseStatus.IN_PROGRESS: frozenset(
        {CaseStatus.ANSWERED, CaseStatus.REJECTED, CaseStatus.CLOSED}
    ),
    CaseStatus.ANSWERED: frozenset({CaseStatus.CLOSED, CaseStatus.IN_PROGRESS}),
    CaseStatus.REJECTED: frozenset({CaseStatus.CLOSED}),
    CaseStatus.CLOSED: frozenset(),
}


class RuleViolation(Exception):
    """A domain rule refused an action; the message is meant for the person who asked."""


def check_transition(current: CaseStatus, target: CaseStatus) -> None:
    if target not in ALLOWED_TRANSITIONS[current]:
        raise RuleViolation(f"A case that is {current.value} cannot become {target.value}.")


_REF_RE = re.compile(r"\bDSR-(\d{4})-(\d{4,})\b")


def format_ref(year: int, number: int) -> str:
    return f"DSR-{year:04d}-{number:04d}"


def find_ref(text: str) -> str | None:
    """The first case reference in a subject line (`[DSR-2026-0042]` or bare)."""
    m = _REF_RE.search(text or "")
    return m.group(0) if m else None


class FollowUpKind(StrEnum):
    """A message about an earlier request rather than a new one (issue 12)."""

    # "On 27 January I sent you a request under Article 18 and have had no reply": it carries
    # the right it chases, and the Art. 12(3) clock may have started on the claimed date.
    REMINDER = "reminder"
    # "Which ID do you need?": a question about the process, never a new request.
    PROCESS_QUESTION = "process_question"


@dataclass(frozen=True)
class FollowUp:
    """The follow-up marker on a classification; not a ninth right.

    `claimed_text` is the date as the writer wrote it ("27 January", "2026-01-27");
    `claimed_date` is set when the text names a full date. A date without a year is resolved
    against the day the message arrived (`resolved_date`)."""

    kind: FollowUpKind
    claimed_date: date | None = None
    claimed_text: str | None = None
    claimed_month_day: tuple[int, int] | None = None

    def resolved_date(self, received: date) -> date | None:
        """The claimed date; a day without a year is the latest such day not after `received`
        (a reminder chases a request made before it)."""
        if self.claimed_date is not None or self.claimed_month_day is None:
            return self.claimed_date
        month, day = self.claimed_month_day
        for year in (received.year, received.year - 1):
            try:
                candidate = date(year, month, day)
            except ValueError:
                continue
            if candidate <= received:
                return candidate
        return None


@dataclass(frozen=True)
class Classification:
    """What the classifier says about one message.

    `needs_review` is set when no label reached its threshold but the best score is in the
    review band, when a label sits within the uncertainty margin of its threshold, or when a
    follow-up's right cannot be told; `candidates` then names the most likely rights, best
    first, for the person who decides."""

    labels: tuple[RequestType, ...]
    scores: dict[str, float]
    language: str
    needs_review: bool = False
    follow_up: FollowUp | None = None
    candidates: tuple[RequestType, ...] = ()

    @property
    def is_request(self) -> bool:
        return bool(self.labels)
