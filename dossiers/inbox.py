"""The inbox query: open tasks a person may work on, with their dossiers, soonest due first.

It reads only indexed columns (human_tasks by state/department/due, dossiers by id),
so the first page stays fast with 100,000 open tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from dossiers.lateness import DueState, task_due_state
from dossiers.models import Dossier
from engine.access import task_visibility
from engine.actors import Actor
from engine.calendar import VN_TZ
from engine.db import utcnow
from engine.models import TASK_COMPLETED, TASK_READY, HumanTask

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
    query = select(HumanTask, Dossier).outerjoin(Dossier, Dossier.id == HumanTask.instance_id)
    if view == "mine":
        return query.where(HumanTask.state == TASK_READY, HumanTask.assignee == actor.username)
    if view == "done":
        return query.where(HumanTask.state == TASK_COMPLETED, HumanTask.completed_by == actor.username)
    # my departments' (and offered-to-me) tasks nobody has claimed
    return query.where(HumanTask.state == TASK_READY, HumanTask.assignee.is_(None), task_visibility(actor))


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
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    if view == "done":
        query = query.order_by(HumanTask.completed_at.desc())
    else:
        query = query.order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at, HumanTask.id)
    page = max(1, page)
    rows = [
        InboxRow(task=task, dossier=dossier, due=task_due_state(task.due_at, now))
        for task, dossier in session.execute(query.limit(page_size).offset((page - 1) * page_size))
    ]
    if filters.due == "warned":
        rows = [r for r in rows if r.due.state == "warned"]
    return InboxPage(rows=rows, total=total, page=page, pages=max(1, -(-total // page_size)),
                     counts=counts(session, actor))


def counts(session: Session, actor: Actor) -> dict[str, int]:
    mine = session.scalar(select(func.count()).select_from(HumanTask).where(
        HumanTask.state == TASK_READY, HumanTask.assignee == actor.username)) or 0
    department = session.scalar(select(func.count()).select_from(HumanTask).where(
        HumanTask.state == TASK_READY, HumanTask.assignee.is_(None), task_visibility(actor))) or 0
    latest = session.scalar(select(func.max(HumanTask.created_at)).where(
        HumanTask.state == TASK_READY, task_visibility(actor)))
    return {"mine": mine, "department": department, "latest": latest.isoformat() if latest else None}
