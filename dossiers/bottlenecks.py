"""Bottlenecks: where the dossiers of a procedure spend their time, step by step.

For one procedure (a deployed process), optionally one version of it and a period, each BPMN
user task (``human_tasks.element_id``) gets:

- how many tasks of that step were completed, and how many of them after their due time
  (the share of late handoffs);
- the average and the 90th percentile of the **working** hours they took
  (``working_hours_between(created_at, completed_at)`` on the calendar in force), against the
  step's time budget from the diagram;
- where open dossiers wait now: open tasks of that step (how many, how many past due, their
  average age in working hours), and the messages or timers open instances wait for.

Counts and late counts are SQL aggregates. Working hours depend on the calendar, so the average
and the percentile are computed in Python over the most recent ``ROW_CAP`` completed tasks of each
step (a window query bounds the rows on every backend); the 90th percentile interpolates like
PostgreSQL's ``percentile_cont(0.9)``.

:func:`process_map` walks a version's restored spec: the user tasks in the order a dossier meets
them (the "happy path", parallel branches side by side), their lanes and budgets, and where each
element is drawn on the version's diagram (a task of a called subprocess is drawn as the call
activity that runs it). The demo data generator (``dossiers.demo_data``) walks the same map.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from engine import deadlines
from engine.calendar import VN_TZ, parse_budget
from engine.db import utcnow
from engine.errors import NotFound
from engine.models import (
    FINISHED_STATUSES,
    TASK_COMPLETED,
    TASK_READY,
    Department,
    HumanTask,
    Instance,
    LaneMapping,
    ProcessVersion,
    Wait,
)
from engine.parser import EXT_CANDIDATE_GROUPS, public_id
from engine.serialization import spec_cache

ROW_CAP = 20_000  # completed tasks per step used for the average and the percentile (most recent first)
OPEN_CAP = 50_000  # open tasks read for their age
PERCENTILE = 0.9
# ratio of the measured time to the step's budget: up to GREEN is green, up to AMBER amber, above red
GREEN, AMBER = 0.75, 1.0
WORKING_DAYS_PER_MONTH = 22
MEASURES = ("avg", "p90")
NEGATIVE_MARKERS = frozenset({"refuse", "request_supplement", "step_overdue"})
POSITIVE_MARKERS = frozenset({"accept", "payment_requested", "paid", "result_issued", "result_returned"})


# =========================================================================== the map of a process
@dataclass(frozen=True)
class Element:
    """One BPMN flow node of a process version (or of a process it calls)."""

    element_id: str
    name: str | None
    kind: str  # the spec class: UserTask, ExclusiveGateway, CallActivity, BoundaryEvent...
    lane: str | None
    process: str  # the process (spec) it belongs to
    diagram_element: str | None  # where it is drawn on the version's diagram (itself, or the call activity)
    marker: str | None = None  # dossier_action
    budget: str | None = None  # time_budget, e.g. "P2D"
    budget_hours: float | None = None
    candidate_groups: str | None = None  # raw camunda:candidateGroups, e.g. "${desk}"
    user_task: bool = False
    message: str | None = None  # a catch event's message name


@dataclass
class Parallel:
    """Branches of a parallel gateway, each a list of path items, run side by side until the join."""

    branches: list[list[Any]]


@dataclass
class ProcessMap:
    process_id: str
    elements: dict[str, Element]
    path: list[Any]  # Element | Parallel: the happy path from start to end
    steps: list[Element]  # every user task: happy path order first, then the others
    _specs: dict[str, Any] = field(default_factory=dict, repr=False)  # spec name -> spec (for routes)

    def step(self, element_id: str) -> Element | None:
        element = self.elements.get(element_id)
        return element if element is not None and element.user_task else None

    def route(self, element_id: str, goal: Callable[[Element], bool]) -> list[Element] | None:
        """The elements from just after ``element_id`` to the first one meeting ``goal`` (included),
        not passing another user task or a boundary event; None when there is no such route."""
        element = self.elements.get(element_id)
        if element is None:
            return None
        spec = self._specs[element.process]
        start = _spec_by_element(spec, element_id)
        if start is None:
            return None
        parents: dict[str, Any] = {}
        queue = [start]
        seen = {start.name}
        while queue:
            node = queue.pop(0)
            for nxt in _successors(node):
                if nxt.name in seen:
                    continue
                seen.add(nxt.name)
                parents[nxt.name] = node
                info = self.elements.get(public_id(getattr(nxt, "bpmn_id", None)) or "")
                if info is not None and goal(info):
                    chain = [info]
                    back = node
                    while back is not start:
                        back_info = self.elements.get(public_id(getattr(back, "bpmn_id", None)) or "")
                        if back_info is not None:
                            chain.append(back_info)
                        back = parents[back.name]
                    return list(reversed(chain))
                if info is not None and info.user_task:
                    continue
                queue.append(nxt)
        return None


def budget_hours(budget: str | None) -> float | None:
    """A time budget as working hours (a month counts 22 working days); None without a valid budget."""
    if not budget:
        return None
    try:
        amount, unit = parse_budget(budget)
    except ValueError:
        return None
    per_day = deadlines.current_calendar().hours.hours_per_day
    if unit == "working_hours":
        return amount
    if unit == "working_days":
        return amount * per_day
    return amount * WORKING_DAYS_PER_MONTH * per_day


def process_map(version: ProcessVersion) -> ProcessMap:
    """The map of one deployed version (specs restored once per version, from the runtime's cache)."""
    spec, subprocess_specs = spec_cache.get(version.id, lambda: version.spec_json)
    return build_map(version.process_id, spec, subprocess_specs)


def build_map(process_id: str, spec, subprocess_specs: dict) -> ProcessMap:
    elements: dict[str, Element] = {}
    specs = {spec.name: spec, **subprocess_specs}

    def collect(proc, diagram_of: Callable[[str], str | None], seen: frozenset[str]) -> None:
        for ts in proc.task_specs.values():
            bpmn_id = public_id(getattr(ts, "bpmn_id", None))
            if not bpmn_id:
                continue
            ext = getattr(ts, "extensions", None) or {}
            definition = getattr(ts, "event_definition", None)
            info = Element(
                element_id=bpmn_id,
                name=getattr(ts, "bpmn_name", None),
                kind=type(ts).__name__,
                lane=getattr(ts, "lane", None),
                process=proc.name,
                diagram_element=diagram_of(bpmn_id),
                marker=ext.get("dossier_action"),
                budget=ext.get("time_budget"),
                budget_hours=budget_hours(ext.get("time_budget")),
                candidate_groups=ext.get(EXT_CANDIDATE_GROUPS),
                user_task=bool(getattr(ts, "manual", False)),
                message=getattr(definition, "name", None) if definition is not None else None,
            )
            elements.setdefault(bpmn_id, info)
            called = getattr(ts, "spec", None)
            if isinstance(called, str) and called in subprocess_specs and called not in seen:
                caller = diagram_of(bpmn_id)
                collect(subprocess_specs[called], lambda _eid, c=caller: c, seen | {called})

    collect(spec, lambda eid: eid, frozenset({spec.name}))
    path = _best_path(spec, specs, elements)
    on_path = [e for e in flatten(path) if e.user_task]
    ordered_ids = list(dict.fromkeys(e.element_id for e in on_path))
    others = sorted((e for e in elements.values() if e.user_task and e.element_id not in ordered_ids),
                    key=lambda e: (e.process != spec.name, e.name or e.element_id))
    steps = [elements[eid] for eid in ordered_ids] + others
    return ProcessMap(process_id, elements, path, steps, specs)


def flatten(items: Iterable[Any]) -> list[Element]:
    out: list[Element] = []
    for item in items:
        if isinstance(item, Parallel):
            for branch in item.branches:
                out.extend(flatten(branch))
        else:
            out.append(item)
    return out


def _spec_by_element(spec, element_id: str):
    for ts in spec.task_specs.values():
        if public_id(getattr(ts, "bpmn_id", None)) == element_id:
            return ts
    return None


def _successors(ts) -> list:
    """Outgoing specs, without the boundary-event machinery (the budget timers' paths)."""
    found = []
    for nxt in ts.outputs:
        kind = type(nxt).__name__
        if kind in ("BoundaryEvent", "BoundaryEventJoin"):
            continue
        found.append(nxt)
    return found


def _best_path(spec, specs: dict, elements: dict[str, Element]) -> list[Any]:
    """The path a dossier takes when all goes well: at an exclusive gateway, the branch with the most
    user tasks and positive markers that neither loops back, refuses nor asks for a supplement."""
    minus_inf = float("-inf")

    def value(ts) -> tuple[float, list[Any]]:
        info = elements.get(public_id(getattr(ts, "bpmn_id", None)) or "")
        if info is None:
            return 0.0, []
        if info.marker in NEGATIVE_MARKERS:
            return minus_inf, []
        score = 100.0 if info.user_task else 1.0 if info.marker in POSITIVE_MARKERS else 0.0
        called = getattr(ts, "spec", None)
        if isinstance(called, str) and called in specs and called != spec.name:
            sub_score, sub_items = walk(specs[called].start, None, frozenset(), depth=1)
            if sub_score == minus_inf:
                sub_score, sub_items = 0.0, []
            return score + 1.0 + sub_score, [*sub_items, info]
        return score, [info]

    def walk(ts, stop, on_path: frozenset[str], depth: int) -> tuple[float, list[Any]]:
        if stop is not None and ts.name == stop.name:
            return 0.0, []
        if ts.name in on_path or depth > 200:
            return minus_inf, []  # a loop back (supplement) is not the happy path
        on_path = on_path | {ts.name}
        score, items = value(ts)
        if score == minus_inf:
            return minus_inf, []
        nexts = _successors(ts)
        if not nexts:
            return score, items
        if type(ts).__name__ == "ParallelGateway" and len(nexts) > 1:
            join = _join_of(nexts)
            branches = []
            for branch_start in nexts:
                b_score, b_items = walk(branch_start, join, on_path, depth + 1)
                if b_score == minus_inf:
                    return minus_inf, []
                score += b_score
                branches.append(b_items)
            items = [*items, Parallel(branches)]
            if join is None:
                return score, items
            rest_score, rest = walk(join, stop, on_path, depth + 1)
            return (minus_inf, []) if rest_score == minus_inf else (score + rest_score, items + rest)
        best: tuple[float, list[Any]] = (minus_inf, [])
        for nxt in nexts:
            candidate = walk(nxt, stop, on_path, depth + 1)
            if candidate[0] > best[0]:
                best = candidate
        if best[0] == minus_inf:
            return minus_inf, []
        return score + best[0], items + best[1]

    score, items = walk(spec.start, None, frozenset(), 0)
    return items if score != minus_inf else []


def _join_of(branch_starts: list) -> Any | None:
    """The parallel gateway where the branches meet again (reachable from all of them)."""
    reach = []
    for start in branch_starts:
        order, seen, queue = [], {start.name}, [start]
        while queue:
            node = queue.pop(0)
            order.append(node)
            for nxt in _successors(node):
                if nxt.name not in seen:
                    seen.add(nxt.name)
                    queue.append(nxt)
        reach.append(order)
    common = set.intersection(*({n.name for n in order} for order in reach))
    for node in reach[0]:
        if node.name in common and type(node).__name__ == "ParallelGateway":
            return node
    return None


# =========================================================================== the figures
@dataclass
class StepFigures:
    element_id: str
    name: str
    lane: str | None = None
    department: str | None = None
    diagram_element: str | None = None  # None: not drawn on the shown diagram (another version's step)
    budget: str | None = None
    budget_hours: float | None = None
    completed: int = 0
    with_due: int = 0  # completed tasks that had a due time
    late: int = 0  # of those, completed after it
    avg_hours: float | None = None
    p90_hours: float | None = None
    measured: int = 0  # completed tasks the average and percentile are computed over (<= ROW_CAP)
    open: int = 0
    open_overdue: int = 0
    open_avg_age_hours: float | None = None

    @property
    def late_share(self) -> float | None:
        return self.late / self.with_due if self.with_due else None

    def value(self, measure: str) -> float | None:
        return self.p90_hours if measure == "p90" else self.avg_hours

    def ratio(self, measure: str) -> float | None:
        value = self.value(measure)
        if value is None or not self.budget_hours:
            return None
        return value / self.budget_hours

    def level(self, measure: str) -> str:
        """ok (green) | warn (amber) | bad (red) | none (no data or no budget)."""
        ratio = self.ratio(measure)
        if ratio is None:
            return "none"
        return "ok" if ratio <= GREEN else "warn" if ratio <= AMBER else "bad"

    def to_dict(self) -> dict[str, Any]:
        return {
            "element_id": self.element_id, "name": self.name, "lane": self.lane, "department": self.department,
            "diagram_element": self.diagram_element, "budget": self.budget,
            "budget_hours": _round(self.budget_hours), "completed": self.completed, "with_due": self.with_due,
            "late": self.late, "late_share": _round(self.late_share, 4), "avg_hours": _round(self.avg_hours),
            "p90_hours": _round(self.p90_hours), "measured": self.measured, "open": self.open,
            "open_overdue": self.open_overdue, "open_avg_age_hours": _round(self.open_avg_age_hours),
            "ratio": {m: _round(self.ratio(m), 3) for m in MEASURES},
            "level": {m: self.level(m) for m in MEASURES},
        }


@dataclass
class WaitFigures:
    element_id: str
    name: str
    kind: str  # message | timer
    message: str | None
    diagram_element: str | None
    instances: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Analysis:
    process_id: str
    name: str
    version: int | None  # None: all versions together
    diagram_version: int  # the version whose diagram is shown
    diagram_version_id: int
    versions: list[int]
    start: date | None
    end: date | None
    steps: list[StepFigures]
    waits: list[WaitFigures]
    open_instances: int
    completed_instances: int

    def step(self, element_id: str) -> StepFigures | None:
        return next((s for s in self.steps if s.element_id == element_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "process_id": self.process_id, "name": self.name, "version": self.version,
            "diagram_version": self.diagram_version, "versions": self.versions,
            "from": self.start.isoformat() if self.start else None, "to": self.end.isoformat() if self.end else None,
            "open_instances": self.open_instances, "completed_instances": self.completed_instances,
            "steps": [s.to_dict() for s in self.steps], "waits": [w.to_dict() for w in self.waits],
        }


@dataclass
class ComparedStep:
    element_id: str
    name: str
    a: StepFigures | None
    b: StepFigures | None

    def delta(self, measure: str) -> float | None:
        if self.a is None or self.b is None:
            return None
        va, vb = self.a.value(measure), self.b.value(measure)
        return None if va is None or vb is None else vb - va

    @property
    def late_share_delta(self) -> float | None:
        if self.a is None or self.b is None or self.a.late_share is None or self.b.late_share is None:
            return None
        return self.b.late_share - self.a.late_share

    def to_dict(self) -> dict[str, Any]:
        return {"element_id": self.element_id, "name": self.name,
                "a": self.a.to_dict() if self.a else None, "b": self.b.to_dict() if self.b else None,
                "delta": {m: _round(self.delta(m)) for m in MEASURES},
                "late_share_delta": _round(self.late_share_delta, 4)}


@dataclass
class Comparison:
    a: Analysis
    b: Analysis
    rows: list[ComparedStep]

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a.to_dict(), "b": self.b.to_dict(), "rows": [r.to_dict() for r in self.rows]}


@dataclass
class ProcedureSummary:
    process_id: str
    name: str
    procedure_code: str | None
    versions: list[int]
    completed_tasks: int
    open_tasks: int


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def percentile(values: list[float], q: float = PERCENTILE) -> float | None:
    """Linear interpolation between the closest ranks, as PostgreSQL's percentile_cont(q)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# =========================================================================== queries
def versions_of(session: Session, process_id: str) -> list[ProcessVersion]:
    return list(session.scalars(select(ProcessVersion).where(ProcessVersion.process_id == process_id)
                                .order_by(ProcessVersion.version)))


def procedure_name(version: ProcessVersion) -> str:
    props = version.properties or {}
    return props.get("name_vi") or (version.name or version.process_id).split(" / ")[0]


def procedures(session: Session) -> list[ProcedureSummary]:
    """Deployed processes that are procedures (a procedure_code) or have instances of their own."""
    latest: dict[str, ProcessVersion] = {}
    numbers: dict[str, list[int]] = defaultdict(list)
    for pv in session.scalars(select(ProcessVersion).order_by(ProcessVersion.process_id, ProcessVersion.version)):
        latest[pv.process_id] = pv
        numbers[pv.process_id].append(pv.version)
    started = set(session.scalars(select(Instance.process_id).distinct()))
    counts: dict[tuple[str, str], int] = {
        (pid, state): n for pid, state, n in session.execute(
            select(HumanTask.process_id, HumanTask.state, func.count())
            .where(HumanTask.state.in_((TASK_COMPLETED, TASK_READY)))
            .group_by(HumanTask.process_id, HumanTask.state))
    }
    found = []
    for pid, pv in latest.items():
        code = (pv.properties or {}).get("procedure_code")
        if not code and pid not in started:
            continue
        found.append(ProcedureSummary(pid, procedure_name(pv), code, numbers[pid],
                                      counts.get((pid, TASK_COMPLETED), 0), counts.get((pid, TASK_READY), 0)))
    return sorted(found, key=lambda p: (p.procedure_code is None, p.procedure_code or "", p.process_id))


def _period(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """Vietnam days [start, end] as UTC-aware bounds [from, until)."""
    since = datetime.combine(start, time(0), VN_TZ) if start else None
    until = datetime.combine(end + timedelta(days=1), time(0), VN_TZ) if end else None
    return since, until


def analyse(session: Session, process_id: str, version: int | None = None, start: date | None = None,
            end: date | None = None, now: datetime | None = None) -> Analysis:
    """The figures of every step of ``process_id`` (one version, or all), tasks completed in [start, end]."""
    versions = versions_of(session, process_id)
    if not versions:
        raise NotFound(f"process {process_id!r} is not deployed")
    chosen = None
    if version is not None:
        chosen = next((v for v in versions if v.version == version), None)
        if chosen is None:
            raise NotFound(f"process {process_id!r} has no version {version}")
    shown = chosen or versions[-1]
    pmap = process_map(shown)
    now = now or utcnow()
    calendar = deadlines.current_calendar()
    since, until = _period(start, end)

    def scoped(query, *, period: bool):
        query = query.where(HumanTask.process_id == process_id)
        if chosen is not None:
            query = query.where(HumanTask.instance_id.in_(
                select(Instance.id).where(Instance.version_id == chosen.id)))
        if period and since is not None:
            query = query.where(HumanTask.completed_at >= since)
        if period and until is not None:
            query = query.where(HumanTask.completed_at < until)
        return query

    figures: dict[str, StepFigures] = {}

    def figure(element_id: str, name: str | None = None) -> StepFigures:
        if element_id not in figures:
            info = pmap.elements.get(element_id)
            figures[element_id] = StepFigures(
                element_id=element_id, name=(info.name if info and info.name else name or element_id),
                lane=info.lane if info else None, diagram_element=info.diagram_element if info else None,
                budget=info.budget if info else None, budget_hours=info.budget_hours if info else None)
        return figures[element_id]

    for step in pmap.steps:
        figure(step.element_id)

    # counts, late handoffs: SQL
    is_late = case((and_(HumanTask.due_at.is_not(None), HumanTask.completed_at > HumanTask.due_at), 1), else_=0)
    done = scoped(select(HumanTask.element_id, func.max(HumanTask.name), func.max(HumanTask.department),
                         func.count(), func.count(HumanTask.due_at), func.sum(is_late))
                  .where(HumanTask.state == TASK_COMPLETED, HumanTask.completed_at.is_not(None)), period=True)
    for element_id, name, department, count, with_due, late in session.execute(done.group_by(HumanTask.element_id)):
        f = figure(element_id, name)
        f.completed, f.with_due, f.late = int(count), int(with_due or 0), int(late or 0)
        f.department = f.department or department

    # working hours: the most recent ROW_CAP completed tasks of each step, in Python
    rank = func.row_number().over(partition_by=HumanTask.element_id,
                                  order_by=(HumanTask.completed_at.desc(), HumanTask.id)).label("rank")
    inner = scoped(select(HumanTask.element_id, HumanTask.created_at, HumanTask.completed_at, rank)
                   .where(HumanTask.state == TASK_COMPLETED, HumanTask.completed_at.is_not(None)),
                   period=True).subquery()
    hours: dict[str, list[float]] = defaultdict(list)
    rows = session.execute(select(inner.c.element_id, inner.c.created_at, inner.c.completed_at)
                           .where(inner.c.rank <= ROW_CAP))
    for element_id, created_at, completed_at in rows:
        hours[element_id].append(calendar.working_hours_between(created_at, completed_at))
    for element_id, values in hours.items():
        f = figure(element_id)
        f.measured = len(values)
        f.avg_hours = sum(values) / len(values)
        f.p90_hours = percentile(values)

    # where open dossiers wait now: open tasks (not limited to the period)
    ages: dict[str, list[float]] = defaultdict(list)
    opened = scoped(select(HumanTask.element_id, HumanTask.name, HumanTask.department, HumanTask.created_at,
                           HumanTask.due_at).where(HumanTask.state == TASK_READY), period=False)
    for element_id, name, department, created_at, due_at in session.execute(opened.limit(OPEN_CAP)):
        f = figure(element_id, name)
        f.open += 1
        f.department = f.department or department
        if due_at is not None and due_at < now:
            f.open_overdue += 1
        ages[element_id].append(calendar.working_hours_between(created_at, now))
    for element_id, values in ages.items():
        figures[element_id].open_avg_age_hours = sum(values) / len(values)

    departments = _lane_departments(session, {f.lane for f in figures.values() if f.lane})
    for f in figures.values():
        if f.department is None and f.lane:
            f.department = departments.get(f.lane)

    ordered = [figures[s.element_id] for s in pmap.steps]
    ordered += sorted((f for f in figures.values() if f.element_id not in {s.element_id for s in pmap.steps}),
                      key=lambda f: f.name)

    instances = select(Instance.status, func.count()).where(Instance.process_id == process_id)
    if chosen is not None:
        instances = instances.where(Instance.version_id == chosen.id)
    by_status = dict(session.execute(instances.group_by(Instance.status)).all())
    return Analysis(
        process_id=process_id, name=procedure_name(versions[-1]), version=chosen.version if chosen else None,
        diagram_version=shown.version, diagram_version_id=shown.id, versions=[v.version for v in versions],
        start=start, end=end, steps=ordered, waits=_waits(session, process_id, chosen, pmap),
        open_instances=sum(n for status, n in by_status.items() if status not in FINISHED_STATUSES),
        completed_instances=sum(n for status, n in by_status.items() if status in FINISHED_STATUSES),
    )


def _waits(session: Session, process_id: str, chosen: ProcessVersion | None, pmap: ProcessMap) -> list[WaitFigures]:
    """Messages and timers open instances wait for, except the timers that watch a task's budget."""
    query = (select(Wait.element_id, Wait.kind, Wait.name, func.count(func.distinct(Wait.instance_id)))
             .join(Instance, Instance.id == Wait.instance_id)
             .where(Instance.process_id == process_id, Instance.status.not_in(FINISHED_STATUSES)))
    if chosen is not None:
        query = query.where(Instance.version_id == chosen.id)
    found = []
    for element_id, kind, name, count in session.execute(query.group_by(Wait.element_id, Wait.kind, Wait.name)):
        info = pmap.elements.get(element_id)
        if kind == "timer" and (info is None or info.kind == "BoundaryEvent"):
            continue
        found.append(WaitFigures(element_id=element_id, name=(info.name if info and info.name else element_id),
                                 kind=kind, message=name, diagram_element=info.diagram_element if info else None,
                                 instances=int(count)))
    return sorted(found, key=lambda w: (-w.instances, w.element_id))


def _lane_departments(session: Session, lanes: set[str]) -> dict[str, str]:
    """Lane name -> department code: an explicit mapping, else a department of that code or name."""
    if not lanes:
        return {}
    found = dict(session.execute(select(LaneMapping.lane, LaneMapping.department_code)
                                 .where(LaneMapping.lane.in_(lanes))).all())
    for code, name_vi, name_en in session.execute(select(Department.code, Department.name_vi, Department.name_en)):
        for lane in lanes:
            if lane not in found and lane in (code, name_vi, name_en):
                found[lane] = code
    return found


def compare(session: Session, process_id: str, version_a: int, version_b: int, start: date | None = None,
            end: date | None = None, now: datetime | None = None) -> Comparison:
    """The same figures for two versions side by side (before / after a redesign)."""
    a = analyse(session, process_id, version_a, start, end, now)
    b = analyse(session, process_id, version_b, start, end, now)
    order = list(dict.fromkeys([s.element_id for s in b.steps] + [s.element_id for s in a.steps]))
    rows = []
    for element_id in order:
        fa, fb = a.step(element_id), b.step(element_id)
        rows.append(ComparedStep(element_id, (fb or fa).name, fa, fb))
    return Comparison(a, b, rows)
