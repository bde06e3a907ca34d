"""When a data-subject request must be answered: GDPR Art. 12(3) as date arithmetic.

Art. 12(3) GDPR gives the controller "one month of receipt of the request", extendable "by two
further months where necessary", provided the data subject is told "within one month of
receipt". The GDPR does not say how to count a month; Regulation (EEC, Euratom) No 1182/71
(periods, dates and time limits, applicable to Union acts) does, and the EDPB Guidelines
01/2022 on the right of access (on the timing of a reply) point to it. The rules used here:

* Art. 3(1) second subpara.: the day on which the event (receipt) occurs is not counted, so
  the period is computed from the receipt *date*, taken in the controller's time zone.
* Art. 3(2)(c): a period in months ends on the day of the last month with the same date as
  the day from which it runs; if that date does not exist there, on the month's last day.
* Art. 3(4): if the last day is a public holiday, Sunday or Saturday, the period ends with the
  following working day. "Public holidays" are those of the Member State where the action is
  taken (Art. 2(1)); for Sweden, the allmänna helgdagar of Lag (1989:253).

Midsummer Eve, Christmas Eve and New Year's Eve are not allmänna helgdagar, although most
Swedish offices are closed and Lag (1930:173) 2 § (the Swedish "söndagsregel", which governs
Swedish statutes, not EU regulations) lets a deadline falling on them move to the next
weekday. By default they count as working days: the strict EU reading gives the earlier date,
so following it can never make an answer late. `extra_closed_days=True` opts into the
1930:173 reading (see docs/deadlines.md).

Everything here is pure: no clock is read; callers pass `now`/`today`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

DEFAULT_TZ = "Europe/Stockholm"
DEFAULT_COUNTRY = "SE"

# Art. 12(3): one month, plus "two further months" on extension.
RESPONSE_MONTHS = 1
EXTENDED_RESPONSE_MONTHS = RESPONSE_MONTHS + 2

# Reg. 1182/71 Art. 3(4) names Saturday and Sunday explicitly, whatever the country.
_WEEKEND = frozenset({5, 6})

# holidays package category for days that are not public holidays but are closed by law or
# custom (for SE: Midsummer Eve, Christmas Eve, New Year's Eve, cf. Lag (1930:173) 2 §).
_DE_FACTO = "de_facto"


@dataclass(frozen=True)
class Deadline:
    """The dates a case needs, all in the controller's calendar.

    `extension_deadline` is the last day on which the controller may still extend and must
    have told the requester so (Art. 12(3) second sentence: "within one month of receipt").
    """

    received_on: date
    due: date
    extended_due: date
    extension_deadline: date


def receipt_date(received_at: datetime, tz: ZoneInfo | str = DEFAULT_TZ) -> date:
    """The calendar date of receipt in the controller's time zone.

    A naive datetime is refused: guessing its zone could shift receipt by a day and with it
    the legal deadline.
    """
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise ValueError(
            f"received_at must be timezone-aware (got naive {received_at.isoformat()})"
        )
    return received_at.astimezone(_zone(tz)).date()


def add_months(d: date, months: int) -> date:
    """`d` plus whole calendar months, clamped to the month's last day.

    Reg. 1182/71 Art. 3(2)(c): 31 January + 1 month = 28 (or 29) February.
    """
    index = d.year * 12 + (d.month - 1) + months
    year, month0 = divmod(index, 12)
    return date(year, month0 + 1, min(d.day, _days_in_month(year, month0 + 1)))


def is_working_day(
    d: date, country: str = DEFAULT_COUNTRY, *, extra_closed_days: bool = False
) -> bool:
    """Not a Saturday, Sunday or public holiday (Reg. 1182/71 Art. 2(2), 3(4))."""
    if d.weekday() in _WEEKEND:
        return False
    return d not in _closed_dates(country.upper(), d.year, extra_closed_days)


def next_working_day(
    d: date, country: str = DEFAULT_COUNTRY, *, extra_closed_days: bool = False
) -> date:
    """`d` itself if it is a working day, else the first working day after it (Art. 3(4))."""
    while not is_working_day(d, country, extra_closed_days=extra_closed_days):
        d += timedelta(days=1)
    return d


def working_days_before(
    d: date, n: int, country: str = DEFAULT_COUNTRY, *, extra_closed_days: bool = False
) -> date:
    """The working day `n` working days before `d` (for "remind 5 working days before").

    `d` itself is not counted; `n == 0` returns `d` unchanged.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0 (got {n})")
    counted = 0
    while counted < n:
        d -= timedelta(days=1)
        if is_working_day(d, country, extra_closed_days=extra_closed_days):
            counted += 1
    return d


