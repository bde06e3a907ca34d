"""No request dropped (issue 12): a mail about the writer's own data that gets no label goes to
review with candidates; pitches, newsletters, students and service mail stay "not a request".

The model's scores are replaced by a stub where the point is the rule, so these tests hold for
any trained model: a request the model does not recognise at all still reaches a person.
"""

from __future__ import annotations

from typing import Any

import pytest

from dsr_bot.cases.model import RequestType as R
from dsr_bot.classify import RuleClassifier, SpacyClassifier
from dsr_bot.classify.own_data import addresses_own_data
from dsr_bot.classify.rules import rule_evidence
from dsr_bot.classify.scoring import decide

ABOUT_OWN_DATA = [
    "Hello, I would like you to do something about my account, I moved abroad last year.",
    "Hi there, please sort out my personal data situation, thanks.",
    "Jag vill att ni tar hand om mina personuppgifter enligt GDPR.",
    "I hereby exercise my rights under the GDPR with regard to your records.",
    "On the basis of Article 18 GDPR I ask you to act now.",
    "Kan dere se på kontoen min og personopplysningene?",
    "Venligst behandl mine personoplysninger korrekt fremover.",
    "Could you fix my surname? It is spelt with two t's.",
    "Jeg krever at dere overholder personvernforordningen når det gjelder meg.",
]

NOT_ABOUT_OWN_DATA = [
    # Pitches and webinars name every right and ask for a meeting.
    "Dear team, our consultancy helps med-tech firms handle Article 15, 17 and 21 requests. "
    "May we book a call next week?",
    "Webinar: handling erasure requests under Article 17 GDPR. Register now.",
    "Are you GDPR compliant? Companies like yours answer Article 15 requests in one click. "
    "Would you like a demo?",
    # A student asking how we handle requests.
    "Hi, I am writing a master's thesis on how companies respond to access requests under "
    "Article 15 GDPR. Would your DPO answer a short questionnaire?",
    # Thanks for a completed request, business documents, an ID reply.
    "Thank you for deleting my data so quickly. I have received your confirmation.",
    "Please find attached the signed data processing agreement under Article 28 GDPR.",
    "As our DPO, please check whether our new CRM complies with Article 25 GDPR.",
    "Could you send us a copy of the invoice for order 4411?",
    "Here is the copy of my passport you asked for.",
    # Service mail that mentions the writer's name or address without asking about it.
    "Hej, jag anmälde mig till kursen men fick ingen länk. Kan ni skicka den igen? Min adress "
    "är rätt, det är denna.",
]


@pytest.mark.parametrize("text", ABOUT_OWN_DATA)
def test_a_mail_about_the_writers_own_data_is_recognised(text: str) -> None:
    assert addresses_own_data(text.lower())


@pytest.mark.parametrize("text", NOT_ABOUT_OWN_DATA)
def test_pitches_students_and_service_mail_are_not(text: str) -> None:
    assert not addresses_own_data(text.lower())


def test_auto_replies_never_count() -> None:
    text = "Automatic reply: I am out of the office. Please contact my colleague about my account."
    assert not rule_evidence("Out of office", text).own_data


def test_a_named_right_and_a_request_anywhere_in_the_mail_count() -> None:
    evidence = rule_evidence(
        "SAR", "SAR for Dana Moreau, born 1981. Please respond within 30 days."
    )
    assert evidence.own_data


def test_no_label_and_low_scores_go_to_review_with_candidates() -> None:
    scores = {"access": 0.12, "rectification": 0.05, "erasure": 0.01}
    dropped = decide(scores, "en", 0.5, 0.2)
    assert not dropped.labels and not dropped.needs_review and dropped.candidates == ()
    kept = decide(scores, "en", 0.5, 0.2, own_data=True)
    assert not kept.labels and kept.needs_review
    assert kept.candidates == (R.ACCESS, R.RECTIFICATION, R.ERASURE)


def test_the_rule_never_adds_a_label_or_overrides_one() -> None:
    labelled = decide({"erasure": 0.9}, "en", 0.5, 0.2, own_data=True)
    assert labelled.labels == (R.ERASURE,) and not labelled.needs_review
    nothing = decide({}, "en", 0.5, 0.2, own_data=True)
    assert nothing.needs_review and nothing.labels == () and nothing.candidates == ()


class _Doc:
    def __init__(self, cats: dict[str, float]) -> None:
        self.cats = cats


class _StubPipeline:
    """A model that recognises nothing: every score near zero."""

    def __call__(self, text: str) -> _Doc:
        return _Doc(dict.fromkeys((label.value for label in R), 0.01))

    def pipe(self, texts: Any, batch_size: int = 256) -> Any:
        return (self(t) for t in texts)


def test_a_request_the_model_misses_entirely_reaches_a_person() -> None:
    classifier = SpacyClassifier(_StubPipeline())  # type: ignore[arg-type]
    text = "Hi, I would like to know what happens to my information now that I have left."
    result = classifier.classify("My information", text)
    assert not result.labels and result.needs_review
    batch = classifier.classify_batch([("My information", text)])
    assert batch[0].needs_review
    pitch = classifier.classify("Webinar", "Webinar on Article 17 GDPR next week. Register now.")
    assert not pitch.needs_review


def test_the_rules_only_fallback_sends_it_to_review_as_well() -> None:
    result = RuleClassifier().classify("", "Please sort out my personal data situation.")
    assert not result.labels and result.needs_review


class _ConfidentPipeline(_StubPipeline):
    """A model that is sure of everything."""

    def __call__(self, text: str) -> _Doc:
        return _Doc(dict.fromkeys((label.value for label in R), 0.95))


def test_a_held_label_stays_below_every_calibrated_threshold() -> None:
    # Calibration may lower a threshold to 0.35; a label the rules hold (a list removal's
    # erasure, portability next to an Art. 15 enumeration) must still not pass it.
    offsets = {label.value: -0.15 for label in R}
    classifier = SpacyClassifier(_ConfidentPipeline(), offsets=offsets)  # type: ignore[arg-type]
    result = classifier.classify("", "Please take me off your mailing list.")
    assert R.MARKETING_OPTOUT in result.labels and R.ERASURE not in result.labels
    assert 0.2 <= result.scores[R.ERASURE.value] < 0.35 - 0.05
