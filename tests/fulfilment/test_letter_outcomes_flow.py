"""Letter outcomes end to end: mail → Slack (verify, decide, approve) → the letter at SMTP.

Real pieces as in test_fulfilment_flow.py: dsr-bot's database and the customer database
(SQLite and PostgreSQL), intake, the outbox pump and an aiosmtpd server; Slack is the fake
Web API, driven by signed HTTP payloads. The Norwegian and Danish writers' mail goes through
a real Dovecot and the shipped classifier. Each test reads the letter the SMTP server got and
the audit trail, and checks that the letter states what was done and nothing else.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import pytest

from dsr_bot.bootstrap import App
from dsr_bot.cases.model import Classification, RequestType
from dsr_bot.intake.watcher import MailboxWatcher
from dsr_bot.reports.report import month_report
from dsr_bot.slack.runtime import SlackRuntime
from tests.fixtures import customer_db
from tests.fixtures.bot import MAIL_FROM
from tests.fixtures.customer_db import ANNA
from tests.fixtures.fulfilment_desk import CRM, Desk, sources_file
from tests.fixtures.slack_api import FakeSlack
from tests.fixtures.slack_app import (
    APPROVER,
    audit,
    free_port,
    mail_bot,
    only_case,
    slack_settings,
    start_bot,
)
from tests.fixtures.slack_payloads import block_action, select_value, text_value, view_submission
from tests.intake.test_intake_e2e import mail
from tests.slack.test_e2e import card_button, interact

pytestmark = pytest.mark.slow

STRANGER = "okand.person@example.se"
# The keep reason as bokföringslagen (1999:1078) 7 kap. 2 § words it, in each letter language.
KEEP_REASONS = {
    "sv": "räkenskapsinformation ska bevaras till och med det sjunde året efter utgången av "
    "det kalenderår då räkenskapsåret avslutades (bokföringslagen (1999:1078) 7 kap. 2 §)",
    "en": "accounting records must be kept until the end of the seventh year after the "
    "calendar year in which the financial year ended (Swedish Bookkeeping Act (1999:1078), "
    "chapter 7, section 2)",
    "nb": "regnskapsinformasjon skal oppbevares til og med det sjuende året etter utgangen av "
    "kalenderåret da regnskapsåret ble avsluttet (den svenske bokføringsloven (1999:1078) "
    "kapittel 7 § 2)",
    "da": "regnskabsmateriale skal opbevares til og med det syvende år efter udgangen af det "
    "kalenderår, hvor regnskabsåret sluttede (den svenske bogføringslov (1999:1078) kapitel 7, "
    "§ 2)",
}
KEEP_INVOICES = (
    'erasure = "keep"\n'
    'description = { sv = "Fakturor", en = "Invoices", nb = "Fakturaer", da = "Fakturaer" }\n'
    "keep_reason = { "
    + ", ".join(f'{lang} = "{text}"' for lang, text in KEEP_REASONS.items())
    + " }\n"
)


class MarkedClassifier:
    """Classification is not under test: `[types]` in the subject, `lang:xx` in the body."""

    def classify(self, subject: str, text: str) -> Classification:
        names = subject[subject.index("[") + 1 : subject.index("]")].split(",")
        types = tuple(RequestType(n.strip()) for n in names)
        lang = text.split("lang:", 1)[1][:2] if "lang:" in text else "sv"
        return Classification(types, {t.value: 0.95 for t in types}, lang)


class LetterDesk(Desk):
    def receive_from(self, sender: str, subject: str, lang: str = "sv") -> None:
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = MAIL_FROM
        msg["Subject"] = subject
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = make_msgid(domain="example.se")
        msg.set_content(f"Se ämnesraden. lang:{lang}")
        inbound = self.app.intake.store_raw(
            mailbox="INBOX", uidvalidity=1, uid=1, raw=msg.as_bytes(), received_at=datetime.now(UTC)
        )
        assert inbound is not None
        self.app.intake.process(inbound)
        self.runtime.poke()
        self.card(lambda blocks: "dsr_verify" in blocks)

    def prepare_notice(self) -> str:
        """Click *Prepare reply* where preparing is refused: the notice the modal shows."""
        before = len(self.slack.calls_of("views.update"))
        self.click(APPROVER, "dsr_prepare")
        deadline = time.monotonic() + 10
        while len(self.slack.calls_of("views.update")) <= before:
            assert time.monotonic() < deadline, "the modal was never updated"
            time.sleep(0.02)
        return json.dumps(self.slack.calls_of("views.update")[-1].args["view"])

    def submit_modal(self, user: str, button: str, callback: str, values: dict[str, Any]) -> Any:
        self.click(user, button)
        return self.submit(user, self.slack.opened_view(callback), values)


def tables(text: str, marked: str) -> str:
    """The customer source with `newsletter` marked as consent-based and invoices kept with
    the law's wording in every letter language."""
    text = text.replace(
        'description = "Nyhetsbrev"\n',
        'description = { sv = "Nyhetsbrev", en = "Newsletter", nb = "Nyhetsbrev", '
        'da = "Nyhedsbrev" }\n' + marked,
    )
    start = text.index('name = "invoices"')
    end = text.index("\n[[", start) if "\n[[" in text[start:] else len(text)
    block = text[start:end]
    kept = (
        'name = "invoices"\nperson_via = { column = "customer_id", references = "customers.id" }\n'
    )
    return text[:start] + kept + KEEP_INVOICES + text[start + len(block) :]


