"""The national "766" indicators (Decision 766/QĐ-TTg, 2022) computed from the dossiers table.

Everything is counted in SQL aggregates: one scan of ``dossiers`` (left-joined with the first issued
apology of each dossier; negative ``ratings`` read once as an ``IN`` set) gives each dossier small
integer codes, summed (``SUM(CASE …)``) per (responsible department, procedure) cell; the total and the
breakdowns per department and per procedure are sums of those cells. A second scan sums the working time
(see *avg_processing_days*). No list of dossiers is ever loaded into Python: on the development machine a
year of 150,000 dossiers (17 departments, 300 procedures) takes about 1.5 s on SQLite and 1.1 s on
PostgreSQL, breakdowns included. :func:`drill_down` returns the query of the dossiers behind any number,
built from the same SQL conditions as the codes (the tests check that each list has as many dossiers as
its count).

**Daily summary** (issue 8): at 1,000,000 dossiers that scan cost seconds. What a *settled* dossier
(finished, and received no later than finished) adds to each count is fixed once the cut-off is past its
finishing, so it is kept per (Vietnam day, department, procedure) in ``indicator_days`` by flush listeners in
the same transaction as the change (dossiers, ratings, apologies; bulk writers call
:func:`summarise_inserted`); the figures are those days' sums, minus what the summary holds for settled
dossiers finished at or after the cut-off, plus the open and odd dossiers counted live by the same scan
(``ix_dossiers_live``). ``overview(..., from_scratch=True)`` (or an unbuilt summary) counts everything live;
tests/perf/test_reads_summary.py checks both give the same figures on random data and the demo generator's.

Period
------
``start`` and ``end`` are Vietnam calendar dates, both included: from ``start`` 00:00 to ``end + 1 day``
00:00, Vietnam time. The **cut-off** is the end of the period or now, whichever is earlier: a dossier's
state "at the end of the period" is judged at the cut-off. Past periods are judged with the dossiers'
current appointment dates and status codes (the table keeps no history of them).

Scope: ``department`` filters on ``responsible_department`` (one code, or a collection of codes: a
department leader's departments), ``procedure_code`` on the procedure.

The figures
-----------
* ``received``: dossiers whose ``received_at`` lies in the period, or, for dossiers never accepted
  (``received_at`` empty: refused at the desk, withdrawn, still at reception), whose ``submitted_at`` does.
  Refused and withdrawn dossiers are received dossiers too.
* ``resolved``: dossiers with ``finished_at`` in the period and status 9 (done) or 10 (returned); refused
  (3) and withdrawn (7) dossiers also have a ``finished_at`` but are not resolved.
* ``on_time_rate`` = on time ÷ judged × 100, where **judged** ("received or processed in the period") are
  the dossiers, other than refused (3) and withdrawn (7), accepted (``received_at`` and
  ``appointment_at`` set) before the cut-off and either finished in [start, cut-off) or still open at the
  cut-off (``finished_at`` empty with an open status 1, 2, 4, 5, 6, or ``finished_at`` after the
  cut-off). A finished one is on time when ``finished_at`` ≤ its deadline; an open one when its deadline
  is not yet past at the cut-off — or, for a dossier paused for a supplement since before the cut-off,
  was not past when the pause began (its clock is stopped). Supplement pauses are excluded because
  ``appointment_at`` is moved by the paused working time when the supplement arrives.
  The **deadline** is ``appointment_at``, except that an apology letter (Form 04) does not make a late
  dossier on time: when an apology was issued, the deadline is the appointment in force before the first
  issued apology (``apologies.previous_appointment_at``) if that is earlier. (DOMAIN.md is silent on
  apologies; this reading follows "a public apology whenever one is late": the apology acknowledges
  lateness, it does not erase it.)
* ``avg_processing_days``: over resolved dossiers that were accepted, the mean of
  ``working_hours_between(received_at, finished_at) − paused_hours``, divided by 8 (one working day =
  8 working hours). ``working_hours_between(a, b)`` on :class:`engine.calendar.WorkingCalendar` equals
  ``W(b) − W(a)`` with ``W(t) = (working days before the date of t) × 8 + office hours elapsed on that
  date at t (0 on a day off)``, so the sum over dossiers is ``Σ W(finished_at) − Σ W(received_at)``: Python
  weighs each calendar day of the span once with the calendar in force (holidays, make-up Saturdays,
  administrator days) into a small ``VALUES`` table (working days before it, working or not); SQL joins
  each dossier's two Vietnam dates to it, adds the office time elapsed within the day (07:30–11:30,
  13:00–17:00, read from the calendar) and sums. Exact to the millisecond (tested against
  ``working_hours_between`` dossier by dossier). A dossier finished before it was received counts 0 hours,
  as ``working_hours_between`` says (the SQL used to add a negative span, or drop it when its finishing day
  fell before the day table).
* ``overdue_open``: dossiers open at the cut-off (as above, refused and withdrawn excluded) whose deadline
  was past at the cut-off (or, paused since before the cut-off, past when the pause began) — whenever they
  were received. They count as late in ``on_time_rate``.
* ``online_rate`` = received with channel ``online`` ÷ received × 100.
* ``online_payment_rate`` = dossiers paid (``fee_state`` = paid, ``paid_at`` in the period) with
  ``payment_channel`` = online ÷ dossiers paid in the period × 100.
* ``digitization_rate`` = resolved dossiers whose **inputs and result are digitized** ÷ resolved × 100.
  Reading of "inputs and result digitized": at least one document stored electronically with the dossier
  (``attachments`` not empty: scanned at the counter or uploaded online) **and** an electronic result
  (``e_result``).
* ``e_result_rate`` = resolved with ``e_result`` ÷ resolved × 100.
* ``satisfaction_rate`` = 100 − (late % + negative %), not below 0, where late % = (judged − on time) ÷
  judged × 100 (i.e. 100 − ``on_time_rate``) and negative % = resolved dossiers whose rating is negative
  (score ≤ 2, or a complaint) ÷ resolved × 100; the rating counts whenever it was given.
  (Assumption: the base of "% of dossiers with a complaint or a negative rating" is the resolved dossiers,
  since ratings follow completion.)

A rate whose denominator is 0 is ``None`` (nothing to measure). Rates are percentages rounded to two
decimals, ``avg_processing_days`` to two decimals (halves up).

Points (the scorecard, 100 in all)
----------------------------------
DOMAIN.md gives the groups' weights, two thresholds and "below a threshold, points scale linearly". Only
the rates the dossiers can measure are scored; each group's points are shared equally among its measured
criteria, so every group can still reach its full weight. ``lin(rate, full_at) = min(rate, full_at) ÷
full_at``; where DOMAIN.md gives no threshold, full marks need 100 %.

* transparency (18) = 18 × lin(published %, 100), published % = procedures with dossiers received in the
  period (in the scope) whose catalogue entry is published complete (Vietnamese name, responsible
  department, processing time > 0, at least one required document) ÷ those procedures × 100.
  Synchronization to the national portal is not recorded in this system and is not scored.
* progress (20) = 20 × lin(on_time_rate, 100). The average processing time is reported but not scored
  (DOMAIN.md gives it no target).
* online (22) = 11 × lin(online_rate, 50) + 11 × lin(online_payment_rate, 100). The share of procedures
  offered online and of fee-bearing procedures payable online are catalogue facts this system does not
  keep for payment, and are not scored.
* digitization (22) = 11 × lin(e_result_rate, 100) + 11 × lin(digitization_rate, 80). Reuse of digitized
  data is not recorded and not scored.
* satisfaction (18) = 18 × lin(satisfaction_rate, 100). Complaints handled on time are not scored
  (ratings carry no deadline for the follow-up).

A criterion whose rate is ``None`` (nothing happened in the period, e.g. no fee paid because the
procedures are free) gets its full points: the national scorecard does not penalise a unit for what did
not arise. Each group is rounded to two decimals (halves up); ``total`` is the sum of the rounded groups.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    Date,
    Float,
    Integer,
    Select,
    String,
    Text,
    and_,
    case,
    cast,
    column,
    event,
    func,
    inspect,
    literal,
    null,
    or_,
    select,
    text,
    type_coerce,
    union_all,
    values,
)
from sqlalchemy import delete as delete_rows
from sqlalchemy import insert as insert_rows
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from dossiers.models import (
    DONE,
    OPEN_STATUSES,
    REFUSED,
    RETURNED,
    WITHDRAWN,
    Apology,
    Dossier,
    IndicatorDay,
    IndicatorMeta,
    Rating,
)
from dossiers.procedures import all_procedures
from engine import deadlines
from engine.calendar import VN_TZ
from engine.db import UTCDateTime, utcnow
from engine.models import Department

HOURS_PER_DAY = 8.0
ONLINE_FULL_AT = 50.0  # online submission rate: full marks at 50 %
DIGITIZATION_FULL_AT = 80.0  # dossier digitization rate: full marks at 80 %
GROUP_POINTS = {"transparency": 18, "progress": 20, "online": 22, "digitization": 22, "satisfaction": 18}
RATES = ("on_time_rate", "online_rate", "online_payment_rate", "digitization_rate", "e_result_rate",
         "satisfaction_rate")
# the keys of the API answer, in order
KEYS = ("received", "resolved", "on_time_rate", "avg_processing_days", "overdue_open", "online_rate",
        "online_payment_rate", "digitization_rate", "e_result_rate", "satisfaction_rate", "points")
BREAKDOWNS = ("department", "procedure")
# the sets of dossiers behind the numbers (drill_down), each a row count of the aggregate
DRILL_DOWNS = (
    "received", "received_online", "received_in_person", "received_postal",
    "resolved", "digitized", "e_result", "negative_rating",
    "judged", "on_time", "late", "overdue_open",
    "paid", "paid_online",
)
CLOSED_WITHOUT_RESULT = (REFUSED, WITHDRAWN)


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    start_at: datetime  # start 00:00, Vietnam time
    end_at: datetime  # the day after end, 00:00, Vietnam time
    cutoff: datetime  # min(end_at, now)


def period(start: date, end: date, now: datetime | None = None) -> Period:
    if isinstance(start, datetime) or isinstance(end, datetime) or not isinstance(start, date) \
            or not isinstance(end, date):
        raise TypeError("the period is given as two dates")
    if end < start:
        raise ValueError("the end of the period is before its start")
    start_at = datetime.combine(start, time.min, VN_TZ)
    end_at = datetime.combine(end + timedelta(days=1), time.min, VN_TZ)
    return Period(start, end, start_at, end_at, min(end_at, now or utcnow()))


@dataclass
class Figures:
    """The indicators of one scope (the whole selection, or one row of a breakdown)."""

    received: int
    resolved: int
    on_time_rate: float | None
    avg_processing_days: float | None
    overdue_open: int
    online_rate: float | None
    online_payment_rate: float | None
    digitization_rate: float | None
    e_result_rate: float | None
    satisfaction_rate: float | None
    transparency_rate: float | None
    points: dict[str, float]
    counts: dict[str, int] = field(default_factory=dict)  # the numbers behind the rates (DRILL_DOWNS)
    key: str | None = None  # breakdown rows: department or procedure code
    name: str | None = None  # breakdown rows: its name

    def to_dict(self) -> dict[str, Any]:
        """Exactly the keys of the API answer (KEYS)."""
        return {key: (dict(self.points) if key == "points" else getattr(self, key)) for key in KEYS}


# ----------------------------------------------------------------- the SQL pieces
def _first_apology():
    """Per dossier, the appointment in force before its first issued apology."""
    return (select(Apology.dossier_id.label("dossier_id"),
                   func.min(Apology.previous_appointment_at).label("before"))
            .where(Apology.state == "issued", Apology.previous_appointment_at.is_not(None))
            .group_by(Apology.dossier_id)
            .subquery("first_apology"))


def _at(value: datetime):
    return literal(value, type_=UTCDateTime())


class _Sets:
    """The boolean SQL expressions that define each set of dossiers, shared by counts and drill-downs."""

    def __init__(self, p: Period, apology, correlated: bool = False) -> None:
        d = Dossier
        start, end, cutoff = _at(p.start_at), _at(p.end_at), _at(p.cutoff)
        received_on = func.coalesce(d.received_at, d.submitted_at)
        deadline = case((and_(apology.c.before.is_not(None), apology.c.before < d.appointment_at), apology.c.before),
                        else_=d.appointment_at)
        self.received = and_(received_on >= start, received_on < end)
        self.received_online = and_(self.received, d.channel == "online")
        self.received_in_person = and_(self.received, d.channel == "in_person")
        self.received_postal = and_(self.received, d.channel == "postal")

        # "+ 0": most dossiers are done, so an index search on the status would only add a random read per row
        self.resolved = and_(d.finished_at >= start, d.finished_at < end, (d.status_code + 0).in_((DONE, RETURNED)))
        has_attachment = and_(d.attachments.is_not(None),
                              type_coerce(d.attachments, Text).not_in(("[]", "null", "")))
        self.digitized = and_(self.resolved, has_attachment, d.e_result.is_(True))
        self.e_result = and_(self.resolved, d.e_result.is_(True))
        # IN (a subquery not correlated): the negative ratings are read once into a hash / temporary index,
        # rather than joining every dossier to ratings
        negative = _negative(correlated)
        self.negative_rating = and_(self.resolved, negative)
        self.timed = and_(self.resolved, d.received_at.is_not(None))

        finished_by_cutoff = and_(d.finished_at.is_not(None), d.finished_at < cutoff)
        open_at_cutoff = or_(and_(d.finished_at.is_(None), d.status_code.in_(OPEN_STATUSES)), d.finished_at >= cutoff)
        paused_before_cutoff = and_(d.paused_since.is_not(None), d.paused_since < cutoff)
        past_due = or_(and_(paused_before_cutoff, deadline < d.paused_since),
                       and_(or_(d.paused_since.is_(None), d.paused_since >= cutoff), deadline < cutoff))
        not_due = or_(deadline >= cutoff, and_(paused_before_cutoff, deadline >= d.paused_since))
        judged_base = and_(d.status_code.not_in(CLOSED_WITHOUT_RESULT), d.received_at.is_not(None),
                           d.appointment_at.is_not(None), d.received_at < cutoff)
        self.judged = and_(judged_base, or_(and_(finished_by_cutoff, d.finished_at >= start), open_at_cutoff))
        self.on_time = and_(self.judged, or_(and_(finished_by_cutoff, d.finished_at <= deadline),
                                             and_(open_at_cutoff, not_due)))
        self.late = and_(self.judged, or_(and_(finished_by_cutoff, d.finished_at > deadline),
                                          and_(open_at_cutoff, past_due)))
        self.overdue_open = and_(self.judged, open_at_cutoff, past_due)

        self.paid = and_(d.fee_state == "paid", d.paid_at >= start, d.paid_at < end)
        self.paid_online = and_(self.paid, d.payment_channel == "online")
        # no set holds a dossier finished before the start, unless it was paid in the period: a cheap first test
        # that spares the older years the CASEs below (no index: the current period is the usual question,
        # for which no index on these columns is selective, and SQLite would use one anyway)
        self.relevant = or_(d.finished_at.is_(None), d.finished_at >= start, d.paid_at >= start)

        # The same sets as small integer codes, each predicate evaluated once per row: the counts group by
        # them (a handful of combinations) instead of summing fourteen CASEs that re-evaluate each other.
        # test_formulas checks that every drill-down holds exactly as many dossiers as its count.
        self.codes = {
            # 0 not received in the period; 1 online, 2 in person, 3 postal, 4 another channel
            "rc": case((self.received, case((d.channel == "online", 1), (d.channel == "in_person", 2),
                                            (d.channel == "postal", 3), else_=4)), else_=0),
            # 0 not resolved; else 1 + 2 digitized + 4 e-result + 8 negative rating + 16 accepted (timed)
            "rs": case((self.resolved, 1 + case((and_(has_attachment, d.e_result.is_(True)), 2), else_=0)
                        + case((d.e_result.is_(True), 4), else_=0)
                        + case((negative, 8), else_=0)
                        + case((d.received_at.is_not(None), 16), else_=0)), else_=0),
            # 0 not judged; 1 on time; 2 finished late; 3 open and past due
            "jd": case((and_(judged_base, finished_by_cutoff, d.finished_at >= start),
                        case((d.finished_at <= deadline, 1), else_=2)),
                       (and_(judged_base, open_at_cutoff), case((past_due, 3), else_=1)), else_=0),
            # 0 not paid in the period; 1 paid otherwise; 2 paid online
            "pd": case((self.paid, case((d.payment_channel == "online", 2), else_=1)), else_=0),
        }

    def get(self, name: str):
        if name not in DRILL_DOWNS:
            raise ValueError(f"unknown indicator {name!r}: one of {', '.join(DRILL_DOWNS)}")
        return getattr(self, name)


def _scope(department: str | Iterable[str] | None, procedure_code: str | None) -> list:
    conditions = []
    if department is not None:
        if isinstance(department, str):
            conditions.append(Dossier.responsible_department == department)
        else:
            conditions.append(Dossier.responsible_department.in_(sorted(set(department))))
    if procedure_code:
        conditions.append(Dossier.procedure_code == procedure_code)
    return conditions


def _cell(departments: bool) -> list:
    """The scans group by (department, procedure) cells — totals and breakdowns are sums of cells — or, when
    no breakdown by department is wanted, by procedure alone (the department left empty): a cheaper sort."""
    department = Dossier.responsible_department if departments else null()
    return [department.label("k0"), Dossier.procedure_code.label("k1")]


def _empty_counts() -> dict[str, float]:
    return {name: 0 for name in (*DRILL_DOWNS, "timed")} | {"paused_hours": 0.0}


def _negative(correlated: bool):
    """The dossier has a negative rating. ``correlated``: a probe of ratings' unique index per dossier asked
    (few dossiers: the open ones, a handful of changed ones) instead of reading every negative rating first."""
    negative = or_(Rating.score <= 2, Rating.complaint.is_(True))
    if correlated:
        # a scalar subquery, not EXISTS: PostgreSQL would hash every negative rating for EXISTS as well
        return select(func.count(Rating.id)).where(Rating.dossier_id == Dossier.id, negative).scalar_subquery() > 0
    return Dossier.id.in_(select(Rating.dossier_id).where(negative))


def _counts(session: Session, p: Period, scope: list, departments: bool = True,
            correlated: bool = False, open_only: bool = False) -> dict[tuple, dict[str, float]]:
    """Per (department, procedure): the number of dossiers in each set of DRILL_DOWNS, plus ``timed`` (resolved
    and accepted) and their ``paused_hours``.

    The inner query computes each dossier's codes once; OFFSET 0 keeps it a subquery (SQLite and PostgreSQL
    would otherwise copy the CASEs into every SUM below and evaluate them again)."""
    apology = _first_apology()
    sets = _Sets(p, apology, correlated)
    codes, paused = dict(sets.codes), Dossier.paused_hours
    if open_only:
        # dossiers not finished (the caller adds finished_at IS NULL) are never resolved: without the columns of
        # the resolved code, PostgreSQL answers from ix_dossiers_open_766 alone (an index-only scan)
        codes["rs"], paused = literal(0), literal(0.0)
        scope = [*scope, Dossier.finished_at.is_(None)]
    rows = (select(*_cell(departments), *(e.label(n) for n, e in codes.items()), paused.label("paused_hours"))
            .select_from(Dossier)
            .outerjoin(apology, apology.c.dossier_id == Dossier.id)
            .where(sets.relevant, *scope)
            .offset(0)
            .subquery("coded"))
    rc, rs, jd, pd = rows.c.rc, rows.c.rs, rows.c.jd, rows.c.pd

    def count(condition):
        return func.sum(case((condition, 1), else_=0))

    def has(bit: int):
        return rs.op("&")(bit) != 0

    sums = {
        "received": count(rc > 0), "received_online": count(rc == 1), "received_in_person": count(rc == 2),
        "received_postal": count(rc == 3),
        "resolved": count(rs > 0), "digitized": count(has(2)), "e_result": count(has(4)),
        "negative_rating": count(has(8)), "timed": count(has(16)),
        "judged": count(jd > 0), "on_time": count(jd == 1), "late": count(jd > 1), "overdue_open": count(jd == 3),
        "paid": count(pd > 0), "paid_online": count(pd == 2),
        "paused_hours": func.sum(case((has(16), rows.c.paused_hours), else_=0.0)),
    }
    query = (select(rows.c.k0, rows.c.k1, *(expr.label(name) for name, expr in sums.items()))
             .group_by(rows.c.k0, rows.c.k1))
    result: dict[tuple, dict[str, float]] = {}
    for row in session.execute(query).mappings():
        counts = {name: int(row[name] or 0) for name in (*DRILL_DOWNS, "timed")}
        counts["paused_hours"] = float(row["paused_hours"] or 0.0)
        result[(row["k0"], row["k1"])] = counts
    return result


# working time, summed in SQL by Vietnam date
def _local_day_and_seconds(column, dialect: str):
    """The Vietnam date (as text or a date) and the seconds since local midnight of a UTC timestamp column."""
    if dialect == "sqlite":
        # stored as UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'; Vietnam has kept UTC+07:00 without daylight saving
        # since 1975. Substrings rather than strftime: the CASE below reads the seconds five times.
        day = func.date(column, "+7 hours")
        seconds = (((cast(func.substr(column, 12, 2), Integer) + 7) % 24) * 3600
                   + cast(func.substr(column, 15, 2), Integer) * 60
                   + cast(func.substr(column, 18), Float))
        return day, seconds
    local = func.timezone("Asia/Ho_Chi_Minh", column)
    day = func.date(local)
    seconds = (func.extract("hour", local) * 3600 + func.extract("minute", local) * 60
               + func.extract("second", local))
    return day, seconds


def _office_elapsed(seconds, calendar) -> Any:
    """Office seconds of a working day already elapsed at a local time of day (SQL CASE)."""
    (ms, me), (as_, ae) = calendar.hours.morning, calendar.hours.afternoon
    ms, me, as_, ae = (t.hour * 3600 + t.minute * 60 + t.second for t in (ms, me, as_, ae))
    morning = me - ms
    return case(
        (seconds <= ms, 0.0),
        (seconds < me, seconds - ms),
        (seconds < as_, float(morning)),
        (seconds < ae, morning + seconds - as_),
        else_=float(morning + ae - as_),
    )


def _processing_hours(session: Session, p: Period, scope: list, departments: bool = True) -> dict[tuple, float]:
    """Per (department, procedure): Σ working_hours_between(received_at, finished_at) of the resolved, accepted
    dossiers (pauses not subtracted), as Σ W(finished_at) − Σ W(received_at) (see the module docstring)."""
    sets = _Sets(p, _first_apology())
    return _working_hours(session, [sets.timed, *scope], departments, last=p.end + timedelta(days=1))


def _forward():
    # working_hours_between is 0 when the end is not after the start: a dossier finished before it was received
    # adds nothing (and its finishing day may lie before the day table, where the join would find no row)
    return Dossier.finished_at > Dossier.received_at


def _working_hours(session: Session, where: list, departments: bool = True, last: date | None = None,
                   by_day: bool = False) -> dict[tuple, float]:
    """Σ working hours received → finished of the dossiers matching ``where``, per (department, procedure) or,
    ``by_day``, per (finishing day, department, procedure).

    Python weighs each calendar day once — working days before it, and whether it is one — into a small
    VALUES table; SQL joins each dossier's two Vietnam dates to it and sums."""
    calendar = deadlines.current_calendar()
    dialect = session.get_bind().dialect.name
    where = [*where, _forward()]
    first, latest = session.execute(select(func.min(Dossier.received_at), func.max(Dossier.finished_at))
                                    .where(*where)).one()
    if first is None:
        return {}
    day = first.astimezone(VN_TZ).date() - timedelta(days=1)
    last = last or latest.astimezone(VN_TZ).date() + timedelta(days=1)
    days, prior = [], 0
    while day <= last:
        working = calendar.is_working_day(day)
        days.append((day.isoformat() if dialect == "sqlite" else day, prior, int(working)))
        prior += working
        day += timedelta(days=1)
    table = (values(column("day", String if dialect == "sqlite" else Date), column("prior", Integer),
                    column("working", Integer), name="working_days")
             .data(days).cte("working_days"))
    finished, received = table.alias("finished_day"), table.alias("received_day")
    hours_per_day = calendar.hours.hours_per_day

    def w(day_row, seconds):  # W(t) in working hours, from the origin of the table
        return day_row.c.prior * hours_per_day + day_row.c.working * _office_elapsed(seconds, calendar) / 3600.0

    finished_on, finished_seconds = _local_day_and_seconds(Dossier.finished_at, dialect)
    received_on, received_seconds = _local_day_and_seconds(Dossier.received_at, dialect)
    # each dossier's dates and times of day computed once (OFFSET 0 keeps the subquery, see _counts)
    moments = (select(*_cell(departments), finished_on.label("finished_on"),
                      finished_seconds.label("finished_seconds"), received_on.label("received_on"),
                      received_seconds.label("received_seconds"))
               .where(*where).offset(0).subquery("moments"))
    keys = [moments.c.k0, moments.c.k1] if not by_day else [moments.c.finished_on, moments.c.k0, moments.c.k1]
    # LEFT JOINs keep the dossiers the outer loop (the table covers every date, so nothing is left out)
    query = (select(*keys, func.sum(w(finished, moments.c.finished_seconds) - w(received, moments.c.received_seconds))
                    .label("hours"))
             .select_from(moments)
             .outerjoin(finished, finished.c.day == moments.c.finished_on)
             .outerjoin(received, received.c.day == moments.c.received_on)
             .group_by(*keys))
    if by_day:
        return {(_as_date(row[0]), row[1], row[2]): float(row[3] or 0.0) for row in session.execute(query)}
    return {(row[0], row[1]): float(row[2] or 0.0) for row in session.execute(query)}


