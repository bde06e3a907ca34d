"""Approval to inbox and to data, for each right, over the Slack wire (HTTP mode, signed).

Real pieces: dsr-bot's database and the customer database (SQLite and PostgreSQL), the SMTP
server, intake, the outbox pump; Slack is the faithful fake Web API. Each test takes a case
from mail to approval as staff would — verify (one approver), prepare (the dry run in the
modal), tick the checklist, send (another approver: four eyes) — and then looks at the mail
the SMTP server got, the customer rows, the suppression list and the audit trail.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import sqlalchemy.dialects.postgresql  # store.tables needs it loaded

from dsr_bot.app import App
from dsr_bot.cases.letters import Letters
from dsr_bot.cases.model import Classification, RequestType
from dsr_bot.fulfilment.suppression import is_suppressed
from dsr_bot.fulfilment.suppression_http import mount_suppression
from dsr_bot.health import HealthServer, Readiness
from dsr_bot.slack.runtime import SlackRuntime
from dsr_bot.store.tables import Case, Event, StaffAction
from tests.fixtures import customer_db
from tests.fixtures.bot import MAIL_FROM
from tests.fixtures.customer_db import ANNA, BOOKKEEPING
from tests.fixtures.database import fresh_schema
from tests.fixtures.slack_api import FakeSlack, slack_api  # noqa: F401  (fixture)
from tests.fixtures.slack_app import (
    APPROVER,
    GROUP_MEMBER,
    SIGNING_SECRET,
    audit,
    free_port,
    only_case,
    slack_settings,
    start_bot,
)
from tests.fixtures.slack_payloads import (
    block_action,
    post_signed,
    select_value,
    text_value,
    view_submission,
)

CRM = "Ortomedic AS CRM"
FACTS = """purposes = ["Kundadministration och leveranser"]
categories = ["Kontaktuppgifter", "Ärenden och fakturor"]
origin = "Från dig när du blev kund"
"""
ANONYMISE = """erasure = "anonymise"
set_null = ["email", "phone"]
set_values = { first_name = "Anonymiserad", last_name = "kund" }
"""


class SubjectClassifier:
    """Classification is not under test: the subject names the types, e.g. `[access]`."""

    def classify(self, subject: str, text: str) -> Classification:
        names = subject[subject.index("[") + 1 : subject.index("]")].split(",")
        types = tuple(RequestType(n.strip()) for n in names)
        lang = "en" if "please" in text.lower() else "sv"
        return Classification(types, {t.value: 0.95 for t in types}, lang)


@pytest.fixture
def customer_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """The company's own customer database: a separate SQLite file or PostgreSQL schema."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'customers.sqlite3'}"
        return
    with fresh_schema(database_url, prefix="c") as url:
        yield url


def inputs(view: dict[str, Any]) -> dict[str, Any]:
    """The reply modal's fields as prepared, unedited."""
    return {
        b["block_id"]: text_value(b["element"]["initial_value"])
        for b in view["blocks"]
        if b["type"] == "input"
    }


