"""`dsr-bot report --month 2026-11`: what a privacy officer shows an auditor or IMY.

For the requests received in one calendar month (receipt date in the controller's time zone,
as the deadline counts it): how many, of which type and language, how many answered and how
many of those within the legal deadline (Art. 12(3), extended where recorded), the median
days to answer, extensions and refusals (Art. 12(4)-(5)). A refusal is an answer too: the
controller must give it, with reasons, within the same period.

"Answered" is the first time the case became `answered` or `rejected` in the audit trail,
so the figures come from the record of what was done, not from a status that can change.
Only references and dates appear: the report holds no personal data.
"""

from __future__ import annotations

import csv
import io
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from dsr_bot.cases import deadlines
from dsr_bot.cases.model import ALL_REQUEST_TYPES, OPEN_STATUSES, CaseStatus
from dsr_bot.store import repositories

NO_DATA = "no_data"
ANSWERS = frozenset({CaseStatus.ANSWERED.value, CaseStatus.REJECTED.value})
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(value: str) -> tuple[int, int]:
    m = _MONTH_RE.match(value.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"expected a month as YYYY-MM, e.g. 2026-11 (got {value!r})")
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True)
class CaseLine:
    ref: str
    types: tuple[str, ...]
    language: str
    received_on: date
    due_on: date  # the deadline that applies: extended if extended
    extended: bool
    answered_on: date | None
    # answered | no_data | rejected | None (open, or closed without an answer). no_data is
    # "we process no personal data about you": a complete Art. 15 answer, not a refusal.
    outcome: str | None
    open: bool

    @property
    def days_to_answer(self) -> int | None:
        return (self.answered_on - self.received_on).days if self.answered_on else None

    @property
    def deadline_days(self) -> int:
        return (self.due_on - self.received_on).days

    @property
    def on_time(self) -> bool | None:
        return None if self.answered_on is None else self.answered_on <= self.due_on


@dataclass
class MonthReport:
    year: int
    month: int
    as_of: date
    cases: list[CaseLine] = field(default_factory=list)

    @property
    def label(self) -> str:
        return date(self.year, self.month, 1).strftime("%B %Y")

    def by_type(self) -> dict[str, int]:
        counts = Counter(t for c in self.cases for t in c.types)
        return {t.value: counts[t.value] for t in ALL_REQUEST_TYPES if counts[t.value]}

    def by_language(self) -> dict[str, int]:
        return dict(sorted(Counter(c.language for c in self.cases).items()))

    @property
    def answered(self) -> list[CaseLine]:
        return [c for c in self.cases if c.answered_on is not None]

    @property
    def on_time(self) -> int:
        return sum(1 for c in self.answered if c.on_time)

    @property
    def median_days(self) -> float | None:
        days = [c.days_to_answer for c in self.answered if c.days_to_answer is not None]
        return statistics.median(days) if days else None

    @property
    def extensions(self) -> int:
        return sum(1 for c in self.cases if c.extended)

    @property
    def refusals(self) -> int:
        return sum(1 for c in self.cases if c.outcome == CaseStatus.REJECTED.value)

    @property
    def no_data(self) -> int:
        return sum(1 for c in self.cases if c.outcome == NO_DATA)

    @property
    def still_open(self) -> list[CaseLine]:
        return [c for c in self.cases if c.open]

    @property
    def overdue_open(self) -> int:
        return sum(1 for c in self.still_open if c.due_on < self.as_of)

    def per_week(self) -> dict[str, dict[str, int]]:
        """ISO week label → requests per type received that week (within the month)."""
        weeks: dict[str, dict[str, int]] = {}
        day = date(self.year, self.month, 1)
        while day.month == self.month:
            weeks.setdefault(_week(day), {})
            day += timedelta(days=1)
        for c in self.cases:
            bucket = weeks[_week(c.received_on)]
            for t in c.types:
                bucket[t] = bucket.get(t, 0) + 1
        return weeks

    def summary(self) -> list[tuple[str, str, str]]:
        """(metric, key, value) rows: the table and the CSV say the same thing."""
        rows = [("received", "", str(len(self.cases)))]
        rows += [("received_by_type", t, str(n)) for t, n in self.by_type().items()]
        rows += [("received_by_language", lang, str(n)) for lang, n in self.by_language().items()]
        median = self.median_days
        rows += [
            ("answered", "", str(len(self.answered))),
            ("answered_on_time", "", str(self.on_time)),
            ("answered_late", "", str(len(self.answered) - self.on_time)),
            ("median_days_to_answer", "", "" if median is None else f"{median:g}"),
            ("extensions", "", str(self.extensions)),
            ("answered_no_data", "", str(self.no_data)),
            ("refusals", "", str(self.refusals)),
            ("still_open", "", str(len(self.still_open))),
            ("still_open_overdue", "", str(self.overdue_open)),
        ]
        return rows