def _as_date(value) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


# ----------------------------------------------------------------- the daily summary (issue 8)
# What a *settled* dossier (finished, and received — or submitted — no later than finished) adds to each count
# does not depend on the cut-off as long as the cut-off is after its finishing: received on its reception day,
# resolved / judged (on time or late) on its finishing day, paid on its payment day. Those contributions are
# kept per (day, department, procedure) in indicator_days, in the same flush as the change. A period's figures
# are the summary's days in the period, minus the summarised contributions of settled dossiers finished at or
# after the cut-off (then still open at the cut-off: judged live), plus the open and odd dossiers counted live
# by the same _counts as always. overview(..., from_scratch=True) counts everything live (the tests compare).
SUMMARY_COUNTS = ("received", "received_online", "received_in_person", "received_postal", "resolved", "digitized",
                  "e_result", "negative_rating", "timed", "judged", "on_time", "late", "paid", "paid_online")
SUMMARY_SUMS = ("paused_hours", "hours")
# a change to these columns of a settled dossier changes its contributions
SUMMARY_COLUMNS = ("received_at", "submitted_at", "finished_at", "status_code", "channel", "responsible_department",
                   "procedure_code", "appointment_at", "attachments", "e_result", "paused_hours", "fee_state",
                   "paid_at", "payment_channel")


