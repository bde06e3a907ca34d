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
from typing import Any

from dsr_bot.cases.model import ALL_REQUEST_TYPES
from dsr_bot.cases.replying import parts


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
    # objection_outcome (Art. 21(1)): staff decide. True: we stopped; False: the compelling
    # legitimate grounds that override, which the reply must state (Art. 12(4), 21(1));
    # None: nobody decided, and no objection letter can be written.
    objection_upheld: bool | None = None
    objection_grounds: str | None = None
    # consent_withdrawal_confirmation (Art. 7(3)): what the withdrawn consent covered, and
    # what was erased because of it (the policy: "Vid återkallelse kommer vi att radera …").
    consent_scope: tuple[str, ...] = ()
    consent_erased: tuple[str, ...] = ()
    # access_response: the search found nothing. A complete Art. 15(1) answer ("we process
    # no personal data about you"), not a refusal; `searched` names the systems searched.
    no_data: bool = False
    searched: tuple[str, ...] = ()
    # refusal (Art. 12(4)/(5), 11(2)): the ground, which decides the legal paragraph shown:
    # manifestly_unfounded | excessive | identity_not_confirmed | other.
    refusal_ground: str = "other"
    # fee_request (Art. 12(5)(a)): a reasonable fee instead of a refusal, and what it covers.
    fee_amount: str | None = None
    fee_reason: str | None = None
    # acknowledgement (Art. 21(3)): the address went on the suppression list at intake.
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
    "access_response": ("attachments",),
    "portability_response": ("attachments",),
    "extension_notice": ("extended_due_on", "extension_reason"),
    "refusal": ("refusal_reason",),
    "fee_request": ("fee_amount", "fee_reason"),
    "objection_outcome": ("objection_upheld",),
}


def required_fields(name: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f for part in parts(name) for f in REQUIRED_FIELDS.get(part, ())))


def missing_fields(name: str, ctx: ReplyContext) -> list[str]:
    """The fields reply `name` needs that `ctx` leaves empty."""
    needed = list(required_fields(name))
    if ctx.no_data and "attachments" in needed:
        needed.remove("attachments")  # nothing found: nothing to attach
    if "erasure_confirmation" in parts(name) and not (
        ctx.erased_summary or ctx.kept_summary or ctx.searched
    ):
        # Nobody searched (no connector, no system ticked off): the letter cannot say what
        # was erased, nor that nothing was found; staff must write it.
        needed.append("erased_summary")
    if "objection_outcome" in parts(name) and ctx.objection_upheld is False:
        # Art. 21(1): continuing needs compelling legitimate grounds, and Art. 12(4) says
        # the requester must be told them.
        needed.append("objection_grounds")
    return [f for f in needed if getattr(ctx, f) in (None, "", ())]


