"""The 766 indicators on the hand-made month of tests/indicators/conftest.py, every figure computed by hand.

The whole month (both departments):
* received (11): A B C D E F G H I L N — J K M O were received before March. Online A F I N (4/11 = 36.36 %).
* resolved (5): A B C I J (F refused and G withdrawn are finished but not resolved; N finished in April).
  e-result A C J (60 %); digitized = attachment and e-result A J (40 %); negative rating B (2) and C
  (complaint) (40 %); K's rating 1 is not about a dossier resolved in March.
* judged (10): A B C D E H I J M N — F G excluded, L not accepted, K O finished before March.
  On time A (04/03 ≤ 05/03; the draft apology changes nothing), C (16/03 15:00 ≤ 16/03 17:00, the date moved
  by its pause), E and N (not due at the cut-off 01/04 00:00), H (paused on 26/03, before its date 27/03),
  J (02/03 09:30 ≤ 17:00): 6/10 = 60 %. Late B, D, I (its date was 05/03 before the apology), M.
* overdue open: D, M.
* paid in March: A online, B counter, O online (paid 03/03 though finished in February): 2/3 = 66.67 %.
* processing time (working hours): A 18, B 42.5, C 37.5 − 8 paused, I 42, J 25.5 = 157.5 / 5 = 31.5 h
  = 3.9375 days → 3.94.
* satisfaction = 100 − (40 late + 40 negative) = 20 %.
* published procedures: 9.999001 complete in the catalogue, 9.999002 not deployed → 1/2 = 50 %.
Points: transparency 18 × 0.5 = 9; progress 20 × 0.6 = 12; online 11 × 36.36/50 + 11 × 66.67/100
= 8 + 7.333 = 15.33; digitization 11 × 0.6 + 11 × 40/80 = 6.6 + 5.5 = 12.1; satisfaction 18 × 0.2 = 3.6;
total 52.03.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest

from dossiers import indicators as ind
from engine import deadlines
from engine.calendar import VN_TZ
from tests.indicators.conftest import END, NOW, START, Case, insert_dossier, onestop_version, vn

WHOLE = {
    "received": 11, "resolved": 5, "on_time_rate": 60.0, "avg_processing_days": 3.94, "overdue_open": 2,
    "online_rate": 36.36, "online_payment_rate": 66.67, "digitization_rate": 40.0, "e_result_rate": 60.0,
    "satisfaction_rate": 20.0,
    "points": {"transparency": 9.0, "progress": 12.0, "online": 15.33, "digitization": 12.1, "satisfaction": 3.6,
               "total": 52.03},
}


def test_every_figure_of_the_month(march, sessions):
    with sessions() as s:
        figures = ind.indicators(s, START, END, now=NOW)
    assert figures.to_dict() == WHOLE
    assert list(figures.to_dict()) == list(ind.KEYS)
    assert figures.transparency_rate == 50.0
    assert figures.counts == {
        "received": 11, "received_online": 4, "received_in_person": 5, "received_postal": 2,
        "resolved": 5, "digitized": 2, "e_result": 3, "negative_rating": 2,
        "judged": 10, "on_time": 6, "late": 4, "overdue_open": 2, "paid": 3, "paid_online": 2,
    }


def test_per_department(march, sessions):
    """SXD: received 10 (online A F N: 30 %), resolved A B C J (e-result A C J 75 %, digitized A J 50 %,
    negative B C 50 %), judged A B C D E H J N with on time A C E H J N (75 %, late 25 %), overdue D, paid 3 of
    which 2 online, hours (18 + 42.5 + 29.5 + 25.5) / 4 = 28.875 h = 3.609 days, satisfaction 100 − 25 − 50 = 25.
    Points 18 + 15 + (6.6 + 7.33) + (8.25 + 6.875) + 4.5.
    STNMT: received I (online 100 %), resolved I (no e-result, no attachment, no rating), judged I M both late,
    overdue M, nothing paid (full marks for online payment), 42 h = 5.25 days, satisfaction 100 − 100 − 0 = 0,
    its procedure is not published (0 %)."""
    with sessions() as s:
        rows = ind.breakdown(s, START, END, by="department", now=NOW)
        only_sxd = ind.indicators(s, START, END, department="SXD", now=NOW)
        mine = ind.indicators(s, START, END, department=["SXD", "LD_SXD"], now=NOW)
    assert [(r.key, r.name) for r in rows] == [("STNMT", "Sở Tài nguyên và Môi trường"), ("SXD", "Sở Xây dựng")]
    stnmt, sxd = rows
    assert sxd.to_dict() == {
        "received": 10, "resolved": 4, "on_time_rate": 75.0, "avg_processing_days": 3.61, "overdue_open": 1,
        "online_rate": 30.0, "online_payment_rate": 66.67, "digitization_rate": 50.0, "e_result_rate": 75.0,
        "satisfaction_rate": 25.0,
        "points": {"transparency": 18.0, "progress": 15.0, "online": 13.93, "digitization": 15.13,
                   "satisfaction": 4.5, "total": 66.56},
    }
    assert stnmt.to_dict() == {
        "received": 1, "resolved": 1, "on_time_rate": 0.0, "avg_processing_days": 5.25, "overdue_open": 1,
        "online_rate": 100.0, "online_payment_rate": None, "digitization_rate": 0.0, "e_result_rate": 0.0,
        "satisfaction_rate": 0.0,
        "points": {"transparency": 0.0, "progress": 0.0, "online": 22.0, "digitization": 0.0,
                   "satisfaction": 0.0, "total": 22.0},
    }
    assert only_sxd.to_dict() == sxd.to_dict() == mine.to_dict()


def test_per_procedure(march, sessions):
    with sessions() as s:
        rows = ind.breakdown(s, START, END, by="procedure", now=NOW)
        one = ind.indicators(s, START, END, procedure_code="9.999002", now=NOW)
        both = ind.indicators(s, START, END, department="SXD", procedure_code="9.999002", now=NOW)
    assert [(r.key, r.name, r.received) for r in rows] == [
        ("9.999001", "Thủ tục thử nghiệm một cửa", 10), ("9.999002", "Thủ tục đất đai thử", 1)]
    assert rows[1].to_dict() == one.to_dict()
    assert both.received == both.resolved == both.overdue_open == 0
    assert both.on_time_rate is None and both.avg_processing_days is None and both.satisfaction_rate is None
    assert both.points["total"] == 100.0  # nothing arose: nothing is penalised


def test_drill_down_lists_exactly_the_dossiers_behind_each_number(march, sessions):
    expected = {
        "received": "ABCDEFGHILN", "received_online": "AFIN", "received_in_person": "BDGHL",
        "received_postal": "CE", "resolved": "ABCIJ", "digitized": "AJ", "e_result": "ACJ",
        "negative_rating": "BC", "judged": "ABCDEHIJMN", "on_time": "ACEHJN", "late": "BDIM",
        "overdue_open": "DM", "paid": "ABO", "paid_online": "AO",
    }
    assert set(expected) == set(ind.DRILL_DOWNS)
    letters = {code: letter for letter, code in march.items()}
    with sessions() as s:
        figures = ind.indicators(s, START, END, now=NOW)
        for indicator, wanted in expected.items():
            found = s.scalars(ind.drill_down(s, START, END, indicator, now=NOW)).all()
            assert "".join(sorted(letters[d.code] for d in found)) == wanted, indicator
            assert len(found) == figures.counts[indicator], indicator
        sxd = s.scalars(ind.drill_down(s, START, END, "late", department="SXD", now=NOW)).all()
        assert sorted(letters[d.code] for d in sxd) == ["B", "D"]
        with pytest.raises(ValueError):
            ind.drill_down(s, START, END, "everything", now=NOW)


def test_the_cut_off_is_now_for_a_period_not_yet_over(march, sessions):
    """Judged at Thu 26/03 12:00: A B C I J finished before then; D (due 26/03 17:00, not yet past), H (paused)
    and M (overdue since 25/02) open; E and N not received yet. Late: B, I, M; overdue open: M only."""
    now = vn(2026, 3, 26, 12)
    with sessions() as s:
        figures = ind.indicators(s, START, END, now=now)
        late = {d.code for d in s.scalars(ind.drill_down(s, START, END, "late", now=now))}
    assert figures.counts["judged"] == 8
    assert figures.counts["on_time"] == 5
    assert late == {march["B"], march["I"], march["M"]}
    assert figures.overdue_open == 1


def test_a_pause_stops_the_clock_only_if_it_began_before_the_date(onestop, sessions):
    with onestop() as s:
        version = onestop_version(s)
        # paused on Fri 20/03, one day after its date (Thu 19/03): already late when the citizen was asked
        insert_dossier(s, version, "P-late", Case(received=vn(2026, 3, 16, 8), appointment=vn(2026, 3, 19, 17),
                                                  status=5, paused_since=vn(2026, 3, 20, 9)))
        # paused on Wed 18/03, before its date: its clock is stopped, it is not late
        insert_dossier(s, version, "P-ok", Case(received=vn(2026, 3, 16, 8), appointment=vn(2026, 3, 19, 17),
                                                status=5, paused_since=vn(2026, 3, 18, 9)))
        s.commit()
        figures = ind.indicators(s, START, END, now=NOW)
        overdue = [d.code for d in s.scalars(ind.drill_down(s, START, END, "overdue_open", now=NOW))]
    assert figures.counts["judged"] == 2 and figures.on_time_rate == 50.0
    assert overdue == ["P-late"]


def test_refused_and_withdrawn_are_outside_the_on_time_rate(onestop, sessions):
    with onestop() as s:
        version = onestop_version(s)
        insert_dossier(s, version, "X-1", Case(received=vn(2026, 3, 2, 8), appointment=vn(2026, 3, 5, 17),
                                               finished=vn(2026, 3, 20, 9), status=7))
        insert_dossier(s, version, "X-2", Case(submitted=vn(2026, 3, 2, 8), finished=vn(2026, 3, 2, 9), status=3))
        s.commit()
        figures = ind.indicators(s, START, END, now=NOW)
    assert figures.received == 2 and figures.resolved == 0
    assert figures.on_time_rate is None and figures.satisfaction_rate is None
    assert figures.counts["judged"] == figures.counts["late"] == 0


def test_bad_periods_are_refused(sessions):
    with sessions() as s:
        with pytest.raises(ValueError):
            ind.indicators(s, date(2026, 3, 31), date(2026, 3, 1))
        with pytest.raises(ValueError):
            ind.breakdown(s, START, END, by="applicant")
        with pytest.raises(TypeError):
            ind.indicators(s, datetime(2026, 3, 1, tzinfo=VN_TZ), END)


def test_points_scale_linearly_below_the_thresholds():
    full = ind.points(100, 50, 100, 80, 100, 100, 100)
    assert full == {"transparency": 18, "progress": 20, "online": 22, "digitization": 22, "satisfaction": 18,
                    "total": 100}
    assert ind.points(100, 90, 100, 95, 100, 100, 100)["total"] == 100  # above a threshold: still full marks
    half = ind.points(50, 25, 50, 40, 50, 50, 50)
    assert half == {"transparency": 9, "progress": 10, "online": 11, "digitization": 11, "satisfaction": 9,
                    "total": 50}
    zero = ind.points(0, 0, 0, 0, 0, 0, 0)
    assert zero["total"] == 0
    assert ind.points(None, None, None, None, None, None, None)["total"] == 100


def test_processing_time_summed_in_sql_equals_the_calendar_row_by_row(onestop, sessions):
    """Σ W(finished) − Σ W(received), grouped by Vietnam date in SQL, against working_hours_between per dossier
    for random moments (nights, weekends, Tết, lunch breaks, after 17:00, milliseconds)."""
    rng = random.Random(766)
    calendar = deadlines.current_calendar()
    base = vn(2026, 1, 20, 0)
    worked, paused = [], []
    with onestop() as s:
        version = onestop_version(s)
        for n in range(60):
            received = base + timedelta(minutes=rng.randrange(0, 60 * 24 * 40), seconds=rng.randrange(60),
                                        milliseconds=rng.randrange(1000))
            finished = received + timedelta(minutes=rng.randrange(1, 60 * 24 * 20), seconds=rng.randrange(60))
            hours = calendar.working_hours_between(received, finished)
            pause = rng.choice((0.0, 2.5, 8.0)) if hours > 8 else 0.0
            insert_dossier(s, version, f"R-{n}", Case(received=received, appointment=finished, finished=finished,
                                                      status=10, paused_hours=pause))
            if finished.astimezone(VN_TZ).date() <= date(2026, 3, 31):
                worked.append(hours)
                paused.append(pause)
        s.commit()
        figures = ind.indicators(s, date(2026, 1, 1), date(2026, 3, 31), now=NOW)
        total = sum(ind._processing_hours(s, ind.period(date(2026, 1, 1), date(2026, 3, 31), NOW), []).values())
    assert figures.resolved == len(worked) > 40
    assert total == pytest.approx(sum(worked), abs=1e-3)
    average = (sum(worked) - sum(paused)) / len(worked) / 8
    assert figures.avg_processing_days == pytest.approx(average, abs=0.005 + 1e-9)
