"""What a reply template may use besides `controller`: the case, and what was done in it.

Every field is plain data (strings, dates, tuples) so a context can be built from a stored
case and a fulfilment result without the templates knowing about either. Free-text fields
(`note`, `refusal_reason`, the summaries) are written by staff or by fulfilment in the
language of the reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date

from dsr_bot.cases.model import ALL_REQUEST_TYPES


@dataclass(frozen=True)
class ReplyContext:
    """One case as the reply templates see it."""

    ref: str
    types: tuple[str, ...]
    language: str
    requester_name: str | None
    requester_email: str
    received_on: date
    due_on: date
    extended_due_on: date | None = None
    extension_reason: str | None = None
    refusal_reason: str | None = None
    # A paragraph from staff added to the reply as written (several paragraphs allowed).
    note: str | None = None
    original_subject: str = ""
    # identity_request: what we ask for; empty means the template's default list.
    identity_items: tuple[str, ...] = ()
    # Art. 12(6) and the one-month period: the clock keeps running unless staff decide,
    # for this case, to count it from when the proof arrives; the reply must then say so.
    deadline_paused: bool = False
    # clarification_request: the questions; empty means the template's general question.
    questions: tuple[str, ...] = ()
    # access/portability: file names attached to the reply.
    attachments: tuple[str, ...] = ()
    # Art. 15(1)(a), (b), (g) as they apply to this person (from the data-source export);
    # empty means "see the attachment and the privacy policy".
    purposes: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    # Art. 15(1)(h): None means we make no decisions under Art. 22(1) about the person.
    automated_decisions: str | None = None
    # erasure_confirmation (Art. 17) and, for all corrections, Art. 19 recipients told.
    erased_summary: tuple[str, ...] = ()
    # Each item says what was kept and why (a statute such as bokföringslagen, a claim).
    kept_summary: tuple[str, ...] = ()
    recipients_told: tuple[str, ...] = ()
    # rectification_confirmation (Art. 16) and restriction_confirmation (Art. 18).
    rectified_summary: tuple[str, ...] = ()
    restricted_summary: tuple[str, ...] = ()
    # objection_outcome (Art. 21(1)): upheld means we stopped; otherwise the compelling
    # legitimate grounds that override, which the reply must state (Art. 12(4)).
    objection_upheld: bool = True
    objection_grounds: str | None = None
    # consent_withdrawal_confirmation (Art. 7(3)): what the withdrawn consent covered.
    consent_scope: tuple[str, ...] = ()
    # Art. 21(3): the address went on the suppression list when the request arrived, so
    # the acknowledgement can say that marketing has already stopped.
    marketing_stopped: bool = False
    # A letter sent to someone acting for the data subject (Art. 12 read with national
    # law on fullmakt / guardianship): their name, for the greeting.
    representative_name: str | None = None
    # The letter is printed and posted (no e-mail address): "reply to this e-mail" is wrong.
    by_post: bool = False


@dataclass(frozen=True)
class RenderedReply:
    """A reply ready for `compose_reply`: one-line subject, plain text and HTML body."""

    subject: str
    text: str
    html: str


# Fields a template cannot do without; the renderer refuses a context missing one with a
# ValueError naming it, instead of sending a reply with a hole in it. Art. 15(1) a, b and g
# are about this person's data, so fulfilment supplies them with the export.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "access_response": ("attachments", "purposes", "categories", "sources"),
    "portability_response": ("attachments",),
    "extension_notice": ("extended_due_on", "extension_reason"),
    "refusal": ("refusal_reason",),
}


def missing_fields(name: str, ctx: ReplyContext) -> list[str]:
    """The fields reply `name` needs that `ctx` leaves empty."""
    needed = list(REQUIRED_FIELDS.get(name, ()))
    if name == "objection_outcome" and not ctx.objection_upheld:
        # Art. 21(1): continuing needs compelling legitimate grounds, and Art. 12(4) says
        # the requester must be told them.
        needed.append("objection_grounds")
    return [f for f in needed if getattr(ctx, f) in (None, "", ())]


def sample_context(language: str, types: tuple[str, ...]) -> ReplyContext:
    """A full, plausible case used by `ReplyRenderer.check` and `templates preview`."""
    sv = language == "sv"
    return ReplyContext(
        ref="DSR-2026-0042",
        types=types,
        language=language,
        requester_name="Anna Andersson",
        requester_email="anna.andersson@example.se",
        received_on=date(2026, 3, 2),
        due_on=date(2026, 4, 2),
        extended_due_on=date(2026, 6, 2),
        extension_reason=(
            "Uppgifterna finns i flera system som vi behöver gå igenom."
            if sv
            else "Your data is held in several systems that we need to go through."
        ),
        refusal_reason=(
            "Det är den fjärde likadana begäran på två veckor."
            if sv
            else "This is the fourth identical request within two weeks."
        ),
        note="Hör gärna av dig om något är oklart."
        if sv
        else "Do get in touch if anything is unclear.",
        original_subject="Mina uppgifter" if sv else "My data",
        attachments=("personuppgifter.json", "personuppgifter.csv"),
        purposes=("Kundadministration",) if sv else ("Customer administration",),
        categories=("Namn, e-postadress, telefonnummer",) if sv else ("Name, e-mail, phone",),
        sources=("Du själv",) if sv else ("You",),
        erased_summary=("Kontaktuppgifter i kunddatabasen",) if sv else ("Contact details",),
        kept_summary=(
            ("Fakturor: bokföringslagen (1999:1078) 7 kap. 2 § kräver sju år",)
            if sv
            else ("Invoices: the Swedish Bookkeeping Act requires seven years",)
        ),
        recipients_told=("Ortomedic AS",),
        rectified_summary=("Telefonnummer",) if sv else ("Phone number",),
        restricted_summary=("Kontaktuppgifter",) if sv else ("Contact details",),
        objection_grounds=(
            "Vi behöver uppgifterna för att utreda en pågående reklamation."
            if sv
            else "We need the data to investigate an open warranty claim."
        ),
        identity_items=("Ditt kundnummer",) if sv else ("Your customer number",),
        questions=("Gäller det även Ortomedic AS?",)
        if sv
        else ("Does this include Ortomedic AS?",),
        consent_scope=("Nyhetsbrev",) if sv else ("Newsletter",),
    )


def minimal_context(language: str, types: tuple[str, ...], name: str) -> ReplyContext:
    """The sample with every optional field empty except those `name` requires."""
    full = sample_context(language, types)
    keep = set(REQUIRED_FIELDS.get(name, ()))
    optional = (
        "extended_due_on",
        "extension_reason",
        "refusal_reason",
        "note",
        "attachments",
        "purposes",
        "categories",
        "sources",
        "erased_summary",
        "kept_summary",
        "recipients_told",
        "rectified_summary",
        "restricted_summary",
        "consent_scope",
        "identity_items",
        "questions",
        "objection_grounds",
    )
    blank = {
        f: () if isinstance(getattr(full, f), tuple) else None for f in optional if f not in keep
    }
    return replace(full, requester_name=None, original_subject="", **blank)


def sample_variants(language: str, types: tuple[str, ...], name: str) -> list[ReplyContext]:
    """Contexts that together take every branch of a template (used by `check`)."""
    full = sample_context(language, types)
    other_branches = replace(
        full,
        objection_upheld=False,
        deadline_paused=True,
        marketing_stopped=True,
        by_post=True,
        automated_decisions="Automated decision" if language != "sv" else "Automatiskt beslut",
    )
    return [full, minimal_context(language, types, name), other_branches]


SAMPLE_TYPE_SETS: tuple[tuple[str, ...], ...] = (
    (),
    *((t.value,) for t in ALL_REQUEST_TYPES),
    ("access", "erasure"),
    ("marketing_optout", "consent_withdrawal", "erasure"),
)


# The automatic acknowledgement goes to whatever address a From header names, so it must not
# carry a stranger's words: a forged From would make our signed mail carry their text and
# links (issue 13). A name is kept only when short and plainly a name.
MAX_ACK_NAME_CHARS = 60
_NOT_A_NAME = re.compile(r"(?i)[a-z][a-z0-9+.-]{0,20}:|www\.|[\w-]\.[a-z]{2,}\b|[@/\\<>{}\[\]|]")


def acknowledgement_name(name: str | None) -> str | None:
    """The requester's display name if it is at most 60 characters and holds no URL, address
    or markup-like character; otherwise None (the letter then greets without a name)."""
    text = " ".join((name or "").split())
    if not text or len(text) > MAX_ACK_NAME_CHARS or _NOT_A_NAME.search(text):
        return None
    return text
