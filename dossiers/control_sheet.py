"""Form 05, the process control sheet (phiếu kiểm soát quá trình giải quyết hồ sơ).

One row per handoff, built from the stored steps: which department handed the
dossier to which, who handed over and who received, when, the step's budget,
the working time it used, and whether it finished early, on time or late.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dossiers.models import Dossier
from engine import deadlines
from engine.calendar import VN_TZ
from engine.models import TASK_CANCELLED, Department, HumanTask


@dataclass
class ControlRow:
    step: str
    element_id: str
    from_department: str | None
    to_department: str | None
    handed_over_by: str | None
    handed_over_at: datetime
    received_by: str | None
    budget_hours: float | None
    due_at: datetime | None
    completed_at: datetime | None
    used_hours: float | None
    result: str  # early | on_time | late | in_progress | cancelled


def control_sheet(session: Session, dossier: Dossier) -> list[ControlRow]:
    calendar = deadlines.current_calendar()
    tasks = list(
        session.scalars(
            select(HumanTask).where(HumanTask.instance_id == dossier.id).order_by(HumanTask.created_at, HumanTask.id)
        )
    )
    names = {d.code: d.name_vi for d in session.scalars(select(Department))}
    rows: list[ControlRow] = []
    previous: HumanTask | None = None
    for task in tasks:
        department = task.department or (task.candidate_groups[0] if task.candidate_groups else None)
        budget = calendar.working_hours_between(task.created_at, task.due_at) if task.due_at else None
        used = calendar.working_hours_between(task.created_at, task.completed_at) if task.completed_at else None
        if task.state == TASK_CANCELLED:
            result = "cancelled"
        elif task.completed_at is None:
            result = "in_progress"
        else:
            result = timeliness(task.completed_at, task.due_at)
        from_department = None
        if previous is not None:
            prev_department = previous.department or (previous.candidate_groups or [None])[0]
            from_department = names.get(prev_department, prev_department)
        rows.append(
            ControlRow(
                step=task.name or task.element_id,
                element_id=task.element_id,
                from_department=from_department,
                to_department=names.get(department, department),
                handed_over_by=previous.completed_by if previous is not None else "hệ thống (tiếp nhận)",
                handed_over_at=task.created_at,
                received_by=task.completed_by or task.assignee,
                budget_hours=budget,
                due_at=task.due_at,
                completed_at=task.completed_at,
                used_hours=used,
                result=result,
            )
        )
        if task.state != TASK_CANCELLED:
            previous = task
    return rows


def timeliness(done_at: datetime, due_at: datetime | None) -> str:
    """As the one-stop registers count it: finished on an earlier day than due = early,
    on the due day (by the due time) = on time, after the due time = late."""
    if due_at is None:
        return "on_time"
    if done_at > due_at:
        return "late"
    return "early" if done_at.astimezone(VN_TZ).date() < due_at.astimezone(VN_TZ).date() else "on_time"


RESULT_LABELS = {
    "early": ("Trước hạn", "Early"),
    "on_time": ("Đúng hạn", "On time"),
    "late": ("Quá hạn", "Late"),
    "in_progress": ("Đang xử lý", "In progress"),
    "cancelled": ("Đã hủy", "Cancelled"),
}
