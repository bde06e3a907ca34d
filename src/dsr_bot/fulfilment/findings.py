"""What was found about a person, what erasure did, and the export files (Art. 15, 20).

Plain values only: the Slack card, the CLI and the reply templates all read these, and none
of them needs a database connection to do so.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from dsr_bot.fulfilment.csv_safe import csv_bytes
from dsr_bot.fulfilment.person import Person
from dsr_bot.fulfilment.sources import ErasureAction, text_in


@dataclass(frozen=True)
class TableFindings:
    """The person's rows in one table. `keys` are their primary keys, in the same order."""

    source: str
    table: str
    description: Any  # LocalText: resolved for a letter with `sources.text_in`
    columns: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]
    keys: tuple[tuple[Any, ...], ...]
    provided_by_subject: bool
    erasure: ErasureAction
    keep_reason: Any = ""


@dataclass(frozen=True)
class Findings:
    person: Person
    tables: tuple[TableFindings, ...] = ()

    def __add__(self, other: Findings) -> Findings:
        return Findings(self.person, self.tables + other.tables)

    @property
    def row_count(self) -> int:
        return sum(len(t.rows) for t in self.tables)

    def counts(self) -> list[dict[str, Any]]:
        """Per table, for the audit trail and the preview: counts, never values."""
        return [{"source": t.source, "table": t.table, "rows": len(t.rows)} for t in self.tables]


@dataclass(frozen=True)
class TableOutcome:
    table: str
    action: ErasureAction
    rows: int
    description: Any = ""
    reason: Any = ""


@dataclass(frozen=True)
class ErasureReport:
    """One source's erasure. `error` set means it was rolled back: nothing changed there."""

    source: str
    dry_run: bool
    outcomes: tuple[TableOutcome, ...] = ()
    error: str | None = None
    # "preview": counted from what was found; "rehearsal": executed, then rolled back.
    mode: str = "executed"

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_detail(self) -> dict[str, Any]:
        """For the audit event: row counts per table and action, no personal data."""
        return {
            "source": self.source,
            "mode": self.mode,
            "committed": self.ok and not self.dry_run,
            "error": self.error,
            "tables": [
                {"table": o.table, "action": o.action.value, "rows": o.rows}
                | ({"reason": o.reason} if o.reason else {})
                for o in self.outcomes
            ],
        }


@dataclass(frozen=True)
class ErasureSummary:
    """What the erasure confirmation says (Art. 17, 17(3), 19), one line per item."""

    erased: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()


def erasure_preview(source: str, findings: Findings) -> ErasureReport:
    """What erasure would do in `source`, counted from what was found; nothing runs."""
    outcomes = tuple(
        TableOutcome(t.table, t.erasure, len(t.rows), t.description, t.keep_reason)
        for t in findings.tables
        if t.source == source
    )
    return ErasureReport(source, True, outcomes, mode="preview")


def summarise(reports: list[ErasureReport], language: str = "sv") -> ErasureSummary:
    """The letter's lines, in the letter's language (labels and reasons may be per language)."""
    erased: list[str] = []
    kept: list[str] = []
    failed: list[str] = []
    for report in reports:
        if not report.ok:
            failed.append(f"{report.source}: {report.error}")
            continue
        for o in report.outcomes:
            label = text_in(o.description, language) or f"{report.source}: {o.table}"
            if o.action is ErasureAction.KEEP and o.rows:
                kept.append(f"{label}: {text_in(o.reason, language)}")
            elif o.rows:
                erased.append(label)
    return ErasureSummary(tuple(dict.fromkeys(erased)), tuple(dict.fromkeys(kept)), tuple(failed))


# -- export -------------------------------------------------------------------------------
def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"cannot export a {type(value).__name__}")


def export(
    findings: Findings, *, portability: bool = False, language: str = "sv"
) -> dict[str, bytes]:
    """The attachments for the reply: `{"json": …, "csv": …}`.

    Access (Art. 15(3)) gets every row found. Portability (Art. 20(1)) covers only data the
    person provided, so only tables marked `provided_by_subject` are included. The CSV is
    long-form (`source,table,row,column,value`) so rows of different tables share one
    sheet; JSON keeps each table's rows as objects, the machine-readable format Art. 20(1)
    asks for.
    """
    tables = [t for t in findings.tables if t.provided_by_subject or not portability]
    doc = {
        "subject": {"email": findings.person.email},
        "scope": "portability" if portability else "access",
        "sources": [
            {
                "source": t.source,
                "table": t.table,
                "description": text_in(t.description, language),
                "rows": [{c: row.get(c) for c in t.columns} for row in t.rows],
            }
            for t in tables
        ],
    }
    data = json.dumps(doc, ensure_ascii=False, indent=2, default=_json_value).encode("utf-8")
    cells = (
        (t.source, t.table, n, column, row.get(column))
        for t in tables
        for n, row in enumerate(t.rows, start=1)
        for column in t.columns
    )
    return {"json": data, "csv": csv_bytes(["source", "table", "row", "column", "value"], cells)}
