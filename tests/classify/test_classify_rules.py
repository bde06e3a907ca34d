"""Explicit-phrase rules: the writer's own words only, and a named right is not a request.

These are the false positives that cost most in a privacy mailbox: a forwarded newsletter
whose footer says "Avregistrera dig här" read as an Art. 21(3) opt-out, a vendor pitch about
"artikel 17" read as an erasure request, a thank-you for a completed deletion read as a new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from dsr_bot.cases.model import RequestType
from dsr_bot.classify import RuleClassifier, SpacyClassifier
from dsr_bot.classify.own_words import own_words
from dsr_bot.classify.rules import rule_evidence, rule_hits

NEWSLETTER = (
    "Vårens kurser är här!\n\nDu får detta mejl eftersom du är kund. "
    "Vill du inte längre ha våra utskick? Avregistrera dig här.\n"
    "Avregistrera | Hantera inställningar"
)


def test_a_forwarded_newsletter_footer_is_not_the_writers_words() -> None:
    text = (
        "Kolla kursen på sidan 2!\n\n---------- Vidarebefordrat meddelande ---------\n"
        "Från: Fysioförbundet <info@fysio.se>\n" + NEWSLETTER
    )
    assert own_words(text) == "Kolla kursen på sidan 2!"
    assert rule_evidence("Fwd: Nyhetsbrev", text).weak == frozenset()
    assert rule_hits("Fwd: Nyhetsbrev", text) == set()


def test_a_newsletter_itself_names_no_right() -> None:
    assert rule_hits("Nyhetsbrev vecka 12", NEWSLETTER) == set()
    english = (
        "News this month.\nMore news.\nTo stop receiving these emails click here.\nUnsubscribe"
    )
    assert rule_hits("Newsletter", english) == set()


def test_unsubscribe_on_top_of_a_quoted_newsletter_is_an_opt_out() -> None:
    text = "unsubscribe\n\nOn Tue, 4 Mar 2025 at 09:00, Micromedic <news@micromedic.se> wrote:\n> x"
    assert rule_hits("Re: Newsletter", text) == {RequestType.MARKETING_OPTOUT}
    swedish = (
        "Avregistrera mig!!\n\n-----Ursprungligt meddelande-----\nFrån: M <a@b.se>\n" + NEWSLETTER
    )
    assert rule_hits("SV: Nyhetsbrev", swedish) == {RequestType.MARKETING_OPTOUT}


def test_a_writer_complaining_about_the_footer_link_still_opts_out() -> None:
    text = "The unsubscribe link in your footer does not work, please unsubscribe me."
    assert rule_hits("", text) == {RequestType.MARKETING_OPTOUT}


def test_a_bare_forward_of_a_customers_request_keeps_the_request() -> None:
    text = "---------- Forwarded message ---------\nFrom: Anna <a@b.se>\n\nRadera mina uppgifter."
    assert RequestType.ERASURE in rule_hits("Fwd: GDPR", text)


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("GDPR-tjänster", "Klarar ni en begäran om radering enligt artikel 17 inom en månad?"),
        ("Webinar", "Learn how to handle erasure requests, profiling objections and DSARs."),
        ("Re: Ärende", "Tack för bekräftelsen att ni raderat mina uppgifter!"),
        ("Faktura", "Vi har fått faktura 88213 två gånger, kan ni radera dubbletten?"),
        ("Avboka kurs", "Jag måste avboka, kan ni stryka mig från deltagarlistan?"),
        ("Tidrapport", "Bifogar tidrapport. (skickad till fel adress, sorry!)"),
        ("Read receipt: unsubscribe", "Your message was read on 4 March 2026 10:12."),
        ("Kontakter", "Sven har slutat, hans mejl gäller inte längre."),
    ],
)
def test_naming_a_right_or_an_unrelated_deletion_is_not_asking(subject: str, text: str) -> None:
    assert rule_hits(subject, text) == set()


def test_dont_delete_is_not_erasure() -> None:
    text = "Please don't delete my service records, I need them for an insurance claim."
    evidence = rule_evidence("", text)
    assert RequestType.ERASURE not in evidence.strong | evidence.weak


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Utplåna alla spår av mig i era system.", RequestType.ERASURE),
        ("can you get rid of all my details", RequestType.ERASURE),
        ("Snälla glöm mig", RequestType.ERASURE),
        ("where did you get my number from?", RequestType.ACCESS),
        ("Ni har fel adress på mig i kundregistret.", RequestType.RECTIFICATION),
        ("Jag vill slippa era kampanjmejl.", RequestType.MARKETING_OPTOUT),
        ("I take back my permission to use my photo.", RequestType.CONSENT_WITHDRAWAL),
    ],
)
def test_everyday_wordings_are_strong(text: str, expected: RequestType) -> None:
    assert expected in rule_hits("", text)


def test_rule_classifier_sends_a_merely_named_right_to_review() -> None:
    result = RuleClassifier().classify("Fråga", "Hur lång tid tar ett registerutdrag hos er?")
    assert result.labels == ()
    assert result.needs_review


@dataclass
class _Doc:
    cats: dict[str, float] = field(default_factory=dict)


class _FixedModel:
    """Stands in for the spaCy pipeline: the same scores for every text."""

    def __init__(self, cats: dict[str, float]) -> None:
        self.cats = cats

    def __call__(self, text: str) -> _Doc:
        return _Doc(dict(self.cats))

    def pipe(self, texts: object, batch_size: int = 0) -> list[_Doc]:
        return [_Doc(dict(self.cats)) for _ in texts]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("model_score", "labelled"), [(0.05, False), (0.3, True)])
def test_weak_evidence_only_confirms_what_the_model_half_believes(
    model_score: float, labelled: bool
) -> None:
    classifier = SpacyClassifier(_FixedModel({"access": model_score}))  # type: ignore[arg-type]
    result = classifier.classify("Fråga", "Hur lång tid tar ett registerutdrag hos er?")
    assert (RequestType.ACCESS in result.labels) is labelled


def test_strong_evidence_wins_over_a_doubtful_model() -> None:
    classifier = SpacyClassifier(_FixedModel({}))  # type: ignore[arg-type]
    result = classifier.classify("", "Radera mina personuppgifter omedelbart")
    assert result.labels == (RequestType.ERASURE,)


@pytest.mark.parametrize(
    ("subject", "text", "held"),
    [
        ("Dubblett", "Kan ni ta bort den dubbla fakturan ur systemet? Tack", RequestType.ERASURE),
        ("Old quote", "Please delete the old draft quote from your portal.", RequestType.ERASURE),
        (
            "Delivery",
            "Can you change the delivery address on order 5512 to our new warehouse?",
            RequestType.RECTIFICATION,
        ),
        (
            "Org.nr",
            "Uppdatera vårt organisationsnummer i ert kundregister.",
            RequestType.RECTIFICATION,
        ),
    ],
)
def test_a_business_document_as_object_gives_no_evidence_and_holds_the_label(
    subject: str, text: str, held: RequestType
) -> None:
    evidence = rule_evidence(subject, text)
    assert held in evidence.held
    assert held not in evidence.strong | evidence.weak


@pytest.mark.parametrize(
    "text",
    [
        "Please delete my account and all my orders.",
        "Radera mina uppgifter och den gamla offerten med mitt namn.",
        "Jag har flyttat, uppdatera min adress. Fakturaadressen är densamma.",
    ],
)
def test_the_writers_own_data_keeps_the_right_even_beside_a_document(text: str) -> None:
    evidence = rule_evidence("", text)
    assert not evidence.held
    assert evidence.strong & {RequestType.ERASURE, RequestType.RECTIFICATION}


@pytest.mark.parametrize(
    ("text", "erasure"),
    [
        ("Please remove my email address from your mailing list.", False),
        ("ta bort mitt nummer från er ringlista", False),
        ("Take me off your list and delete everything you have.", True),
        ("ta bort mig från nyhetsbrevet och ur era register", True),
        ("Stryk mig från utskicken och ta bort kundkontot.", True),
    ],
)
def test_list_removal_is_an_opt_out_unless_deletion_or_a_register_is_named(
    text: str, erasure: bool
) -> None:
    evidence = rule_evidence("", text)
    assert RequestType.MARKETING_OPTOUT in evidence.strong
    assert (RequestType.ERASURE in evidence.strong) is erasure
    assert evidence.list_only is not erasure


def test_a_held_label_is_capped_inside_the_review_band() -> None:
    classifier = SpacyClassifier(_FixedModel({"erasure": 0.97}))  # type: ignore[arg-type]
    result = classifier.classify("Dubblett", "Radera dubblettordern 66120 ur systemet, tack.")
    assert result.labels == ()
    assert result.needs_review
