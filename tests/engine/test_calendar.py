"""Tests for engine.calendar on real Vietnamese dates (holidays package 0.109 data)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

import holidays
import pytest

from engine.calendar import VN_TZ, OfficeHours, WorkingCalendar, official_year, parse_budget


def vn(*args: int) -> datetime:
    return datetime(*args, tzinfo=VN_TZ)


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(n) for n in range((end - start).days + 1)]


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar(years=range(2024, 2028))


# ------------------------------------------------------------ official data


def test_matches_the_holidays_package_every_day_2024_2027(cal):
    package = holidays.country_holidays("VN", years=range(2024, 2028))
    for d in days(date(2024, 1, 1), date(2027, 12, 31)):
        assert cal.is_working_day(d) == package.is_working_day(d), d


def test_tet_2026_days_off_are_skipped(cal):
    # Lunar New Year 2026-02-17; the package gives the eve (Mon 16/2) to mùng 4 (Fri 20/2): with the weekends,
    # the 9 days Sat 14/2 - Sun 22/2 announced for civil servants.
    off = official_year(2026).days_off
    assert {d: off[d] for d in days(date(2026, 2, 16), date(2026, 2, 20))} == {
        date(2026, 2, 16): "Giao thừa Tết Nguyên Đán",
        date(2026, 2, 17): "Tết Nguyên Đán",
        date(2026, 2, 18): "Mùng hai Tết Nguyên Đán",
        date(2026, 2, 19): "Mùng ba Tết Nguyên Đán",
        date(2026, 2, 20): "Mùng bốn Tết Nguyên Đán",
    }
    assert not any(cal.is_working_day(d) for d in days(date(2026, 2, 14), date(2026, 2, 22)))
    assert cal.is_working_day(date(2026, 2, 13)) and cal.is_working_day(date(2026, 2, 23))

    received = vn(2026, 2, 13, 10, 0)  # Friday before Tết
    assert cal.deadline(received, 1, "working_days") == vn(2026, 2, 23, 17, 0)
    assert cal.deadline(received, 3, "working_days") == vn(2026, 2, 25, 17, 0)
    assert cal.deadline(vn(2026, 2, 13, 16, 0), 3, "working_days") == vn(2026, 2, 26, 17, 0)
    assert cal.deadline(vn(2026, 2, 13, 14, 0), 8, "working_hours") == vn(2026, 2, 23, 14, 0)  # 3 h Fri + 5 h Mon
    assert cal.working_days_between(date(2026, 2, 13), date(2026, 2, 23)) == 1
    assert cal.working_hours_between(vn(2026, 2, 13, 17, 0), vn(2026, 2, 23, 7, 30)) == 0


def test_30_4_and_1_5_2026_without_swap(cal):
    # Hùng Kings day (10/3 lunar) is Sunday 26/4/2026, compensated on Monday 27/4; 30/4 Thu and 1/5 Fri.
    assert cal.why(date(2026, 4, 26)) == "Ngày Giỗ Tổ Hùng Vương"
    assert cal.why(date(2026, 4, 27)) == "Ngày Giỗ Tổ Hùng Vương (nghỉ bù)"
    assert cal.why(date(2026, 4, 30)) == "Ngày Chiến thắng"
    assert cal.why(date(2026, 5, 1)) == "Ngày Quốc tế Lao động"
    assert not {d for d in official_year(2026).working_weekend_days if d.month in (4, 5)}
    assert not cal.is_working_day(date(2026, 4, 25)) and not cal.is_working_day(date(2026, 5, 2))
    # Fri 24/4 is day 0: Tue 28, Wed 29, then Mon 4/5.
    assert cal.deadline(vn(2026, 4, 24, 10, 0), 3, "working_days") == vn(2026, 5, 4, 17, 0)


def test_30_4_and_1_5_2025_with_swap(cal):
    # 2025: 30/4 Wed, 1/5 Thu; Friday 2/5 bridged, paid back by working Saturday 26/4 (package knows it).
    official = official_year(2025)
    assert official.working_weekend_days == {date(2025, 4, 26)}
    assert official.days_off[date(2025, 5, 2)] == "Ngày nghỉ (thay cho ngày 26/04/2025)"
    assert cal.is_working_day(date(2025, 4, 26)) and not cal.is_working_day(date(2025, 5, 2))
    assert cal.why(date(2025, 4, 26)) == "make-up working day"

    received = vn(2025, 4, 25, 10, 0)  # Friday
    assert cal.deadline(received, 1, "working_days") == vn(2025, 4, 26, 17, 0)  # the make-up Saturday counts
    assert cal.deadline(received, 3, "working_days") == vn(2025, 4, 29, 17, 0)
    assert cal.deadline(received, 4, "working_days") == vn(2025, 5, 5, 17, 0)
    # Receipt on the make-up Saturday is an ordinary working-day receipt, cutoff included.
    assert cal.deadline(vn(2025, 4, 26, 10, 0), 1, "working_days") == vn(2025, 4, 28, 17, 0)
    assert cal.deadline(vn(2025, 4, 26, 16, 0), 1, "working_days") == vn(2025, 4, 29, 17, 0)
    assert cal.add_working_hours(vn(2025, 4, 25, 16, 0), 2) == vn(2025, 4, 26, 8, 30)
    assert cal.working_days_between(date(2025, 4, 29), date(2025, 5, 5)) == 1


def test_2024_swap_is_known_too(cal):
    assert official_year(2024).working_weekend_days == {date(2024, 5, 4)}
    assert not cal.is_working_day(date(2024, 4, 29)) and cal.is_working_day(date(2024, 5, 4))


def test_national_day_2026_with_adjacent_day_and_swap(cal):
    # 2/9/2026 Wed + adjacent Tue 1/9; Mon 31/8 bridged, paid back by Saturday 22/8.
    assert cal.why(date(2026, 9, 1)) == "Quốc khánh" and cal.why(date(2026, 9, 2)) == "Quốc khánh"
    assert cal.why(date(2026, 8, 31)) == "Ngày nghỉ (thay cho ngày 22/08/2026)"
    assert cal.why(date(2026, 8, 22)) == "make-up working day"
    assert [cal.is_working_day(d) for d in days(date(2026, 8, 28), date(2026, 9, 3))] == [
        True, False, False, False, False, False, True]
    assert cal.deadline(vn(2026, 8, 28, 10, 0), 1, "working_days") == vn(2026, 9, 3, 17, 0)
    assert cal.deadline(vn(2026, 8, 21, 10, 0), 1, "working_days") == vn(2026, 8, 22, 17, 0)
    assert cal.next_working_day(date(2026, 8, 28)) == date(2026, 9, 3)


def test_swap_unknown_to_the_package_is_fixed_by_the_administrator():
    # Hypothetical 2027 decision (not in the package): Thursday 11/2/2027 off after Tết, Saturday 20/2 worked.
    assert official_year(2027).working_weekend_days == frozenset()
    plain = WorkingCalendar()
    fixed = WorkingCalendar(extra_days_off={date(2027, 2, 11)}, extra_working_days={date(2027, 2, 20)})
    received = vn(2027, 2, 2, 10, 0)  # Tuesday; Tết 2027 is Thu 4/2 - Wed 10/2
    assert plain.deadline(received, 3, "working_days") == vn(2027, 2, 12, 17, 0)
    assert fixed.deadline(received, 3, "working_days") == vn(2027, 2, 15, 17, 0)
    assert fixed.deadline(vn(2027, 2, 19, 10, 0), 1, "working_days") == vn(2027, 2, 20, 17, 0)
    assert fixed.why(date(2027, 2, 11)) == "day off set by administrator"
    assert fixed.why(date(2027, 2, 20)) == "working day set by administrator"


# ------------------------------------------------------------ receipt rules


def test_examples_from_the_specification(cal):
    assert cal.deadline(vn(2026, 3, 2, 9, 0), 3, "working_days") == vn(2026, 3, 5, 17, 0)
    assert cal.deadline(vn(2026, 3, 2, 16, 0), 3, "working_days") == vn(2026, 3, 6, 17, 0)
    assert cal.deadline(vn(2026, 3, 2, 9, 0), 4, "working_hours") == vn(2026, 3, 2, 14, 30)


def test_cutoff(cal):
    assert cal.deadline(vn(2026, 3, 2, 14, 59), 3, "working_days") == vn(2026, 3, 5, 17, 0)
    assert cal.deadline(vn(2026, 3, 2, 15, 0), 3, "working_days") == vn(2026, 3, 5, 17, 0)
    assert cal.deadline(vn(2026, 3, 2, 15, 1), 3, "working_days") == vn(2026, 3, 6, 17, 0)
    assert cal.deadline(vn(2026, 3, 2, 15, 1), 0, "working_days") == vn(2026, 3, 3, 17, 0)
    # After the cutoff the working-hour clock starts at the next opening, not at the receipt moment.
    assert cal.deadline(vn(2026, 3, 2, 14, 59), 2, "working_hours") == vn(2026, 3, 2, 16, 59)
    assert cal.deadline(vn(2026, 3, 2, 15, 1), 2, "working_hours") == vn(2026, 3, 3, 9, 30)
    later = WorkingCalendar(hours=OfficeHours(cutoff=time(16, 0)))
    assert later.deadline(vn(2026, 3, 2, 15, 1), 3, "working_days") == vn(2026, 3, 5, 17, 0)
    # Friday after the cutoff: the receipt day is Monday.
    assert cal.deadline(vn(2026, 3, 6, 15, 30), 1, "working_days") == vn(2026, 3, 10, 17, 0)


def test_receipt_on_a_saturday_or_a_holiday(cal):
    assert cal.deadline(vn(2026, 3, 7, 9, 0), 3, "working_days") == vn(2026, 3, 12, 17, 0)
    assert cal.deadline(vn(2026, 3, 8, 20, 0), 0, "working_days") == vn(2026, 3, 9, 17, 0)
    # 30/4/2026 (Thursday, holiday): receipt day Monday 4/5.
    assert cal.deadline(vn(2026, 4, 30, 9, 0), 1, "working_days") == vn(2026, 5, 5, 17, 0)
    assert cal.deadline(vn(2026, 4, 30, 9, 0), 1, "working_hours") == vn(2026, 5, 4, 8, 30)


def test_any_timezone_in_vietnam_time_out(cal):
    received = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 09:00 in Hanoi
    due = cal.deadline(received, 4, "working_hours")
    assert due == vn(2026, 3, 2, 14, 30) and due.tzinfo == VN_TZ
    # 2026-03-01 20:00 UTC is Monday 03:00 in Vietnam: a Monday receipt, not a Sunday one.
    assert cal.deadline(datetime(2026, 3, 1, 20, 0, tzinfo=UTC), 0, "working_days") == vn(2026, 3, 2, 17, 0)
    with pytest.raises(ValueError, match="naive"):
        cal.deadline(datetime(2026, 3, 2, 9, 0), 3, "working_days")


# ------------------------------------------------------------ hours, months, extensions


@pytest.mark.parametrize(("start", "hours", "expected"), [
    (vn(2026, 3, 2, 9, 0), 4, vn(2026, 3, 2, 14, 30)),     # across lunch
    (vn(2026, 3, 2, 11, 0), 0.5, vn(2026, 3, 2, 11, 30)),  # ends at the end of the morning
    (vn(2026, 3, 2, 11, 0), 1, vn(2026, 3, 2, 13, 30)),
    (vn(2026, 3, 2, 12, 0), 1, vn(2026, 3, 2, 14, 0)),     # received during lunch
    (vn(2026, 3, 2, 6, 0), 1, vn(2026, 3, 2, 8, 30)),      # before opening
    (vn(2026, 3, 2, 13, 0), 4, vn(2026, 3, 2, 17, 0)),     # closing time, not next morning
    (vn(2026, 3, 2, 16, 0), 2, vn(2026, 3, 3, 8, 30)),     # across days
    (vn(2026, 3, 2, 18, 0), 1, vn(2026, 3, 3, 8, 30)),
    (vn(2026, 3, 2, 9, 0), 16, vn(2026, 3, 4, 9, 0)),
    (vn(2026, 3, 6, 16, 0), 2, vn(2026, 3, 9, 8, 30)),     # Friday to Monday
    (vn(2026, 3, 7, 10, 0), 0, vn(2026, 3, 9, 7, 30)),     # zero hours: the clock's start
    (vn(2026, 3, 2, 9, 0), 0.25, vn(2026, 3, 2, 9, 15)),
])
def test_add_working_hours(cal, start, hours, expected):
    assert cal.add_working_hours(start, hours) == expected


def test_add_months(cal):
    # 31/1/2026 + 1 month -> 28/2/2026, a Saturday -> Monday 2/3.
    assert cal.add_months(vn(2026, 1, 31, 10, 0), 1) == vn(2026, 3, 2, 17, 0)
    assert cal.add_months(vn(2025, 12, 31, 10, 0), 2) == vn(2026, 3, 2, 17, 0)
    # 31/3 + 1 month -> 30/4 (clamped), a holiday, then 1/5 and a weekend -> Monday 4/5.
    assert cal.add_months(vn(2026, 3, 31, 10, 0), 1) == vn(2026, 5, 4, 17, 0)
    assert cal.add_months(vn(2026, 1, 16, 10, 0), 1) == vn(2026, 2, 23, 17, 0)  # lands on Tết eve
    assert cal.add_months(vn(2026, 1, 15, 10, 0), 12) == vn(2027, 1, 15, 17, 0)
    assert cal.deadline(vn(2026, 3, 10, 10, 0), 1, "months") == vn(2026, 4, 10, 17, 0)
    # After the cutoff the receipt day is Wed 11/3; 11/4/2026 is a Saturday.
    assert cal.deadline(vn(2026, 3, 10, 16, 0), 1, "months") == vn(2026, 4, 13, 17, 0)


def test_extend_by_paused_time(cal):
    due = cal.deadline(vn(2026, 3, 2, 9, 0), 3, "working_days")  # Thu 5/3 17:00
    paused = cal.working_hours_between(vn(2026, 3, 3, 10, 0), vn(2026, 3, 4, 10, 0))
    assert paused == 8
    assert cal.extend(due, paused) == vn(2026, 3, 6, 17, 0)
    assert cal.extend(due, 2) == vn(2026, 3, 6, 9, 30)
    assert cal.extend(due, 0) == due
    assert cal.working_hours_between(vn(2026, 3, 4, 10, 0), due) == 13.5  # 1.5 + 4 Wed, 8 Thu


def test_next_working_day_and_working_days_between(cal):
    assert cal.next_working_day(date(2026, 3, 2)) == date(2026, 3, 3)
    assert cal.next_working_day(date(2026, 2, 13)) == date(2026, 2, 23)
    assert cal.next_working_day(date(2026, 12, 31)) == date(2027, 1, 4)  # 1/1/2027 Friday, then a weekend
    assert cal.working_days_between(date(2026, 3, 2), date(2026, 3, 2)) == 0
    assert cal.working_days_between(date(2026, 3, 2), date(2026, 3, 9)) == 5
    assert cal.working_days_between(date(2026, 3, 9), date(2026, 3, 2)) == -5
    rng = random.Random(7)
    for _ in range(300):
        start = date(2025, 1, 1) + timedelta(rng.randrange(3 * 365))
        n = rng.randrange(0, 400)
        due = cal.add_working_days(vn(start.year, start.month, start.day, 9), n)
        first = start if cal.is_working_day(start) else cal.next_working_day(start)
        assert cal.working_days_between(first, due.date()) == n


# ------------------------------------------------------------ administrator overrides


def test_admin_day_off_on_a_weekday():
    storm = WorkingCalendar(extra_days_off={date(2026, 3, 4)})
    assert not storm.is_working_day(date(2026, 3, 4))
    assert storm.why(date(2026, 3, 4)) == "day off set by administrator"
    assert storm.deadline(vn(2026, 3, 2, 9, 0), 3, "working_days") == vn(2026, 3, 6, 17, 0)
    assert storm.working_hours_between(vn(2026, 3, 3, 9, 0), vn(2026, 3, 5, 9, 0)) == 8


def test_admin_working_days_override_weekends_and_holidays():
    # E.g. if 24/11 (Vietnam Cultural Day, in the package from 2026) is not a day off in practice.
    cal = WorkingCalendar(extra_working_days={date(2026, 3, 7), date(2026, 11, 24)})
    assert WorkingCalendar().why(date(2026, 11, 24)) == "Ngày Văn hóa Việt Nam"
    assert cal.is_working_day(date(2026, 11, 24)) and cal.is_working_day(date(2026, 3, 7))
    assert cal.why(date(2026, 11, 24)) == "working day set by administrator"
    assert cal.deadline(vn(2026, 3, 2, 9, 0), 5, "working_days") == vn(2026, 3, 7, 17, 0)
    assert WorkingCalendar().deadline(vn(2026, 3, 2, 9, 0), 5, "working_days") == vn(2026, 3, 9, 17, 0)
    # Re-stating an ordinary working day changes nothing.
    assert WorkingCalendar(extra_working_days={date(2026, 3, 2)}).why(date(2026, 3, 2)) is None


def test_admin_days_must_be_consistent_dates():
    with pytest.raises(ValueError, match="2026-03-04"):
        WorkingCalendar(extra_days_off={date(2026, 3, 4)}, extra_working_days={date(2026, 3, 4)})
    with pytest.raises(TypeError):
        WorkingCalendar(extra_days_off={vn(2026, 3, 4)})


# ------------------------------------------------------------ working_hours_between against brute force


def _office_minute(cal_days: dict[date, bool], t: datetime) -> bool:
    minute = t.hour * 60 + t.minute
    return cal_days[t.date()] and (7 * 60 + 30 <= minute < 11 * 60 + 30 or 13 * 60 <= minute < 17 * 60)


@pytest.fixture(scope="module")
def reference_days() -> dict[date, bool]:
    # Independent truth: the package's own is_working_day, plus the same overrides as `overridden` below.
    package = holidays.country_holidays("VN", years=range(2024, 2029))
    truth = {d: package.is_working_day(d) for d in days(date(2024, 12, 1), date(2028, 1, 31))}
    truth[date(2025, 6, 11)] = False
    truth[date(2026, 10, 10)] = True
    return truth


@pytest.fixture(scope="module")
def overridden() -> WorkingCalendar:
    return WorkingCalendar(extra_days_off={date(2025, 6, 11)}, extra_working_days={date(2026, 10, 10)})


def _random_moment(rng: random.Random, start: datetime, span_minutes: int) -> datetime:
    return start + timedelta(minutes=rng.randrange(span_minutes))


def test_working_hours_between_matches_a_minute_walk(overridden, reference_days):
    rng = random.Random(20260302)
    origin = vn(2025, 1, 1)
    for _ in range(40):
        a = _random_moment(rng, origin, 3 * 365 * 1440)
        b = a + timedelta(minutes=rng.randrange(6 * 1440))
        minutes = 0
        t = a
        while t < b:
            minutes += _office_minute(reference_days, t)
            t += timedelta(minutes=1)
        assert overridden.working_hours_between(a, b) == pytest.approx(minutes / 60), (a, b)


def test_working_hours_between_matches_a_day_walk_over_years(overridden, reference_days):
    rng = random.Random(1975)
    origin = vn(2025, 1, 1)
    sessions = ((time(7, 30), time(11, 30)), (time(13, 0), time(17, 0)))
    for _ in range(200):
        a, b = sorted(_random_moment(rng, origin, 3 * 365 * 1440) for _ in range(2))
        seconds = 0.0
        for d in days(a.date(), b.date()):
            if reference_days[d]:
                for s, e in sessions:
                    lo = max(a, datetime.combine(d, s, tzinfo=VN_TZ))
                    hi = min(b, datetime.combine(d, e, tzinfo=VN_TZ))
                    seconds += max(0.0, (hi - lo).total_seconds())
        assert overridden.working_hours_between(a, b) == pytest.approx(seconds / 3600), (a, b)
        assert overridden.working_hours_between(b, a) == 0
        # add_working_hours inverts it when b is strictly inside a session.
        if _office_minute(reference_days, b) and b.time() not in (time(7, 30), time(13, 0)) and b > a:
            assert overridden.add_working_hours(a, overridden.working_hours_between(a, b)) == b


def test_working_hours_in_a_whole_year_uses_the_prefix_count(cal):
    package = holidays.country_holidays("VN", years=2026)
    expected = 8 * sum(package.is_working_day(d) for d in days(date(2026, 1, 1), date(2026, 12, 31)))
    assert cal.working_hours_between(vn(2026, 1, 1), vn(2027, 1, 1)) == expected
    assert cal.working_hours_between(vn(2025, 1, 1), vn(2028, 1, 1)) == pytest.approx(
        sum(cal.working_hours_between(vn(y, 1, 1), vn(y + 1, 1, 1)) for y in (2025, 2026, 2027)))


# ------------------------------------------------------------ why() and parse_budget


def test_why_texts(cal):
    assert cal.why(date(2026, 2, 17)) == "Tết Nguyên Đán"
    assert cal.why(date(2026, 1, 1)) == "Tết Dương lịch"
    assert cal.why(date(2026, 3, 7)) == "weekend"
    assert cal.why(date(2025, 4, 26)) == "make-up working day"
    assert cal.why(date(2026, 3, 2)) is None
    assert WorkingCalendar(language="en_US").why(date(2026, 2, 17)) == "Lunar New Year"


@pytest.mark.parametrize(("text", "expected"), [
    ("P3D", (3, "working_days")),
    ("PT4H", (4, "working_hours")),
    ("P1M", (1, "months")),
    ("PT1H30M", (1.5, "working_hours")),
    ("P1Y", (12, "months")),
    (" 3 working_days ", (3, "working_days")),
    ("4 working_hours", (4, "working_hours")),
    ("2 months", (2, "months")),
    ("1 month", (1, "months")),
    ("0,5 working hours", (0.5, "working_hours")),
])
def test_parse_budget(text, expected):
    assert parse_budget(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("", "expected an ISO 8601 duration"),
    ("3", "expected an ISO 8601 duration"),
    ("P", "expected an ISO 8601 duration"),
    ("PT", "expected an ISO 8601 duration"),
    ("P3DT", "expected an ISO 8601 duration"),
    ("three days", "expected an ISO 8601 duration"),
    ("-3 working_days", "expected an ISO 8601 duration"),
    ("3 weeks", "expected an ISO 8601 duration"),
    ("P1W", "weeks are ambiguous"),
    ("P1DT4H", "mixes"),
    ("P1.5D", "whole number.*PT12H"),
    ("P1.5M", "whole number"),
    (None, "expected an ISO 8601 duration"),
])
def test_parse_budget_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_budget(text)


def test_deadline_argument_errors(cal):
    with pytest.raises(ValueError, match="unknown deadline unit"):
        cal.deadline(vn(2026, 3, 2, 9), 3, "days")
    with pytest.raises(ValueError, match="whole number"):
        cal.deadline(vn(2026, 3, 2, 9), 1.5, "working_days")
    with pytest.raises(ValueError, match="negative"):
        cal.deadline(vn(2026, 3, 2, 9), -1, "months")
    with pytest.raises(ValueError, match="non-negative"):
        cal.add_working_hours(vn(2026, 3, 2, 9), -1)
    with pytest.raises(ValueError, match="ordered"):
        OfficeHours(morning=(time(11, 30), time(7, 30)))