def _week(day: date) -> str:
    iso = day.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def month_report(
    session: Session, year: int, month: int, *, now: datetime, timezone: str
) -> MonthReport:
    zone = ZoneInfo(timezone)
    start = datetime.combine(date(year, month, 1), time(0), zone).astimezone(UTC)
    nxt = deadlines.add_months(date(year, month, 1), 1)
    end = datetime.combine(nxt, time(0), zone).astimezone(UTC)
    found = repositories.cases_received(session, start, end)
    answers: dict[int, tuple[datetime, str]] = {}
    if found:
        ids = [c.id for c in found]
        for event in repositories.events_of_cases(session, ids, "status_changed"):
            to = (event.detail or {}).get("to")
            if to in ANSWERS and event.case_id not in answers:
                answers[event.case_id] = (event.at, to)
        # The reply's own recorded outcome (cases/replying.py): access answered with "no
        # personal data about you" is its own outcome.
        for event in repositories.events_of_cases(session, ids, "reply_approved"):
            outcomes = (event.detail or {}).get("outcomes") or {}
            if outcomes.get("access") == NO_DATA and event.case_id in answers:
                answers[event.case_id] = (answers[event.case_id][0], NO_DATA)
    report = MonthReport(year, month, as_of=deadlines.receipt_date(now, zone))
    for c in found:
        answer = answers.get(c.id)
        report.cases.append(
            CaseLine(
                ref=c.ref,
                types=tuple(c.types),
                language=c.language,
                received_on=deadlines.receipt_date(c.received_at, zone),
                due_on=c.extended_due_on or c.due_on,
                extended=c.extended_due_on is not None,
                answered_on=deadlines.receipt_date(answer[0], zone) if answer else None,
                outcome=answer[1] if answer else None,
                open=c.status in OPEN_STATUSES,
            )
        )
    return report


def as_csv(report: MonthReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["month", "metric", "key", "value"])
    month = f"{report.year:04d}-{report.month:02d}"
    for metric, key, value in report.summary():
        writer.writerow([month, metric, key, value])
    return out.getvalue()


def as_table(report: MonthReport) -> str:
    labels = {
        "received": "Requests received",
        "received_by_type": "  by type",
        "received_by_language": "  by language",
        "answered": "Answered (incl. refusals)",
        "answered_on_time": "  on time",
        "answered_late": "  late",
        "median_days_to_answer": "Median days to answer",
        "extensions": "Extended (Art. 12(3))",
        "answered_no_data": "  no personal data held (Art. 15)",
        "refusals": "Refused",
        "still_open": "Still open",
        "still_open_overdue": "  of which overdue",
    }
    lines = [f"Data-subject requests received in {report.label} (as of {report.as_of})", ""]
    for metric, key, value in report.summary():
        name = f"{labels[metric]}: {key}" if key else labels[metric]
        lines.append(f"{name:<34}{value or '-':>6}")
    lines.append("")
    lines.append("A request of several types counts once for each type.")
    return "\n".join(lines)


def month_letters(
    session: Session, year: int, month: int, *, timezone: str
) -> list[dict[str, object]]:
    """Every letter written to a requester in one month (controller's calendar): the kept
    record of what the controller said (Art. 5(2)). References, dates and purposes only;
    `dsr-bot letters show ID` prints a letter's text."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(date(year, month, 1), time(0), zone).astimezone(UTC)
    end = datetime.combine(deadlines.add_months(date(year, month, 1), 1), time(0), zone)
    rows = repositories.letters_written(session, start, end.astimezone(UTC))
    out: list[dict[str, object]] = []
    for letter, ref, status, sent_at in rows:
        if letter.channel == "post":
            state = "printed" if letter.printed_at else "to print"
            delivered = letter.printed_at
        else:
            state = status or "unknown"
            delivered = sent_at
        out.append(
            {
                "id": letter.id,
                "ref": ref,
                "written_at": letter.created_at.astimezone(zone).isoformat(timespec="minutes"),
                "purpose": letter.purpose,
                "channel": letter.channel,
                "status": state,
                "delivered_at": delivered.astimezone(zone).isoformat(timespec="minutes")
                if delivered
                else None,
                "kept": letter.text is not None,
            }
        )
    return out


def letters_table(rows: list[dict[str, object]]) -> str:
    if not rows:
        return "No letters in that month.\n"
    columns = ["id", "ref", "written_at", "purpose", "channel", "status", "delivered_at"]
    cells = [[str(r.get(c) if r.get(c) is not None else "-") for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines) + "\n"