@pytest.fixture
def desk(
    slack_api: FakeSlack,
    database_url: str,
    customer_url: str,
    smtp_sink: Any,
    tmp_path: Path,
) -> Iterator[LetterDesk]:
    engine = customer_db.build(customer_url)
    path = sources_file(tmp_path / "sources.toml", customer_url)
    path.write_text(tables(path.read_text(encoding="utf-8"), "consent = true\n"), "utf-8")
    port = free_port()
    settings = slack_settings(
        slack_api,
        database_url,
        slack_mode="http",
        slack_http_port=port,
        four_eyes=True,
        data_sources=path,
        **smtp_sink.settings_overrides(),
    )
    app, runtime = start_bot(settings, classifier=MarkedClassifier(), pump_interval=0.1)
    try:
        yield LetterDesk(app, runtime, f"http://127.0.0.1:{port}/slack/events", slack_api, engine)
    finally:
        runtime.stop()
        app.engine.dispose()
        engine.dispose()


def letter(smtp_sink: Any, n: int = 2) -> tuple[EmailMessage, str]:
    received = smtp_sink.wait_for(n)
    message = received[n - 1].message
    return message, message.get_body(("plain",)).get_content()


def outcomes(app: App) -> dict[str, str]:
    [approved] = audit(app, "reply_approved")
    return dict(approved.detail["outcomes"])


# -- erasure ------------------------------------------------------------------------------
def test_erasure_nothing_found_says_so_and_erases_nothing(desk: LetterDesk, smtp_sink: Any) -> None:
    before = desk.snapshot()
    desk.receive_from(STRANGER, "Radera mig [erasure]")
    desk.verify()
    desk.tick(CRM)
    assert "errors" not in desk.send(desk.prepare())
    mail_, body = letter(smtp_sink)
    assert "Svar på din begäran om radering" in mail_["Subject"]
    assert "Vi har sökt efter personuppgifter om dig i Kunddatabasen" in body
    assert "har inte hittat några, så det finns inget att radera" in body
    assert "Vi har raderat" not in body and "Det här sparar vi" not in body
    assert "artikel 19" in body  # the CRM (a recipient) was ticked off as told
    assert outcomes(desk.app) == {"erasure": "nothing_found"}
    assert desk.snapshot() == before


