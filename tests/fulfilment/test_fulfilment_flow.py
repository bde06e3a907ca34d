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
from typing import Any

import pytest

from dsr_bot.fulfilment.suppression import is_suppressed, mount_suppression
from dsr_bot.http.health import HealthServer, Readiness
from dsr_bot.replies.letters import Letters
from tests.fixtures.customer_db import ANNA, BOOKKEEPING
from tests.fixtures.fulfilment_desk import (
    CRM,
    Desk,
    archive,
    archived,
    attachments,
    dry_run,
    events,
    inputs,
    reply_mail,
)
from tests.fixtures.slack_app import (
    APPROVER,
    SIGNING_SECRET,
    audit,
    only_case,
)
from tests.fixtures.slack_payloads import (
    post_signed,
    view_submission,
)


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
    # A click is acknowledged first and acted on after (slack/app.py): wait for both acts.
    deadline = time.monotonic() + 5
    while len(audit(desk.app, "action_refused") + events(desk.app, "checklist_ticked")) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
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
    # Drain the outbox now and wait for it: whatever it would send, it has sent.
    desk.runtime.pump_once()
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
    """Consent withdrawal suppresses on approval; a marketing opt-out is listed at intake
    already (Art. 21(3), tests/test_optout_at_intake.py) and approval lists nothing twice."""
    at_intake = types == "marketing_optout"
    before = desk.snapshot()
    desk.receive(f"Sluta [{types}]")
    if not at_intake:  # stopping marketing needs no identity check
        desk.verify()
    view = desk.prepare()
    if at_intake:
        assert "Suppression list: already listed at intake" in dry_run(view)
    else:
        assert f"Suppression list: {ANNA} is added on approval" in dry_run(view)
    with desk.app.factory() as session:
        assert is_suppressed(session, ANNA) is at_intake
    assert "errors" not in desk.send(view)
    with desk.app.factory() as session:
        assert is_suppressed(session, ANNA)
    assert says in reply_mail(smtp_sink).get_body(("plain",)).get_content()
    [added] = events(desk.app, "suppression_added")
    assert added.actor == ("system" if at_intake else f"slack:{APPROVER}")
    assert "email_sha256" in added.detail
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
    desk.runtime.pump_once()  # whatever the outbox would send, it has sent
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
