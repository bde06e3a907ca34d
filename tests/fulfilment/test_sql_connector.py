"""The SQL connector against a real customer database, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from dsr_bot.fulfilment.findings import export as export_files
from dsr_bot.fulfilment.findings import summarise
from dsr_bot.fulfilment.person import Person, phone_key
from dsr_bot.fulfilment.sources import (
    DataSourceError,
    DataSources,
    ErasureAction,
    SqlSource,
    load_data_sources,
)
from dsr_bot.fulfilment.sql_connector import SqlConnector
from tests.fixtures import customer_db
from tests.fixtures.customer_db import ANNA, BOOKKEEPING

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def customers(database_url: str) -> Iterator[sa.Engine]:
    engine = customer_db.build(database_url)
    yield engine
    engine.dispose()


def connector(url: str, **kwargs: str) -> SqlConnector:
    return SqlConnector(customer_db.source(url, **kwargs))


def ids(findings_table: object) -> list[int]:
    return [row["id"] for row in findings_table.rows]  # type: ignore[attr-defined]


def test_find_returns_exactly_the_persons_rows(database_url: str, customers: sa.Engine) -> None:
    with connector(database_url) as source:
        found = source.find(Person(ANNA, phone="08-22 40 20", name="Anna Andersson"))
    by_table = {t.table: ids(t) for t in found.tables}
    # The namesake (2), the look-alike address (3) and the number ending in Anna's
    # digits (21) are not her; the tickets and invoices are hers through customer 1.
    assert by_table == {
        "newsletter": [10],
        "customers": [1],
        "leads": [20],
        "tickets": [30],
        "invoices": [40],
    }


def test_phone_is_only_used_when_given(database_url: str, customers: sa.Engine) -> None:
    with connector(database_url) as source:
        found = source.find(Person(ANNA))
    assert {t.table: ids(t) for t in found.tables}["leads"] == []


def test_hostile_address_is_a_bound_value_not_sql(database_url: str, customers: sa.Engine) -> None:
    before = customer_db.snapshot(customers)
    with connector(database_url) as source:
        found = source.find(Person("x'or'1'='1@example.se"))
        report = source.erase(Person("x'or'1'='1@example.se"))
    assert found.row_count == 0
    assert report.ok and all(o.rows == 0 for o in report.outcomes)
    assert customer_db.snapshot(customers) == before


def test_access_export_holds_the_persons_rows_and_no_one_elses(
    database_url: str, customers: sa.Engine
) -> None:
    with connector(database_url) as source:
        found = source.find(Person(ANNA, phone="+46822 40 20"))
    files = export_files(found)
    doc = json.loads(files["json"])
    assert doc["scope"] == "access"
    exported = {s["table"]: [r["id"] for r in s["rows"]] for s in doc["sources"]}
    assert exported == {
        "newsletter": [10],
        "customers": [1],
        "leads": [20],
        "tickets": [30],
        "invoices": [40],
    }
    invoice = next(s for s in doc["sources"] if s["table"] == "invoices")["rows"][0]
    assert invoice["issued_on"] == "2025-01-31" and float(invoice["amount"]) == 1200.0
    text = files["csv"].decode("utf-8-sig")
    cells = list(csv.reader(io.StringIO(text)))
    assert cells[0] == ["source", "table", "row", "column", "value"]
    for other in ("anna.a@other.se", "Sahlgrenska", "x" + ANNA, "Xanna", "Bo Ek", "070-822"):
        assert other not in files["json"].decode("utf-8")
        assert other not in text
    # Anna's own ticket text is a formula: the spreadsheet must show it, not run it.
    bodies = [c[4] for c in cells if c[1] == "tickets" and c[3] == "body"]
    assert bodies == ['\'=HYPERLINK("http://evil.example";"Min centrifug")']


def test_portability_export_has_only_what_the_person_provided(
    database_url: str, customers: sa.Engine
) -> None:
    with connector(database_url) as source:
        found = source.find(Person(ANNA, phone="08-224020"))
    doc = json.loads(export_files(found, portability=True)["json"])
    assert doc["scope"] == "portability"
    assert [s["table"] for s in doc["sources"]] == ["newsletter", "customers", "leads"]


def _expected_after_erasure(before: dict[str, list[dict]]) -> dict[str, list[dict]]:
    after = copy.deepcopy(before)
    after["newsletter"] = [r for r in after["newsletter"] if r["id"] != 10]
    after["tickets"] = [r for r in after["tickets"] if r["id"] != 30]
    for row in after["customers"]:
        if row["id"] == 1:
            row.update(email=None, phone=None, first_name="Anonymiserad", last_name="kund")
    for row in after["leads"]:
        if row["id"] == 20:
            row.update(contact_email=None, contact_phone=None, contact_name="Anonymiserad")
    return after


def test_erasure_changes_exactly_the_persons_rows(database_url: str, customers: sa.Engine) -> None:
    before = customer_db.snapshot(customers)
    person = Person(ANNA, phone="08-22 40 20")
    with connector(database_url) as source:
        preview = source.preview(person)
        report = source.erase(person)
    assert report.ok and not report.dry_run and report.mode == "executed"
    assert customer_db.snapshot(customers) == _expected_after_erasure(before)
    outcomes = {o.table: (o.action, o.rows) for o in report.outcomes}
    assert outcomes == {
        "tickets": (ErasureAction.DELETE, 1),
        "invoices": (ErasureAction.KEEP, 1),
        "newsletter": (ErasureAction.DELETE, 1),
        "customers": (ErasureAction.ANONYMISE, 1),
        "leads": (ErasureAction.ANONYMISE, 1),
    }
    assert {o.table: o.rows for o in preview.outcomes} == {t: n for t, (_, n) in outcomes.items()}
    # Kept rows are reported with the legal reason the reply must give (Art. 17(3)(b)).
    kept = next(o for o in report.outcomes if o.table == "invoices")
    assert kept.reason == BOOKKEEPING
    assert report.as_detail()["committed"] is True
    summary = summarise([report])
    assert summary.kept == (f"Fakturor: {BOOKKEEPING}",)
    assert set(summary.erased) == {
        "Supportärenden",
        "Nyhetsbrev",
        "Kontaktuppgifter",
        "Intresseanmälningar",
    }
    # A second erasure finds nothing left to erase but the kept invoice.
    with connector(database_url) as source:
        again = source.erase(person)
    assert {o.table: o.rows for o in again.outcomes if o.rows} == {}


def test_rehearsal_executes_and_rolls_back(database_url: str, customers: sa.Engine) -> None:
    before = customer_db.snapshot(customers)
    with connector(database_url) as source:
        report = source.erase(Person(ANNA), dry_run=True)
    assert report.ok and report.dry_run and report.mode == "rehearsal"
    assert {o.table: o.rows for o in report.outcomes}["customers"] == 1
    assert report.as_detail()["committed"] is False
    assert customer_db.snapshot(customers) == before


def test_foreign_key_failure_rolls_back_the_whole_source(
    database_url: str, customers: sa.Engine
) -> None:
    """Deleting the customer is refused because the kept invoice points at it; the ticket
    already deleted in the same transaction must come back."""
    before = customer_db.snapshot(customers)
    with connector(database_url, customers_erasure="delete") as source:
        rehearsal = source.erase(Person(ANNA), dry_run=True)
        report = source.erase(Person(ANNA))
    assert customer_db.snapshot(customers) == before
    for result in (rehearsal, report):
        assert not result.ok
        assert result.error is not None
        assert result.error.startswith("at table customers (delete): ")
        assert "foreign key" in result.error.lower()
        assert "rolled back, nothing in Kunddatabasen was changed" in result.error
        assert ANNA not in result.error
    # What ran before the failure is visible in the report, and undone in the database.
    assert [o.table for o in report.outcomes] == ["tickets", "invoices", "newsletter"]
    assert summarise([report]).failed and not summarise([report]).erased


def test_trigger_failure_rolls_back_the_whole_source(
    database_url: str, customers: sa.Engine
) -> None:
    with customers.begin() as conn:
        if customers.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER leads_frozen BEFORE UPDATE ON leads "
                "BEGIN SELECT RAISE(ABORT, 'leads are frozen for the audit'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION leads_frozen() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'leads are frozen for the audit'; END $$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER leads_frozen BEFORE UPDATE ON leads "
                "FOR EACH ROW EXECUTE FUNCTION leads_frozen()"
            )
    before = customer_db.snapshot(customers)
    with connector(database_url) as source:
        report = source.erase(Person(ANNA, phone="08-22 40 20"))
    assert not report.ok
    assert report.error is not None and report.error.startswith("at table leads (anonymise)")
    assert "leads are frozen for the audit" in report.error
    assert customer_db.snapshot(customers) == before


def test_names_are_checked_against_the_database(database_url: str, customers: sa.Engine) -> None:
    data = customer_db.source(database_url).model_dump(by_alias=True)
    data["tables"][0]["email_columns"] = ["e_mail"]
    bad = SqlSource.model_validate(data)
    with SqlConnector(bad) as source:
        with pytest.raises(DataSourceError, match=r"table 'newsletter' has no column\(s\)"):
            source.check()
        report = source.erase(Person(ANNA))
    assert not report.ok and "e_mail" in (report.error or "")
    data["tables"][0]["email_columns"] = ["email"]
    data["tables"][0]["name"] = "newsletters"
    with (
        SqlConnector(SqlSource.model_validate(data)) as source,
        pytest.raises(DataSourceError, match="'newsletters' does not exist"),
    ):
        source.check()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"erasure": "keep"}, "needs keep_reason"),
        ({"erasure": "anonymise", "set_null": ["email"]}, r"leaves identifying column\(s\)"),
        ({"erasure": "delete", "set_null": ["email"]}, "belong with erasure = 'anonymise'"),
        ({"erasure": "delete", "email_columns": [], "phone_columns": []}, "found one way"),
        ({"erasure": "shred"}, "Input should be 'delete', 'anonymise' or 'keep'"),
    ],
)
def test_mapping_mistakes_are_refused_with_a_reason(
    tmp_path: Path, table: dict[str, object], message: str
) -> None:
    mapping = {"name": "customers", "email_columns": ["email"], "phone_columns": ["phone"]}
    mapping |= table
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in mapping.items())
    path = tmp_path / "sources.toml"
    path.write_text(
        f'[[sources]]\nkind = "sql"\nname = "db"\nurl = "sqlite://"\n[[sources.tables]]\n{lines}\n'
    )
    with pytest.raises(DataSourceError, match=message) as info:
        load_data_sources(path)
    assert str(info.value).startswith(f"{path}: sources.0.sql.tables.0")


def test_the_shipped_example_is_valid() -> None:
    sources = load_data_sources(REPO / "deploy" / "data-sources.example.toml")
    assert isinstance(sources, DataSources)
    assert sources.sql and sources.manual
    assert any(m.recipient for m in sources.manual)


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ("08-22 40 20", "8224020"),
        ("+46 8 22 40 20", "8224020"),
        ("0046 (0)8 224020", "8224020"),
        ("+47 22 33 44 55", "4722334455"),
        ("070-822 40 20", "708224020"),
    ],
)
def test_phone_numbers_compare_however_written(written: str, key: str) -> None:
    assert phone_key(written) == key
