"""The model that ships in the package, judged on the held-out split it never trained on."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsr_bot.cases.model import RequestType
from dsr_bot.classify import SpacyClassifier, load_classifier
from dsr_bot.classify.evaluation import evaluate_split
from dsr_bot.classify.spacy_classifier import MODEL_DIR, model_available

CORPUS = Path(__file__).resolve().parents[2] / "classifiers" / "corpus"


def test_the_trained_model_ships_and_is_used() -> None:
    assert model_available(MODEL_DIR), "run `python classifiers/train.py`"
    assert isinstance(load_classifier(), SpacyClassifier)


def test_macro_f1_on_the_held_out_split_reaches_the_bar() -> None:
    report = evaluate_split(CORPUS, "test")
    assert report.n >= 150
    assert report.macro_f1 >= 0.90, f"macro-F1 {report.macro_f1:.3f} on {report.n} test emails"


@pytest.mark.parametrize(
    ("subject", "text", "expected"),
    [
        (
            "GDPR",
            "Hej, jag vill att ni raderar alla mina personuppgifter och slutar skicka "
            "nyhetsbrev till mig.",
            {RequestType.ERASURE, RequestType.MARKETING_OPTOUT},
        ),
        (
            "Subject access request",
            "Please send me a copy of all personal data you hold about me, and then delete it all.",
            {RequestType.ACCESS, RequestType.ERASURE},
        ),
        (
            "Samtycke",
            "Jag återkallar mitt samtycke och vill att ni raderar mina uppgifter.",
            {RequestType.CONSENT_WITHDRAWAL, RequestType.ERASURE},
        ),
        ("", "unsubscribe", {RequestType.MARKETING_OPTOUT}),
    ],
)
def test_requests_get_every_right_they_name(
    subject: str, text: str, expected: set[RequestType]
) -> None:
    assert set(load_classifier().classify(subject, text).labels) == expected


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("Automatiskt svar: GDPR", "Jag är på semester till 12 augusti och läser inte mejl."),
        ("Out of Office", "I am out of the office until Monday with limited access to email."),
        (
            "Undelivered Mail Returned to Sender",
            "This is the mail system at host mx.example.com. Your message could not be "
            "delivered to one or more recipients.",
        ),
        ("Offert", "Hej, kan ni skicka en offert på tio centrifuger med leverans i mars?"),
        ("Re: [DSR-2026-0012] Ditt ärende", "Hej, här kommer en kopia på mitt körkort. /Anna"),
    ],
)
def test_non_requests_get_no_label(subject: str, text: str) -> None:
    result = load_classifier().classify(subject, text)
    assert result.labels == ()
