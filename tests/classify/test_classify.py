"""The classifier's public surface apart from the trained weights: thresholds and the review
band, explicit-phrase rules, the fallback when no model ships, and the CLI's JSON lines."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dsr_bot.cases.model import ALL_REQUEST_TYPES, RequestType
from dsr_bot.classify import RuleClassifier, load_classifier
from dsr_bot.classify.corpus import CorpusError, carve_dev, read_jsonl
from dsr_bot.classify.rules import rule_hits
from dsr_bot.classify.scoring import check_thresholds, decide
from dsr_bot.cli.classify_files import classify_inputs, read_inputs


def test_labels_are_the_scores_at_or_above_threshold() -> None:
    result = decide(
        {"access": 0.5, "erasure": 0.49}, "sv", threshold=0.5, review_low=0.2, margin=0.0
    )
    assert result.labels == (RequestType.ACCESS,)
    assert not result.needs_review
    assert set(result.scores) == {t.value for t in ALL_REQUEST_TYPES}


def test_uncertain_best_score_is_sent_to_review_not_dropped() -> None:
    result = decide({"objection": 0.3}, "en", threshold=0.5, review_low=0.2)
    assert result.labels == ()
    assert result.needs_review


def test_low_scores_are_a_plain_non_request() -> None:
    result = decide({"objection": 0.1}, "en", threshold=0.5, review_low=0.2)
    assert result.labels == () and not result.needs_review


@pytest.mark.parametrize(("threshold", "review_low"), [(0.0, 0.0), (0.5, 0.6), (1.2, 0.2)])
def test_nonsense_thresholds_are_refused(threshold: float, review_low: float) -> None:
    with pytest.raises(ValueError):
        check_thresholds(threshold, review_low)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Jag begär registerutdrag enligt artikel 15 GDPR", {RequestType.ACCESS}),
        ("Radera mina personuppgifter omedelbart", {RequestType.ERASURE}),
        ("please unsubscribe me", {RequestType.MARKETING_OPTOUT}),
        ("Jag återkallar mitt samtycke", {RequestType.CONSENT_WITHDRAWAL}),
        ("I object to the profiling you do", {RequestType.OBJECTION}),
        ("Vennligst slett meg fra listen", {RequestType.ERASURE}),
        ("Kan ni skicka en offert på tio pipetter?", set()),
    ],
)
def test_rules_recognise_explicit_requests(text: str, expected: set[RequestType]) -> None:
    assert rule_hits("", text) == expected


def test_rules_stay_silent_on_auto_replies_that_quote_a_request() -> None:
    quoted = "Automatic reply: I am out of office.\n> Please delete my data"
    assert rule_hits("Out of office", quoted) == set()


def test_rule_classifier_fills_every_label_and_detects_language() -> None:
    result = RuleClassifier().classify("Avregistrera", "Avregistrera mig från nyhetsbrevet tack")
    assert result.labels == (RequestType.MARKETING_OPTOUT,)
    assert result.language == "sv"
    assert len(result.scores) == len(ALL_REQUEST_TYPES)


def test_without_a_model_directory_the_rule_classifier_is_used(tmp_path: Path) -> None:
    assert isinstance(load_classifier(model_dir=tmp_path / "missing"), RuleClassifier)


def test_classifier_is_safe_to_share_between_threads() -> None:
    classifier = load_classifier()
    mails = [("Radera", "radera mina uppgifter"), ("Offert", "pris på centrifug?")] * 50
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda m: classifier.classify(*m), mails))
    serial = [classifier.classify(*m) for m in mails]
    assert results == serial


def test_jsonl_input_gives_one_json_line_per_message(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"id": "a1", "subject": "GDPR", "text": "Radera mina personuppgifter"})
        + "\n\n"
        + json.dumps({"id": "a2", "subject": "Offer", "text": "Price for 10 pipettes?"})
        + "\n",
        encoding="utf-8",
    )
    out = io.StringIO()
    assert classify_inputs(jsonl=source, out=out) == 2
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["id"] for r in rows] == ["a1", "a2"]
    assert "erasure" in rows[0]["labels"] and rows[0]["language"] == "sv"
    assert rows[1]["labels"] == [] and rows[1]["language"] == "en"
    assert set(rows[0]["scores"]) == {t.value for t in ALL_REQUEST_TYPES}


def test_stdin_json_lines_are_read(tmp_path: Path) -> None:
    stdin = io.BytesIO(b'{"id": "s1", "subject": "", "text": "unsubscribe me please"}\n')
    assert [m[0] for m in read_inputs(stdin=stdin)] == ["s1"]


def test_bad_jsonl_names_the_line(tmp_path: Path) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text("not json\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl:1"):
        list(read_inputs(jsonl=source))


def test_corpus_reader_refuses_unknown_labels(tmp_path: Path) -> None:
    source = tmp_path / "x.train.jsonl"
    source.write_text('{"id": "1", "labels": ["delete"], "subject": "", "text": ""}\n')
    with pytest.raises(CorpusError, match="unknown labels"):
        read_jsonl(source)


def test_dev_carve_is_stable_when_emails_are_added(tmp_path: Path) -> None:
    source = tmp_path / "x.train.jsonl"
    lines = [
        json.dumps({"id": f"e{i}", "labels": [], "subject": "", "text": ""}) for i in range(200)
    ]
    source.write_text("\n".join(lines[:100]), encoding="utf-8")
    _, dev_small = carve_dev(read_jsonl(source))
    source.write_text("\n".join(lines), encoding="utf-8")
    _, dev_large = carve_dev(read_jsonl(source))
    assert {r.id for r in dev_small} <= {r.id for r in dev_large}
    assert 0 < len(dev_large) < 60


def test_eml_files_are_parsed_and_classified_by_their_new_text(tmp_path: Path) -> None:
    eml = tmp_path / "request.eml"
    eml.write_bytes(
        b"From: Anna <anna@example.se>\r\nTo: dpo@micromedic.se\r\n"
        b"Subject: =?utf-8?q?Radera_mina_uppgifter?=\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Hej, radera alla mina personuppgifter. Mvh Anna\r\n"
    )
    out = io.StringIO()
    assert classify_inputs(eml_paths=[eml], classifier=RuleClassifier(), out=out) == 1
    row = json.loads(out.getvalue())
    assert row["id"] == str(eml)
    assert row["labels"] == ["erasure"] and row["language"] == "sv"