def _settled():
    d = Dossier
    return and_(d.finished_at.is_not(None), func.coalesce(d.received_at, d.submitted_at) <= d.finished_at)


def _live(p: Period):
    """Dossiers the summary does not answer for at this cut-off (ix_dossiers_finished, ix_dossiers_live)."""
    d = Dossier
    return or_(d.finished_at.is_(None), d.finished_at >= _at(p.cutoff),
               func.coalesce(d.received_at, d.submitted_at) > d.finished_at)


def _contributions(session: Session, where: list) -> dict[tuple, dict[str, float]]:
    """(day, department or '', procedure) -> the counts the settled dossiers matching ``where`` add on that day,
    with the same SQL conditions as _Sets (three UNION ALL parts, grouped)."""
    d = Dossier
    dialect = session.get_bind().dialect.name
    apology = _first_apology()
    deadline = case((and_(apology.c.before.is_not(None), apology.c.before < d.appointment_at), apology.c.before),
                    else_=d.appointment_at)
    has_attachment = and_(d.attachments.is_not(None), type_coerce(d.attachments, Text).not_in(("[]", "null", "")))
    negative = _negative(correlated=True)
    resolved = (d.status_code + 0).in_((DONE, RETURNED))
    timed = and_(resolved, d.received_at.is_not(None))
    judged = and_(d.status_code.not_in(CLOSED_WITHOUT_RESULT), d.received_at.is_not(None),
                  d.appointment_at.is_not(None))
    department = func.coalesce(d.responsible_department, "")

    def flag(condition):
        return case((condition, 1), else_=0)

    def part(day, counts: dict, paused=None):
        return select(day.label("day"), department.label("k0"), d.procedure_code.label("k1"),
                      *(counts.get(name, literal(0)).label(name) for name in SUMMARY_COUNTS),
                      (paused if paused is not None else literal(0.0)).label("paused_hours"))

    def local_day(col):
        return _local_day_and_seconds(col, dialect)[0]

    base = [_settled(), *where]
    received_part = part(local_day(func.coalesce(d.received_at, d.submitted_at)), {
        "received": literal(1), "received_online": flag(d.channel == "online"),
        "received_in_person": flag(d.channel == "in_person"), "received_postal": flag(d.channel == "postal"),
    }).where(*base)
    finished_part = part(local_day(d.finished_at), {
        "resolved": flag(resolved), "digitized": flag(and_(resolved, has_attachment, d.e_result.is_(True))),
        "e_result": flag(and_(resolved, d.e_result.is_(True))), "negative_rating": flag(and_(resolved, negative)),
        "timed": flag(timed), "judged": flag(judged),
        "on_time": case((judged, case((d.finished_at <= deadline, 1), else_=0)), else_=0),
        "late": case((judged, case((d.finished_at <= deadline, 0), else_=1)), else_=0),
    }, case((timed, d.paused_hours), else_=0.0)).select_from(d).outerjoin(
        apology, apology.c.dossier_id == d.id).where(*base, or_(resolved, judged))
    paid_part = part(local_day(d.paid_at), {"paid": literal(1), "paid_online": flag(d.payment_channel == "online")}
                     ).where(*base, d.fee_state == "paid", d.paid_at.is_not(None))
    rows = union_all(received_part, finished_part, paid_part).subquery("contributions")
    query = (select(rows.c.day, rows.c.k0, rows.c.k1, *(func.sum(rows.c[n]).label(n) for n in SUMMARY_COUNTS),
                    func.sum(rows.c.paused_hours).label("paused_hours"))
             .group_by(rows.c.day, rows.c.k0, rows.c.k1))
    result: dict[tuple, dict[str, float]] = {}
    for row in session.execute(query).mappings():
        counts: dict[str, float] = {name: int(row[name] or 0) for name in SUMMARY_COUNTS}
        counts["paused_hours"] = float(row["paused_hours"] or 0.0)
        counts["hours"] = 0.0
        result[(_as_date(row["day"]), row["k0"], row["k1"])] = counts
    hours = _working_hours(session, [*base, timed], by_day=True)
    for (day, k0, k1), value in hours.items():
        result.setdefault((day, k0 or "", k1), _zero_day())["hours"] = value
    return result


