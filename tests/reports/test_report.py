"""The monthly report: figures computed from seeded cases, and its three renderings."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from dsr_bot.cases import service
from dsr_bot.cases.model import CaseStatus as S
from dsr_bot.cases.model import RequestType as T
from dsr_bot.reports.report import as_csv, as_table, month_report, parse_month
from dsr_bot.reports.report_html import as_html
from dsr_bot.store.tables import Case
from tests.ops_support import POLICY, local, move_case, open_db, seed_case

AS_OF = local(2027, 1, 5)


def seed_november(factory: sessionmaker[Session]) -> dict[str, int]:
    ids = {
        # due Wed 2 Dec; answered after 14 days
        "A": seed_case(factory, local(2026, 11, 2), types=(T.ACCESS,), language="sv"),
        # due Wed 9 Dec; answered 10 Dec: late
        "B": seed_case(
            factory, local(2026, 11, 9), types=(T.ERASURE, T.MARKETING_OPTOUT), language="sv"
        ),
        # extended: 20 Feb 2027 is a Saturday, so due Mon 22 Feb; answered after 61 days
        "C": seed_case(factory, local(2026, 11, 20), types=(T.ACCESS,), language="en"),
        # refused after 6 days
        "D": seed_case(factory, local(2026, 11, 25), types=(T.RECTIFICATION,), language="en"),
        # still open, due Wed 30 Dec: overdue on 5 Jan
        "E": seed_case(factory, local(2026, 11, 30, 23, 30), types=(T.ACCESS,), language="sv"),
        # 31 Oct 23:30 UTC is 1 Nov 00:30 in Stockholm: a November request; withdrawn
        "F": seed_case(
            factory, datetime(2026, 10, 31, 23, 30, tzinfo=UTC), types=(T.ACCESS,), language="da"
        ),
        # 30 Nov 23:30 UTC is 1 Dec 00:30 in Stockholm: not November
        "G": seed_case(factory, datetime(2026, 11, 30, 23, 30, tzinfo=UTC), language="sv"),
    }
    move_case(factory, ids["A"], S.IN_PROGRESS, at=local(2026, 11, 10))
    move_case(factory, ids["A"], S.ANSWERED, S.CLOSED, at=local(2026, 11, 16))
    move_case(factory, ids["B"], S.IN_PROGRESS, S.ANSWERED, at=local(2026, 12, 10))
    # reopened for a follow-up and answered again: the first answer is what counts
    move_case(factory, ids["B"], S.IN_PROGRESS, S.ANSWERED, at=local(2026, 12, 20))
    with factory() as session, session.begin():
        case = session.get_one(Case, ids["C"])
        service.extend_deadline(
            session, case, policy=POLICY, now=local(2026, 11, 25), actor="cli:dpo", reason="x"
        )
    move_case(factory, ids["C"], S.IN_PROGRESS, S.ANSWERED, at=local(2027, 1, 20))
    move_case(factory, ids["D"], S.REJECTED, at=local(2026, 12, 1))
    move_case(factory, ids["F"], S.CLOSED, at=local(2026, 11, 3))
    return ids


def test_month_figures_from_seeded_cases(database_url: str) -> None:
    engine, factory = open_db(database_url)
    seed_november(factory)
    with factory() as session:
        report = month_report(session, 2026, 11, now=AS_OF, timezone="Europe/Stockholm")
    assert [c.ref for c in report.cases] == [
        "DSR-2026-0006",
        "DSR-2026-0001",
        "DSR-2026-0002",
        "DSR-2026-0003",
        "DSR-2026-0004",
        "DSR-2026-0005",
    ]
    assert report.by_type() == {
        "access": 4,
        "erasure": 1,
        "rectification": 1,
        "marketing_optout": 1,
    }
    assert report.by_language() == {"da": 1, "en": 2, "sv": 3}
    assert sorted(c.days_to_answer for c in report.answered) == [6, 14, 31, 61]
    assert (len(report.answered), report.on_time) == (4, 3)
    assert report.median_days == 22.5
    assert (report.extensions, report.refusals) == (1, 1)
    assert (len(report.still_open), report.overdue_open) == (1, 1)
    assert report.per_week() == {
        "2026-W44": {"access": 1},
        "2026-W45": {"access": 1},
        "2026-W46": {"erasure": 1, "marketing_optout": 1},
        "2026-W47": {"access": 1},
        "2026-W48": {"rectification": 1},
        "2026-W49": {"access": 1},
    }
    extended = next(c for c in report.cases if c.extended)
    assert (extended.due_on, extended.deadline_days) == (date(2027, 2, 22), 94)

    rows = list(csv.DictReader(io.StringIO(as_csv(report))))
    figures = {(r["metric"], r["key"]): r["value"] for r in rows}
    assert {r["month"] for r in rows} == {"2026-11"}
    assert figures[("received", "")] == "6"
    assert figures[("answered_late", "")] == "1"
    assert figures[("median_days_to_answer", "")] == "22.5"
    assert figures[("received_by_language", "da")] == "1"

    table = as_table(report)
    assert re.search(r"Requests received\s+6", table)
    assert re.search(r"on time\s+3", table)
    engine.dispose()


def test_html_is_one_self_contained_page(database_url: str) -> None:
    engine, factory = open_db(database_url)
    seed_november(factory)
    with factory() as session:
        report = month_report(session, 2026, 11, now=AS_OF, timezone="Europe/Stockholm")
    page = as_html(report, controller="Micromedic AB")
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 2
    for forbidden in ("<script", "src=", "href=", "@import", "url("):
        assert forbidden not in page  # nothing fetched: prints and mails as it is
    assert "Micromedic AB" in page and "DSR-2026-0005" in page
    assert "example.se" not in page  # no requester data
    # one bar per answered case, the late one in the "late" colour
    assert page.count("days, deadline") == 4
    assert page.count('fill="#D55E00"><title>DSR-2026-0002') == 1
    engine.dispose()


def test_empty_month_and_bad_month() -> None:
    _, factory = open_db("sqlite://")
    with factory() as session:
        report = month_report(session, 2026, 2, now=AS_OF, timezone="Europe/Stockholm")
    assert report.cases == [] and report.median_days is None
    assert "No request received this month has been answered yet." in as_html(report)
    assert parse_month("2026-11") == (2026, 11)
    for bad in ("2026-13", "11/2026", "2026-1"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            parse_month(bad)
    with factory() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Case)).scalar_one() == 0
