"""Who may see and act on which tasks and instances (the inbox rule, in SQL and in Python)."""

from __future__ import annotations

from sqlalchemy import Text, exists, false, or_, select, type_coerce
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.errors import Forbidden
from engine.models import HumanTask, Instance


def task_visibility(actor: Actor):
    """SQL condition on HumanTask: what this actor's inbox may list."""
    if actor.acts_for_system:
        return True
    conditions = [HumanTask.assignee == actor.username, HumanTask.completed_by == actor.username]
    if actor.groups:
        unassigned_or_mine = or_(HumanTask.assignee.is_(None), HumanTask.assignee == actor.username)
        conditions.append(HumanTask.department.in_(sorted(actor.groups)) & unassigned_or_mine)
        for group in sorted(actor.groups):
            offered = _as_text(HumanTask.candidate_groups).like(f'%"{_escape(group)}"%', escape="\\")
            conditions.append(offered & unassigned_or_mine)
    conditions.append(_as_text(HumanTask.candidate_users).like(f'%"{_escape(actor.username)}"%', escape="\\"))
    return or_(*conditions) if conditions else false()


def _as_text(column):
    # the column's JSON type would JSON-encode the LIKE pattern itself; compare as plain text
    return type_coerce(column, Text)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def may_work_on(actor: Actor, task: HumanTask) -> bool:
    return actor.may_work_on(
        department=task.department,
        candidate_groups=task.candidate_groups,
        candidate_users=task.candidate_users,
        assignee=task.assignee,
    )


def check_may_work_on(actor: Actor, task: HumanTask) -> None:
    if not may_work_on(actor, task):
        raise Forbidden("this task belongs to another department or person")


def instance_visibility(actor: Actor):
    """SQL condition on Instance: instances the actor started or has (had) a task in."""
    if actor.acts_for_system:
        return True
    return or_(
        Instance.started_by == actor.username,
        exists(select(HumanTask.id).where(HumanTask.instance_id == Instance.id, task_visibility(actor))),
    )


def check_may_view(session: Session, actor: Actor, instance: Instance) -> None:
    if actor.acts_for_system:
        return
    visible = session.scalar(select(Instance.id).where(Instance.id == instance.id, instance_visibility(actor)))
    if visible is None:
        # 404, not 403: do not confirm that a guessed id exists
        from engine.errors import NotFound

        raise NotFound(f"instance {instance.id} not found")