def _zero_day() -> dict[str, float]:
    return {name: 0 for name in SUMMARY_COUNTS} | {name: 0.0 for name in SUMMARY_SUMS}


def calendar_fingerprint() -> str:
    """What the summary's working hours depend on: the administrator's days and the office hours."""
    calendar = deadlines.current_calendar()
    return repr((sorted(calendar.extra_days_off), sorted(calendar.extra_working_days), calendar.hours))


def rebuild_summary(session: Session) -> int:
    """indicator_days from scratch (the migration's backfill, the scale benchmark's fill, after the working
    calendar changed); returns the rows written. Does not commit."""
    session.execute(delete_rows(IndicatorDay))
    session.execute(delete_rows(IndicatorMeta))
    rows = [{"day": day, "department": k0, "procedure_code": k1, **counts}
            for (day, k0, k1), counts in _contributions(session, []).items()]
    for start in range(0, len(rows), 5000):
        session.execute(insert_rows(IndicatorDay), rows[start:start + 5000])
    session.execute(insert_rows(IndicatorMeta), [{"key": "calendar", "value": calendar_fingerprint()}])
    return len(rows)


def summarise_inserted(session: Session, dossier_ids: list[str]) -> None:
    """Add dossiers written with a bulk INSERT (past the flush listeners) to the summary."""
    if dossier_ids and _summary_built(session)[0]:
        for start in range(0, len(dossier_ids), 5000):
            _apply(session, _contributions(session, [Dossier.id.in_(dossier_ids[start:start + 5000])]))


