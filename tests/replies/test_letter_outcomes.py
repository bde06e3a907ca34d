"""Each letter says what the case records, in sv, en, nb and da (issue 11, items 1-3, 7, 11).

The expected phrases are written out by hand from the law and the policy; the letters are the
real templates rendered with the shipped example profile (Micromedic AB).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from dsr_bot.cases.model import ALL_REQUEST_TYPES
from dsr_bot.cases.replying import reply_name
from dsr_bot.config import ControllerProfile
from dsr_bot.replies import ReplyRenderer, example_controller, sample_context, templates_dir
from dsr_bot.replies.context import ReplyContext

LANGS = ("sv", "en", "nb", "da")
CLEAN = dict(
    erased_summary=(),
    kept_summary=(),
    recipients_told=(),
    searched=(),
    note=None,
    consent_erased=(),
)
BOOKKEEPING_SV = (
    "Fakturor: räkenskapsinformation ska bevaras till och med det sjunde året efter utgången "
    "av det kalenderår då räkenskapsåret avslutades (bokföringslagen (1999:1078) 7 kap. 2 §)"
)
# Phrases by language, written out here rather than taken from the templates.
ERASED = {
    "sv": "Vi har raderat dina personuppgifter",
    "en": "We have erased your personal data",
    "nb": "Vi har slettet personopplysningene dine",
    "da": "Vi har slettet dine personoplysninger",
}
NOTHING_FOUND = {
    "sv": "har inte hittat några, så det finns inget att radera",
    "en": "found none, so there is nothing to erase",
    "nb": "har ikke funnet noen, så det er ingenting å slette",
    "da": "har ikke fundet nogen, så der er intet at slette",
}
KEPT_HEADING = {
    "sv": "Det här sparar vi, och varför",
    "en": "What we keep, and why",
    "nb": "Dette beholder vi, og hvorfor",
    "da": "Det beholder vi, og hvorfor",
}
ART_19 = {"sv": "artikel 19", "en": "Article 19", "nb": "artikkel 19", "da": "artikel 19"}
COURT = {
    "sv": "allmän domstol (artikel 79)",
    "en": "before a court (Article 79)",
    "nb": "domstolene (artikkel 79)",
    "da": "domstolene (artikel 79)",
}
IMY = {
    "sv": "Integritetsskyddsmyndigheten (IMY, tidigare Datainspektionen), www.imy.se",
    "en": "Integritetsskyddsmyndigheten, IMY, formerly Datainspektionen), www.imy.se",
    "nb": "Integritetsskyddsmyndigheten (IMY), det svenske datatilsynet, www.imy.se",
    "da": "Integritetsskyddsmyndigheten (IMY), den svenske datatilsynsmyndighed, www.imy.se",
}
HOME_AUTHORITY = {
    "nb": "Datatilsynet i Norge, www.datatilsynet.no",
    "da": "Datatilsynet i Danmark, www.datatilsynet.dk",
}
NO_DATA = {
    "sv": "behandlar vi alltså inga personuppgifter om dig",
    "en": "we therefore process no personal data about you",
    "nb": "behandler vi altså ingen personopplysninger om deg",
    "da": "behandler vi altså ingen personoplysninger om dig",
}
REFUSING = {
    "sv": "inte tillmötesgå",
    "en": "not to act on it",
    "nb": "ikke å etterkomme",
    "da": "ikke at imødekomme",
}
# Words of one Scandinavian language that the others do not use (or not in these letters).
FOREIGN = {
    "en": [" och ", " att ", " som ", " og ", " ikke ", " är "],
    "sv": [" ikke ", " jeg ", " og ", " deg ", " the "],
    "nb": [" och ", " inte ", " är ", " the ", " af ", " hvad "],
    "da": [" och ", " inte ", " är ", " the ", " deg ", " ikke å ", " av "],
}


@pytest.fixture(scope="module")
def renderer() -> ReplyRenderer:
    return ReplyRenderer(example_controller())


def ctx(lang: str, *types: str, **fields: object) -> ReplyContext:
    return replace(sample_context(lang, types), **{**CLEAN, **fields})  # type: ignore[arg-type]


def text(renderer: ReplyRenderer, name: str, context: ReplyContext) -> str:
    return renderer.render(name, context).text


# -- erasure: three outcomes ----------------------------------------------------------------
@pytest.mark.parametrize("lang", LANGS)
def test_erasure_erased_lists_the_systems(renderer: ReplyRenderer, lang: str) -> None:
    body = text(
        renderer,
        "erasure_confirmation",
        ctx(lang, "erasure", erased_summary=("Kunddatabasen: kontakt", "Nyhetsbrevsverktyget")),
    )
    assert ERASED[lang] in body
    assert "- Kunddatabasen: kontakt\n- Nyhetsbrevsverktyget" in body
    assert KEPT_HEADING[lang] not in body and NOTHING_FOUND[lang] not in body
    assert ART_19[lang] not in body  # disclosed to nobody: Art. 19 is not mentioned


@pytest.mark.parametrize("lang", LANGS)
def test_erasure_nothing_found_claims_no_erasure(renderer: ReplyRenderer, lang: str) -> None:
    body = text(renderer, "erasure_confirmation", ctx(lang, "erasure", searched=("Kunddb",)))
    assert NOTHING_FOUND[lang] in body and "Kunddb" in body
    assert ERASED[lang] not in body and KEPT_HEADING[lang] not in body
    assert ART_19[lang] not in body


@pytest.mark.parametrize("lang", LANGS)
def test_erasure_partly_kept_states_each_legal_ground(renderer: ReplyRenderer, lang: str) -> None:
    kept = (BOOKKEEPING_SV, "Garantiärende: preskriptionslagen (1981:130) 2 §")
    body = text(
        renderer,
        "erasure_confirmation",
        ctx(lang, "erasure", erased_summary=("Kontakt",), kept_summary=kept),
    )
    assert ERASED[lang] in body and KEPT_HEADING[lang] in body
    assert f"- {kept[0]}\n- {kept[1]}" in body
    assert {"sv": "17.3", "en": "17(3)", "nb": "17 nr. 3", "da": "17, stk. 3"}[lang] in body


@pytest.mark.parametrize("lang", LANGS)
def test_erasure_all_kept_does_not_say_erased(renderer: ReplyRenderer, lang: str) -> None:
    body = text(
        renderer, "erasure_confirmation", ctx(lang, "erasure", kept_summary=(BOOKKEEPING_SV,))
    )
    assert ERASED[lang] not in body and KEPT_HEADING[lang] in body


def test_erasure_without_any_record_is_refused(renderer: ReplyRenderer) -> None:
    with pytest.raises(ValueError, match="erased_summary"):
        renderer.render("erasure_confirmation", ctx("sv", "erasure"))


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    ("name", "summary"),
    [
        ("erasure_confirmation", "erased_summary"),
        ("rectification_confirmation", "rectified_summary"),
        ("restriction_confirmation", "restricted_summary"),
    ],
)
def test_article_19_only_where_data_was_disclosed(
    renderer: ReplyRenderer, lang: str, name: str, summary: str
) -> None:
    right = name.split("_")[0]
    told = ctx(lang, right, recipients_told=("Ortomedic AS",), **{summary: ("Telefon",)})
    alone = ctx(lang, right, **{summary: ("Telefon",)})
    assert ART_19[lang] in text(renderer, name, told) and "- Ortomedic AS" in text(
        renderer, name, told
    )
    assert ART_19[lang] not in text(renderer, name, alone)


# -- objection (Art. 21(1)) -----------------------------------------------------------------
@pytest.mark.parametrize("lang", LANGS)
def test_objection_upheld(renderer: ReplyRenderer, lang: str) -> None:
    body = text(renderer, "objection_outcome", ctx(lang, "objection", objection_upheld=True))
    assert {"sv": "godtar den", "en": "accept it", "nb": "tar den til følge", "da": "medhold"}[
        lang
    ] in body
    assert COURT[lang] not in body


@pytest.mark.parametrize("lang", LANGS)
def test_objection_not_upheld_gives_grounds_imy_and_courts(
    renderer: ReplyRenderer, lang: str
) -> None:
    grounds = "Uppgifterna behövs för en pågående garantitvist (ärende 2026-17)."
    body = text(
        renderer,
        "objection_outcome",
        ctx(lang, "objection", objection_upheld=False, objection_grounds=grounds),
    )
    assert grounds in body and COURT[lang] in body and IMY[lang] in body
    if lang in HOME_AUTHORITY:
        assert HOME_AUTHORITY[lang] in body


def test_objection_needs_a_decision_and_grounds(renderer: ReplyRenderer) -> None:
    with pytest.raises(ValueError, match="objection_upheld"):
        renderer.render("objection_outcome", ctx("sv", "objection", objection_upheld=None))
    with pytest.raises(ValueError, match="objection_grounds"):
        renderer.render(
            "objection_outcome",
            ctx("sv", "objection", objection_upheld=False, objection_grounds=None),
        )


# -- access: data, and no data --------------------------------------------------------------
@pytest.mark.parametrize("lang", LANGS)
def test_no_data_is_a_complete_access_answer_not_a_refusal(
    renderer: ReplyRenderer, lang: str
) -> None:
    body = text(
        renderer,
        "access_response",
        ctx(lang, "access", no_data=True, attachments=(), searched=("Kunddatabasen",)),
    )
    assert NO_DATA[lang] in body and "Kunddatabasen" in body
    assert REFUSING[lang] not in body and ".json" not in body
    assert IMY[lang] in body  # the right to complain is still stated


PORTABILITY_NONE = {
    "sv": "har inga personuppgifter som du själv har lämnat till oss",
    "en": "hold no personal data that you have provided to us",
    "nb": "har ingen personopplysninger som du selv har gitt oss",
    "da": "har ingen personoplysninger, som du selv har givet os",
}


@pytest.mark.parametrize("lang", LANGS)
def test_portability_with_nothing_provided_says_so(renderer: ReplyRenderer, lang: str) -> None:
    context = ctx(lang, "portability", no_data=True, attachments=(), searched=("Kunddb",))
    body = text(renderer, "portability_response", context)
    assert PORTABILITY_NONE[lang] in body and "Kunddb" in body and ".json" not in body
    full = text(renderer, "portability_response", ctx(lang, "portability"))
    assert PORTABILITY_NONE[lang] not in full and ".json" in full


@pytest.mark.parametrize("lang", LANGS)
def test_access_states_article_15_1_c_and_15_2_from_the_profile(
    renderer: ReplyRenderer, lang: str
) -> None:
    body = text(
        renderer, "access_response", ctx(lang, "access", purposes=(), categories=(), sources=())
    )
    expected = {
        "sv": [
            "Ortomedic AS, vårt moderbolag i Norge (inom EES)",
            "Vi för inte över dina personuppgifter till något land utanför EU/EES",
            "Från arrangörer av mässor och symposier",
            "Från offentliga källor",
            "Från dig själv",
            "Bokföring: fakturor och verifikationer",
            "personuppgiftsbiträden",
            "Vilka typer av personuppgifter",
            "Postadress:",
        ],
        "en": [
            "Ortomedic AS, our parent company in Norway (within the EEA)",
            "We do not transfer your personal data to any country outside the EU/EEA",
            "From organisers of trade fairs and symposia",
            "From public sources",
            "Bookkeeping: invoices and vouchers",
            "(processors)",
            "+46 8 22 40 20",
        ],
        "nb": [
            "Ortomedic AS, vårt morselskap i Norge (innenfor EØS)",
            "Vi overfører ikke personopplysningene dine til land utenfor EU/EØS",
            "Fra arrangører av messer og symposier",
            "Bokføring: fakturaer og bilag",
            "+46 8 22 40 20",
        ],
        "da": [
            "Ortomedic AS, vores moderselskab i Norge (inden for EØS)",
            "Vi overfører ikke dine personoplysninger til lande uden for EU/EØS",
            "Fra arrangører af messer og symposier",
            "Bogføring: fakturaer og bilag",
            "+46 8 22 40 20",
        ],
    }[lang]
    for phrase in expected:
        assert phrase in body, phrase


def test_a_transfer_outside_the_eea_is_stated_with_its_safeguards() -> None:
    profile = example_controller().model_copy(
        update={
            "transfers_outside_eea": True,
            "transfer_safeguards": {
                "sv": "EU-kommissionens standardavtalsklausuler (USA)",
                "en": "the European Commission's standard contractual clauses (USA)",
                "nb": "EU-kommisjonens standardavtaler (USA)",
                "da": "EU-Kommissionens standardkontraktbestemmelser (USA)",
            },
        }
    )
    body = ReplyRenderer(profile).render("access_response", ctx("en", "access")).text
    assert "We transfer personal data to countries outside the EU/EEA" in body
    assert "standard contractual clauses (USA)" in body


def test_a_profile_that_does_not_say_about_transfers_cannot_answer_access() -> None:
    profile = ControllerProfile(name="Exempel AB", purposes=["x"], categories=["y"], sources=["z"])
    with pytest.raises(ValueError, match="transfers_outside_eea"):
        ReplyRenderer(profile).render("access_response", ctx("sv", "access"))
    assert any("transfers_outside_eea" in p for p in ReplyRenderer(profile).profile_problems())


def test_one_text_for_every_language_is_reported() -> None:
    profile = example_controller().model_copy(update={"retention": "Sju år."})
    problems = ReplyRenderer(profile).profile_problems()
    assert problems == [
        "controller.retention: one text for every language; give one per language (sv, en, nb, da)"
    ]


def test_a_missing_letter_language_in_the_profile_refuses_the_letter() -> None:
    retention = {"sv": "Sju år.", "en": "Seven years."}
    profile = example_controller().model_copy(update={"retention": retention})
    assert "controller.retention: no 'nb' text" in ReplyRenderer(profile).profile_problems()
    with pytest.raises(ValueError, match="no 'nb' text"):
        ReplyRenderer(profile).render("access_response", ctx("nb", "access"))


@pytest.mark.parametrize("lang", LANGS)
def test_no_letter_carries_another_language(renderer: ReplyRenderer, lang: str) -> None:
    for name in renderer.names():
        for types in (("access",), ("access", "erasure"), ("objection",)):
            context = replace(sample_context(lang, types), objection_upheld=False)
            body = text(renderer, name, context)
            for word in FOREIGN[lang]:
                assert word not in body, f"{lang}/{name}: {word!r}"


# -- refusals (Art. 12(4)/(5), 11(2)) and the fee ------------------------------------------
ART_12_5 = {
    "sv": "artikel 12.5",
    "en": "Article 12(5)",
    "nb": "artikkel 12 nr. 5",
    "da": "12, stk. 5",
}
ART_11_2 = {
    "sv": "artikel 11.2",
    "en": "Articles 11(2)",
    "nb": "artikkel 11 nr. 2",
    "da": "11, stk. 2",
}


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    ("ground", "twelve_five", "eleven_two"),
    [
        ("manifestly_unfounded", True, False),
        ("excessive", True, False),
        ("identity_not_confirmed", False, True),
        ("other", False, False),
    ],
)
def test_refusal_states_the_reason_and_only_its_own_legal_paragraph(
    renderer: ReplyRenderer, lang: str, ground: str, twelve_five: bool, eleven_two: bool
) -> None:
    reason = "Skälet skrivet av handläggaren."
    body = text(
        renderer, "refusal", ctx(lang, "access", refusal_reason=reason, refusal_ground=ground)
    )
    assert reason in body and REFUSING[lang] in body and COURT[lang] in body
    assert (ART_12_5[lang] in body) is twelve_five
    assert (ART_11_2[lang] in body) is eleven_two


def test_refusal_needs_a_written_reason(renderer: ReplyRenderer) -> None:
    with pytest.raises(ValueError, match="refusal_reason"):
        renderer.render("refusal", ctx("sv", "access", refusal_reason=None))


@pytest.mark.parametrize("lang", LANGS)
def test_fee_letter_states_amount_reason_and_article(renderer: ReplyRenderer, lang: str) -> None:
    body = text(
        renderer,
        "fee_request",
        ctx(lang, "access", fee_amount="450 kr", fee_reason="Tredje utdraget i månaden."),
    )
    assert "450 kr" in body and "Tredje utdraget i månaden." in body
    assert {"sv": "12.5 a", "en": "12(5)(a)", "nb": "nr. 5 bokstav a", "da": "stk. 5, litra a"}[
        lang
    ] in body
    assert REFUSING[lang] not in body


# -- several rights: every right answered ---------------------------------------------------
PAIRS = [
    (a.value, b.value) for i, a in enumerate(ALL_REQUEST_TYPES) for b in ALL_REQUEST_TYPES[i + 1 :]
]
# A phrase from each right's own part, by language: the part answers that right.
ANSWERS = {
    "sv": {
        "access": "Här är svaret på din begäran om registerutdrag",
        "portability": "Här är svaret på din begäran om dataportabilitet",
        "erasure": "Vi har raderat dina personuppgifter",
        "rectification": "Vi har rättat dina personuppgifter",
        "restriction": "Vi har begränsat behandlingen",
        "objection": "Vi har prövat din invändning mot behandlingen",
        "marketing_optout": "Vi har tagit emot din begäran om att slippa direktmarknadsföring",
        "consent_withdrawal": "Vi har tagit emot din återkallelse av samtycke",
    },
    "en": {
        "access": "This is our answer to your request for access",
        "portability": "This is our answer to your request for data portability",
        "erasure": "We have erased your personal data",
        "rectification": "We have rectified your personal data",
        "restriction": "We have restricted the processing",
        "objection": "We have considered your objection",
        "marketing_optout": "We have received your request to receive no more direct marketing",
        "consent_withdrawal": "We have received your withdrawal of consent",
    },
    "nb": {
        "access": "Her er svaret på forespørselen din om innsyn",
        "portability": "Her er svaret på forespørselen din om dataportabilitet",
        "erasure": "Vi har slettet personopplysningene dine",
        "rectification": "Vi har rettet personopplysningene dine",
        "restriction": "Vi har begrenset behandlingen",
        "objection": "Vi har vurdert protesten din",
        "marketing_optout": "Vi har mottatt forespørselen din om å slippe direkte markedsføring",
        "consent_withdrawal": "Vi har mottatt tilbaketrekkingen av samtykket ditt",
    },
    "da": {
        "access": "Her er svaret på din anmodning om indsigt",
        "portability": "Her er svaret på din anmodning om dataportabilitet",
        "erasure": "Vi har slettet dine personoplysninger",
        "rectification": "Vi har berigtiget dine personoplysninger",
        "restriction": "Vi har begrænset behandlingen",
        "objection": "Vi har vurderet din indsigelse",
        "marketing_optout": "Vi har modtaget din anmodning om ikke længere at modtage direkte",
        "consent_withdrawal": "Vi har modtaget din tilbagetrækning af samtykke",
    },
}


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("pair", PAIRS, ids="+".join)
def test_every_pair_of_rights_gets_both_answers(
    renderer: ReplyRenderer, lang: str, pair: tuple[str, str]
) -> None:
    name = reply_name(pair)
    assert len(name.split("+")) == 2
    reply = renderer.render(name, sample_context(lang, pair))
    for right in pair:
        assert ANSWERS[lang][right] in reply.text, right
    assert reply.subject.startswith("[DSR-2026-0042] ")
    assert reply.text.count("DSR-2026-0042") >= 1 and reply.html.count("<h2>") >= 2


def test_access_and_erasure_give_the_copy_and_the_erasure_outcome(renderer: ReplyRenderer) -> None:
    context = ctx(
        "sv",
        "access",
        "erasure",
        searched=("Kunddatabasen",),
        kept_summary=(BOOKKEEPING_SV,),
        erased_summary=("Kontaktuppgifter",),
    )
    body = text(renderer, reply_name(("access", "erasure")), context)
    assert body.index("personuppgifter.json") < body.index("Radering (artikel 17)")
    assert BOOKKEEPING_SV in body


# -- consent withdrawal ---------------------------------------------------------------------
@pytest.mark.parametrize("lang", LANGS)
def test_consent_withdrawal_says_what_was_erased(renderer: ReplyRenderer, lang: str) -> None:
    body = text(
        renderer,
        "consent_withdrawal_confirmation",
        ctx(lang, "consent_withdrawal", consent_erased=("Prenumerationslistan",)),
    )
    assert "- Prenumerationslistan" in body
    quiet = text(renderer, "consent_withdrawal_confirmation", ctx(lang, "consent_withdrawal"))
    assert "Prenumerationslistan" not in quiet


# -- acknowledgement ------------------------------------------------------------------------
STOPPED = {
    "sv": "Vi har redan slutat skicka direktmarknadsföring",
    "en": "We have already stopped sending direct marketing",
    "nb": "Vi har allerede sluttet å sende direkte markedsføring",
    "da": "Vi er allerede holdt op med at sende direkte markedsføring",
}


@pytest.mark.parametrize("lang", LANGS)
def test_acknowledgement(renderer: ReplyRenderer, lang: str) -> None:
    plain = text(renderer, "acknowledgement", ctx(lang, "marketing_optout"))
    stopped = text(
        renderer, "acknowledgement", ctx(lang, "marketing_optout", marketing_stopped=True)
    )
    assert STOPPED[lang] not in plain and STOPPED[lang] in stopped
    assert "personuppgiftspolicy" not in plain  # Art. 12(2): no pointer to paper requests
    assert {
        "sv": "2 april 2026",
        "en": "2 April 2026",
        "nb": "2. april 2026",
        "da": "2. april 2026",
    }[lang] in plain


# -- wording (item 11) ----------------------------------------------------------------------
def test_swedish_wording_starting_points(renderer: ReplyRenderer) -> None:
    def sv(name: str, *types: str, **fields: object) -> str:
        reply = renderer.render(name, ctx("sv", *types, **fields))
        return reply.subject + "\n" + reply.text

    assert "din invändning mot behandlingen" in sv("objection_outcome", "objection")
    assert "din begäran om invändning" not in sv("acknowledgement", "objection")
    assert "din begäran om att slippa direktmarknadsföring" in sv(
        "acknowledgement", "marketing_optout"
    )
    assert "från det att vi tog emot" in sv("acknowledgement", "access")
    assert "från det att vi tog emot" in sv("extension_notice", "access")
    assert "Vilka typer av personuppgifter" in sv("access_response", "access")
    assert "Postadress: Micromedic AB, c/o ViRedo AB" in sv("acknowledgement", "access")
    assert IMY["sv"] in sv("refusal", "access")
    assert "+46 8 22 40 20" in renderer.render("acknowledgement", ctx("en", "access")).text


# -- the library check ----------------------------------------------------------------------
def test_check_covers_all_four_languages(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    shutil.copytree(templates_dir(), root)
    renderer = ReplyRenderer(example_controller(), root)
    assert renderer.languages() == ["da", "en", "nb", "sv"]
    (root / "da" / "fee_request.j2").unlink()
    shutil.rmtree(root / "nb")
    problems = ReplyRenderer(example_controller(), root).check()
    assert "da/fee_request.j2: missing translation" in problems
    assert "nb/: no templates for a letter language" in problems


@pytest.mark.parametrize("asked", ["nb", "nn", "no", "da"])
def test_norwegian_and_danish_writers_get_their_own_language(
    renderer: ReplyRenderer, asked: str
) -> None:
    used = {"da": "da"}.get(asked, "nb")
    reply = renderer.render("acknowledgement", ctx(asked, "access"))
    assert f'<html lang="{used}">' in reply.html
    assert HOME_AUTHORITY[used].split(",")[0] not in reply.text  # no complaint paragraph here
    assert re.search(
        {"nb": r"Vi har mottatt", "da": r"Vi har modtaget"}[used], reply.subject + reply.text
    )