def test_erasure_partly_kept_in_english_states_the_law_in_english(
    desk: LetterDesk, smtp_sink: Any
) -> None:
    desk.receive_from(ANNA, "Erase me [erasure]", lang="en")
    desk.verify()
    desk.tick(CRM)
    assert "errors" not in desk.send(desk.prepare())
    _, body = letter(smtp_sink)
    assert "We have erased your personal data as you asked, with the exceptions" in body
    assert "- Newsletter" in body
    assert (
        "- Invoices: accounting records must be kept until the end of the seventh year after "
        "the calendar year in which the financial year ended (Swedish Bookkeeping Act "
        "(1999:1078), chapter 7, section 2)"
    ) in body
    assert "räkenskapsinformation" not in body and "Nyhetsbrev" not in body
    assert outcomes(desk.app) == {"erasure": "partly_kept"}
    assert desk.snapshot()["invoices"]  # kept


# -- access: no data is an answer, not a refusal --------------------------------------------
def test_access_with_nothing_found_is_answered_and_reported_as_no_data(
    desk: LetterDesk, smtp_sink: Any
) -> None:
    desk.receive_from(STRANGER, "Mina uppgifter [access]")
    desk.verify()
    assert "errors" not in desk.send(desk.prepare())
    mail_, body = letter(smtp_sink)
    assert "behandlar vi alltså inga personuppgifter om dig" in body
    assert "tillmötesgå" not in body and list(mail_.iter_attachments()) == []
    assert outcomes(desk.app) == {"access": "no_data"}
    case = only_case(desk.app)
    assert case.status == "answered"
    with desk.app.factory() as session:
        now = datetime.now(UTC)
        report = month_report(session, now.year, now.month, now=now, timezone="Europe/Stockholm")
    [line] = report.cases
    assert line.outcome == "no_data" and report.refusals == 0 and report.no_data == 1


def test_no_data_held_button_answers_without_a_data_source(
    desk: LetterDesk, smtp_sink: Any
) -> None:
    desk.receive_from(STRANGER, "Registerutdrag [access]")
    desk.click(APPROVER, "dsr_no_data")
    _, body = letter(smtp_sink)
    assert "inga personuppgifter om dig" in body
    assert only_case(desk.app).status == "answered"
    assert outcomes(desk.app) == {"access": "no_data"}


# -- objection (Art. 21(1)) -----------------------------------------------------------------
def test_objection_not_upheld_needs_grounds_and_names_imy_and_the_courts(
    desk: LetterDesk, smtp_sink: Any
) -> None:
    desk.receive_from(ANNA, "Invändning [objection]")
    desk.verify()
    view = desk.prepare_notice()
    assert "decide the objection first" in view
    answer = desk.decide_objection("not_upheld")
    assert "compelling legitimate grounds" in json.dumps(answer)
    grounds = "Uppgifterna behövs för att utreda din pågående garantitvist med oss."
    assert "errors" not in desk.decide_objection("not_upheld", grounds)
    assert "errors" not in desk.send(desk.prepare())
    _, body = letter(smtp_sink)
    assert grounds in body and "tvingande berättigade skäl" in body
    assert "Integritetsskyddsmyndigheten (IMY, tidigare Datainspektionen)" in body
    assert "allmän domstol (artikel 79)" in body
    assert outcomes(desk.app) == {"objection": "not_upheld"}
    [decided] = [e for e in audit(desk.app, "objection_decided") if not e.detail["upheld"]][-1:]
    assert decided.detail["grounds"] == grounds


def test_objection_upheld(desk: LetterDesk, smtp_sink: Any) -> None:
    desk.receive_from(ANNA, "Invändning [objection]")
    desk.verify()
    assert "errors" not in desk.decide_objection("upheld")
    assert "errors" not in desk.send(desk.prepare())
    _, body = letter(smtp_sink)
    assert "och godtar den. Vi har slutat behandla" in body and "domstol" not in body
    assert outcomes(desk.app) == {"objection": "upheld"}


