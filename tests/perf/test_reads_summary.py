"""The 766 daily summary (indicator_days) gives exactly the figures counted from scratch.

Randomized dossiers of every kind (open, paused, refused, withdrawn, late, apologised, rated, paid, with odd
timestamps: finished before received, finished in the future), written through the ORM so the flush listeners
keep the summary, then changed (finished, rated, apologised, paid, moved to another department, deleted); and
the demo generator's year (written with bulk INSERTs). For many periods, scopes and cut-offs, overview() through
the summary equals overview(from_scratch=True) in every figure, count and breakdown row."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from dossiers import indicators
from dossiers.models import Apology, Dossier, IndicatorDay, IndicatorMeta, Rating
from engine.calendar import VN_TZ
from tests.bottlenecks.test_demo_data import NOW as DEMO_NOW
from tests.bottlenecks.test_demo_data import _generate, library  # noqa: F401 - fixture
from tests.indicators.conftest import Case, insert_dossier, onestop_version

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=VN_TZ)


def _random_case(rng: random.Random) -> Case:
    received = datetime(2026, 1, 1, tzinfo=VN_TZ) + timedelta(minutes=rng.randint(0, 325 * 24 * 60))
    appointment = received + timedelta(days=rng.choice((1, 3, 5, 10)), hours=rng.randint(0, 9))
    kind = rng.random()
    case = Case(department=rng.choice(("SXD", "STNMT", "SGTVT")), channel=rng.choice(("online", "in_person", "postal")),
                procedure_code=rng.choice(("9.999001", "9.999002", "1.000001")), received=received,
                appointment=appointment, attachments=rng.random() < 0.7, e_result=rng.random() < 0.6)
    if kind < 0.25:  # open, maybe paused
        case.status = rng.choice((2, 4, 5, 6))
        if case.status == 5:
            case.paused_since = received + timedelta(hours=rng.randint(1, 200))
    elif kind < 0.30:  # refused at the desk: never accepted
        case.submitted, case.received, case.appointment = received, None, None
        case.status, case.finished = 3, received + timedelta(hours=rng.randint(1, 30))
    elif kind < 0.33:
        case.status, case.finished = 7, received + timedelta(hours=rng.randint(1, 300))
    elif kind < 0.36:  # odd: finished before it was received, or in the future
        case.status = rng.choice((9, 10))
        case.finished = received - timedelta(hours=rng.randint(1, 50)) if rng.random() < 0.5 \
            else NOW + timedelta(days=rng.randint(1, 20))
    else:
        case.status = rng.choice((9, 10))
        case.finished = received + timedelta(hours=rng.randint(1, 400), minutes=rng.randint(0, 59))
    if rng.random() < 0.15:
        case.paused_hours = float(rng.randint(1, 40))
    if rng.random() < 0.4:
        case.paid = received + timedelta(hours=rng.randint(-5, 100))
        case.payment_channel = rng.choice(("online", "counter"))
    if case.finished and rng.random() < 0.5:
        case.rating, case.complaint = rng.randint(1, 5), rng.random() < 0.1
    if case.appointment and rng.random() < 0.1:
        case.apology_before = case.appointment - timedelta(days=rng.randint(0, 3))
        case.appointment += timedelta(days=3)
    return case


def _figures(session, start: date, end: date, department=None, procedure_code=None, now=NOW, from_scratch=False):
    result = indicators.overview(session, start, end, department, procedure_code, now=now, from_scratch=from_scratch)
    return [(f.key, f.to_dict(), f.counts, f.transparency_rate, f.name)
            for f in (result.total, *result.by_department, *result.by_procedure)]


PERIODS = [
    (date(2026, 11, 1), date(2026, 11, 30)),  # the current month: cut-off now
    (date(2026, 10, 24), date(2026, 11, 23)),
    (date(2026, 1, 1), date(2026, 12, 31)),  # the year
    (date(2025, 11, 24), date(2026, 11, 23)),
    (date(2026, 3, 1), date(2026, 3, 31)),  # past months: dossiers finished later are open at the cut-off
    (date(2026, 6, 10), date(2026, 6, 10)),
    (date(2026, 2, 15), date(2026, 8, 15)),
]
SCOPES = [(None, None), ("SXD", None), (frozenset({"SXD", "STNMT"}), None), (None, "9.999002"), ("STNMT", "1.000001")]


def _assert_same(session, periods=PERIODS, scopes=SCOPES, now=NOW, phase: str = "") -> int:
    compared = 0
    for start, end in periods:
        for department, procedure in scopes:
            summary = _figures(session, start, end, department, procedure, now=now)
            scratch = _figures(session, start, end, department, procedure, now=now, from_scratch=True)
            if summary != scratch:
                diffs = [(a[0], {k: (a[2][k], b[2][k]) for k in a[2] if a[2][k] != b[2][k]},
                          {k: (a[1][k], b[1][k]) for k in a[1] if a[1][k] != b[1][k]})
                         for a, b in zip(summary, scratch, strict=False) if a != b]
                raise AssertionError(f"{phase} {start}..{end} {department} {procedure}: {diffs[:3]}")
            compared += 1
    return compared


@pytest.mark.parametrize("seed", [1, 2])
def test_summary_figures_equal_a_from_scratch_count_on_random_dossiers(onestop, seed):
    rng = random.Random(seed)
    with onestop() as s:
        version_id = onestop_version(s)
        for n in range(180):
            insert_dossier(s, version_id, f"H15.99-R{seed}-{n:05d}", _random_case(rng))
        s.commit()
        assert s.scalar(select(func.count()).select_from(IndicatorDay)) > 0  # kept by the listeners
        assert _assert_same(s, phase="written") == len(PERIODS) * len(SCOPES)

        # changes after the fact: open ones finish, ratings and apologies arrive late, payments, a department
        # moves, a dossier is deleted
        dossiers = list(s.scalars(select(Dossier).order_by(Dossier.code)))
        for dossier in rng.sample(dossiers, 60):
            change = rng.random()
            if dossier.finished_at is None and change < 0.5:
                dossier.status_code = rng.choice((9, 10))
                dossier.finished_at = (dossier.received_at or dossier.submitted_at) + timedelta(hours=rng.randint(1, 90))
            elif change < 0.6:
                s.add(Rating(dossier=dossier, score=rng.randint(1, 2), complaint=True)) \
                    if s.scalar(select(Rating.id).where(Rating.dossier_id == dossier.id)) is None else None
            elif change < 0.7 and dossier.appointment_at:
                s.add(Apology(dossier=dossier, state="issued", department="SXD", reason="chậm",
                              previous_appointment_at=dossier.appointment_at - timedelta(days=2),
                              new_appointment_at=dossier.appointment_at, issued_at=dossier.appointment_at))
            elif change < 0.8:
                dossier.fee_state, dossier.paid_at = "paid", dossier.submitted_at + timedelta(hours=30)
                dossier.payment_channel = rng.choice(("online", "counter"))
            elif change < 0.9:
                dossier.responsible_department = rng.choice(("SXD", "SGTVT", None))
            else:
                for apology in list(dossier.apologies):
                    s.delete(apology)
                for rating in s.scalars(select(Rating).where(Rating.dossier_id == dossier.id)):
                    s.delete(rating)
                s.flush()
                s.delete(dossier)
            if rng.random() < 0.3:
                s.flush()
        s.commit()
        assert _assert_same(s, phase="changed") == len(PERIODS) * len(SCOPES)

        # a rebuild from scratch gives the same summary
        before = sorted(tuple(r) for r in s.execute(select(IndicatorDay.day, IndicatorDay.department,
                                                           IndicatorDay.procedure_code, IndicatorDay.received,
                                                           IndicatorDay.resolved, IndicatorDay.judged,
                                                           IndicatorDay.on_time, IndicatorDay.paid)))
        indicators.rebuild_summary(s)
        s.commit()
        after = sorted(tuple(r) for r in s.execute(select(IndicatorDay.day, IndicatorDay.department,
                                                          IndicatorDay.procedure_code, IndicatorDay.received,
                                                          IndicatorDay.resolved, IndicatorDay.judged,
                                                          IndicatorDay.on_time, IndicatorDay.paid)))
        assert [r for r in after if any(r[3:])] == [r for r in before if any(r[3:])]
        assert _assert_same(s, PERIODS[:3], phase="rebuilt") == 3 * len(SCOPES)


def test_an_unbuilt_summary_or_another_calendar_still_gives_exact_figures(onestop):
    rng = random.Random(5)
    with onestop() as s:
        version_id = onestop_version(s)
        for n in range(60):
            insert_dossier(s, version_id, f"H15.99-U-{n:05d}", _random_case(rng))
        s.commit()
        s.execute(delete(IndicatorMeta).where(IndicatorMeta.key == "calendar"))
        s.add(IndicatorMeta(key="calendar", value="another calendar"))
        s.commit()
        assert _assert_same(s, PERIODS[:3], SCOPES[:2]) == 6
        s.add(IndicatorMeta(key="unbuilt", value="test"))
        s.execute(delete(IndicatorDay))
        s.commit()
        assert _assert_same(s, PERIODS[:3], SCOPES[:2]) == 6


def test_summary_figures_equal_a_from_scratch_count_on_the_demo_generators_year(library, sessions):  # noqa: F811
    _generate(sessions, count=400)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(IndicatorDay)) > 0
        periods = [(date(2026, 1, 1), date(2026, 12, 31)), (date(2026, 5, 16), date(2026, 6, 15)),
                   (date(2026, 3, 1), date(2026, 3, 31)), (date(2025, 6, 16), date(2026, 6, 15))]
        departments = sorted({d for d in s.scalars(select(Dossier.responsible_department).distinct()) if d})
        scopes = [(None, None), (departments[0], None), (frozenset(departments[:2]), None)]
        assert _assert_same(s, periods, scopes, now=DEMO_NOW) == len(periods) * len(scopes)
