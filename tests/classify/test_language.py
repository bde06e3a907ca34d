"""Language detection picks the reply template, so each row is a realistic opening line."""

from __future__ import annotations

import pytest

from dsr_bot.classify.language import LANGUAGES, detect_language

CASES = [
    ("sv", "Hej! Jag vill att ni raderar alla mina personuppgifter. Mvh Anna"),
    ("sv", "ta bort mig från era utskick"),
    ("sv", "Begäran om registerutdrag enligt artikel 15"),
    ("sv", "sluta ringa mig"),
    ("sv", "Vänligen återkalla mitt samtycke, jag vill inte längre få reklam"),
    ("en", "Please delete all my personal data."),
    ("en", "stop emailing me"),
    ("en", "I want a copy of my data under Article 15 GDPR"),
    ("en", "Hi, could you tell me what information you hold about me? Thanks, Björn"),
    ("nb", "Hei, jeg ønsker innsyn i hvilke personopplysninger dere har om meg. Vennlig hilsen"),
    ("nb", "Vennligst slett meg fra deres kundeliste, takk"),
    ("nb", "Kan dere slette kontoen min?"),
    ("da", "Hej, jeg vil gerne have indsigt i hvilke personoplysninger I har om mig."),
    ("da", "Venligst slet mig fra jeres liste, tak"),
    ("da", "Hvad har I gemt om mig?"),
]


@pytest.mark.parametrize(("expected", "text"), CASES)
def test_detects_language(expected: str, text: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize("default", LANGUAGES)
def test_no_evidence_falls_back_to_default(default: str) -> None:
    assert detect_language("12345 --- ???", default=default) == default
    assert detect_language("", default=default) == default


def test_swedish_letters_do_not_outvote_an_english_paragraph() -> None:
    text = (
        "Dear team, I would like to know which personal data you process about me and "
        "where it came from. Kind regards, Åsa Öberg, Östersund"
    )
    assert detect_language(text) == "en"