# Sample free text per language: a preview in Norwegian must not show Swedish.
_SAMPLES: dict[str, dict[str, Any]] = {
    "sv": {
        "extension_reason": "Uppgifterna finns i flera system som vi behöver gå igenom.",
        "refusal_reason": "Det är den fjärde likadana begäran på två veckor.",
        "note": "Hör gärna av dig om något är oklart.",
        "original_subject": "Mina uppgifter",
        "attachments": ("DSR-2026-0042-personuppgifter.json", "DSR-2026-0042-personuppgifter.csv"),
        "purposes": ("Kundadministration",),
        "categories": ("Namn, e-postadress, telefonnummer",),
        "sources": ("Från dig själv",),
        "erased_summary": ("Kontaktuppgifter i kunddatabasen",),
        "kept_summary": (
            "Fakturor: räkenskapsinformation ska bevaras till och med det sjunde året efter "
            "utgången av det kalenderår då räkenskapsåret avslutades (bokföringslagen "
            "(1999:1078) 7 kap. 2 §)",
        ),
        "searched": ("Kunddatabasen",),
        "rectified_summary": ("Telefonnummer",),
        "restricted_summary": ("Kontaktuppgifter",),
        "objection_grounds": "Vi behöver uppgifterna för att utreda en pågående reklamation.",
        "identity_items": ("Ditt kundnummer",),
        "questions": ("Gäller det även Ortomedic AS?",),
        "consent_scope": ("Nyhetsbrev",),
        "consent_erased": ("Prenumeration på nyhetsbrevet",),
        "fee_amount": "500 kr",
        "fee_reason": "Du har fått ett fullständigt registerutdrag tre gånger den här månaden.",
        "automated": "Automatiskt beslut",
    },
    "en": {
        "extension_reason": "Your data is held in several systems that we need to go through.",
        "refusal_reason": "This is the fourth identical request within two weeks.",
        "note": "Do get in touch if anything is unclear.",
        "original_subject": "My data",
        "attachments": ("DSR-2026-0042-personal-data.json", "DSR-2026-0042-personal-data.csv"),
        "purposes": ("Customer administration",),
        "categories": ("Name, e-mail address, telephone number",),
        "sources": ("From you",),
        "erased_summary": ("Contact details in the customer database",),
        "kept_summary": (
            "Invoices: accounting records must be kept until the end of the seventh year "
            "after the calendar year in which the financial year ended (Swedish Bookkeeping "
            "Act (1999:1078), chapter 7, section 2)",
        ),
        "searched": ("The customer database",),
        "rectified_summary": ("Telephone number",),
        "restricted_summary": ("Contact details",),
        "objection_grounds": "We need the data to investigate an open warranty claim.",
        "identity_items": ("Your customer number",),
        "questions": ("Does this include Ortomedic AS?",),
        "consent_scope": ("Newsletter",),
        "consent_erased": ("Newsletter subscription",),
        "fee_amount": "SEK 500",
        "fee_reason": "You have received a complete copy of your data three times this month.",
        "automated": "Automated decision",
    },
    "nb": {
        "extension_reason": "Opplysningene dine finnes i flere systemer som vi må gå gjennom.",
        "refusal_reason": "Dette er den fjerde like forespørselen på to uker.",
        "note": "Ta gjerne kontakt hvis noe er uklart.",
        "original_subject": "Mine opplysninger",
        "attachments": (
            "DSR-2026-0042-personopplysninger.json",
            "DSR-2026-0042-personopplysninger.csv",
        ),
        "purposes": ("Kundeadministrasjon",),
        "categories": ("Navn, e-postadresse, telefonnummer",),
        "sources": ("Fra deg selv",),
        "erased_summary": ("Kontaktopplysninger i kundedatabasen",),
        "kept_summary": ("Fakturaer: den svenske bokføringsloven (1999:1078) kapittel 7 § 2",),
        "searched": ("Kundedatabasen",),
        "rectified_summary": ("Telefonnummer",),
        "restricted_summary": ("Kontaktopplysninger",),
        "objection_grounds": "Vi trenger opplysningene for å behandle en pågående reklamasjon.",
        "identity_items": ("Kundenummeret ditt",),
        "questions": ("Gjelder det også Ortomedic AS?",),
        "consent_scope": ("Nyhetsbrev",),
        "consent_erased": ("Abonnementet på nyhetsbrevet",),
        "fee_amount": "500 svenske kroner",
        "fee_reason": "Du har fått fullstendig innsyn tre ganger denne måneden.",
        "automated": "Automatisk avgjørelse",
    },
    "da": {
        "extension_reason": "Dine oplysninger findes i flere systemer, som vi skal gennemgå.",
        "refusal_reason": "Det er den fjerde enslydende anmodning på to uger.",
        "note": "Kontakt os gerne, hvis noget er uklart.",
        "original_subject": "Mine oplysninger",
        "attachments": (
            "DSR-2026-0042-personoplysninger.json",
            "DSR-2026-0042-personoplysninger.csv",
        ),
        "purposes": ("Kundeadministration",),
        "categories": ("Navn, e-mailadresse, telefonnummer",),
        "sources": ("Fra dig selv",),
        "erased_summary": ("Kontaktoplysninger i kundedatabasen",),
        "kept_summary": ("Fakturaer: den svenske bogføringslov (1999:1078) kapitel 7, § 2",),
        "searched": ("Kundedatabasen",),
        "rectified_summary": ("Telefonnummer",),
        "restricted_summary": ("Kontaktoplysninger",),
        "objection_grounds": (
            "Vi har brug for oplysningerne til at behandle en igangværende reklamation."
        ),
        "identity_items": ("Dit kundenummer",),
        "questions": ("Gælder det også Ortomedic AS?",),
        "consent_scope": ("Nyhedsbrev",),
        "consent_erased": ("Abonnementet på nyhedsbrevet",),
        "fee_amount": "500 svenske kroner",
        "fee_reason": "Du har fået fuld indsigt tre gange i denne måned.",
        "automated": "Automatisk afgørelse",
    },
}


def sample_context(language: str, types: tuple[str, ...]) -> ReplyContext:
    """A full, plausible case used by `ReplyRenderer.check` and `templates preview`."""
    text = dict(_SAMPLES.get(language, _SAMPLES["en"]))
    text.pop("automated")
    return ReplyContext(
        ref="DSR-2026-0042",
        types=types,
        language=language,
        requester_name="Anna Andersson",
        requester_email="anna.andersson@example.se",
        received_on=date(2026, 3, 2),
        due_on=date(2026, 4, 2),
        extended_due_on=date(2026, 6, 2),
        recipients_told=("Ortomedic AS",),
        objection_upheld=True,
        refusal_ground="excessive",
        **text,
    )


def minimal_context(language: str, types: tuple[str, ...], name: str) -> ReplyContext:
    """The sample with every optional field empty except those `name` requires."""
    full = sample_context(language, types)
    keep = set(required_fields(name))
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
        "consent_erased",
        "identity_items",
        "questions",
        "objection_grounds",
        "fee_amount",
        "fee_reason",
    )
    blank = {
        f: () if isinstance(getattr(full, f), tuple) else None for f in optional if f not in keep
    }
    return replace(full, requester_name=None, original_subject="", refusal_ground="other", **blank)


def sample_variants(language: str, types: tuple[str, ...], name: str) -> list[ReplyContext]:
    """Contexts that together take every branch of a template (used by `check`)."""
    full = sample_context(language, types)
    other_branches = replace(
        full,
        objection_upheld=False,
        deadline_paused=True,
        marketing_stopped=True,
        by_post=True,
        automated_decisions=str(_SAMPLES.get(language, _SAMPLES["en"])["automated"]),
        refusal_ground="identity_not_confirmed",
    )
    nothing_found = replace(
        minimal_context(language, types, name),
        no_data=True,
        refusal_ground="manifestly_unfounded",
        objection_upheld=True,
    )
    return [full, minimal_context(language, types, name), other_branches, nothing_found]


SAMPLE_TYPE_SETS: tuple[tuple[str, ...], ...] = (
    (),
    *((t.value,) for t in ALL_REQUEST_TYPES),
    # Every pair the classifier can produce: each right in a pair is answered.
    *(
        (a.value, b.value)
        for i, a in enumerate(ALL_REQUEST_TYPES)
        for b in ALL_REQUEST_TYPES[i + 1 :]
    ),
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
