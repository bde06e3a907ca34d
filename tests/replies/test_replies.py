"""The reply template library: every reply in every language for every request type.

Expected strings (dates, article numbers) are written out by hand here, not produced by the
code under test.
"""

from __future__ import annotations

import shutil
import tomllib
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from dsr_bot.cases.model import ALL_REQUEST_TYPES
from dsr_bot.config import ControllerProfile, load_controller_profile
from dsr_bot.replies import ReplyRenderer, example_controller, sample_context, templates_dir
from dsr_bot.replies.markup import to_html_body, to_text

REPO = Path(__file__).resolve().parents[2]
NAMES = [
    "acknowledgement",
    "identity_request",
    "access_response",
    "portability_response",
    "erasure_confirmation",
    "rectification_confirmation",
    "restriction_confirmation",
    "objection_outcome",
    "marketing_optout_confirmation",
    "consent_withdrawal_confirmation",
    "extension_notice",
    "refusal",
    "fee_request",
    "clarification_request",
]
LANGUAGES = ["da", "en", "nb", "sv"]
TYPE_SETS = [(t.value,) for t in ALL_REQUEST_TYPES] + [("access", "erasure"), ()]
# The sample case: received 2 March 2026, due 2 April 2026, extended to 2 June 2026.
DATES = {
    ("sv", "due_on"): "2 april 2026",
    ("en", "due_on"): "2 April 2026",
    ("sv", "extended_due_on"): "2 juni 2026",
    ("en", "extended_due_on"): "2 June 2026",
    ("nb", "due_on"): "2. april 2026",
    ("nb", "extended_due_on"): "2. juni 2026",
    ("da", "due_on"): "2. april 2026",
    ("da", "extended_due_on"): "2. juni 2026",
}
DATE_SHOWN = {
    "acknowledgement": "due_on",
    "identity_request": "due_on",
    "clarification_request": "due_on",
    "extension_notice": "extended_due_on",
}


@pytest.fixture(scope="module")
def controller() -> ControllerProfile:
    return example_controller()


@pytest.fixture(scope="module")
def renderer(controller: ControllerProfile) -> ReplyRenderer:
    return ReplyRenderer(controller)


def test_library_has_every_reply_in_both_languages(renderer: ReplyRenderer) -> None:
    assert renderer.names() == sorted(NAMES)
    assert renderer.languages() == LANGUAGES


@pytest.mark.parametrize("types", TYPE_SETS, ids=lambda t: "+".join(t) or "none")
@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("name", NAMES)
def test_every_template_renders(
    renderer: ReplyRenderer, controller: ControllerProfile, name: str, lang: str, types: tuple
) -> None:
    ctx = sample_context(lang, types)
    reply = renderer.render(name, ctx)
    assert reply.subject.startswith("[DSR-2026-0042] ")
    assert "\n" not in reply.subject
    assert reply.text.strip() and reply.html.strip()
    for part in (reply.text, reply.html):
        assert "DSR-2026-0042" in part
        assert controller.name in part
        assert controller.org_number in part
        assert "{{" not in part and "{%" not in part and "None" not in part
    if name in DATE_SHOWN:
        expected = DATES[(lang, DATE_SHOWN[name])]
        assert expected in reply.text and expected in reply.html
    assert f'<html lang="{lang}">' in reply.html


def test_requester_name_is_escaped_in_html_and_plain_in_text(renderer: ReplyRenderer) -> None:
    ctx = replace(sample_context("sv", ("access",)), requester_name="<script>alert(1)</script>")
    reply = renderer.render("acknowledgement", ctx)
    assert "<script>" not in reply.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in reply.html
    assert "Hej <script>alert(1)</script>!" in reply.text


def test_entities_survive_both_renderings(renderer: ReplyRenderer) -> None:
    ctx = replace(sample_context("en", ("access",)), requester_name='Åsa & Bo &amp; "Co"')
    reply = renderer.render("acknowledgement", ctx)
    assert 'Dear Åsa & Bo &amp; "Co",' in reply.text
    assert "Åsa &amp; Bo &amp;amp; &#34;Co&#34;" in reply.html


