"""GDPR Art. 12(3) deadlines, counted per Reg. 1182/71 Art. 3 on the Swedish calendar.

Each table row is one worked example; its expected date was worked out by hand from a wall
calendar (weekday noted in the comment), not by running the code. The clock is injected:
every function under test takes `now`/`today` as an argument.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dsr_bot.cases import deadlines
from dsr_bot.cases.deadlines import (
    Deadline,
    add_months,
    days_left,
    deadline_for,
    due_date,
    extension_allowed,
    is_working_day,
    next_working_day,
    receipt_date,
    working_days_before,
)

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def noon(iso_date: str) -> datetime:
    """Midday in Stockholm: far from midnight, so only the date matters."""
    return datetime.fromisoformat(iso_date).replace(hour=12, tzinfo=STOCKHOLM)


def utc(iso: str) -> datetime:
    return datetime.fromisoformat(iso).replace(tzinfo=UTC)


D = date.fromisoformat

# --- one month, Reg. 1182/71 Art. 3(2)(c) and 3(4) ------------------------------------------

DUE_DATE_EXAMPLES = [
    # Month ends: the same date does not exist in the last month -> its last day.
    pytest.param("2025-01-31", "2025-02-28", id="31-jan-to-28-feb-non-leap"),  # Fri
    pytest.param("2028-01-31", "2028-02-29", id="31-jan-to-29-feb-leap-year"),  # Tue
    pytest.param("2026-03-30", "2026-04-30", id="30-mar-to-30-apr"),  # Thu, date exists
    pytest.param("2026-03-31", "2026-04-30", id="31-mar-to-30-apr-clamped"),  # Thu
    pytest.param("2026-08-31", "2026-09-30", id="31-aug-to-30-sep"),  # Wed
    # 31 Jan 2026 -> 28 Feb 2026 is a Saturday; Sun 1 Mar; ends Monday 2 March.
    pytest.param("2026-01-31", "2026-03-02", id="month-end-on-saturday"),
    # 1 Mar 2025 is a Saturday -> Monday 3 March.
    pytest.param("2025-02-01", "2025-03-03", id="1-feb-to-saturday-1-mar"),
    # Easter 2026: Good Friday 3 Apr, Easter Sunday 5, Easter Monday 6 -> Tuesday 7 April.
    pytest.param("2026-03-03", "2026-04-07", id="good-friday"),
    pytest.param("2026-03-06", "2026-04-07", id="easter-monday"),
    # Easter 2027: Good Friday 26 Mar, Easter Monday 29 Mar -> Tuesday 30 March.
    pytest.param("2027-02-26", "2027-03-30", id="good-friday-2027"),
    # Maundy Thursday is an ordinary working day in Sweden (unlike Norway, see below).
    pytest.param("2027-02-25", "2027-03-25", id="maundy-thursday-works-in-se"),
    # Ascension Day Thu 14 May 2026 -> Fri 15 May; the bridge day (klämdag) is a working day.
    pytest.param("2026-04-14", "2026-05-15", id="ascension-day"),
    # 1 May 2026 is a Friday (Första maj, public holiday) -> Monday 4 May.
    pytest.param("2026-04-01", "2026-05-04", id="may-day-friday"),
    # Valborg (30 April) is an ordinary working day.
    pytest.param("2027-03-30", "2027-04-30", id="walpurgis-eve-works"),  # Fri
    # Whit Monday stopped being a holiday in 2005 (National Day replaced it).
    pytest.param("2026-04-25", "2026-05-25", id="whit-monday-works"),  # Mon
    # Midsummer 2026: Midsommarafton Fri 19 June is NOT a public holiday -> due that day.
    pytest.param("2026-05-19", "2026-06-19", id="midsummer-eve-is-working-by-default"),
    # Midsommardagen is always a Saturday (20 June 2026) -> Monday 22 June.
    pytest.param("2026-05-20", "2026-06-22", id="midsummer-day-saturday"),
    # National Day 6 June on a weekday: Tue 6 June 2028 -> Wednesday 7 June.
    pytest.param("2028-05-06", "2028-06-07", id="national-day-tuesday"),
    # ... on a Friday: Fri 6 June 2025 -> Sat, Sun -> Monday 9 June (Whit Monday, working).
    pytest.param("2025-05-06", "2025-06-09", id="national-day-friday"),
    # ... on a weekend: Sat 6 June 2026 -> Monday 8 June; no substitute day in Sweden.
    pytest.param("2026-05-06", "2026-06-08", id="national-day-saturday"),
    pytest.param("2027-05-06", "2027-06-07", id="national-day-sunday"),  # Sun -> Mon 7
    # Christmas 2026: Christmas Day Fri 25, Boxing Day Sat 26, Sun 27 -> Monday 28 Dec.
    pytest.param("2026-11-25", "2026-12-28", id="christmas-day"),
    # Christmas Eve Thu 24 Dec 2026 is not a public holiday -> due that day by default.
    pytest.param("2026-11-24", "2026-12-24", id="christmas-eve-is-working-by-default"),
    # New Year's Day Fri 1 Jan 2027 -> Sat, Sun -> Monday 4 January.
    pytest.param("2026-12-01", "2027-01-04", id="new-years-day-friday"),
    # New Year's Day Thu 1 Jan 2026 -> Friday 2 January (working).
    pytest.param("2025-12-01", "2026-01-02", id="new-years-day-thursday"),
    # Epiphany (Trettondedag jul) Tue 6 Jan 2026 -> Wednesday 7 January.
    pytest.param("2025-12-06", "2026-01-07", id="epiphany"),
    # 29 Dec 2029 is a Saturday -> Sun 30 -> Monday 31 Dec (New Year's Eve, working).
    pytest.param("2029-11-29", "2029-12-31", id="new-years-eve-is-working-by-default"),
    # Year boundary without a holiday: 15 Dec -> 15 Jan (Thu 15 Jan 2026).
    pytest.param("2025-12-15", "2026-01-15", id="december-to-january"),
]


@pytest.mark.parametrize(("received", "expected"), DUE_DATE_EXAMPLES)
def test_due_date_worked_examples(received: str, expected: str) -> None:
    assert due_date(noon(received)) == D(expected)


# Days that are closed in practice (and under Lag (1930:173) 2 §) but not public holidays.
EXTRA_CLOSED_EXAMPLES = [
    # Midsommarafton Fri 19 June 2026 -> Sat (Midsommardagen), Sun -> Monday 22 June.
    pytest.param("2026-05-19", "2026-06-22", id="midsummer-eve"),
    # Julafton Thu 24 Dec 2026 -> Fri 25, Sat 26, Sun 27 -> Monday 28 Dec.
    pytest.param("2026-11-24", "2026-12-28", id="christmas-eve"),
    # Julafton Fri 24 Dec 2027 -> Sat 25, Sun 26 (no substitute holidays) -> Monday 27 Dec.
    pytest.param("2027-11-24", "2027-12-27", id="christmas-eve-friday"),
    # Sat 29 Dec 2029 -> Sun -> Nyårsafton Mon 31 -> Nyårsdagen Tue 1 Jan -> Wednesday 2 Jan.
    pytest.param("2029-11-29", "2030-01-02", id="new-years-eve"),
    # An ordinary day is unaffected by the flag (Thu 30 Apr 2026).
    pytest.param("2026-03-31", "2026-04-30", id="ordinary-day-unchanged"),
]


@pytest.mark.parametrize(("received", "expected"), EXTRA_CLOSED_EXAMPLES)
def test_due_date_with_extra_closed_days(received: str, expected: str) -> None:
    assert due_date(noon(received), extra_closed_days=True) == D(expected)


# --- receipt date: the controller's calendar, not UTC -----------------------------------------

RECEIPT_EXAMPLES = [
    # The brief's example: 23:30 UTC on 31 Jan is 00:30 on 1 Feb in Stockholm (CET, +1).
    pytest.param(utc("2028-01-31T23:30"), "2028-02-01", "2028-03-01", id="utc-late-evening"),
    # One minute before local midnight stays on 31 Jan -> 29 Feb (leap year).
    pytest.param(utc("2028-01-31T22:59"), "2028-01-31", "2028-02-29", id="local-23-59"),
    # Local midnight exactly belongs to the new day.
    pytest.param(utc("2028-01-31T23:00"), "2028-02-01", "2028-03-01", id="local-midnight"),
    # Summer time (CEST, +2): 22:30 UTC on 30 June is 00:30 on 1 July.
    # 1 Aug 2026 is a Saturday -> Monday 3 August.
    pytest.param(utc("2026-06-30T22:30"), "2026-07-01", "2026-08-03", id="summer-boundary"),
    pytest.param(utc("2026-06-30T21:59"), "2026-06-30", "2026-07-30", id="summer-23-59"),
    # An offset other than UTC is converted, not read literally: 03:00+05:00 = 23:00 CET.
    pytest.param(
        datetime(2028, 2, 1, 3, 0, tzinfo=ZoneInfo("Asia/Karachi")),
        "2028-01-31",
        "2028-02-29",
        id="foreign-offset",
    ),
    # DST starts Sun 29 Mar 2026 at 01:00 UTC. 00:30 local that night is still CET (+1).
    pytest.param(utc("2026-03-28T23:30"), "2026-03-29", "2026-04-29", id="dst-march-00-30"),
    pytest.param(utc("2026-03-28T22:59"), "2026-03-28", "2026-04-28", id="dst-march-before"),
    pytest.param(
        datetime(2026, 3, 29, 0, 30, tzinfo=STOCKHOLM), "2026-03-29", "2026-04-29", id="dst-local"
    ),
    # The next night is CEST (+2): 22:30 UTC on 29 Mar is 00:30 on 30 Mar -> Thu 30 Apr.
    pytest.param(utc("2026-03-29T22:30"), "2026-03-30", "2026-04-30", id="dst-march-after"),
    # DST ends Sun 25 Oct 2026 at 01:00 UTC. 00:30 local that night is still CEST (+2).
    pytest.param(utc("2026-10-24T22:30"), "2026-10-25", "2026-11-25", id="dst-october-00-30"),
    pytest.param(utc("2026-10-24T21:59"), "2026-10-24", "2026-11-24", id="dst-october-before"),
    pytest.param(
        datetime(2026, 10, 25, 0, 30, tzinfo=STOCKHOLM), "2026-10-25", "2026-11-25", id="dst-oct"
    ),
    # The repeated hour 02:00-03:00 (00:30 and 01:30 UTC) is 25 October either way.
    pytest.param(utc("2026-10-25T01:30"), "2026-10-25", "2026-11-25", id="dst-october-fold"),
    # The next night is CET (+1): 23:30 UTC on 25 Oct is 00:30 on 26 Oct -> Thu 26 Nov.
    pytest.param(utc("2026-10-25T23:30"), "2026-10-26", "2026-11-26", id="dst-october-after"),
    pytest.param(utc("2026-10-25T22:59"), "2026-10-25", "2026-11-25", id="dst-oct-after-23-59"),
]


@pytest.mark.parametrize(("received_at", "received_on", "due"), RECEIPT_EXAMPLES)
def test_receipt_date_and_due_date_at_day_boundaries(
    received_at: datetime, received_on: str, due: str
) -> None:
    assert receipt_date(received_at) == D(received_on)
    assert due_date(received_at) == D(due)


def test_time_zone_is_configurable() -> None:
    # The same instant is still 31 January for a controller that keeps its books in UTC.
    instant = utc("2028-01-31T23:30")
    assert receipt_date(instant, "UTC") == D("2028-01-31")
    assert receipt_date(instant, ZoneInfo("UTC")) == D("2028-01-31")
    assert due_date(instant, tz="UTC") == D("2028-02-29")


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        receipt_date(datetime(2026, 1, 31, 12, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        due_date(datetime(2026, 1, 31, 12, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        extension_allowed(noon("2026-01-31"), datetime(2026, 2, 1, 12, 0))


def test_unknown_time_zone_names_what_was_expected() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Europe/Stokholm'"):
        receipt_date(noon("2026-01-31"), "Europe/Stokholm")


# --- extension: three months from receipt, Art. 12(3) -----------------------------------------

EXTENDED_EXAMPLES = [
    # 31 Jan 2026 + 3 months = 30 Apr (Thu). Not due (Mon 2 Mar) + 2 months = 2 May.
    pytest.param("2026-01-31", "2026-03-02", "2026-04-30", id="31-jan-not-due-plus-two"),
    # 31 Mar 2026 -> due Thu 30 Apr; + 3 months = Tue 30 June.
    pytest.param("2026-03-31", "2026-04-30", "2026-06-30", id="31-mar"),
    # 31 Aug 2026 -> due Wed 30 Sep; + 3 months = 30 Nov (Mon).
    pytest.param("2026-08-31", "2026-09-30", "2026-11-30", id="31-aug"),
    # 31 Oct 2026 -> due Mon 30 Nov; + 3 months = 31 Jan 2027, a Sunday -> Mon 1 Feb.
    pytest.param("2026-10-31", "2026-11-30", "2027-02-01", id="31-oct-to-sunday"),
    # 30 Nov 2026 -> due Wed 30 Dec; + 3 = 28 Feb 2027 (clamped), a Sunday -> Mon 1 Mar.
    pytest.param("2026-11-30", "2026-12-30", "2027-03-01", id="30-nov-clamped-to-sunday"),
    # 30 Nov 2027 -> due Thu 30 Dec; + 3 = 29 Feb 2028 (leap year, Tue).
    pytest.param("2027-11-30", "2027-12-30", "2028-02-29", id="30-nov-leap-year"),
    # 3 Jan 2026 -> due Tue 3 Feb; + 3 = Good Friday 3 Apr 2026 -> Tue 7 Apr.
    pytest.param("2026-01-03", "2026-02-03", "2026-04-07", id="extended-lands-on-easter"),
]


@pytest.mark.parametrize(("received", "due", "extended"), EXTENDED_EXAMPLES)
def test_extended_due_date(received: str, due: str, extended: str) -> None:
    assert due_date(noon(received)) == D(due)
    assert due_date(noon(received), extended=True) == D(extended)
    assert deadline_for(noon(received)) == Deadline(
        received_on=D(received), due=D(due), extended_due=D(extended), extension_deadline=D(due)
    )


# Received Sat 31 Jan 2026 in Stockholm; due Mon 2 Mar (28 Feb is a Saturday).
EXTENSION_WINDOW = [
    pytest.param(utc("2026-02-15T10:00"), True, id="mid-month"),
    # The raw one-month date (Sat 28 Feb) has passed, but Art. 3(4) carries the period on.
    pytest.param(utc("2026-02-28T12:00"), True, id="raw-month-end-on-saturday"),
    pytest.param(utc("2026-03-02T07:00"), True, id="morning-of-due-date"),
    pytest.param(utc("2026-03-02T22:59"), True, id="23-59-local-on-due-date"),
    # 23:00 UTC on 2 March is midnight in Stockholm: the first month has passed.
    pytest.param(utc("2026-03-02T23:00"), False, id="midnight-local-after-due-date"),
    pytest.param(utc("2026-03-03T09:00"), False, id="day-after-due-date"),
    pytest.param(utc("2026-04-01T09:00"), False, id="weeks-later"),
]


@pytest.mark.parametrize(("now", "allowed"), EXTENSION_WINDOW)
def test_extension_allowed_until_the_original_due_date(now: datetime, allowed: bool) -> None:
    assert extension_allowed(noon("2026-01-31"), now) is allowed


def test_extension_window_follows_the_extra_closed_days_option() -> None:
    # Due Thu 24 Dec 2026 (Julafton) by default; Mon 28 Dec with the de facto days closed.
    received, on_boxing_day = noon("2026-11-24"), noon("2026-12-26")
    assert not extension_allowed(received, on_boxing_day)
    assert extension_allowed(received, on_boxing_day, extra_closed_days=True)


# --- building blocks ---------------------------------------------------------------------------

ADD_MONTHS_EXAMPLES = [
    pytest.param("2026-01-15", 1, "2026-02-15", id="plain"),
    pytest.param("2026-01-31", 1, "2026-02-28", id="clamp-non-leap"),
    pytest.param("2028-01-31", 1, "2028-02-29", id="clamp-leap"),
    pytest.param("2026-12-31", 1, "2027-01-31", id="year-rollover"),
    pytest.param("2026-11-30", 3, "2027-02-28", id="three-months-over-year-end"),
    pytest.param("2028-02-29", 12, "2029-02-28", id="leap-day-plus-a-year"),
    pytest.param("2026-03-31", -1, "2026-02-28", id="backwards"),
    pytest.param("2026-05-31", 0, "2026-05-31", id="zero"),
]


@pytest.mark.parametrize(("start", "months", "expected"), ADD_MONTHS_EXAMPLES)
def test_add_months(start: str, months: int, expected: str) -> None:
    assert add_months(D(start), months) == D(expected)


WORKING_DAY_EXAMPLES = [
    # (date, working by default, working with extra_closed_days)
    pytest.param("2026-04-29", True, True, id="ordinary-wednesday"),
    pytest.param("2026-05-02", False, False, id="saturday"),
    pytest.param("2026-05-03", False, False, id="sunday"),
    pytest.param("2026-05-01", False, False, id="may-day"),
    pytest.param("2026-04-05", False, False, id="easter-sunday"),
    pytest.param("2026-06-06", False, False, id="national-day"),
    pytest.param("2026-10-31", False, False, id="all-saints-day"),
    pytest.param("2026-06-19", True, False, id="midsummer-eve"),
    pytest.param("2026-12-24", True, False, id="christmas-eve"),
    pytest.param("2026-12-31", True, False, id="new-years-eve"),
    pytest.param("2026-04-30", True, True, id="walpurgis-eve-not-de-facto"),
    pytest.param("2026-05-25", True, True, id="whit-monday"),
]


@pytest.mark.parametrize(("day", "working", "working_extra"), WORKING_DAY_EXAMPLES)
def test_is_working_day(day: str, working: bool, working_extra: bool) -> None:
    assert is_working_day(D(day)) is working
    assert is_working_day(D(day), extra_closed_days=True) is working_extra


def test_next_working_day_returns_a_working_day_unchanged() -> None:
    assert next_working_day(D("2026-04-02")) == D("2026-04-02")  # Thu before Easter
    assert next_working_day(D("2026-04-03")) == D("2026-04-07")  # Good Friday -> Tuesday


def test_country_is_configurable() -> None:
    # Norway closes on Maundy Thursday (25 Mar 2027) through Easter Monday -> Tue 30 Mar.
    assert is_working_day(D("2027-03-25"), "SE")
    assert not is_working_day(D("2027-03-25"), "NO")
    assert due_date(noon("2027-02-25"), country="NO") == D("2027-03-30")
    assert due_date(noon("2027-02-25"), country="no") == D("2027-03-30")  # code case-folded


def test_unknown_country_and_unsupported_option_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown holiday country 'XX'"):
        is_working_day(D("2026-04-29"), "XX")
    with pytest.raises(ValueError, match="extra_closed_days is not available for country 'DE'"):
        is_working_day(D("2026-04-29"), "DE", extra_closed_days=True)


WORKING_DAYS_BEFORE_EXAMPLES = [
    # (day, n, expected by default, expected with extra_closed_days)
    # Tue 7 Apr 2026: Easter Monday and Good Friday are skipped -> Thu 2 Apr.
    pytest.param("2026-04-07", 1, "2026-04-02", "2026-04-02", id="over-easter"),
    # Mon 22 June 2026, 5 back: Fri 19 (Midsummer Eve) counts unless closed.
    pytest.param("2026-06-22", 5, "2026-06-15", "2026-06-12", id="over-midsummer"),
    # Mon 4 Jan 2027, 3 back: 31, 30, 29 Dec; with New Year's Eve closed: 30, 29, 28 Dec.
    pytest.param("2027-01-04", 3, "2026-12-29", "2026-12-28", id="over-new-year"),
    pytest.param("2026-04-29", 0, "2026-04-29", "2026-04-29", id="zero"),
]


@pytest.mark.parametrize(("day", "n", "expected", "expected_extra"), WORKING_DAYS_BEFORE_EXAMPLES)
def test_working_days_before(day: str, n: int, expected: str, expected_extra: str) -> None:
    assert working_days_before(D(day), n) == D(expected)
    assert working_days_before(D(day), n, extra_closed_days=True) == D(expected_extra)


def test_working_days_before_refuses_negative_n() -> None:
    with pytest.raises(ValueError, match="n must be >= 0"):
        working_days_before(D("2026-04-29"), -1)


@pytest.mark.parametrize(
    ("today", "expected"),
    [("2026-02-28", 2), ("2026-03-02", 0), ("2026-03-05", -3), ("2026-01-31", 30)],
)
def test_days_left_is_negative_when_overdue(today: str, expected: int) -> None:
    assert days_left(D("2026-03-02"), D(today)) == expected


def test_holiday_calendars_are_built_once_per_country_and_year(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, object]] = []
    real = holidays.country_holidays

    def counting(country: str, **kwargs: object) -> holidays.HolidayBase:
        calls.append((country, kwargs.get("years")))
        return real(country, **kwargs)

    monkeypatch.setattr(deadlines.holidays, "country_holidays", counting)
    deadlines._closed_dates.cache_clear()
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    for hours in range(0, 2 * 365 * 24, 7):  # every 7 hours over two years
        deadline_for(start + timedelta(hours=hours))
    deadlines._closed_dates.cache_clear()  # do not leak the counting calendars
    # Received 2026-2027, due dates reach into 2028: at most three calendars.
    assert sorted(calls) == [("SE", 2026), ("SE", 2027), ("SE", 2028)]


# --- properties --------------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)
zones = st.sampled_from(["Europe/Stockholm", "UTC", "America/New_York", "Asia/Tokyo"])
flags = st.booleans()


def raw_month(received_at: datetime, tz: str, months: int = 1) -> date:
    return add_months(receipt_date(received_at, tz), months)


@given(instants, zones, flags)
def test_due_date_is_a_working_day_within_a_week_of_the_raw_date(
    received_at: datetime, tz: str, extra: bool
) -> None:
    due = due_date(received_at, tz=tz, extra_closed_days=extra)
    raw = raw_month(received_at, tz)
    assert is_working_day(due, extra_closed_days=extra)
    assert raw <= due < raw + timedelta(days=7)
    # Every day skipped is closed: the period ends on the *first* working day.
    skipped = [raw + timedelta(days=i) for i in range((due - raw).days)]
    assert not any(is_working_day(d, extra_closed_days=extra) for d in skipped)


@given(instants, zones, flags)
def test_extended_due_date_is_later_and_also_a_working_day(
    received_at: datetime, tz: str, extra: bool
) -> None:
    deadline = deadline_for(received_at, tz=tz, extra_closed_days=extra)
    raw = raw_month(received_at, tz, months=3)
    assert deadline.extended_due >= deadline.due
    assert is_working_day(deadline.extended_due, extra_closed_days=extra)
    assert raw <= deadline.extended_due < raw + timedelta(days=7)
    assert deadline.extended_due == due_date(
        received_at, tz=tz, extended=True, extra_closed_days=extra
    )
    assert deadline.extension_deadline == deadline.due
    assert deadline.received_on < deadline.due


@given(instants, instants, zones)
def test_due_dates_are_monotonic_in_receipt(a: datetime, b: datetime, tz: str) -> None:
    first, second = sorted((a, b))
    assert due_date(first, tz=tz) <= due_date(second, tz=tz)
    assert due_date(first, tz=tz, extended=True) <= due_date(second, tz=tz, extended=True)


@given(instants, st.integers(min_value=0, max_value=3650))
def test_extension_allowed_exactly_until_the_due_date(received_at: datetime, offset: int) -> None:
    due = due_date(received_at)
    now = datetime.combine(receipt_date(received_at) + timedelta(days=offset), datetime.min.time())
    now = now.replace(hour=12, tzinfo=STOCKHOLM)
    assert extension_allowed(received_at, now) is (now.date() <= due)


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2099, 12, 31)), st.integers(-60, 60))
def test_add_months_keeps_the_day_or_clamps_to_month_end(d: date, months: int) -> None:
    result = add_months(d, months)
    assert (result.year * 12 + result.month) - (d.year * 12 + d.month) == months
    if result.day != d.day:
        assert result.day < d.day
        assert (result + timedelta(days=1)).day == 1  # clamped to the last day of the month


@given(st.dates(min_value=date(1990, 3, 1), max_value=date(2099, 12, 31)), st.integers(0, 30))
def test_working_days_before_counts_exactly_n_working_days(d: date, n: int) -> None:
    earlier = working_days_before(d, n)
    between = [earlier + timedelta(days=i) for i in range((d - earlier).days)]
    assert sum(is_working_day(x) for x in between) == n
    if n:
        assert is_working_day(earlier)