class Desk:
    """The bot, its customer database, and what a staff member does in Slack."""

    def __init__(
        self, app: App, runtime: SlackRuntime, url: str, slack: FakeSlack, customers: sa.Engine
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.url = url
        self.slack = slack
        self.customers = customers

    def receive(self, subject: str, body: str = "Hej, se ämnesraden. /Anna") -> Case:
        msg = EmailMessage()
        msg["From"] = f"Anna Andersson <{ANNA}>"
        msg["To"] = MAIL_FROM
        msg["Subject"] = subject
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = make_msgid(domain="example.se")
        msg.set_content(body)
        inbound = self.app.intake.store_raw(
            mailbox="INBOX", uidvalidity=1, uid=1, raw=msg.as_bytes(), received_at=datetime.now(UTC)
        )
        assert inbound is not None
        self.app.intake.process(inbound)
        self.runtime.poke()
        self.card(lambda blocks: "dsr_verify" in blocks)
        return only_case(self.app)

    def card(self, predicate: Any = lambda blocks: True, timeout: float = 10) -> list[Any]:
        """The newest case card whose blocks satisfy `predicate` (waits for the pump)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            calls = [
                c
                for c in self.slack.calls
                if c.method in ("chat.postMessage", "chat.update") and "blocks" in c.args
            ]
            if calls and predicate(json.dumps(calls[-1].args["blocks"], ensure_ascii=False)):
                return list(calls[-1].args["blocks"])
            self.runtime.poke()
            time.sleep(0.05)
        raise AssertionError("the card never showed that")

    def post(self, payload: dict[str, Any]) -> dict[str, Any]:
        status, body = post_signed(self.url, payload, SIGNING_SECRET)
        assert status == 200, body
        return json.loads(body) if body.strip() else {}

    def click(self, user: str, action_id: str) -> None:
        for block in self.card(lambda blocks: action_id in blocks):
            for element in block.get("elements", []):
                if element.get("action_id") == action_id:
                    self.post(block_action(user, action_id, element["value"]))
                    return

    def submit(self, user: str, view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        return self.post(view_submission(user, view, values))

    def verify(self) -> None:
        self.click(GROUP_MEMBER, "dsr_verify")
        view = self.slack.opened_view("dsr_verify_submit")
        answer = self.submit(GROUP_MEMBER, view, {"method": select_value("customer_record")})
        assert "errors" not in answer
        self.card(lambda blocks: "dsr_prepare" in blocks)

    def prepare(self) -> dict[str, Any]:
        """Click *Prepare reply*; the modal opens, then fills in with the dry run."""
        before = len(self.slack.calls_of("views.update"))
        self.click(APPROVER, "dsr_prepare")
        deadline = time.monotonic() + 10
        while len(self.slack.calls_of("views.update")) <= before:
            assert time.monotonic() < deadline, "the reply modal was never filled in"
            time.sleep(0.02)
        view = dict(self.slack.calls_of("views.update")[-1].args["view"])
        assert view["callback_id"] == "dsr_reply_submit", view
        return view

    def send(self, view: dict[str, Any]) -> dict[str, Any]:
        """Submit the reply modal as prepared (unedited), as the second approver."""
        return self.submit(APPROVER, view, inputs(view))

    def decide_objection(self, outcome: str, grounds: str = "") -> dict[str, Any]:
        """Art. 21(1): *Decide objection* on the card, then the modal (as an approver)."""
        self.click(APPROVER, "dsr_objection")
        view = self.slack.opened_view("dsr_objection_submit")
        values: dict[str, Any] = {"outcome": select_value(outcome)}
        if grounds:
            values["note"] = text_value(grounds)
        return self.submit(APPROVER, view, values)

    def tick(self, *sources: str) -> None:
        blocks = self.card(lambda blocks: "dsr_checklist" in blocks)
        [block] = [b for b in blocks if str(b.get("block_id", "")).startswith("dsr_checklist")]
        payload = block_action(APPROVER, "dsr_checklist", "")
        payload["actions"] = [
            {
                "type": "checkboxes",
                "action_id": "dsr_checklist",
                "block_id": block["block_id"],
                "selected_options": [
                    {"value": s, "text": {"type": "plain_text", "text": s}} for s in sources
                ],
                "action_ts": str(time.time()),
            }
        ]
        self.post(payload)
        # Slack gets its ack before the handler runs (process_before_response=False): wait
        # until the desk has claimed this click's key, so the caller sees its effect.
        key = f"dsr_checklist:{block['block_id'].split(':')[1]}:"
        key += f"{payload['actions'][0]['action_ts']}:{APPROVER}"
        deadline = time.monotonic() + 10
        while True:
            with self.app.factory() as session:
                if session.execute(sa.select(StaffAction).where(StaffAction.key == key)).first():
                    return
            assert time.monotonic() < deadline, "the tick was never handled"
            time.sleep(0.02)

    def snapshot(self) -> dict[str, list[dict[str, object]]]:
        return customer_db.snapshot(self.customers)


def sources_file(path: Path, url: str, *, customers: str = ANONYMISE, extra: str = "") -> Path:
    """The operator's data-source file: the customer database with its Art. 15(1) facts
    (optionally with another erasure policy for `customers`), and the parent company's CRM,
    a system without a connector and an Art. 19 recipient."""
    text = customer_db.sources_toml(url).replace(f'url = "{url}"\n', f'url = "{url}"\n{FACTS}')
    assert ANONYMISE in text
    customer_db.write_sources_file(path, url)
    manual = path.read_text(encoding="utf-8").split(customer_db.sources_toml(url), 1)[1]
    path.write_text(text.replace(ANONYMISE, customers) + extra + manual, encoding="utf-8")
    return path


def start(
    slack: FakeSlack,
    database_url: str,
    customer_url: str,
    smtp_sink: Any,
    tmp_path: Path,
    customers: str = ANONYMISE,
    extra: str = "",
    **overrides: Any,
) -> tuple[App, SlackRuntime, str]:
    port = free_port()
    settings = slack_settings(
        slack,
        database_url,
        slack_mode="http",
        slack_http_port=port,
        four_eyes=True,
        data_sources=sources_file(
            tmp_path / "sources.toml", customer_url, customers=customers, extra=extra
        ),
        **smtp_sink.settings_overrides(),
        **overrides,
    )
    app, runtime = start_bot(settings, classifier=SubjectClassifier(), pump_interval=0.1)
    return app, runtime, f"http://127.0.0.1:{port}/slack/events"


@pytest.fixture
def desk(
    slack_api: FakeSlack,  # noqa: F811
    database_url: str,
    customer_url: str,
    smtp_sink: Any,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Desk]:
    engine = customer_db.build(customer_url)
    # The misconfiguration that makes erasure fail: deleting a customer whose invoices must
    # be kept (bokföringslagen) is refused by the foreign key.
    policy = 'erasure = "delete"\n' if "failed" in request.node.name else ANONYMISE
    # A second SQL source in the same database, for the tests of a second system.
    extra = second_source(customer_url) if "second_system" in request.node.name else ""
    settings: dict[str, Any] = {}
    if "cannot_be_completed" in request.node.name:
        # A profile without the policy's Art. 15(1)(a), (b), (g) facts: the access letter
        # can state them only from the data source that holds the person.
        profile = tmp_path / "controller.toml"
        profile.write_text(
            '[controller]\nname = "Micromedic AB"\ntransfers_outside_eea = false\n',
            encoding="utf-8",
        )
        settings["controller_profile"] = profile
    app, runtime, url = start(
        slack_api, database_url, customer_url, smtp_sink, tmp_path, policy, extra, **settings
    )
    try:
        yield Desk(app, runtime, url, slack_api, engine)
    finally:
        runtime.stop()
        app.engine.dispose()
        engine.dispose()


ARCHIVE = "Arkivet"
ARCHIVED = sa.Table(
    "archive",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("email", sa.String(320)),
)


def second_source(url: str) -> str:
    """An archive with no Art. 15(1) facts configured, whose table the test creates (or not
    yet: then erasing there fails)."""
    return f"""
[[sources]]
kind = "sql"
name = "{ARCHIVE}"
url = "{url}"

[[sources.tables]]
name = "archive"
description = "Arkiverade kundkort"
email_columns = ["email"]
erasure = "delete"
"""


def archive(engine: sa.Engine, *emails: str) -> None:
    ARCHIVED.create(engine)
    with engine.begin() as conn:
        for n, email in enumerate(emails, start=1):
            conn.execute(ARCHIVED.insert().values(id=n, email=email))


def archived(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(ARCHIVED.c.email)).scalars())


def reply_mail(smtp_sink: Any) -> EmailMessage:
    """The second mail to Anna: the first is the acknowledgement."""
    received = smtp_sink.wait_for(2)
    assert len(received) == 2 and received[1].rcpt_tos == [ANNA]
    return received[1].message


def attachments(mail: EmailMessage) -> dict[str, bytes]:
    return {
        str(part.get_filename()): part.get_content()
        if isinstance(part.get_content(), bytes)
        else part.get_content().encode()
        for part in mail.iter_attachments()
    }


def dry_run(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"][0], ensure_ascii=False)


def events(app: App, *actions: str) -> list[Event]:
    with app.factory() as session:
        return list(
            session.execute(
                sa.select(Event).where(Event.action.in_(actions)).order_by(Event.id)
            ).scalars()
        )


# -- access (Art. 15) ---------------------------------------------------------------------
def test_access_reply_carries_exactly_the_persons_rows_and_the_art_15_facts(
    desk: Desk, smtp_sink: Any
) -> None:
    before = desk.snapshot()
    case = desk.receive("Registerutdrag [access]")
    desk.verify()
    view = desk.prepare()
    assert "Access: 4 row(s) attached" in dry_run(view)
    assert "Karolinska" not in json.dumps(view)  # counts in the dry run, no values
    answer = desk.send(view)
    assert "errors" not in answer, answer

    mail = reply_mail(smtp_sink)
    body = mail.get_body(("plain",)).get_content()
    assert "Kundadministration och leveranser" in body and "Från dig när du blev kund" in body
    assert "[[FILL IN" not in body and case.ref in mail["Subject"]
    files = attachments(mail)
    assert sorted(files) == [f"{case.ref}-personuppgifter.csv", f"{case.ref}-personuppgifter.json"]
    export = json.loads(files[f"{case.ref}-personuppgifter.json"])
    ids = {s["table"]: [r["id"] for r in s["rows"]] for s in export["sources"]}
    # Anna's own rows, through her address and her customer number; not the namesake's.
    assert ids == {
        "newsletter": [10],
        "customers": [1],
        "leads": [],
        "tickets": [30],
        "invoices": [40],
    }
    assert "anna.a@other.se" not in files[f"{case.ref}-personuppgifter.csv"].decode("utf-8-sig")
    assert desk.snapshot() == before  # access reads only

    [exported] = events(desk.app, "data_exported")
    assert exported.actor == f"slack:{APPROVER}" and exported.detail["scope"] == "access"
    [approved] = audit(desk.app, "reply_approved")
    assert approved.detail["attachments"] == sorted(files, reverse=True)
    assert only_case(desk.app).status == "answered"


# -- portability (Art. 20) ----------------------------------------------------------------
def test_portability_in_english_has_only_what_the_person_provided(
    desk: Desk, smtp_sink: Any
) -> None:
    case = desk.receive("My data [portability]", "Please send my data in a portable format.")
    desk.verify()
    assert "errors" not in desk.send(desk.prepare())
    mail = reply_mail(smtp_sink)
    assert "machine-readable" in mail["Subject"]
    files = attachments(mail)
    export = json.loads(files[f"{case.ref}-personal-data.json"])
    # Tickets and invoices were not provided by Anna (Art. 20(1)): not in the export.
    assert [s["table"] for s in export["sources"]] == ["newsletter", "customers", "leads"]
    assert export["scope"] == "portability"


# -- erasure (Art. 17, 19) ----------------------------------------------------------------
def test_erasure_only_after_approval_and_the_checklist_with_a_true_confirmation(
    desk: Desk, smtp_sink: Any
) -> None:
    before = desk.snapshot()
    case = desk.receive("Radera mig [erasure]")
    desk.verify()
    card = json.dumps(desk.card(lambda blocks: "dsr_checklist" in blocks), ensure_ascii=False)
    assert CRM in card and "Art. 19 recipient" in card

    view = desk.prepare()
    preview = dry_run(view)
    assert "Kunddatabasen · customers: 1 row(s) → anonymise" in preview
    assert "invoices: 1 row(s) → keep" in preview and ":black_square_button: " + CRM in preview
    assert desk.snapshot() == before  # the dry run was rolled back
    answer = desk.send(view)
    assert "tick off the checklist" in json.dumps(answer, ensure_ascii=False)
    assert desk.snapshot() == before and len(smtp_sink.received) == 1  # nothing done, sent

    desk.tick(CRM)
    desk.tick(CRM)  # a second delivery of the same state is no change
    assert [e.detail for e in events(desk.app, "checklist_ticked")] == [{"source": CRM}]
    assert "errors" not in desk.send(desk.prepare())

    after = desk.snapshot()
    assert [r["id"] for r in after["newsletter"]] == [11]
    assert [r["id"] for r in after["tickets"]] == [31]
    assert after["invoices"] == before["invoices"]  # kept: bokföringslagen
    anna = after["customers"][0]
    assert (anna["email"], anna["phone"], anna["first_name"]) == (None, None, "Anonymiserad")
    assert after["customers"][1:] == before["customers"][1:]  # the namesake is untouched
    assert after["leads"] == before["leads"]

    mail = reply_mail(smtp_sink)
    body = mail.get_body(("plain",)).get_content()
    for line in ("Kontaktuppgifter", "Nyhetsbrev", "Supportärenden", CRM):
        assert line in body
    assert f"Fakturor: {BOOKKEEPING}" in body and case.ref in mail["Subject"]
    [erased] = events(desk.app, "data_erased")
    tables = {t["table"]: (t["action"], t["rows"]) for t in erased.detail["sources"][0]["tables"]}
    assert tables == {
        "newsletter": ("delete", 1),
        "customers": ("anonymise", 1),
        "leads": ("anonymise", 0),
        "tickets": ("delete", 1),
        "invoices": ("keep", 1),
    }
    assert erased.actor == f"slack:{APPROVER}"
    assert desk.slack.rejected == []  # the card with its checklist and every modal were valid


def test_a_failed_erasure_rolls_back_is_reported_and_sends_nothing(
    desk: Desk, smtp_sink: Any
) -> None:
    before = desk.snapshot()
    desk.receive("Radera mig [erasure]")
    desk.verify()
    desk.tick(CRM)
    view = desk.prepare()
    assert "would FAIL and roll back" in dry_run(view)  # the rehearsal saw it coming
    answer = desk.send(view)
    error = json.dumps(answer, ensure_ascii=False)
    assert answer.get("response_action") == "errors" and "erasure failed" in error
    assert desk.snapshot() == before
    time.sleep(0.5)  # give the pump every chance to send what it should not
    assert len(smtp_sink.received) == 1  # the acknowledgement only
    [failed] = events(desk.app, "erasure_failed")
    assert failed.detail["sources"][0]["committed"] is False
    assert events(desk.app, "data_erased", "reply_approved") == []
    assert only_case(desk.app).status == "in_progress"
    [refused] = events(desk.app, "action_refused")
    assert refused.detail["action"] == "approve_reply"


# -- marketing opt-out (Art. 21(3)) and consent withdrawal (Art. 7(3)) -------------------
@pytest.mark.parametrize(
    ("types", "says"),
    [("marketing_optout", "spärrlista"), ("consent_withdrawal", "spärrlista")],
)
def test_opt_out_lists_the_address_at_approval_and_not_before(
    desk: Desk, smtp_sink: Any, types: str, says: str
) -> None:
    before = desk.snapshot()
    desk.receive(f"Sluta [{types}]")
    desk.verify()
    view = desk.prepare()
    assert f"Suppression list: {ANNA} is added on approval" in dry_run(view)
    with desk.app.factory() as session:
        assert not is_suppressed(session, ANNA)
    assert "errors" not in desk.send(view)
    with desk.app.factory() as session:
        assert is_suppressed(session, ANNA)
    assert says in reply_mail(smtp_sink).get_body(("plain",)).get_content()
    [added] = events(desk.app, "suppression_added")
    assert added.actor == f"slack:{APPROVER}" and "email_sha256" in added.detail
    assert desk.snapshot() == before

    # The marketing tool reads the list from the health server, with the token.
    server = HealthServer("127.0.0.1", 0, Readiness())
    assert mount_suppression(server, desk.app.factory, "s3cret")
    server.start()
    try:
        request = urllib.request.Request(
            f"{server.url}/suppression.csv", headers={"Authorization": "Bearer s3cret"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert ANNA in response.read().decode()
    finally:
        server.stop()


# -- rectification (Art. 16), restriction (Art. 18), objection (Art. 21(1)) ---------------
@pytest.mark.parametrize(
    ("types", "subject", "checklist"),
    [
        ("rectification", "rättat", True),
        ("restriction", "begränsat", True),
        ("objection", "invändning", False),
    ],
)
def test_confirmations_name_the_recipients_ticked_off_and_touch_no_data(
    desk: Desk, smtp_sink: Any, types: str, subject: str, checklist: bool
) -> None:
    before = desk.snapshot()
    desk.receive(f"Ärende [{types}]")
    desk.verify()
    if checklist:  # Art. 19: the parent company's CRM must be told of the correction
        desk.tick(CRM)
    if types == "objection":  # Art. 21(1): the letter states staff's decision
        assert "errors" not in desk.decide_objection("upheld")
    assert "errors" not in desk.send(desk.prepare())
    mail = reply_mail(smtp_sink)
    assert subject in mail["Subject"]
    assert (CRM in mail.get_body(("plain",)).get_content()) is checklist
    assert desk.snapshot() == before  # staff work in the systems; we touched nothing


# -- several rights in one request ---------------------------------------------------------
def test_access_then_erasure_then_opt_out_in_one_approval(desk: Desk, smtp_sink: Any) -> None:
    desk.receive("Allt [access,erasure,marketing_optout]")
    desk.verify()
    desk.tick(CRM)
    assert "errors" not in desk.send(desk.prepare())
    mail = reply_mail(smtp_sink)
    [export] = [v for k, v in attachments(mail).items() if k.endswith(".json")]
    rows = {s["table"]: s["rows"] for s in json.loads(export)["sources"]}
    assert rows["customers"][0]["email"] == ANNA  # the copy was made before the erasure
    assert desk.snapshot()["customers"][0]["email"] is None
    body = mail.get_body(("plain",)).get_content()
    assert "raderat dina personuppgifter" in body and "spärrlista" in body
    with desk.app.factory() as session:
        assert is_suppressed(session, ANNA)


# -- erasure is the one step that cannot be rolled back -----------------------------------
def test_a_letter_that_cannot_be_completed_is_refused_before_a_second_system_is_erased(
    desk: Desk, smtp_sink: Any
) -> None:
    archive(desk.customers, ANNA)
    desk.receive("Allt [access,erasure]")
    desk.verify()
    desk.tick(CRM)
    view = desk.prepare()  # Anna is in both systems: the Art. 15(1) facts come from the first
    # Then the first system loses her (someone deleted her there): the facts of the letter
    # staff approved can no longer be stated, while the archive still holds her.
    with desk.customers.begin() as conn:
        for table in ("invoices", "tickets"):
            conn.exec_driver_sql(f"DELETE FROM {table} WHERE customer_id = 1")
        conn.exec_driver_sql("DELETE FROM customers WHERE id = 1")
        conn.exec_driver_sql("DELETE FROM newsletter WHERE id = 10")
    answer = desk.send(view)
    assert "cannot be completed" in json.dumps(answer, ensure_ascii=False)
    assert archived(desk.customers) == [ANNA]  # refused before anything was erased
    assert events(desk.app, "data_erased", "erasure_failed", "reply_approved") == []
    time.sleep(0.3)
    assert len(smtp_sink.received) == 1


def test_a_retry_after_a_second_system_broke_confirms_what_the_first_attempt_erased(
    desk: Desk, smtp_sink: Any
) -> None:
    before = desk.snapshot()
    desk.receive("Radera mig [erasure]")
    desk.verify()
    desk.tick(CRM)
    view = desk.prepare()
    answer = desk.send(view)  # the archive's table is missing: erasing there fails
    assert "erasure failed" in json.dumps(answer, ensure_ascii=False)
    # The first system committed its erasure; the trail says so, with the row counts.
    assert desk.snapshot()["customers"][0]["email"] is None
    [failed] = events(desk.app, "erasure_failed")
    first, second = failed.detail["sources"]
    assert (first["committed"], second["committed"]) == (True, False)
    assert {t["table"]: t["rows"] for t in first["tables"]}["newsletter"] == 1

    archive(desk.customers, ANNA)  # the operator fixes the archive; staff send again
    assert "errors" not in desk.send(view)
    body = reply_mail(smtp_sink).get_body(("plain",)).get_content()
    # Erased at the first attempt (found no more now), and in the archive at the second.
    for line in ("Kontaktuppgifter", "Nyhetsbrev", "Supportärenden", "Arkiverade kundkort"):
        assert line in body
    assert f"Fakturor: {BOOKKEEPING}" in body
    assert archived(desk.customers) == []
    assert desk.snapshot()["invoices"] == before["invoices"]


def test_a_failure_after_erasure_keeps_the_erasure_on_record_and_the_retry_truthful(
    desk: Desk, smtp_sink: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk.receive("Radera mig [erasure]")
    desk.verify()
    desk.tick(CRM)
    view = desk.prepare()
    queue = Letters.enqueue

    def broken(*args: Any, **kwargs: Any) -> str:
        raise OSError("disk full")  # queueing the letter fails after the erasure committed

    monkeypatch.setattr(Letters, "enqueue", broken)
    post_signed(desk.url, view_submission(APPROVER, view, inputs(view)), SIGNING_SECRET)
    assert desk.snapshot()["customers"][0]["email"] is None  # erased, and that cannot be undone
    [erased] = events(desk.app, "data_erased")
    tables = {t["table"]: t["rows"] for t in erased.detail["sources"][0]["tables"]}
    assert tables["customers"] == 1 and tables["newsletter"] == 1
    [failure] = events(desk.app, "action_failed")
    assert failure.detail == {"action": "approve_reply", "reason": "OSError"}
    assert only_case(desk.app).status == "in_progress"

    monkeypatch.setattr(Letters, "enqueue", queue)
    assert "errors" not in desk.send(view)
    body = reply_mail(smtp_sink).get_body(("plain",)).get_content()
    for line in ("Kontaktuppgifter", "Nyhetsbrev", "Supportärenden", f"Fakturor: {BOOKKEEPING}"):
        assert line in body
