"""User tasks: list, inspect, claim, release, save a draft, complete."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from api.auth import current_actor, require
from api.errors import ApiProblem
from api.instances import instance_detail
from api.pagination import paginate
from api.schemas import (
    ClaimSchema,
    CompleteTaskSchema,
    InstanceDetailSchema,
    TaskPageSchema,
    TaskQuerySchema,
    TaskSchema,
)
from engine.access import may_work_on, task_visibility
from engine.actors import ROLE_ADMIN, ROLE_CENTER_LEADER, ROLE_LEADER
from engine.errors import NotFound
from engine.models import HumanTask
from engine.runtime import Runtime
from server.database import db

blp = Blueprint("tasks", __name__, description="User tasks (the inbox)")


def _visible_task(runtime: Runtime, task_id: str) -> HumanTask:
    task = runtime.get_task(task_id)
    if not may_work_on(current_actor(), task):
        # 404, like an unknown id: do not confirm that another department's task exists
        raise NotFound(f"task {task_id} not found")
    return task


@blp.route("/tasks")
class Tasks(MethodView):
    @require("read")
    @blp.doc(security=[{"bearerAuth": []}])
    @blp.arguments(TaskQuerySchema, location="query")
    @blp.response(200, TaskPageSchema)
    def get(self, args: dict):
        """Tasks the caller may work on, soonest due first."""
        query = select(HumanTask).where(task_visibility(current_actor()))
        if args["state"] != "all":
            query = query.where(HumanTask.state == args["state"])
        if args.get("instance_id"):
            query = query.where(HumanTask.instance_id == str(args["instance_id"]))
        for name in ("lane", "assignee", "process_id"):
            if args.get(name):
                query = query.where(getattr(HumanTask, name) == args[name])
        query = query.order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at, HumanTask.id)
        return paginate(db(), query, args["page"], args["page_size"])


@blp.route("/tasks/<task_id>")
class TaskDetail(MethodView):
    @require("read")
    @blp.doc(security=[{"bearerAuth": []}])
    @blp.response(200, TaskSchema)
    def get(self, task_id: str):
        """One task with its form fields."""
        return _visible_task(Runtime(db()), task_id)


@blp.route("/tasks/<task_id>/claim", methods=["POST"])
@require("complete")
@blp.doc(security=[{"bearerAuth": []}])
@blp.arguments(ClaimSchema, required=False)
@blp.response(200, TaskSchema)
def claim(body: dict, task_id: str):
    """Claim a task for yourself; leaders may give it to someone (``assignee``)."""
    session = db()
    runtime = Runtime(session)
    task = _visible_task(runtime, task_id)
    actor = current_actor()
    assignee = (body or {}).get("assignee")
    if assignee and assignee != actor.username and not ({ROLE_LEADER, ROLE_CENTER_LEADER, ROLE_ADMIN} & actor.roles):
        raise ApiProblem(403, "only leaders can assign a task to someone else")
    runtime.claim(task.id, actor, assignee=assignee)
    session.commit()
    return task


@blp.route("/tasks/<task_id>/release", methods=["POST"])
@require("complete")
@blp.doc(security=[{"bearerAuth": []}])
@blp.response(200, TaskSchema)
def release(task_id: str):
    """Give a claimed task back to its department's queue."""
    session = db()
    runtime = Runtime(session)
    task = _visible_task(runtime, task_id)
    runtime.release(task.id, current_actor())
    session.commit()
    return task


@blp.route("/tasks/<task_id>/draft", methods=["PUT"])
@require("complete")
@blp.doc(security=[{"bearerAuth": []}])
@blp.arguments(CompleteTaskSchema)
@blp.response(200, TaskSchema)
def save_draft(body: dict, task_id: str):
    """Save form data without completing (types checked, required fields not)."""
    session = db()
    runtime = Runtime(session)
    task = _visible_task(runtime, task_id)
    runtime.save_draft(task.id, body["data"], current_actor())
    session.commit()
    return task


@blp.route("/tasks/<task_id>/complete", methods=["POST"])
@require("complete")
@blp.doc(security=[{"bearerAuth": []}])
@blp.arguments(CompleteTaskSchema)
@blp.response(200, InstanceDetailSchema)
@blp.alt_response(409, description="the task was already completed, or the instance changed concurrently")
@blp.alt_response(422, description="form data invalid; `errors` names each field")
def complete(body: dict, task_id: str):
    """Complete a task with form data validated against its camunda:formData."""
    session = db()
    runtime = Runtime(session)
    task = _visible_task(runtime, task_id)
    instance = runtime.complete_task(task.id, body["data"], current_actor())
    session.commit()
    return instance_detail(runtime, instance)