def _apply(session: Session, delta: dict[tuple, dict[str, float]]) -> None:
    """Add the changes to indicator_days: one upsert per cell (INSERT … ON CONFLICT DO UPDATE), so two
    transactions opening the same new day/cell at once both count instead of one failing on the key."""
    table = IndicatorDay.__table__
    upsert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for (day, k0, k1), change in delta.items():
        if not any(change.values()):
            continue
        added = {name: value for name, value in change.items() if value}
        statement = upsert(table).values(day=day, department=k0, procedure_code=k1, **(_zero_day() | change))
        session.execute(statement.on_conflict_do_update(
            index_elements=[table.c.day, table.c.department, table.c.procedure_code],
            set_={name: table.c[name] + value for name, value in added.items()}))


def _summary_built(session: Session) -> tuple[bool, bool]:
    """(the summary is built, its hours were computed with today's calendar)."""
    meta = dict(session.execute(select(IndicatorMeta.key, IndicatorMeta.value)).all())
    return "unbuilt" not in meta, meta.get("calendar", calendar_fingerprint()) == calendar_fingerprint()


def _touched_dossiers(session: Session) -> tuple[set[str], set[str]]:
    """Ids of dossiers whose summarised contributions this flush may change."""
    ids: set[str] = set()
    stored: set[str] = set()  # of those, the ones that may already be summarised (finished in the database)
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Dossier):
            state = inspect(obj)
            finished = state.attrs.finished_at.history
            was_finished = obj not in session.new and (
                any(v is not None for v in finished.deleted) or any(v is not None for v in finished.unchanged))
            if (obj.finished_at is not None or was_finished) and (
                    obj in session.new or obj in session.deleted
                    or any(state.attrs[name].history.has_changes() for name in SUMMARY_COLUMNS)):
                ids.add(obj.id)
                if was_finished:
                    stored.add(obj.id)
        elif isinstance(obj, Rating | Apology):
            dossier_id = obj.dossier_id or (obj.dossier.id if obj.dossier is not None else None)
            if dossier_id:
                ids.add(dossier_id)
                stored.add(dossier_id)
    return ids, stored


