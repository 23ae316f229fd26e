"""Who may see and act on which tasks and instances (the inbox rule, in SQL and in Python)."""

from __future__ import annotations

from sqlalchemy import Connection, exists, insert, or_, select, text
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.errors import Forbidden
from engine.models import HumanTask, Instance, TaskCandidate, task_candidate_rows


def task_visibility(actor: Actor):
    """SQL condition on HumanTask: what this actor's inbox may list.

    Offered tasks are found through task_candidates (an indexed (kind, value) lookup, a small IN set) rather
    than by reading every task's candidate JSON."""
    if actor.acts_for_system:
        return True
    conditions = [HumanTask.assignee == actor.username, HumanTask.completed_by == actor.username]
    conditions.extend(_offered(actor))
    return or_(*conditions)


def open_task_visibility(actor: Actor):
    """task_visibility for open (ready) tasks only: the same rule without the completer test (an open task has
    none), so it can be read off the open-task indexes alone."""
    if actor.acts_for_system:
        return True
    return or_(HumanTask.assignee == actor.username, *_offered(actor))


def unclaimed_visibility(actor: Actor):
    """task_visibility for tasks nobody has claimed (assignee empty): my departments', my groups' and offered
    to me by name."""
    if actor.acts_for_system:
        return True
    groups = sorted(actor.groups)
    conditions = [HumanTask.id.in_(select(TaskCandidate.task_id).where(
        TaskCandidate.kind == "user", TaskCandidate.value == actor.username))]
    if groups:
        conditions[:0] = [HumanTask.department.in_(groups), HumanTask.id.in_(select(TaskCandidate.task_id).where(
            TaskCandidate.kind == "group", TaskCandidate.value.in_(groups)))]
    return or_(*conditions)


def _offered(actor: Actor) -> list:
    """My departments' and groups' unclaimed (or mine) tasks, and tasks offered to me by name."""
    conditions = []
    if actor.groups:
        groups = sorted(actor.groups)
        unassigned_or_mine = or_(HumanTask.assignee.is_(None), HumanTask.assignee == actor.username)
        offered_to_group = HumanTask.id.in_(select(TaskCandidate.task_id).where(
            TaskCandidate.kind == "group", TaskCandidate.value.in_(groups)))
        conditions.append(or_(HumanTask.department.in_(groups), offered_to_group) & unassigned_or_mine)
    conditions.append(HumanTask.id.in_(select(TaskCandidate.task_id).where(
        TaskCandidate.kind == "user", TaskCandidate.value == actor.username)))
    return conditions


def insert_task_candidates(session: Session, task_rows: list[dict]) -> None:
    """task_candidates of HumanTask rows written with a bulk INSERT (past the ORM listener that keeps them)."""
    rows = [row for task in task_rows for row in task_candidate_rows(
        task["id"], task.get("department"), task.get("candidate_groups"), task.get("candidate_users"))]
    if rows:
        session.execute(insert(TaskCandidate), rows)


def rebuild_task_candidates(connection: Connection) -> int:
    """Fill task_candidates from every task's candidate JSON in two set-based INSERTs (the migration's
    backfill and the scale benchmark's fill); rows already there are kept. Returns the rows written."""
    if connection.dialect.name == "postgresql":
        elements = "jsonb_array_elements_text(CASE WHEN t.{col} LIKE '[%' THEN t.{col}::jsonb ELSE '[]' END) AS e(v)"
    else:
        elements = "json_each(CASE WHEN json_valid(t.{col}) AND t.{col} LIKE '[%' THEN t.{col} ELSE '[]' END) AS e"
    value = "e.v" if connection.dialect.name == "postgresql" else "e.value"
    written = 0
    for kind, col, skip_department in (("group", "candidate_groups", True), ("user", "candidate_users", False)):
        department_test = f" AND {value} <> COALESCE(t.department, '')" if skip_department else ""
        # only constants of this function are formatted in
        result = connection.execute(text(
            f"INSERT INTO task_candidates (task_id, kind, value) "  # noqa: S608
            f"SELECT DISTINCT t.id, '{kind}', {value} FROM human_tasks t, {elements.format(col=col)} "
            f"WHERE {value} IS NOT NULL AND {value} <> ''{department_test} "
            f"AND NOT EXISTS (SELECT 1 FROM task_candidates c WHERE c.task_id = t.id AND c.kind = '{kind}' "
            f"AND c.value = {value})"))
        written += result.rowcount or 0
    return written


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