# -- refusal and fee (Art. 12(4)/(5)) ------------------------------------------------------
def test_refusal_needs_a_written_reason_and_a_fee_is_its_own_letter(
    desk: LetterDesk, smtp_sink: Any
) -> None:
    desk.receive_from(ANNA, "Utdrag igen [access]")
    values = {"reason": select_value("excessive")}
    answer = desk.submit_modal(APPROVER, "dsr_reject", "dsr_reject_submit", values)
    assert "Write the reason out" in json.dumps(answer)
    answer = desk.submit_modal(
        APPROVER,
        "dsr_reject",
        "dsr_reject_submit",
        {"reason": select_value("other"), "note": text_value("x"), "fee": text_value("500 kr")},
    )
    assert "manifestly unfounded or excessive" in json.dumps(answer)
    reason = "Du har fått ett fullständigt utdrag tre gånger den här månaden."
    answer = desk.submit_modal(
        APPROVER,
        "dsr_reject",
        "dsr_reject_submit",
        {**values, "note": text_value(reason), "fee": text_value("450 kr")},
    )
    assert "errors" not in answer
    mail_, body = letter(smtp_sink)
    assert "Avgift för din begäran om registerutdrag" in mail_["Subject"]
    assert "Avgiften är 450 kr" in body and reason in body and "12.5 a" in body
    assert only_case(desk.app).status == "open"  # not refused: waiting for the requester
    assert [e.detail["fee"] for e in audit(desk.app, "fee_requested")] == ["450 kr"]


def test_refusal_for_identity_states_article_11_2_only(desk: LetterDesk, smtp_sink: Any) -> None:
    desk.receive_from(ANNA, "Utdrag [access]")
    reason = "Uppgifterna du lämnade stämmer inte med dem vi har registrerade."
    answer = desk.submit_modal(
        APPROVER,
        "dsr_reject",
        "dsr_reject_submit",
        {"reason": select_value("identity_not_confirmed"), "note": text_value(reason)},
    )
    assert "errors" not in answer
    _, body = letter(smtp_sink)
    assert reason in body and "artikel 11.2 och 12.2" in body and "12.5" not in body
    assert only_case(desk.app).status == "rejected"


# -- consent withdrawal: erase what the consent covered --------------------------------------
def test_consent_withdrawal_erases_the_consented_data_and_says_so(
    desk: LetterDesk, smtp_sink: Any
) -> None:
    before = desk.snapshot()
    others = [r for r in before["newsletter"] if r["email"].strip().lower() != ANNA]
    assert len(others) < len(before["newsletter"])
    desk.receive_from(ANNA, "Återkallar samtycke [consent_withdrawal]")
    desk.verify()
    assert "Consent withdrawn" in json.dumps(desk.prepare()["blocks"][0])
    assert "errors" not in desk.send(desk.prepare())
    _, body = letter(smtp_sink)
    assert "Det här har vi raderat" in body and "- Nyhetsbrev" in body
    after = desk.snapshot()
    assert after["newsletter"] == others  # only the person's consented rows
    assert {k: v for k, v in after.items() if k != "newsletter"} == {
        k: v for k, v in before.items() if k != "newsletter"
    }
    [erased] = audit(desk.app, "data_erased")
    assert erased.detail["scope"] == "consent"
    assert outcomes(desk.app) == {"consent_withdrawal": "erased"}


# -- several rights, in Danish: both confirmed ---------------------------------------------
def test_rectification_and_restriction_in_danish_are_both_confirmed(
    desk: LetterDesk, smtp_sink: Any
) -> None:
    desk.receive_from(ANNA, "Ret og begræns [rectification,restriction]", lang="da")
    ack, ack_body = letter(smtp_sink, 1)
    subject = " ".join(str(ack["Subject"]).split())  # unfolded
    assert "Vi har modtaget din anmodning om berigtigelse og begrænsning" in subject
    assert "Sådan har vi forstået din anmodning" in ack_body
    desk.verify()
    desk.tick(CRM)
    assert "errors" not in desk.send(desk.prepare())
    reply, body = letter(smtp_sink)
    assert "Svar på din anmodning om berigtigelse og begrænsning" in " ".join(
        str(reply["Subject"]).split()
    )
    assert (
        "Berigtigelse (artikel 16)" in body and "Begrænsning af behandlingen (artikel 18)" in body
    )
    assert "Vi har berigtiget dine personoplysninger" in body
    assert "Vi har begrænset behandlingen af dine personoplysninger" in body
    assert outcomes(desk.app) == {"rectification": "confirmed", "restriction": "confirmed"}


