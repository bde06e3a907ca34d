"""Issue 12: letters as outsiders write them. Legal citations as evidence, grounds listed as
reasons, follow-ups (reminders with a claimed date, process questions), saying when unsure,
long letters read whole, address blocks kept out of the language guess, and the outsider
letters kept out of training."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from dsr_bot.cases.model import FollowUp, FollowUpKind, RequestType
from dsr_bot.classify import RuleClassifier, load_classifier
from dsr_bot.classify.citations import cited_rights, strong_citations, without_grounds
from dsr_bot.classify.corpus import LabelledEmail, OutsiderDataError, read_split
from dsr_bot.classify.evaluation import build_report
from dsr_bot.classify.follow_up import detect_follow_up
from dsr_bot.classify.language import detect_language
from dsr_bot.classify.rules import rule_evidence
from dsr_bot.classify.scoring import decide
from dsr_bot.classify.spacy_classifier import model_input
from dsr_bot.classify.training import train_model

R = RequestType
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("jag vill härmed utöva min rätt till radering enligt artikel 17", {R.ERASURE}),
        ("i hereby request access pursuant to article 15 gdpr", {R.ACCESS}),
        ("jeg krever innsyn etter personvernforordningen artikkel 15", {R.ACCESS}),
        (
            "jeg anmoder om berigtigelse, jf. databeskyttelsesforordningen artikel 16",
            {R.RECTIFICATION},
        ),
        ("please restrict processing under art. 18(1)(d) gdpr", {R.RESTRICTION}),
        ("i ask for my data under article 20(1)", {R.PORTABILITY}),
        ("i object under art. 21(1) gdpr", {R.OBJECTION}),
        ("i object under art. 21(3) gdpr", {R.MARKETING_OPTOUT}),
        ("jag invänder enligt artikel 21.2", {R.MARKETING_OPTOUT}),
        ("jeg gør indsigelse efter artikel 21, stk. 2", {R.MARKETING_OPTOUT}),
        ("i object to direct marketing, article 21 gdpr", {R.MARKETING_OPTOUT}),
        ("i withdraw my consent under article 7(3)", {R.CONSENT_WITHDRAWAL}),
        ("härmed begär jag rättelse enligt § 16 gdpr", {R.RECTIFICATION}),
        ("you must answer within one month, article 12(3), and tell recipients (art. 19)", set()),
    ],
)
def test_a_cited_article_is_evidence_for_its_right(sentence: str, expected: set[R]) -> None:
    assert strong_citations(sentence) == expected


@pytest.mark.parametrize(
    "text",
    [
        "webinar: handling erasure requests under article 17 gdpr and restriction under article 18",
        "vi hjälper företag att hantera begäranden enligt artikel 15, 17 och 21 inom en månad.",
        "klarar ni en begäran om radering enligt artikel 17 inom en månad?",
        "enligt hyreslagen § 17 ska hyresvärden åtgärda bristen.",
    ],
)
def test_a_citation_where_nobody_asks_is_not_strong(text: str) -> None:
    assert strong_citations(text) == set()


def test_paragraph_numbers_are_read_in_every_citation_style() -> None:
    assert cited_rights("artikel 21, stk. 3", True) == {R.MARKETING_OPTOUT}
    assert cited_rights("artikkel 21 nr. 2", True) == {R.MARKETING_OPTOUT}
    assert cited_rights("art. 21(1)", True) == {R.OBJECTION}
    assert cited_rights("article 7(3)", True) == {R.CONSENT_WITHDRAWAL}
    assert cited_rights("article 7", True) == set()
    assert cited_rights("§ 15", False) == set()


GROUNDS_LETTER = """Dear Sir or Madam,

I am hereby requesting the immediate erasure of all personal data concerning me under
Article 17 GDPR.

The following grounds apply:
- the data is no longer necessary (Art. 17(1)(a));
- I have withdrawn the consent on which the processing was based (Art. 17(1)(b));
- I have objected to the processing and there are no overriding grounds (Art. 17(1)(c)).

