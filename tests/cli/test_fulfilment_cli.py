"""`dsr-bot suppression …` and `dsr-bot fulfil …` as an operator runs them."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from sqlalchemy.orm import Session, sessionmaker

from dsr_bot.cases.model import IdentityStatus, RequestType
from dsr_bot.cases.service import CasePolicy, open_case
from dsr_bot.cli import main
from dsr_bot.cli.fulfilment import fulfil, suppression
from dsr_bot.store import db
from dsr_bot.store.tables import Case, Event
from tests.fixtures import customer_db
from tests.fixtures.customer_db import ANNA, BOOKKEEPING

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# cli.py registers these; doing it here too lets the tests run before and after that.
main.add_command(suppression)
main.add_command(fulfil)


@dataclass
class Desk:
    """dsr-bot's database with one erasure case for Anna, and her company's customer DB."""

    url: str
    factory: sessionmaker[Session]
    customers: sa.Engine
    sources_file: Path
    ref: str

    def run(self, *args: str, input: str | None = None, **env: str | None) -> Result:
        base = {"DSR_BOT_DATABASE_URL": self.url, "DSR_BOT_DATA_SOURCES": str(self.sources_file)}
        return CliRunner().invoke(main, list(args), env={**base, **env}, input=input)

    def events(self, action: str) -> list[Event]:
        with self.factory() as session:
            query = sa.select(Event).where(Event.action == action).order_by(Event.id)
            return list(session.execute(query).scalars())

    def verify_identity(self) -> None:
        with db.transaction(self.factory) as session:
            case = session.execute(sa.select(Case).where(Case.ref == self.ref)).scalar_one()
            case.identity_status = IdentityStatus.VERIFIED.value


@pytest.fixture
def desk(database_url: str, tmp_path: Path) -> Iterator[Desk]:
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    factory = db.session_factory(engine)
    with db.transaction(factory) as session:
        case = open_case(
            session,
            policy=CasePolicy(),
            now=NOW,
            received_at=NOW,
            types=[RequestType.ERASURE, RequestType.MARKETING_OPTOUT],
            requester_email="Anna.Andersson@example.se",
            requester_name="Anna Andersson",
            language="sv",
        )
        ref = case.ref
    customers = customer_db.build(database_url)
    sources_file = customer_db.write_sources_file(tmp_path / "sources.toml", database_url)
    yield Desk(database_url, factory, customers, sources_file, ref)
    customers.dispose()
    engine.dispose()


def test_suppression_add_and_export(desk: Desk, tmp_path: Path) -> None:
    added = desk.run("suppression", "add", "Anna.Andersson@Example.se", "--case", desk.ref)
    assert added.exit_code == 0, added.output
    assert added.output.strip() == "added to the suppression list"
    again = desk.run("suppression", "add", ANNA, "--case", desk.ref, "--actor", "cli:lena")
    assert again.output.strip() == "already on the suppression list"
    assert desk.run("suppression", "add", "not-an-address").exit_code == 1
    assert desk.run("suppression", "add", ANNA, "--case", "DSR-2026-9999").exit_code == 1

    plain = desk.run("suppression", "export", "--format", "csv")
    assert [r[0] for r in csv.reader(io.StringIO(plain.output))] == ["email", ANNA]
    out = tmp_path / "list.csv"
    assert desk.run("suppression", "export", "--hashed", "-o", str(out)).exit_code == 0
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert [r[0] for r in rows] == ["email_sha256", hashlib.sha256(ANNA.encode()).hexdigest()]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    [event] = desk.events("suppression_added")
    assert event.actor.startswith("cli") and event.case_id is not None


def test_preview_shows_counts_and_the_checklist_but_no_data(desk: Desk) -> None:
    before = customer_db.snapshot(desk.customers)
    result = desk.run("fulfil", "preview", desk.ref, "--phone", "08-22 40 20", "--json")
    assert result.exit_code == 0, result.output
    preview = json.loads(result.output)
    assert {f["table"]: f["rows"] for f in preview["found"]} == {
        "newsletter": 1,
        "customers": 1,
        "leads": 1,
        "tickets": 1,
        "invoices": 1,
    }
    [erasure] = preview["erasure"]
    invoices = next(t for t in erasure["tables"] if t["table"] == "invoices")
    assert invoices == {"table": "invoices", "action": "keep", "rows": 1, "reason": BOOKKEEPING}
    assert [(c["source"], c["recipient"]) for c in preview["checklist"]] == [
        ("Ortomedic AS CRM", True)
    ]
    assert "anna" not in result.output.lower()
    assert customer_db.snapshot(desk.customers) == before
    text = desk.run("fulfil", "preview", desk.ref)
    assert "[ ] Ortomedic AS CRM [Art. 19 recipient]" in text.output
    assert "would" in text.output


def test_erasure_waits_for_identity_then_erases_and_audits(desk: Desk) -> None:
    before = customer_db.snapshot(desk.customers)
    refused = desk.run("fulfil", "erase", desk.ref, "--yes")
    assert refused.exit_code == 1
    assert "verify the requester's identity" in refused.output
    rehearsal = desk.run("fulfil", "erase", desk.ref, "--dry-run")
    assert rehearsal.exit_code == 0, rehearsal.output
    assert "rehearsed (rolled back)" in rehearsal.output
    assert customer_db.snapshot(desk.customers) == before

    desk.verify_identity()
    declined = desk.run("fulfil", "erase", desk.ref, input="n\n")
    assert declined.exit_code == 1 and customer_db.snapshot(desk.customers) == before
    done = desk.run("fulfil", "erase", desk.ref, "--json", input="y\n")
    assert done.exit_code == 0, done.output
    after = customer_db.snapshot(desk.customers)
    assert [r["id"] for r in after["newsletter"]] == [11]
    assert [r["id"] for r in after["tickets"]] == [31]
    assert after["invoices"] == before["invoices"]
    assert after["customers"][0]["email"] is None
    assert after["customers"][1:] == before["customers"][1:]

    [rehearsed] = desk.events("erasure_rehearsed")
    [erased] = desk.events("data_erased")
    assert rehearsed.detail["sources"][0]["committed"] is False
    source = erased.detail["sources"][0]
    assert source["committed"] is True and source["error"] is None
    assert {t["table"]: (t["action"], t["rows"]) for t in source["tables"]} == {
        "tickets": ("delete", 1),
        "invoices": ("keep", 1),
        "newsletter": ("delete", 1),
        "customers": ("anonymise", 1),
        "leads": ("anonymise", 0),  # no phone given: her lead row was not found
    }
    assert erased.detail["checklist"] == ["Ortomedic AS CRM"]
    assert "anna" not in json.dumps(erased.detail).lower()


def test_failed_erasure_exits_non_zero_and_is_audited(desk: Desk) -> None:
    text = desk.sources_file.read_text()
    text = text.replace(
        'erasure = "anonymise"\nset_null = ["email", "phone"]', 'erasure = "delete"'
    )
    text = text.replace('set_values = { first_name = "Anonymiserad", last_name = "kund" }\n', "")
    desk.sources_file.write_text(text)
    desk.verify_identity()
    before = customer_db.snapshot(desk.customers)
    result = desk.run("fulfil", "erase", desk.ref, "--yes")
    assert result.exit_code == 1
    assert "FAILED: at table customers (delete)" in result.output
    assert "rolled back, nothing in Kunddatabasen was changed" in result.output
    assert customer_db.snapshot(desk.customers) == before
    [failed] = desk.events("erasure_failed")
    assert failed.detail["sources"][0]["committed"] is False
    assert desk.events("data_erased") == []


def test_export_writes_private_attachments_and_audits(desk: Desk, tmp_path: Path) -> None:
    out = tmp_path / "export"
    desk.verify_identity()  # refused before (tests/test_export_guard.py)
    result = desk.run("fulfil", "export", desk.ref, "--out", str(out), "--portability")
    assert result.exit_code == 0, result.output
    stem = f"{desk.ref}-personuppgifter"
    assert result.output.split() == [str(out / f"{stem}.json"), str(out / f"{stem}.csv")]
    doc = json.loads((out / f"{stem}.json").read_text())
    assert [s["table"] for s in doc["sources"]] == ["newsletter", "customers", "leads"]
    assert doc["sources"][1]["rows"][0]["email"] == ANNA
    for ext in ("json", "csv"):
        assert stat.S_IMODE((out / f"{stem}.{ext}").stat().st_mode) == 0o600
    [event] = desk.events("data_exported")
    assert event.detail["scope"] == "portability"


def test_a_missing_data_source_file_is_a_configuration_error(desk: Desk, tmp_path: Path) -> None:
    result = desk.run("fulfil", "preview", desk.ref, DSR_BOT_DATA_SOURCES=None)
    assert result.exit_code == 2
    assert "DSR_BOT_DATA_SOURCES is not set" in result.output
    missing = desk.run("fulfil", "check", DSR_BOT_DATA_SOURCES=str(tmp_path / "nope.toml"))
    assert missing.exit_code == 1 and "cannot read" in missing.output
    ok = desk.run("fulfil", "check")
    assert ok.exit_code == 0, ok.output
    assert "ok      Kunddatabasen (5 tables)" in ok.output


# -- fulfil export before identity is verified (issue 11) -----------------------------------
def test_export_is_refused_before_identity_is_verified(
    desk: Desk,
    tmp_path: Path,
) -> None:
    out = tmp_path / "export"
    refused = desk.run("fulfil", "export", desk.ref, "--out", str(out))
    assert refused.exit_code == 1
    assert "identity is not verified" in refused.output and "--force" in refused.output
    assert not out.exists() and desk.events("data_exported") == []

    forced = desk.run(
        "fulfil", "export", desk.ref, "--out", str(out), "--force", "--actor", "cli:dpo"
    )
    assert forced.exit_code == 0, forced.output
    [event] = desk.events("export_forced")
    assert event.actor == "cli:dpo" and event.detail == {"identity_status": "unverified"}
    assert len(desk.events("data_exported")) == 1


def test_other_peoples_data_is_removed_from_the_export(
    desk: Desk,
    tmp_path: Path,
) -> None:
    desk.verify_identity()
    plain = desk.run("fulfil", "export", desk.ref, "--out", str(tmp_path / "a"))
    assert plain.exit_code == 0, plain.output
    text = Path(plain.output.split()[0]).read_text(encoding="utf-8")
    assert ANNA in text and "Karolinska" in text
    with db.transaction(desk.factory) as session:
        case = session.execute(sa.select(Case).where(Case.ref == desk.ref)).scalar_one()
        # Say her employer's name identified a colleague: not Anna's to receive.
        case.export_redactions = ["karolinska"]
    redacted = desk.run("fulfil", "export", desk.ref, "--out", str(tmp_path / "b"))
    assert redacted.exit_code == 0, redacted.output
    doc = Path(redacted.output.split()[0]).read_text(encoding="utf-8")
    assert "Karolinska" not in doc and "[removed: Art. 15(4)]" in doc and ANNA in doc
    json.loads(doc)  # still a valid document
    csv_text = Path(redacted.output.split()[1]).read_text(encoding="utf-8-sig")
    assert "Karolinska" not in csv_text
    last = desk.events("data_exported")[-1]
    assert last.detail["redacted"] >= 1 and "arolinska" not in json.dumps(last.detail)