# -- Norwegian and Danish writers through Dovecot and the shipped classifier ---------------
@pytest.fixture
def mailbot(
    mailbox: Any,
    smtp_sink: Any,
    slack_api: FakeSlack,
    database_url: str,
) -> Iterator[tuple[App, SlackRuntime]]:
    with mail_bot(mailbox, smtp_sink, slack_api, database_url, pump_interval=0.2) as started:
        yield started


NB_ACCESS = mail(
    "ola.nordmann@example.no",
    "Innsyn i personopplysninger",
    "Hei! Jeg ber om innsyn i hvilke personopplysninger dere har lagret om meg, og ønsker en "
    "kopi av opplysningene. Med vennlig hilsen Ola Nordmann",
    name="Ola Nordmann",
)
DA_ERASURE = mail(
    "mette.hansen@example.dk",
    "Sletning af mine oplysninger",
    "Hej. Jeg ønsker, at I sletter alle de personoplysninger, I har om mig. Venlig hilsen "
    "Mette Hansen",
    name="Mette Hansen",
)


@pytest.mark.parametrize(
    ("raw", "lang", "ack_subject", "authority"),
    [
        (NB_ACCESS, "nb", "Vi har mottatt forespørselen din om innsyn", "Datatilsynet i Norge"),
        (DA_ERASURE, "da", "Vi har modtaget din anmodning om", "Datatilsynet i Danmark"),
    ],
    ids=["nb", "da"],
)
def test_a_scandinavian_writer_gets_every_letter_in_their_language(
    mailbot: tuple[App, SlackRuntime],
    mailbox: Any,
    smtp_sink: Any,
    slack_api: FakeSlack,
    raw: bytes,
    lang: str,
    ack_subject: str,
    authority: str,
) -> None:
    app, _ = mailbot
    mailbox.append(raw)
    MailboxWatcher(app).run_once()
    ack, ack_body = letter(smtp_sink, 1)
    case = only_case(app)
    assert case.language == lang
    subject = " ".join(str(ack["Subject"]).split())
    assert ack_subject in subject, subject
    assert {"nb": "innsyn", "da": "sletning"}[lang] in subject
    assert "personuppgiftspolicy" not in ack_body and "Vi har tagit emot" not in ack_body
    # Staff refuse (identity not confirmed) in Slack: the refusal is in the writer's
    # language and names the writer's own authority beside IMY (Art. 77).
    slack_api.wait_for("chat.postMessage", lambda c: "case_actions" in json.dumps(c.args))
    interact(slack_api, block_action(APPROVER, "dsr_reject", card_button(slack_api, "dsr_reject")))
    reason = {"nb": "Opplysningene stemmer ikke.", "da": "Oplysningerne stemmer ikke."}[lang]
    answer = interact(
        slack_api,
        view_submission(
            APPROVER,
            slack_api.opened_view("dsr_reject_submit"),
            {"reason": select_value("identity_not_confirmed"), "note": text_value(reason)},
        ),
    )
    assert "errors" not in json.dumps(answer)
    refusal, body = letter(smtp_sink, 2)
    assert case.ref in refusal["Subject"]
    assert reason in body and authority in body and "Integritetsskyddsmyndigheten (IMY)" in body
    assert {"nb": "artikkel 11 nr. 2", "da": "artikel 11, stk. 2"}[lang] in body
    assert {"nb": "Med vennlig hilsen", "da": "Med venlig hilsen"}[lang] in body
    assert only_case(app).status == "rejected"