@event.listens_for(Session, "before_flush")
def _summary_before_flush(session: Session, _context, _instances) -> None:
    ids, stored = _touched_dossiers(session)
    if not ids:
        return
    meta = dict(session.execute(select(IndicatorMeta.key, IndicatorMeta.value)).all())
    if "unbuilt" in meta:
        return  # the figures are counted from scratch until rebuild_summary runs
    if "calendar" not in meta:
        session.add(IndicatorMeta(key="calendar", value=calendar_fingerprint()))
    # what these dossiers add as the database has them now (before this flush's changes); a dossier that was
    # not finished there adds nothing yet
    before = _contributions(session, [Dossier.id.in_(sorted(stored))]) if stored else {}
    session.info.setdefault("summary_pending", []).append((ids, before))


@event.listens_for(Session, "after_flush")
def _summary_after_flush(session: Session, _context) -> None:
    for ids, before in session.info.pop("summary_pending", []):
        after = _contributions(session, [Dossier.id.in_(sorted(ids))])
        delta = {}
        for key in set(before) | set(after):
            old, new = before.get(key) or _zero_day(), after.get(key) or _zero_day()
            delta[key] = {name: new[name] - old[name] for name in new}
        _apply(session, delta)


def _cells_from_summary(session: Session, p: Period, department, procedure_code: str | None,
                        departments: bool) -> tuple[dict[tuple, dict[str, float]], dict[tuple, float]] | None:
    """The period's counts and hours per (department, procedure) through the summary; None when it is not built."""
    built, hours_current = _summary_built(session)
    if not built:
        return None
    if session.get_bind().dialect.name == "postgresql":
        # these queries read a few thousand rows at most: compiling them (JIT, at PostgreSQL's default costs)
        # took ~0.9 s at 1M dossiers, far more than running them. Until the end of this transaction.
        session.execute(text("SET LOCAL jit = off"))
    t = IndicatorDay
    scope = [t.day >= p.start, t.day <= p.end]
    if department is not None:
        scope.append(t.department == department if isinstance(department, str)
                     else t.department.in_(sorted(set(department))))
    if procedure_code:
        scope.append(t.procedure_code == procedure_code)
    k0 = t.department if departments else null()
    query = (select(k0.label("k0"), t.procedure_code.label("k1"),
                    *(func.sum(t.__table__.c[name]).label(name) for name in (*SUMMARY_COUNTS, *SUMMARY_SUMS)))
             .where(*scope).group_by(*((t.department,) if departments else ()), t.procedure_code))
    cells: dict[tuple, dict[str, float]] = {}
    hours: dict[tuple, float] = {}

    def cell_key(k0_value, k1_value) -> tuple:
        return ((k0_value or None) if departments else None, k1_value)

    for row in session.execute(query).mappings():
        key = cell_key(row["k0"], row["k1"])
        counts = cells.setdefault(key, _empty_counts())
        for name in SUMMARY_COUNTS:
            counts[name] += int(row[name] or 0)
        counts["paused_hours"] += float(row["paused_hours"] or 0.0)
        hours[key] = hours.get(key, 0.0) + float(row["hours"] or 0.0)
    # settled dossiers finished at or after the cut-off: take back what the summary counted for them
    scope_dossiers = _scope(department, procedure_code)
    late_finishers = _contributions(session, [Dossier.finished_at >= _at(p.cutoff), *scope_dossiers])
    for (day, k0_value, k1_value), counts in late_finishers.items():
        if not p.start <= day <= p.end:
            continue
        key = cell_key(k0_value, k1_value)
        target = cells.setdefault(key, _empty_counts())
        for name in SUMMARY_COUNTS:
            target[name] -= counts[name]
        target["paused_hours"] -= counts["paused_hours"]
        hours[key] = hours.get(key, 0.0) - counts["hours"]
    if not hours_current:
        # the calendar changed since the hours were summed: the settled dossiers' hours from scratch
        sets = _Sets(p, _first_apology())
        hours = _working_hours(session, [sets.timed, *scope_dossiers, _settled(), Dossier.finished_at < _at(p.cutoff)],
                               departments, last=p.end + timedelta(days=1))
    # the open and odd dossiers, live: the open ones off their covering index, the few others probed
    live = [*scope_dossiers, Dossier.finished_at.is_not(None), _live(p)]
    for part in (_counts(session, p, scope_dossiers, departments, open_only=True),
                 _counts(session, p, live, departments, correlated=True)):
        for key, counts in part.items():
            target = cells.setdefault(key, _empty_counts())
            for name, value in counts.items():
                target[name] += value
    for key, value in _processing_hours(session, p, live, departments).items():
        hours[key] = hours.get(key, 0.0) + value
    return cells, hours