def test_requester_text_cannot_add_structure(renderer: ReplyRenderer) -> None:
    plain = renderer.render("acknowledgement", sample_context("en", ("access",)))
    hostile = replace(
        sample_context("en", ("access",)), original_subject="Hi\n\n- fake bullet\n\n# Fake"
    )
    reply = renderer.render("acknowledgement", hostile)
    assert reply.html.count("<li>") == plain.html.count("<li>")
    assert reply.html.count("<h2>") == plain.html.count("<h2>")
    assert "Hi - fake bullet # Fake" in reply.text


def test_staff_note_keeps_its_paragraphs(renderer: ReplyRenderer) -> None:
    ctx = replace(sample_context("sv", ("erasure",)), note="Första stycket.\n\n- en punkt")
    reply = renderer.render("erasure_confirmation", ctx)
    assert "<p>Första stycket.</p>\n<ul><li>en punkt</li></ul>" in reply.html


def test_shipped_library_checks_clean(renderer: ReplyRenderer) -> None:
    assert renderer.check() == []


def _copy_library(tmp_path: Path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(templates_dir(), target)
    return target


def test_check_reports_undefined_variable(tmp_path: Path, controller: ControllerProfile) -> None:
    root = _copy_library(tmp_path)
    path = root / "en" / "refusal.j2"
    path.write_text(path.read_text().replace("{{ refusal_reason }}", "{{ refusal_reasn }}"))
    problems = ReplyRenderer(controller, root).check()
    assert problems
    assert all(p.startswith("en/refusal.j2") for p in problems)
    assert any("refusal_reasn" in p for p in problems)


def test_check_reports_missing_translation(tmp_path: Path, controller: ControllerProfile) -> None:
    root = _copy_library(tmp_path)
    (root / "sv" / "objection_outcome.j2").unlink()
    assert ReplyRenderer(controller, root).check() == [
        "sv/objection_outcome.j2: missing translation"
    ]


def test_check_reports_missing_request_type_name(
    tmp_path: Path, controller: ControllerProfile
) -> None:
    root = _copy_library(tmp_path)
    path = root / "sv" / "_common.j2"
    source = path.read_text()
    assert '"portability": "dataportabilitet",' in source
    path.write_text(source.replace('"portability": "dataportabilitet",', ""))
    problems = ReplyRenderer(controller, root).check()
    assert problems and all(p.startswith("sv/") for p in problems)
    assert any("portability" in p for p in problems)


def test_check_reports_subject_without_reference(
    tmp_path: Path, controller: ControllerProfile
) -> None:
    root = _copy_library(tmp_path)
    path = root / "en" / "extension_notice.j2"
    path.write_text(path.read_text().replace("[{{ ref }}] ", "", 1))
    problems = ReplyRenderer(controller, root).check()
    assert problems == ["en/extension_notice.j2: subject does not name the case reference"]


def test_template_text_cannot_write_html(tmp_path: Path, controller: ControllerProfile) -> None:
    root = _copy_library(tmp_path)
    path = root / "en" / "refusal.j2"
    path.write_text(
        path.read_text().replace("# The reasons for our decision", "# Why <b>R&D</b> &amp; co")
    )
    reply = ReplyRenderer(controller, root).render("refusal", sample_context("en", ()))
    assert "<h2>Why &lt;b&gt;R&amp;D&lt;/b&gt; &amp; co</h2>" in reply.html
    assert "Why <b>R&D</b> & co" in reply.text


@pytest.mark.parametrize(
    ("asked", "used"),
    [
        ("sv", "sv"),
        ("sv-SE", "sv"),
        ("en_GB", "en"),
        ("nb", "nb"),
        ("nn", "nb"),
        ("no", "nb"),
        ("da", "da"),
        ("da-DK", "da"),
        ("de", "en"),
        ("fi", "en"),
        ("", "en"),
    ],
)
def test_language_fallback(renderer: ReplyRenderer, asked: str, used: str) -> None:
    assert renderer.template_language(asked) == used
    reply = renderer.render("acknowledgement", sample_context(asked, ("access",)))
    assert f'<html lang="{used}">' in reply.html


def test_missing_required_field_is_refused(renderer: ReplyRenderer) -> None:
    ctx = replace(sample_context("sv", ("access",)), extension_reason=None)
    with pytest.raises(ValueError, match="extension_reason"):
        renderer.render("extension_notice", ctx)
    rejected = replace(
        sample_context("en", ("objection",)), objection_upheld=False, objection_grounds=None
    )
    with pytest.raises(ValueError, match="objection_grounds"):
        renderer.render("objection_outcome", rejected)


def test_unknown_template_is_refused(renderer: ReplyRenderer) -> None:
    with pytest.raises(ValueError, match="no reply template"):
        renderer.render("nonexistent", sample_context("sv", ()))


# One row per legal statement a reply must make; the phrase is how the template says it.
LEGAL = [
    ("acknowledgement", "sv", ("access",), ["artikel 15", "en månad", "två månader", "12.6"]),
    ("acknowledgement", "en", ("erasure",), ["Article 17", "one month", "two further months"]),
    (
        "acknowledgement",
        "sv",
        ("marketing_optout",),
        ["artikel 21.2", "direktmarknadsföring från oss"],
    ),
    ("acknowledgement", "en", ("consent_withdrawal",), ["Article 7(3)"]),
    ("acknowledgement", "sv", ("portability",), ["artikel 20"]),
    (
        "acknowledgement",
        "en",
        ("rectification", "restriction", "objection"),
        ["Article 16", "Article 18", "Article 21(1)"],
    ),
    (
        "identity_request",
        "sv",
        ("access",),
        ["artikel 12.6", "fortsätter att löpa", "c/o ViRedo AB, Box 55642, 102 14 Stockholm"],
    ),
    ("identity_request", "en", ("access",), ["Article 12(6)", "keeps running"]),
    (
        "access_response",
        "sv",
        ("access",),
        [
            "Ortomedic AS",
            "moderbolag i Norge (inom EES)",
            "bokföringslagen (1999:1078) 7 kap. 2 §",
            "Integritetsskyddsmyndigheten (IMY, tidigare Datainspektionen), www.imy.se",
            "Vilka typer av personuppgifter",
            "utanför EU/EES",
            "artikel 15.2",
            "Postadress:",
            "artikel 16",
            "artikel 17",
            "artikel 18",
            "artikel 21",
            "artikel 22",
            "personuppgifter.json",
            "Kundadministration",
            "Från dig själv",
        ],
    ),
    (
        "access_response",
        "en",
        ("access",),
        [
            "Ortomedic AS",
            "parent company in Norway (within the EEA)",
            "outside the EU/EEA",
            "Article 15(2)",
            "Article 22",
            "Article 77",
            "free of charge",
            "+46 8 22 40 20",
        ],
    ),
    (
        "portability_response",
        "en",
        ("portability",),
        ["Article 20", "JSON", "CSV", "personal-data.csv"],
    ),
    (
        "erasure_confirmation",
        "sv",
        ("erasure",),
        [
            "artikel 17",
            "bokföringslagen",
            "artikel 19",
            "Ortomedic AS",
            "Kontaktuppgifter i kunddatabasen",
        ],
    ),
    ("erasure_confirmation", "en", ("erasure",), ["Article 17(3)", "Article 19"]),
    ("rectification_confirmation", "sv", ("rectification",), ["artikel 16", "artikel 19"]),
    ("restriction_confirmation", "en", ("restriction",), ["Article 18(2)", "Article 18(3)"]),
    ("objection_outcome", "sv", ("objection",), ["artikel 21.1", "godtar", "slutat"]),
    (
        "marketing_optout_confirmation",
        "sv",
        ("marketing_optout",),
        ["artikel 21.2 och 21.3", "ovillkorlig", "spärrlista", "anna.andersson@example.se"],
    ),
    (
        "marketing_optout_confirmation",
        "en",
        ("marketing_optout",),
        ["Article 21(2) and (3)", "unconditional", "suppression list"],
    ),
    (
        "consent_withdrawal_confirmation",
        "en",
        ("consent_withdrawal",),
        ["Article 7(3)", "does not affect the lawfulness of processing carried out before"],
    ),
    (
        "extension_notice",
        "sv",
        ("access",),
        ["artikel 12.3", "2 juni 2026", "flera system", "två månader"],
    ),
    (
        "refusal",
        "sv",
        ("access",),
        [
            "12.5",
            "uppenbart ogrundad eller orimlig",
            "Integritetsskyddsmyndigheten",
            "Datainspektionen",
            "allmän domstol",
            "fjärde likadana",
        ],
    ),
    (
        "refusal",
        "en",
        ("access",),
        [
            "Article 12(5)",
            "Integritetsskyddsmyndigheten",
            "Datainspektionen",
            "court",
            "Article 79",
        ],
    ),
    ("clarification_request", "en", (), ["Does this include Ortomedic AS?", "Article 12(3)"]),
]


@pytest.mark.parametrize(("name", "lang", "types", "phrases"), LEGAL)
def test_reply_states_the_law(
    renderer: ReplyRenderer, name: str, lang: str, types: tuple, phrases: list[str]
) -> None:
    text = renderer.render(name, sample_context(lang, types)).text
    for phrase in phrases:
        assert phrase in text, f"{lang}/{name} should say {phrase!r}"


def test_objection_rejected_states_grounds_and_remedies(renderer: ReplyRenderer) -> None:
    ctx = replace(sample_context("sv", ("objection",)), objection_upheld=False)
    text = renderer.render("objection_outcome", ctx).text
    assert "reklamation" in text and "tvingande berättigade skäl" in text
    assert "Integritetsskyddsmyndigheten" in text and "allmän domstol" in text


def test_identity_request_says_when_the_clock_stops(renderer: ReplyRenderer) -> None:
    ctx = replace(sample_context("en", ("access",)), deadline_paused=True)
    text = renderer.render("identity_request", ctx).text
    assert "suspended while we wait for it" in text
    assert "keeps running" not in text


def test_dates_are_written_out(renderer: ReplyRenderer) -> None:
    ctx = replace(sample_context("sv", ("access",)), due_on=date(2026, 12, 31))
    assert "31 december 2026" in renderer.render("acknowledgement", ctx).text


def test_controller_facts_come_from_the_profile(renderer: ReplyRenderer) -> None:
    other = ControllerProfile(name="Exempel AB", org_number="556000-0000", dpo_name="Dana DPO")
    reply = ReplyRenderer(other).render("acknowledgement", sample_context("sv", ("access",)))
    assert "Exempel AB" in reply.text and "Dana DPO" in reply.text
    assert "Micromedic" not in reply.text and "Ortomedic" not in reply.text


def test_deploy_profile_is_the_packaged_example() -> None:
    deploy = REPO / "deploy" / "controller.example.toml"
    packaged = REPO / "src" / "dsr_bot" / "replies" / "example_controller.toml"
    assert deploy.read_bytes() == packaged.read_bytes()
    profile = load_controller_profile(deploy)
    assert profile == example_controller()
    assert profile.name == "Micromedic AB"
    assert profile.org_number == "556949-0153"
    assert profile.postal_address == "c/o ViRedo AB, Box 55642, 102 14 Stockholm"
    assert profile.phone == "08-22 40 20"
    assert profile.dpo_name == "Arvid Tjomsland"
    assert profile.parent_company == "Ortomedic AS"
    assert "controller" in tomllib.loads(deploy.read_text(encoding="utf-8"))


def test_templates_dir_is_the_checkout_library() -> None:
    assert templates_dir() == REPO / "templates"


def test_markup_structure() -> None:
    source = "# Title\nline one\nline two\n\n- a &amp; b\n- c\n  more c\n\nend"
    assert to_html_body(source) == (
        "<h2>Title</h2>\n<p>line one<br>\nline two</p>\n"
        "<ul><li>a &amp; b</li><li>c<br>more c</li></ul>\n<p>end</p>"
    )
    assert to_text(source) == "Title\nline one\nline two\n\n- a & b\n- c\n  more c\n\nend\n"
