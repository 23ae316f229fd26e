"""The inbox query: open tasks a person may work on, with their dossiers, soonest due first.

It reads only indexed columns (human_tasks by state/department/due, dossiers by id),
so the first page stays fast with 100,000 open tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, case, false, func, or_, select, true, union_all
from sqlalchemy.orm import Session, defer, lazyload

from dossiers.lateness import DueState, task_due_state
from dossiers.models import Dossier
from engine.access import open_task_visibility, unclaimed_visibility
from engine.actors import Actor
from engine.calendar import VN_TZ
from engine.db import utcnow
from engine.models import TASK_COMPLETED, TASK_READY, HumanTask, TaskCandidate

VIEWS = ("mine", "department", "done")
PAGE_SIZE = 25


@dataclass
class InboxFilters:
    procedure: str | None = None
    step: str | None = None
    due: str | None = None  # overdue | warned | ok
    channel: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    q: str | None = None


@dataclass
class InboxRow:
    task: HumanTask
    dossier: Dossier | None
    due: DueState


@dataclass
class InboxPage:
    rows: list[InboxRow]
    total: int
    page: int
    pages: int
    counts: dict[str, int] = field(default_factory=dict)


def _base(actor: Actor, view: str):
    # a list shows neither the forms nor what was submitted, nor the process instance (joined by default)
    query = (select(HumanTask, Dossier).outerjoin(Dossier, Dossier.id == HumanTask.instance_id)
             .options(defer(HumanTask.form), defer(HumanTask.draft), defer(Dossier.data),
                      defer(Dossier.attachments), lazyload(Dossier.instance)))
    if view == "mine":
        return query.where(HumanTask.state == TASK_READY, HumanTask.assignee == actor.username)
    if view == "done":
        return query.where(HumanTask.state == TASK_COMPLETED, HumanTask.completed_by == actor.username)
    # my departments' (and offered-to-me) tasks nobody has claimed
    return query.where(HumanTask.state == TASK_READY, HumanTask.assignee.is_(None), unclaimed_visibility(actor))


def _filtered(query, filters: InboxFilters, now: datetime):
    if filters.procedure:
        query = query.where(Dossier.procedure_code == filters.procedure)
    if filters.step:
        query = query.where(HumanTask.element_id == filters.step)
    if filters.channel:
        query = query.where(Dossier.channel == filters.channel)
    if filters.date_from:
        query = query.where(HumanTask.created_at >= datetime.combine(filters.date_from, time.min, VN_TZ))
    if filters.date_to:
        day_after = datetime.combine(filters.date_to + timedelta(days=1), time.min, VN_TZ)
        query = query.where(HumanTask.created_at < day_after)
    if filters.due == "overdue":
        query = query.where(HumanTask.due_at < now)
    elif filters.due == "warned":
        # due within the next working day: a generous calendar-day window, refined per row
        query = query.where(HumanTask.due_at >= now, HumanTask.due_at < now + timedelta(days=4))
    elif filters.due == "ok":
        query = query.where(or_(HumanTask.due_at.is_(None), HumanTask.due_at >= now))
    if filters.q:
        term = filters.q.strip()
        escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(or_(Dossier.code == term, Dossier.applicant_name.ilike(f"%{escaped}%", escape="\\")))
    return query


def inbox_page(session: Session, actor: Actor, view: str = "department", filters: InboxFilters | None = None,
               page: int = 1, page_size: int = PAGE_SIZE) -> InboxPage:
    view = view if view in VIEWS else "department"
    filters = filters or InboxFilters()
    now = utcnow()
    query = _filtered(_base(actor, view), filters, now)
    tab_counts = counts(session, actor)
    if filters == InboxFilters() and view in ("mine", "department"):
        total = tab_counts[view]  # the tab's count is the list's size: no second count
    else:
        total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    if view == "done":
        query = query.order_by(HumanTask.completed_at.desc(), HumanTask.id)
    else:
        # NULLS LAST as the open-task index stores them: PostgreSQL reads the first page off it in order
        query = query.order_by(HumanTask.due_at.asc().nulls_last(), HumanTask.created_at, HumanTask.id)
    page = max(1, page)
    rows = [] if not total else [
        InboxRow(task=task, dossier=dossier, due=task_due_state(task.due_at, now))
        for task, dossier in session.execute(query.limit(page_size).offset((page - 1) * page_size))
    ]
    if filters.due == "warned":
        rows = [r for r in rows if r.due.state == "warned"]
    return InboxPage(rows=rows, total=total, page=page, pages=max(1, -(-total // page_size)), counts=tab_counts)


def counts(session: Session, actor: Actor) -> dict[str, int]:
    """The tab counts and the newest visible open task, in one statement.

    The open tasks I may see are read in three disjoint slices, each a range of its own index: my departments'
    (ix_human_tasks_open_dept, index only), held by me elsewhere (ix_human_tasks_state_assignee), offered to my
    groups or to me by name elsewhere (task_candidates). One OR over them would read every open task."""
    mine = HumanTask.assignee == actor.username
    department = and_(HumanTask.assignee.is_(None), unclaimed_visibility(actor))
    visible = or_(mine, open_task_visibility(actor))
    columns = (case((mine, 1), else_=0).label("mine"), case((department, 1), else_=0).label("department"),
               HumanTask.created_at.label("created_at"))
    ready = HumanTask.state == TASK_READY
    if actor.acts_for_system:
        slices = [select(*columns).where(ready)]
    else:
        groups = sorted(actor.groups)
        in_groups = HumanTask.department.in_(groups) if groups else false()
        outside = or_(HumanTask.department.is_(None), HumanTask.department.not_in(groups)) if groups else true()
        offered = select(TaskCandidate.task_id).where(or_(
            and_(TaskCandidate.kind == "group", TaskCandidate.value.in_(groups)),
            and_(TaskCandidate.kind == "user", TaskCandidate.value == actor.username)))
        not_mine = or_(HumanTask.assignee.is_(None), HumanTask.assignee != actor.username)
        slices = [select(*columns).where(ready, mine, outside),
                  select(*columns).where(ready, HumanTask.id.in_(offered), outside, not_mine, visible)]
        if groups:
            # in my departments: visible unless someone else holds it (and it is not offered to me by name); in
            # the department tab when nobody holds it. The same rule, cheaper per row on 25,000 rows.
            by_name = HumanTask.id.in_(select(TaskCandidate.task_id).where(
                TaskCandidate.kind == "user", TaskCandidate.value == actor.username))
            slices.insert(0, select(case((mine, 1), else_=0).label("mine"),
                                    case((HumanTask.assignee.is_(None), 1), else_=0).label("department"),
                                    HumanTask.created_at.label("created_at"))
                          .where(ready, in_groups, or_(HumanTask.assignee.is_(None), mine, by_name)))
    rows = union_all(*slices).subquery("visible_open") if len(slices) > 1 else slices[0].subquery("visible_open")
    row = session.execute(select(func.coalesce(func.sum(rows.c.mine), 0), func.coalesce(func.sum(rows.c.department), 0),
                                 func.max(rows.c.created_at))).one()
    latest = row[2]
    if latest is not None and not isinstance(latest, datetime):
        latest = HumanTask.__table__.c.created_at.type.process_result_value(latest, session.get_bind().dialect)
    return {"mine": int(row[0]), "department": int(row[1]), "latest": latest.isoformat() if latest else None}