def _catalogue(session: Session) -> dict[str, tuple[str, bool]]:
    """Procedure code -> (name, published complete) from the catalogue of deployed procedures."""
    return {
        procedure.code: (procedure.name_vi, bool(procedure.name_vi and procedure.department
                                                 and procedure.processing_time > 0 and procedure.required_documents))
        for procedure in all_procedures(session)
    }


# ----------------------------------------------------------------- from counts to figures
def _rate(part: float, whole: float) -> float | None:
    return None if not whole else part * 100.0 / whole


def _lin(rate: float | None, full_at: float = 100.0) -> float:
    return 1.0 if rate is None else min(max(rate, 0.0), full_at) / full_at


def points(on_time_rate: float | None, online_rate: float | None, online_payment_rate: float | None,
           digitization_rate: float | None, e_result_rate: float | None, satisfaction_rate: float | None,
           transparency_rate: float | None) -> dict[str, float]:
    """The scorecard (see the module docstring); rates in percent, ``None`` = nothing to measure."""
    groups = {
        "transparency": GROUP_POINTS["transparency"] * _lin(transparency_rate),
        "progress": GROUP_POINTS["progress"] * _lin(on_time_rate),
        "online": GROUP_POINTS["online"] / 2 * (_lin(online_rate, ONLINE_FULL_AT) + _lin(online_payment_rate)),
        "digitization": GROUP_POINTS["digitization"] / 2 * (_lin(e_result_rate)
                                                             + _lin(digitization_rate, DIGITIZATION_FULL_AT)),
        "satisfaction": GROUP_POINTS["satisfaction"] * _lin(satisfaction_rate),
    }
    rounded = {name: _round(value) for name, value in groups.items()}
    rounded["total"] = _round(sum(rounded.values()))
    return rounded


