"""Working-time calendar for Vietnamese administrative deadlines (pure: no Flask, no database).

The caller loads the days an administrator has added or corrected from the database and passes them in as
``extra_days_off`` / ``extra_working_days``; everything else comes from the ``holidays`` package.

Time zone
---------
Every public function takes timezone-aware datetimes in any zone and returns datetimes in Vietnam time
(``Asia/Ho_Chi_Minh``, +07:00, no DST since 1975, so wall-clock arithmetic is safe). Naive datetimes are
refused: a silently assumed zone would shift deadlines by hours.

Working days
------------
Precedence, highest first:

1. ``extra_days_off`` / ``extra_working_days`` set by an administrator (a date may not be in both);
2. official make-up working Saturdays (``holidays`` ``weekend_workdays``, see below);
3. official days off from ``holidays.country_holidays("VN")`` (public holidays, their compensatory days
   and the weekdays bridged by a swap);
4. Saturday and Sunday are days off; every other day is a working day.

What the ``holidays`` package (0.109) provides for Vietnam: only the ``PUBLIC`` category; New Year 1/1,
Tết (eve + days 1-4 since 2013, with "29 Tết"/"Mùng năm/sáu" compensation days when one falls on a weekend),
Hùng Kings day (10/3 lunar, since 2007), 30/4, 1/5, 2/9 plus one adjacent day (since 2021), Vietnam
Cultural Day 24/11 (since 2026), "(nghỉ bù)" compensatory days for holidays on a weekend, and the
government's day swaps for the public sector as *substituted holidays* (``VietnamStaticHolidays``, e.g.
2024: off Mon 29/4, work Sat 4/5; 2025: off Fri 2/5, work Sat 26/4; 2026: off Mon 31/8, work Sat 22/8).
The bridged weekday appears as an ordinary holiday named "Ngày nghỉ (thay cho ngày dd/mm/yyyy)"; the worked
Saturday is *not* a holiday entry but is recorded in the instance attribute ``weekend_workdays`` (which
``HolidayBase.is_working_day`` consults). There is no ``WORKDAY`` category for Vietnam. Swaps are only known
once the government announces them and the package is updated: future years need ``extra_*`` overrides.

Deadline semantics
------------------
* Receipt day: the date of ``received_at``; if that is not a working day, or the time is after the cutoff
  (default 15:00, strictly after), the receipt day becomes the next working day.
* ``working_days``: the receipt day is day 0; the deadline is the end of office hours (17:00) of the Nth
  working day after it. Received Mon 2026-03-02 09:00 + 3 → Thu 2026-03-05 17:00; received Mon 16:00 → Fri.
  0 working days → end of office hours on the receipt day.
* ``working_hours``: office hours are counted forward from the receipt moment (moved to the next office-hours
  start when outside office hours, or to the next working day's opening when after the cutoff). Received Mon
  09:00 + 4 h → Mon 14:30. A deadline that ends exactly at the end of a session stays there (17:00, not
  07:30 next day).
* ``months``: calendar months added to the receipt day (day clamped to the month's length, 31/1 + 1 → 28/2);
  if that date is not a working day, the next working day; end of office hours.

Performance: the package is consulted once per (year, language) for the whole process; each calendar keeps
per-year bitmaps and prefix counts of working days, so ``working_hours_between``/``working_days_between``
cost O(number of years spanned) and the ``add_*`` functions a bisect per year.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from calendar import monthrange
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from zoneinfo import ZoneInfo

import holidays

__all__ = [
    "UNITS",
    "VN_TZ",
    "OfficeHours",
    "OfficialYear",
    "WorkingCalendar",
    "official_year",
    "parse_budget",
]

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
UNITS = ("working_days", "working_hours", "months")

_US_PER_HOUR = 3_600_000_000
# A year with no working day at all is almost surely a data-entry error; stop scanning instead of looping.
_MAX_EMPTY_YEARS = 2

WHY_ADMIN_OFF = "day off set by administrator"
WHY_ADMIN_WORKING = "working day set by administrator"
WHY_MAKE_UP = "make-up working day"
WHY_WEEKEND = "weekend"


def _us(t: time) -> int:
    """Microseconds since midnight (integers keep deadline arithmetic exact)."""
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


@dataclass(frozen=True)
class OfficeHours:
    """Office sessions of a working day and the receipt cutoff (all local Vietnam wall-clock times)."""

    morning: tuple[time, time] = (time(7, 30), time(11, 30))
    afternoon: tuple[time, time] = (time(13, 0), time(17, 0))
    # Dossiers received strictly after this time count from the next working day.
    cutoff: time = time(15, 0)

    def __post_init__(self) -> None:
        times = (*self.morning, *self.afternoon, self.cutoff)
        if any(t.tzinfo is not None for t in times):
            raise ValueError("office hours are local Vietnam times: give times without tzinfo")
        (ms, me), (as_, ae) = self.morning, self.afternoon
        # me == as_ is allowed: a day without a lunch break.
        if not (ms < me <= as_ < ae):
            raise ValueError(f"office hours must be ordered morning start < end <= afternoon start < end, got "
                             f"{ms}-{me} / {as_}-{ae}")

    @property
    def hours_per_day(self) -> float:
        (ms, me), (as_, ae) = self.morning, self.afternoon
        return (_us(me) - _us(ms) + _us(ae) - _us(as_)) / _US_PER_HOUR


@dataclass(frozen=True)
class OfficialYear:
    """What the ``holidays`` package says about one year in Vietnam."""

    year: int
    days_off: Mapping[date, str]  # holiday name per date, including weekend holidays and bridged weekdays
    working_weekend_days: frozenset[date]  # Saturdays worked to bridge a holiday ("làm bù")


@lru_cache(maxsize=512)
def official_year(year: int, language: str = "vi") -> OfficialYear:
    """Official days off and make-up working days of ``year`` (cached: building the set costs milliseconds)."""
    vn = holidays.country_holidays("VN", years=year, language=language)
    days_off = {d: name for d, name in vn.items() if d.year == year}
    # weekend_workdays also carries swaps of neighbouring years (e.g. 27/12/2014 appears for every year),
    # so keep only this year's.
    workdays = frozenset(d for d in getattr(vn, "weekend_workdays", ()) if d.year == year)
    return OfficialYear(year, MappingProxyType(days_off), workdays)


def _official_working(d: date, official: OfficialYear) -> bool:
    # Same rule as HolidayBase.is_working_day: a weekend day works only if it is a make-up day.
    if d.weekday() >= 5:
        return d in official.working_weekend_days
    return d not in official.days_off


@dataclass(frozen=True, slots=True)
class _YearIndex:
    start_ordinal: int  # date(year, 1, 1).toordinal()
    working: bytes  # working[i] == 1 when day i of the year is a working day
    prefix: list[int] = field(repr=False)  # prefix[i] = working days among days [0, i) of the year

    @property
    def total(self) -> int:
        return self.prefix[-1]


def _local(dt: datetime) -> datetime:
    if not isinstance(dt, datetime):
        raise TypeError(f"expected a timezone-aware datetime, got {type(dt).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt.isoformat()}: pass a timezone-aware datetime (e.g. tzinfo=VN_TZ)")
    return dt.astimezone(VN_TZ)


def _as_date(d: date) -> date:
    # A datetime is a date subclass: convert it in Vietnam time rather than trusting its own zone's date.
    return _local(d).date() if isinstance(d, datetime) else d


def _whole(value: float, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    if value < 0:
        raise ValueError(f"{what} must not be negative, got {value!r}")
    if value != int(value):
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    return int(value)


class WorkingCalendar:
    """Vietnamese working-day calendar with office hours; see the module docstring for the semantics.

    ``years`` optionally preloads those years (otherwise years are loaded lazily, on first use).
    ``language`` selects the holiday names returned by :meth:`why` ("vi", "en_US" or "th").
    """

    def __init__(
        self,
        extra_days_off: Iterable[date] = frozenset(),
        extra_working_days: Iterable[date] = frozenset(),
        hours: OfficeHours = OfficeHours(),
        years: Iterable[int] | int | None = None,
        language: str = "vi",
    ) -> None:
        self.extra_days_off = frozenset(extra_days_off)
        self.extra_working_days = frozenset(extra_working_days)
        for d in self.extra_days_off | self.extra_working_days:
            # datetime == date is always False, so a datetime here would silently never match.
            if isinstance(d, datetime) or not isinstance(d, date):
                raise TypeError(f"administrator days must be dates, got {d!r}")
        if clash := self.extra_days_off & self.extra_working_days:
            listed = ", ".join(sorted(d.isoformat() for d in clash))
            raise ValueError(f"dates both in extra_days_off and extra_working_days: {listed}")
        self.hours = hours
        self.language = language
        (ms, me), (as_, ae) = hours.morning, hours.afternoon
        self._ms, self._me, self._as, self._ae = _us(ms), _us(me), _us(as_), _us(ae)
        self._cutoff = _us(hours.cutoff)
        self._morning_len = self._me - self._ms
        self._day_len = self._morning_len + self._ae - self._as
        self._years: dict[int, _YearIndex] = {}
        for y in [years] if isinstance(years, int) else years or ():
            self._year(y)

    def __repr__(self) -> str:
        return (f"WorkingCalendar({len(self.extra_days_off)} extra days off, "
                f"{len(self.extra_working_days)} extra working days, {self.hours})")

    # ----------------------------------------------------------------- days

    def _year(self, year: int) -> _YearIndex:
        idx = self._years.get(year)
        if idx is None:
            idx = self._years[year] = self._build_year(year)  # races only compute the same value twice
        return idx

    def _build_year(self, year: int) -> _YearIndex:
        official = official_year(year, self.language)
        start = date(year, 1, 1).toordinal()
        n = 366 if monthrange(year, 2)[1] == 29 else 365
        working = bytearray(n)
        prefix = [0] * (n + 1)
        count = 0
        for i in range(n):
            d = date.fromordinal(start + i)
            if d in self.extra_working_days or (d not in self.extra_days_off and _official_working(d, official)):
                working[i] = 1
                count += 1
            prefix[i + 1] = count
        return _YearIndex(start, bytes(working), prefix)

    def is_working_day(self, d: date) -> bool:
        d = _as_date(d)
        idx = self._year(d.year)
        return bool(idx.working[d.toordinal() - idx.start_ordinal])

    def why(self, d: date) -> str | None:
        """Why ``d`` is not an ordinary working day: a holiday name (in ``language``), "weekend",
        "day off set by administrator", "make-up working day", "working day set by administrator";
        None for an ordinary working day."""
        d = _as_date(d)
        if d in self.extra_days_off:
            return WHY_ADMIN_OFF
        official = official_year(d.year, self.language)
        if d in self.extra_working_days and not _official_working(d, official):
            return WHY_ADMIN_WORKING
        if d in official.working_weekend_days:
            return WHY_MAKE_UP
        if name := official.days_off.get(d):
            return name
        if d.weekday() >= 5:
            return WHY_WEEKEND
        return None

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after ``d``."""
        return self._nth_after(_as_date(d), 1)

    def _nth_after(self, d: date, n: int) -> date:
        """The ``n``-th (n >= 1) working day strictly after ``d``, by bisecting the per-year prefix counts."""
        year = d.year
        idx = self._year(year)
        # 0-based rank, among the year's working days, of the day we want.
        k = idx.prefix[d.toordinal() - idx.start_ordinal + 1] + n - 1
        empty = 0
        while k >= idx.total:
            empty = empty + 1 if idx.total == 0 else 0
            if empty > _MAX_EMPTY_YEARS:
                raise ValueError(f"no working day found after {d.isoformat()}: check the administrator's days off")
            k -= idx.total
            year += 1
            idx = self._year(year)
        return date.fromordinal(idx.start_ordinal + bisect_left(idx.prefix, k + 1) - 1)

    def _count(self, a: date, b: date) -> int:
        """Working days in [a, b), a <= b."""
        ia = self._year(a.year)
        ib = self._year(b.year) if b.year != a.year else ia
        count = ib.prefix[b.toordinal() - ib.start_ordinal] - ia.prefix[a.toordinal() - ia.start_ordinal]
        for y in range(a.year, b.year):
            count += self._year(y).total
        return count

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]: ``working_days_between(d, add_working_days(d, n).date()) == n`` for a
        working day ``d``. Negative (minus the working days in (end, start]) when end < start, e.g. days overdue."""
        start, end = _as_date(start), _as_date(end)
        if end < start:
            return -self.working_days_between(end, start)
        return self._count(start + timedelta(days=1), end + timedelta(days=1))

    # ----------------------------------------------------------------- clock

    def _at(self, d: date, us: int) -> datetime:
        return datetime.combine(d, time(), tzinfo=VN_TZ) + timedelta(microseconds=us)

    def _at_offset(self, d: date, offset: int, prefer_end: bool) -> datetime:
        """The moment ``offset`` office-microseconds into working day ``d``; at the lunch boundary,
        ``prefer_end`` picks the end of the morning (a deadline) over the start of the afternoon."""
        if offset < self._morning_len or (prefer_end and offset == self._morning_len):
            return self._at(d, self._ms + offset)
        return self._at(d, self._as + offset - self._morning_len)

    def _elapsed(self, d: date, t: int) -> int:
        """Office microseconds of day ``d`` already elapsed at time-of-day ``t``."""
        if not self.is_working_day(d) or t <= self._ms:
            return 0
        if t < self._me:
            return t - self._ms
        if t < self._as:
            return self._morning_len
        if t < self._ae:
            return self._morning_len + t - self._as
        return self._day_len

    def _position(self, local: datetime) -> tuple[date, int]:
        """Working day and office offset (0 <= offset < day length) at which the clock runs from ``local``:
        outside office hours moves forward to the next session start."""
        d = local.date()
        t = _us(local.time())
        if not self.is_working_day(d) or t >= self._ae:
            return self.next_working_day(d), 0
        return d, self._elapsed(d, t)

    def _receipt_day(self, local: datetime) -> date:
        d = local.date()
        if not self.is_working_day(d) or _us(local.time()) > self._cutoff:
            return self.next_working_day(d)
        return d

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """End of office hours on the ``days``-th working day after the date of ``start`` (day 0; a non-working
        date first moves to the next working day). The time of day and the cutoff are ignored: see deadline()."""
        n = _whole(days, "working days")
        d = _local(start).date()
        if not self.is_working_day(d):
            d = self.next_working_day(d)
        if n:
            d = self._nth_after(d, n)
        return self._at(d, self._ae)

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """Count ``hours`` of office time forward from ``start`` (moved to the next session start when outside
        office hours). A result on a session boundary is the end of the session (11:30/17:00)."""
        if isinstance(hours, bool) or not isinstance(hours, int | float) or not math.isfinite(hours) or hours < 0:
            raise ValueError(f"working hours must be a finite non-negative number, got {hours!r}")
        amount = round(hours * _US_PER_HOUR)
        d, offset = self._position(_local(start))
        if amount == 0:
            return self._at_offset(d, offset, prefer_end=False)
        full, rest = divmod(offset + amount, self._day_len)
        if rest == 0:  # ends exactly at closing time: that day's 17:00, not the next morning
            full, rest = full - 1, self._day_len
        if full:
            d = self._nth_after(d, full)
        return self._at_offset(d, rest, prefer_end=True)

    def add_months(self, start: datetime, months: int) -> datetime:
        """Calendar months added to the date of ``start`` (day clamped to the month length), moved to the next
        working day if needed; end of office hours."""
        n = _whole(months, "months")
        d = _local(start).date()
        year, month0 = divmod(d.month - 1 + n, 12)
        year += d.year
        target = date(year, month0 + 1, min(d.day, monthrange(year, month0 + 1)[1]))
        if not self.is_working_day(target):
            target = self.next_working_day(target)
        return self._at(target, self._ae)

    def deadline(self, received_at: datetime, amount: float, unit: str) -> datetime:
        """Deadline for a dossier received at ``received_at`` with a budget of ``amount`` ``unit``
        ('working_days' | 'working_hours' | 'months'), applying the cutoff and non-working-day receipt rules."""
        if unit not in UNITS:
            raise ValueError(f"unknown deadline unit {unit!r}: expected one of {', '.join(UNITS)}")
        local = _local(received_at)
        day0 = self._receipt_day(local)
        if unit == "working_hours":
            # Same day: the clock starts at the receipt moment; otherwise at the next working day's opening.
            return self.add_working_hours(local if day0 == local.date() else self._at(day0, self._ms), amount)
        if unit == "working_days":
            return self.add_working_days(self._at(day0, self._ms), _whole(amount, "working days"))
        return self.add_months(self._at(day0, self._ms), _whole(amount, "months"))

    def working_hours_between(self, start: datetime, end: datetime) -> float:
        """Office hours elapsed from ``start`` to ``end`` (0 if end <= start)."""
        a, b = _local(start), _local(end)
        if b <= a:
            return 0.0
        da, db = a.date(), b.date()
        elapsed = (self._count(da, db) * self._day_len
                   + self._elapsed(db, _us(b.time())) - self._elapsed(da, _us(a.time())))
        return elapsed / _US_PER_HOUR

    def extend(self, due: datetime, working_hours: float) -> datetime:
        """Push deadline ``due`` by ``working_hours`` of paused office time (0 leaves it unchanged)."""
        if working_hours == 0:
            return _local(due)
        return self.add_working_hours(due, working_hours)


# ----------------------------------------------------------------- budgets

_NUM = r"(\d+(?:[.,]\d+)?)"
_ISO = re.compile(rf"P(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}W)?(?:{_NUM}D)?(?:T(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?")
_WORDS = re.compile(rf"{_NUM}\s*(working[_ ]days?|working[_ ]hours?|months?)", re.IGNORECASE)
_EXPECTED = ("expected an ISO 8601 duration such as 'P3D' (working days), 'PT4H' (working hours), 'P1M' (months), "
             "or '<number> working_days|working_hours|months'")


def _num(text: str | None) -> float:
    return float(text.replace(",", ".")) if text else 0.0


def parse_budget(value: str) -> tuple[float, str]:
    """Parse a processing-time budget into ``(amount, unit)``.

    ISO 8601 designators are read as administrative units: ``D`` = working days, ``H``/``M``/``S`` after
    ``T`` = working hours, ``M``/``Y`` before ``T`` = calendar months. Weeks and mixed day/hour budgets are
    refused because they have no single administrative meaning.
    """
    if not isinstance(value, str):
        raise ValueError(f"invalid budget {value!r}: {_EXPECTED}")
    text = value.strip()
    if m := _WORDS.fullmatch(text):
        amount, word = _num(m.group(1)), m.group(2).lower().replace(" ", "_")
        unit = "months" if word.startswith("month") else word if word.endswith("s") else word + "s"
    elif (m := _ISO.fullmatch(text.upper())) and text.upper() not in ("P", "PT") and not text.upper().endswith("T"):
        years, months, weeks, days, hours, minutes, seconds = (m.group(i) for i in range(1, 8))
        if weeks:
            raise ValueError(f"invalid budget {value!r}: weeks are ambiguous, give working days (e.g. 'P5D')")
        kinds = [k for k, parts in (("months", (years, months)), ("working_days", (days,)),
                                    ("working_hours", (hours, minutes, seconds))) if any(parts)]
        if len(kinds) != 1:
            raise ValueError(f"invalid budget {value!r}: mixes months, working days and working hours; use one unit")
        unit = kinds[0]
        if unit == "months":
            amount = _num(years) * 12 + _num(months)
        elif unit == "working_days":
            amount = _num(days)
        else:
            amount = _num(hours) + _num(minutes) / 60 + _num(seconds) / 3600
    else:
        raise ValueError(f"invalid budget {value!r}: {_EXPECTED}")
    if unit in ("months", "working_days") and amount != int(amount):
        raise ValueError(f"invalid budget {value!r}: {unit.replace('_', ' ')} must be a whole number"
                         + (" (use working hours, e.g. 'PT12H')" if unit == "working_days" else ""))
    return amount, unit