def due_date(
    received_at: datetime,
    *,
    tz: ZoneInfo | str = DEFAULT_TZ,
    country: str = DEFAULT_COUNTRY,
    extended: bool = False,
    extra_closed_days: bool = False,
) -> date:
    """Last day to answer: one month from receipt, or three when extended (Art. 12(3)).

    The extended period is three months counted from receipt, not the (possibly already
    shifted) one-month due date plus two: Art. 12(3) extends the period, and Art. 3(4) moves
    only the end of the whole period.
    """
    months = EXTENDED_RESPONSE_MONTHS if extended else RESPONSE_MONTHS
    raw = add_months(receipt_date(received_at, tz), months)
    return next_working_day(raw, country, extra_closed_days=extra_closed_days)


def extension_allowed(
    received_at: datetime,
    now: datetime,
    *,
    tz: ZoneInfo | str = DEFAULT_TZ,
    country: str = DEFAULT_COUNTRY,
    extra_closed_days: bool = False,
) -> bool:
    """True while the original one-month period is still running (on its last day too).

    Art. 12(3): the controller must inform the data subject of an extension "within one
    month of receipt of the request"; after that the extension can no longer be claimed.
    """
    due = due_date(received_at, tz=tz, country=country, extra_closed_days=extra_closed_days)
    return receipt_date(now, tz) <= due


def days_left(due: date, today: date) -> int:
    """Calendar days until `due`: 0 on the due day, negative once overdue."""
    return (due - today).days


def deadline_for(
    received_at: datetime,
    *,
    tz: ZoneInfo | str = DEFAULT_TZ,
    country: str = DEFAULT_COUNTRY,
    extra_closed_days: bool = False,
) -> Deadline:
    """All deadline dates of one request, computed once when the case is opened."""
    zone = _zone(tz)
    received_on = receipt_date(received_at, zone)
    due = next_working_day(
        add_months(received_on, RESPONSE_MONTHS), country, extra_closed_days=extra_closed_days
    )
    extended_due = next_working_day(
        add_months(received_on, EXTENDED_RESPONSE_MONTHS),
        country,
        extra_closed_days=extra_closed_days,
    )
    return Deadline(
        received_on=received_on, due=due, extended_due=extended_due, extension_deadline=due
    )


def _zone(tz: ZoneInfo | str) -> ZoneInfo:
    if isinstance(tz, ZoneInfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r} (expected e.g. Europe/Stockholm)") from exc


def _days_in_month(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


@lru_cache(maxsize=512)
def _closed_dates(country: str, year: int, extra_closed_days: bool) -> frozenset[date]:
    """Public holidays (plus, on request, de facto closed days) of one country and year.

    Cached per (country, year): building a `holidays` calendar costs far more than a lookup,
    and a deadline sweep over many cases asks about the same few years again and again.
    Sundays that the package may list (older releases did so for SE) change nothing, as
    weekends are closed anyway.
    """
    categories = ("public", _DE_FACTO) if extra_closed_days else ("public",)
    try:
        calendar = holidays.country_holidays(country, years=year, categories=categories)
    except NotImplementedError as exc:
        raise ValueError(
            f"unknown holiday country {country!r} (expected an ISO 3166 code such as 'SE')"
        ) from exc
    except ValueError as exc:
        # The package raises ValueError for a category the country does not define.
        raise ValueError(
            f"extra_closed_days is not available for country {country!r}: the holidays "
            "package defines no de facto closed days there"
        ) from exc
    return frozenset(calendar.keys())