def _round(value: float | None) -> float | None:
    """Two decimals, halves up as people round (15.125 → 15.13), from the shortest repr of the float."""
    if value is None:
        return None
    return float(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _figures(counts: dict[str, float] | None, hours: float | None, published: tuple[int, int] | None) -> Figures:
    c = counts or {name: 0 for name in (*DRILL_DOWNS, "timed")} | {"paused_hours": 0.0}
    on_time = _rate(c["on_time"], c["judged"])
    online = _rate(c["received_online"], c["received"])
    online_payment = _rate(c["paid_online"], c["paid"])
    digitization = _rate(c["digitized"], c["resolved"])
    e_result = _rate(c["e_result"], c["resolved"])
    late_share = _rate(c["late"], c["judged"])
    negative_share = _rate(c["negative_rating"], c["resolved"])
    if late_share is None and negative_share is None:
        satisfaction = None
    else:
        satisfaction = max(0.0, 100.0 - (late_share or 0.0) - (negative_share or 0.0))
    avg_days = None
    if c["timed"]:
        avg_days = ((hours or 0.0) - c["paused_hours"]) / c["timed"] / HOURS_PER_DAY
    seen, ok = published or (0, 0)
    transparency = _rate(ok, seen)
    return Figures(
        received=c["received"],
        resolved=c["resolved"],
        on_time_rate=_round(on_time),
        avg_processing_days=_round(avg_days),
        overdue_open=c["overdue_open"],
        online_rate=_round(online),
        online_payment_rate=_round(online_payment),
        digitization_rate=_round(digitization),
        e_result_rate=_round(e_result),
        satisfaction_rate=_round(satisfaction),
        transparency_rate=_round(transparency),
        points=points(on_time, online, online_payment, digitization, e_result, satisfaction, transparency),
        counts={name: c[name] for name in DRILL_DOWNS},
    )


# ----------------------------------------------------------------- public functions
@dataclass
class Overview:
    """The indicators of a selection, and the same per responsible department and per procedure."""

    total: Figures
    by_department: list[Figures]
    by_procedure: list[Figures]


def overview(session: Session, start: date, end: date, department: str | Iterable[str] | None = None,
             procedure_code: str | None = None, *, now: datetime | None = None, departments: bool = True,
             from_scratch: bool = False) -> Overview:
    """The counts per (department, procedure) cell; the total and both breakdowns are their sums.

    The cells come from the daily summary plus the open dossiers counted live, or with ``from_scratch`` (or an
    unbuilt summary) from one scan of the dossiers. ``departments=False`` skips the breakdown by department
    (``by_department`` is then empty)."""
    p = period(start, end, now)
    summarised = None if from_scratch else _cells_from_summary(session, p, department, procedure_code, departments)
    if summarised is not None:
        cells, hours = summarised
    else:
        scope = _scope(department, procedure_code)
        cells = _counts(session, p, scope, departments)
        hours = _processing_hours(session, p, scope, departments)
    catalogue = _catalogue(session)
    groups: dict[tuple[str, Any], dict[str, Any]] = {}

    def add(group: tuple[str, Any], cell: tuple, counts: dict[str, float]) -> None:
        g = groups.setdefault(group, {"counts": _empty_counts(), "hours": 0.0, "received_procedures": set()})
        for name, value in counts.items():
            g["counts"][name] += value
        g["hours"] += hours.get(cell, 0.0)
        if counts["received"]:
            g["received_procedures"].add(cell[1])

    for cell, counts in cells.items():
        add(("total", None), cell, counts)
        if departments:
            add(("department", cell[0]), cell, counts)
        add(("procedure", cell[1]), cell, counts)

    def figures(group: tuple[str, Any]) -> Figures:
        g = groups.get(group) or {"counts": _empty_counts(), "hours": 0.0, "received_procedures": set()}
        seen = g["received_procedures"]
        published = (len(seen), sum(1 for code in seen if catalogue.get(code, ("", False))[1]))
        result = _figures(g["counts"], g["hours"], published)
        result.key = group[1]
        return result

    department_names = _department_names(session, [key for kind, key in groups if kind == "department" and key])
    procedure_names = {code: name for code, (name, _complete) in catalogue.items()}
    missing = [key for kind, key in groups if kind == "procedure" and key not in procedure_names]
    if missing:
        # one descent of ix_dossiers_procedure_name per code (a scalar subquery each, in one row), not a pass
        # over every dossier of those procedures
        if session.get_bind().dialect.name == "postgresql":
            codes = values(column("code", String), name="missing_codes").data([(code,) for code in missing])
            name = (select(func.max(Dossier.procedure_name)).where(Dossier.procedure_code == codes.c.code)
                    .scalar_subquery())
            procedure_names.update((code, value) for code, value in session.execute(select(codes.c.code, name))
                                   if value is not None)
        else:  # SQLite has no column names for a VALUES list: the subqueries side by side in one row
            for start in range(0, len(missing), 500):
                chunk = missing[start:start + 500]
                row = session.execute(select(*(
                    select(func.max(Dossier.procedure_name)).where(Dossier.procedure_code == code).scalar_subquery()
                    for code in chunk))).one()
                procedure_names.update((code, value) for code, value in zip(chunk, row, strict=True)
                                       if value is not None)
    rows: dict[str, list[Figures]] = {"department": [], "procedure": []}
    for kind, key in groups:
        if kind == "total":
            continue
        row = figures((kind, key))
        if not any(row.counts.values()):
            continue  # dossiers of the scan that belong to no set (e.g. finished before the period, unpaid)
        row.name = (department_names if kind == "department" else procedure_names).get(key) or key
        rows[kind].append(row)
    by_key = {kind: sorted(items, key=lambda f: (f.key is None, f.key or "")) for kind, items in rows.items()}
    return Overview(figures(("total", None)), by_key["department"], by_key["procedure"])


def _department_names(session: Session, codes: list[str]) -> dict[str, str]:
    if not codes:
        return {}
    return dict(session.execute(select(Department.code, Department.name_vi).where(Department.code.in_(codes))).all())


def indicators(session: Session, start: date, end: date, department: str | Iterable[str] | None = None,
               procedure_code: str | None = None, *, now: datetime | None = None) -> Figures:
    """The 766 indicators of the dossiers in scope for the period [start, end] (Vietnam dates, inclusive)."""
    return overview(session, start, end, department, procedure_code, now=now, departments=False).total


def breakdown(session: Session, start: date, end: date, by: str = "department",
              department: str | Iterable[str] | None = None, procedure_code: str | None = None, *,
              now: datetime | None = None) -> list[Figures]:
    """The indicators per responsible department or per procedure (rows with anything to show), by key."""
    if by not in BREAKDOWNS:
        raise ValueError(f"breakdown by {by!r}: one of {', '.join(BREAKDOWNS)}")
    result = overview(session, start, end, department, procedure_code, now=now, departments=by == "department")
    return result.by_department if by == "department" else result.by_procedure


def drill_down(session: Session | None, start: date, end: date, indicator: str,
               department: str | Iterable[str] | None = None, procedure_code: str | None = None, *,
               now: datetime | None = None) -> Select:
    """The query of the dossiers behind one number (``indicator`` one of DRILL_DOWNS), oldest received first.

    ``session`` is not used (the query is returned unexecuted, for the caller to filter further and page);
    it is accepted so every function of this module has the same first arguments.
    """
    p = period(start, end, now)
    apology = _first_apology()
    sets = _Sets(p, apology)
    condition = sets.get(indicator)
    return (select(Dossier)
            .outerjoin(apology, apology.c.dossier_id == Dossier.id)
            .where(sets.relevant, condition, *_scope(department, procedure_code))
            .order_by(func.coalesce(Dossier.received_at, Dossier.submitted_at), Dossier.code))


# ----------------------------------------------------------------- who sees which departments
SEE_ALL_ROLES = frozenset({"admin", "center_leader", "integrator"})


def visible_departments(actor) -> frozenset[str] | None:
    """The departments whose indicators ``actor`` may see: ``None`` for all (administrators, center leaders,
    integrators); a department leader, their own departments."""
    if SEE_ALL_ROLES & set(actor.roles):
        return None
    return frozenset(actor.groups)


def department_scope(actor, department: str | None) -> str | frozenset[str] | None:
    """The ``department`` filter for ``actor`` asking for ``department`` (empty: everything they may see).

    Raises PermissionError for a department the actor may not see."""
    allowed = visible_departments(actor)
    if department:
        if allowed is not None and department not in allowed:
            raise PermissionError(department)
        return department
    return allowed