Kind regards,
Hannah Ridley"""


def test_grounds_listed_for_an_erasure_are_reasons_not_requests() -> None:
    evidence = rule_evidence("Erasure request", GROUNDS_LETTER)
    assert R.ERASURE in evidence.strong
    assert not evidence.strong & {R.CONSENT_WITHDRAWAL, R.OBJECTION}
    # A model score for them is the grounds speaking: held below the threshold.
    assert {R.CONSENT_WITHDRAWAL, R.OBJECTION} <= evidence.held
    assert "withdrawn the consent" not in without_grounds(GROUNDS_LETTER.lower())


def test_a_condition_in_the_text_is_a_reason_too() -> None:
    text = "Please delete all my data. When consent is withdrawn, the processing loses its basis."
    evidence = rule_evidence("", text)
    assert R.ERASURE in evidence.strong
    assert R.CONSENT_WITHDRAWAL not in evidence.strong


@pytest.mark.parametrize(
    "text",
    [
        "Please erase my data. The following grounds apply:\n"
        "- when I withdraw my consent, the processing loses its basis;\n"
        "- your legitimate interest cannot outweigh mine after I object;",
        "Please erase my data: the processing loses its basis when I withdraw my consent.",
        "Radera mina uppgifter. Behandlingen saknar grund när jag återkallar mitt samtycke.",
        "Slett opplysningene mine. Behandlingen mister grunnlaget når jeg trekker samtykket.",
    ],
)
def test_a_right_in_a_condition_is_a_reason_not_an_exercise(text: str) -> None:
    # The issue's own example: "when I withdraw my consent" is a ground for the erasure.
    evidence = rule_evidence("Erasure request", text)
    assert R.ERASURE in evidence.strong
    assert not evidence.strong & {R.CONSENT_WITHDRAWAL, R.OBJECTION}


@pytest.mark.parametrize(
    ("addition", "right"),
    [
        ("If I have given consent, I am hereby withdrawing said consent.", R.CONSENT_WITHDRAWAL),
        ("Any consent I gave is hereby withdrawn.", R.CONSENT_WITHDRAWAL),
        ("In addition, I object to the profiling you carry out.", R.OBJECTION),
        ("Jag återkallar härmed mitt samtycke.", R.CONSENT_WITHDRAWAL),
        ("Jeg protesterer også mot profileringen.", R.OBJECTION),
    ],
)
def test_a_present_tense_statement_exercises_the_right_as_well(addition: str, right: R) -> None:
    evidence = rule_evidence("Erasure request", f"{GROUNDS_LETTER}\n\n{addition}")
    assert {R.ERASURE, right} <= evidence.strong


def test_an_objection_to_direct_marketing_is_the_opt_out_only() -> None:
    text = (
        "I am hereby objecting to the processing of personal data concerning me for direct "
        "marketing purposes according to Article 21(2) GDPR. This objection includes profiling "
        "to the extent that it is related to direct marketing."
    )
    evidence = rule_evidence("Objection", text)
    assert R.MARKETING_OPTOUT in evidence.strong
    assert R.OBJECTION not in evidence.strong and R.OBJECTION in evidence.held


def test_an_objection_to_profiling_next_to_marketing_keeps_both() -> None:
    text = (
        "I object to direct marketing under Art. 21(2). I also object to the analytics profiling."
    )
    assert {R.MARKETING_OPTOUT, R.OBJECTION} <= rule_evidence("", text).strong


def test_an_article_15_enumeration_is_access_not_portability() -> None:
    text = (
        "I hereby request access under Article 15 GDPR. Please provide:\n1. a copy of my data;\n"
        "2. the purposes;\n3. the recipients;\n4. the storage period;\n5. the source."
    )
    evidence = rule_evidence("", text)
    assert R.ACCESS in evidence.strong and R.PORTABILITY in evidence.held
    with_format = text + "\nPlease send the copy in a machine-readable format."
    assert R.PORTABILITY in rule_evidence("", with_format).strong


@pytest.mark.parametrize(
    "text",
    [
        "Please delete my personal data or, if you are legally required to keep it, restrict its "
        "processing to storage only.",
        "Radera mina uppgifter eller, om ni måste spara dem, begränsa behandlingen.",
        "Slett opplysningene mine, ellers sperr dem slik at de ikke brukes.",
    ],
)
def test_either_or_asks_for_both_rights(text: str) -> None:
    assert {R.ERASURE, R.RESTRICTION} <= rule_evidence("", text).strong


def test_a_bare_rectification_demand_with_identifiers_is_not_access() -> None:
    text = (
        "I request correction of inaccurate personal data held about me.\n"
        "Name: Hannah Ridley (you have Hannah Riddley)\nAddress: 14 Larch Grove, Leeds"
    )
    evidence = rule_evidence("", text)
    assert R.RECTIFICATION in evidence.strong and R.ACCESS not in evidence.strong


def test_a_polite_account_deletion_is_erasure() -> None:
    text = (
        "I hope this message finds you well. I would like to request the closure of my account "
        "and the deletion of all associated personal data."
    )
    assert R.ERASURE in rule_evidence("", text).strong


@pytest.mark.parametrize(
    ("text", "right", "claimed", "written"),
    [
        (
            "On 27 January 2026 I sent you a request under Article 18 GDPR and have had no reply.",
            R.RESTRICTION,
            date(2026, 1, 27),
            "27 january 2026",
        ),
        (
            "Den 3 mars 2026 skickade jag en begäran enligt artikel 15 och har inte fått svar.",
            R.ACCESS,
            date(2026, 3, 3),
            "3 mars 2026",
        ),
        (
            "Den 3. mars 2026 sendte jeg dere et krav etter artikkel 17 og har ikke fått svar.",
            R.ERASURE,
            date(2026, 3, 3),
            "3. mars 2026",
        ),
        (
            "Jeg rykker for min anmodning efter artikel 20 fra den 07.09.2026.",
            R.PORTABILITY,
            date(2026, 9, 7),
            "07.09.2026",
        ),
        (
            "I am chasing my Article 16 request from 2026-08-11. Please respond.",
            R.RECTIFICATION,
            date(2026, 8, 11),
            "2026-08-11",
        ),
    ],
)
def test_a_reminder_carries_the_right_it_chases_and_the_date_it_claims(
    text: str, right: R, claimed: date, written: str
) -> None:
    result = RuleClassifier().classify("Reminder", text)
    assert result.labels == (right,)
    assert result.follow_up is not None and result.follow_up.kind is FollowUpKind.REMINDER
    assert result.follow_up.claimed_date == claimed
    assert result.follow_up.claimed_text == written


def test_a_claimed_day_without_a_year_is_the_latest_such_day_before_arrival() -> None:
    follow_up = detect_follow_up(
        "i wrote to you on 27 december asking for erasure. still no reply.", has_request=False
    )
    assert follow_up is not None and follow_up.claimed_date is None
    assert follow_up.claimed_month_day == (12, 27)
    assert follow_up.resolved_date(date(2027, 1, 20)) == date(2026, 12, 27)
    assert follow_up.resolved_date(date(2026, 12, 28)) == date(2026, 12, 27)


def test_an_impossible_date_is_not_claimed() -> None:
    follow_up = detect_follow_up("i sent my request on 31 february. no reply.", has_request=False)
    assert follow_up == FollowUp(FollowUpKind.REMINDER)


def test_a_reminder_whose_right_cannot_be_told_goes_to_review() -> None:
    result = RuleClassifier().classify("", "I wrote to you in March and have had no reply.")
    assert result.labels == ()
    assert result.needs_review and result.follow_up is not None


@pytest.mark.parametrize(
    "text",
    [
        "Please tell me exactly what verification you require before you can process my request.",
        "Vilka handlingar behöver ni för att bekräfta min identitet?",
        "You asked for ID. Is a scanned driving licence enough?",
        "Linket I sendte er udløbet. Hvordan henter jeg filen fra min anmodning?",
    ],
)
def test_a_question_about_the_process_is_not_a_new_request(text: str) -> None:
    for classifier in (RuleClassifier(), load_classifier()):
        result = classifier.classify("Re: your email", text)
        assert result.labels == ()
        assert result.needs_review, "a process question is never dropped"
        assert result.follow_up is not None
        assert result.follow_up.kind is FollowUpKind.PROCESS_QUESTION


def test_a_fresh_request_is_no_follow_up() -> None:
    result = RuleClassifier().classify("", "Please send me a copy of my personal data.")
    assert result.follow_up is None and result.labels == (R.ACCESS,)


def test_a_stranger_asking_how_long_an_access_request_takes_is_not_a_process_question() -> None:
    assert detect_follow_up("hur lång tid tar ett registerutdrag hos er?", False) is None


def test_a_score_near_its_threshold_goes_to_review_with_the_candidates() -> None:
    result = decide({"erasure": 0.53, "restriction": 0.41, "access": 0.1}, "en", 0.5, 0.2)
    assert result.labels == ()  # the only label that passed is a near miss: do not guess
    assert result.needs_review
    assert result.candidates == (R.ERASURE, R.RESTRICTION)


def test_a_confident_label_stays_and_a_near_miss_is_flagged() -> None:
    result = decide({"erasure": 0.9, "restriction": 0.48}, "en", 0.5, 0.2)
    assert result.labels == (R.ERASURE,)
    assert result.needs_review and result.candidates[:2] == (R.ERASURE, R.RESTRICTION)


def test_clear_scores_are_not_flagged() -> None:
    result = decide({"erasure": 0.9, "restriction": 0.1}, "en", 0.5, 0.2)
    assert result.labels == (R.ERASURE,) and not result.needs_review and not result.candidates


BACKGROUND = (
    "For context: I bought two centrifuges from you for our lab in 2021 and attended your user "
    "day in Gothenburg the year after, and have had no business with your company since. "
)


def test_a_long_letter_is_read_whole() -> None:
    text = "Dear Sir or Madam,\n\n" + BACKGROUND * 70 + "\n\nPlease erase all my personal data."
    assert 12_000 < len(text) < 20_000
    assert "please erase all my personal data" in model_input("Letter", text)
    assert RuleClassifier().classify("Letter", text).labels == (R.ERASURE,)
    assert load_classifier().classify("Letter", text).labels == (R.ERASURE,)


def test_quoted_history_below_a_long_reply_is_still_stripped() -> None:
    quoted = "\n".join("> " + line for line in ["Please delete all my data.", "Hannah"])
    text = "Thanks, the invoice arrived. " + BACKGROUND * 20 + "\n\nOn Monday Hannah wrote:\n"
    result = RuleClassifier().classify("Re: invoice", text + quoted)
    assert result.labels == ()
    assert "delete" not in model_input("Re: invoice", text + quoted)


@pytest.mark.parametrize(
    ("expected", "text"),
    [
        (
            "da",
            "Micromedic AB\nAtt: Dataskyddsombudet\nBox 1123\n751 41 Uppsala\nSverige\n\n"
            "Örebro, 2026-03-01\n\nHej,\nSlet mine oplysninger.\nMvh\nSøren Friis\n"
            "Södra Järnvägsgatan 4, 702 10 Örebro",
        ),
        (
            "en",
            "Björn Öhrström\nÄngsvägen 12\n831 40 Östersund\nSverige\n\nPlease delete my data.\n\n"
            "Björn Öhrström\nTel: 070-123 45 67\nÄngsvägen 12, Östersund",
        ),
        (
            "nb",
            "Micromedic AB\nBox 1123\n751 41 Uppsala\n\nVäxjö 2026-02-02\n\nHei,\nslett meg.\nKari",
        ),
    ],
)
def test_address_blocks_and_signatures_do_not_drive_the_language(expected: str, text: str) -> None:
    assert detect_language(text) == expected


def test_training_refuses_the_outsider_letters(tmp_path: Path) -> None:
    outsider = tmp_path / "outsider"
    outsider.mkdir()
    (outsider / "letters.train.jsonl").write_text('{"id": "x", "labels": []}\n', "utf-8")
    with pytest.raises(OutsiderDataError):
        read_split(outsider, "train")
    with pytest.raises(OutsiderDataError):
        train_model(outsider, ROOT / "classifiers" / "config.cfg", tmp_path / "model")


def test_the_outsider_letters_record_where_they_come_from() -> None:
    import json

    rows = [
        json.loads(line)
        for line in (ROOT / "classifiers" / "outsider" / "letters.jsonl")
        .read_text("utf-8")
        .splitlines()
        if line.strip()
    ]
    assert len(rows) >= 20
    assert all(row["source"] and row["labels"] is not None for row in rows)
    assert not list((ROOT / "classifiers" / "corpus").glob("*outsider*"))


def test_the_report_counts_dropped_requests_apart_from_review() -> None:
    records = [
        LabelledEmail("a", "en", frozenset({"erasure"}), "", ""),
        LabelledEmail("b", "en", frozenset({"access"}), "", ""),
        LabelledEmail("c", "en", frozenset(), "", ""),
    ]
    results = [
        decide({"erasure": 0.05}, "en", 0.5, 0.2),  # dropped: no label, no review
        decide({"access": 0.3}, "en", 0.5, 0.2),  # to review
        decide({}, "en", 0.5, 0.2),
    ]
    report = build_report(records, results)
    assert (report.requests_dropped, report.requests_to_review) == (1, 1)


def test_the_cli_prints_the_follow_up_marker_and_candidates(tmp_path: Path) -> None:
    import io
    import json

    from dsr_bot.cli.classify_files import classify_inputs

    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps(
            {
                "id": "r1",
                "subject": "Reminder",
                "text": "On 27 January 2026 I sent you a request under Article 18 GDPR "
                "and have had no reply.",
            }
        )
        + "\n",
        "utf-8",
    )
    out = io.StringIO()
    assert classify_inputs(jsonl=source, out=out, classifier=RuleClassifier()) == 1
    row = json.loads(out.getvalue())
    assert row["labels"] == ["restriction"]
    assert row["follow_up"] == {
        "kind": "reminder",
        "claimed_date": "2026-01-27",
        "claimed_text": "27 january 2026",
    }
    assert row["candidates"] == []


def test_the_letters_corpus_is_exactly_what_the_generator_writes(tmp_path: Path) -> None:
    import runpy

    generate = runpy.run_path(str(ROOT / "classifiers" / "letters" / "generate.py"))
    generate["main"](["--out", str(tmp_path)])
    for name in ("letters", "letters6"):
        for split in ("train", "test"):
            path = f"{name}.{split}.jsonl"
            assert (tmp_path / path).read_bytes() == (
                ROOT / "classifiers" / "corpus" / path
            ).read_bytes()


def test_the_round_6_test_letters_are_long() -> None:
    import json

    path = ROOT / "classifiers" / "corpus" / "letters6.test.jsonl"
    lengths = [len(json.loads(line)["text"]) for line in path.read_text("utf-8").splitlines()]
    assert len(lengths) >= 60 and min(lengths) >= 1500


def test_no_test_letter_shares_a_sentence_with_a_training_letter() -> None:
    import json
    import re

    def sentences(split: str) -> set[str]:
        found: set[str] = set()
        lines = [
            line
            for name in ("letters", "letters6")
            for line in (ROOT / "classifiers" / "corpus" / f"{name}.{split}.jsonl")
            .read_text("utf-8")
            .splitlines()
        ]
        for line in lines:
            for part in re.split(r"\n+", json.loads(line)["text"]):
                # Request sentences only: long enough to be the writer's own wording, not a
                # salutation, a name or an identifier line.
                if len(part) > 60 and not part.startswith(("-", "(", "1.", ">")):
                    found.add(part)
        return found

    shared = sentences("train") & sentences("test")
    # Address blocks and the like repeat by design; no request sentence may.
    assert not {s for s in shared if "\n" not in s and ":" not in s[:30]}


def test_an_article_15_item_that_lists_the_rights_asks_for_none_of_them() -> None:
    text = (
        "Under Article 15 GDPR please provide a copy of my personal data.\nPlease include:\n"
        "(a) the purposes of the processing;\n"
        "(b) information about my right to request rectification, erasure or restriction, "
        "and to object;"
    )
    evidence = rule_evidence("", text)
    assert R.ACCESS in evidence.strong and R.RESTRICTION not in evidence.strong
    either_or = text + "\nAfterwards, delete my data or, if you must keep it, restrict it."
    assert R.RESTRICTION in rule_evidence("", either_or).strong


def test_a_reminder_that_names_its_right_holds_the_rights_it_does_not_name() -> None:
    text = (
        "Hei, den 27. januar 2026 sendte jeg dere et krav etter personvernforordningen "
        "artikkel 18 og har ikke fått svar. Ola"
    )
    evidence = rule_evidence("Påminnelse", text)
    assert evidence.follow_up is not None and evidence.strong == {R.RESTRICTION}
    assert set(R) - {R.RESTRICTION} <= evidence.held
    # A new request in the same mail is not held: it has its own evidence.
    both = rule_evidence("Påminnelse", text + "\nSlett også opplysningene mine.")
    assert {R.RESTRICTION, R.ERASURE} <= both.strong


@pytest.mark.parametrize(
    "boilerplate",
    [
        "Article 19 GDPR obliges the controller to communicate any rectification or erasure of "
        "personal data or restriction of processing to each recipient.",
        "You have the right to object at any time to processing for direct marketing purposes.",
        "You may receive the data you have provided to us in a machine-readable format and have "
        "it transmitted to another controller.",
        "Artikel 18 ger den registrerade rätt att få behandlingen begränsad medan uppgifternas "
        "korrekthet prövas.",
        "Retten til å protestere i artikkel 21 gjelder behandling basert på berettiget interesse "
        "og direkte markedsføring.",
        "Databeskyttelsesloven indskrænker ikke de rettigheder, den registrerede har efter "
        "artikel 15 til 22, som jeg henviser til.",
    ],
)
def test_boilerplate_that_describes_rights_is_no_evidence(boilerplate: str) -> None:
    # Round 6: generator letters explain the rights and the controller's duties at length;
    # the demand is one or two rights, and only the demand is evidence.
    evidence = rule_evidence("", boilerplate)
    assert not evidence.strong and not evidence.weak
    demand = "I hereby request the erasure of my personal data under Article 17 GDPR.\n\n"
    assert rule_evidence("", demand + boilerplate).strong == {R.ERASURE}


def test_a_sentence_in_the_writers_voice_is_never_boilerplate() -> None:
    for text in (
        "You may not use my data for direct marketing; I object under Article 21(2).",
        "Please restrict the processing of the data subject's data under Article 18.",
        "We act for the data subject and request erasure under Article 17 GDPR.",
    ):
        assert rule_evidence("", text).strong, text


@pytest.mark.parametrize(
    "text",
    [
        "I object to being profiled for the purpose of sending me personalised offers; under "
        "Article 21(3) GDPR my data may no longer be used for that purpose.",
        "Please stop all direct marketing to me with immediate effect; I object under Art. "
        "21(2) GDPR.",
        "Jag vill inte längre ta emot någon form av marknadsföring och motsätter mig att min "
        "köphistorik används för att välja ut erbjudanden till mig.",
    ],
)
def test_an_objection_to_profiling_for_marketing_is_the_opt_out(text: str) -> None:
    evidence = rule_evidence("", text)
    assert R.MARKETING_OPTOUT in evidence.strong and R.OBJECTION not in evidence.strong


@pytest.mark.parametrize(
    "text",
    [
        "If I have given you consent to process my data, I hereby withdraw it.",
        "Om jag har lämnat samtycke till behandlingen återkallar jag det härmed.",
    ],
)
def test_consent_named_first_and_withdrawn_after_is_withdrawn(text: str) -> None:
    assert R.CONSENT_WITHDRAWAL in rule_evidence("", text).strong


def test_an_article_15_item_asks_for_no_rectification_or_objection_either() -> None:
    text = (
        "Jag begär registerutdrag enligt artikel 15 GDPR. Jag vill ha:\n"
        "(a) ändamålen med behandlingen;\n"
        "(b) information om min rätt att begära rättelse, radering eller begränsning och att "
        "invända;"
    )
    evidence = rule_evidence("", text)
    assert R.ACCESS in evidence.strong
    assert not evidence.strong & {R.RECTIFICATION, R.RESTRICTION, R.OBJECTION}


def test_an_objection_to_direct_marketing_listed_as_a_ground_is_a_reason() -> None:
    text = (
        "I request erasure of my personal data under Article 17 GDPR.\nThe following grounds "
        "apply:\n- an objection under Article 21(2) to direct marketing means the data may no "
        "longer be processed for that purpose;\n- the contract ended two years ago;"
    )
    evidence = rule_evidence("", text)
    assert evidence.strong == {R.ERASURE} and R.MARKETING_OPTOUT in evidence.held
    both = rule_evidence("", text + "\nAlso, stop sending me newsletters.")
    assert {R.ERASURE, R.MARKETING_OPTOUT} <= both.strong
