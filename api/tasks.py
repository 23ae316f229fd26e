"""User tasks: list, inspect, claim, release, save a draft, complete."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from api.auth import current_actor, require
from api.contract import ETAG_HEADER, accepts_if_match, check_if_match, instance_etag
from api.errors import ApiProblem
from api.instances import RECENT_EVENTS, instance_detail
from api.pagination import LINK_HEADER, order_clauses, paginate
from api.schemas import (
    TASK_SORTS,
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
SORT_COLUMNS = {name: getattr(HumanTask, name) for name in TASK_SORTS}


def _visible_task(runtime: Runtime, task_id: str, with_instance: bool = False) -> HumanTask:
    task = runtime.get_task(task_id, with_instance=with_instance)
    if not may_work_on(current_actor(), task):
        # 404, like an unknown id: do not confirm that another department's task exists
        raise NotFound(f"task {task_id} not found")
    return task


@blp.route("/tasks")
class Tasks(MethodView):
    @require("read")
    @blp.doc(security=[{"bearerAuth": []}])
    @blp.arguments(TaskQuerySchema, location="query")
    @blp.response(200, TaskPageSchema, headers=LINK_HEADER)
    def get(self, args: dict):
        """Tasks the caller may work on, soonest due first by default.

        ``state`` defaults to ``ready`` (open tasks); filter by ``instance_id``, ``lane``, ``assignee``,
        ``process_id``; ``sort`` by a field (``-`` descending), ties broken by creation time."""
        query = select(HumanTask).where(task_visibility(current_actor()))
        if args["state"] != "all":
            query = query.where(HumanTask.state == args["state"])
        if args.get("instance_id"):
            query = query.where(HumanTask.instance_id == str(args["instance_id"]))
        for name in ("lane", "assignee", "process_id"):
            if args.get(name):
                query = query.where(getattr(HumanTask, name) == args[name])
        query = query.order_by(*order_clauses(args["sort"], SORT_COLUMNS, HumanTask.created_at, HumanTask.id))
        return paginate(db(), query, args["page"], args["page_size"])


@blp.route("/tasks/<task_id>")
class TaskDetail(MethodView):
    @require("read")
    @blp.doc(security=[{"bearerAuth": []}])
    @blp.response(200, TaskSchema, headers=ETAG_HEADER)
    def get(self, task_id: str):
        """One task with its form fields.

        The ETag is the state version of the task's instance: pass it as ``If-Match`` when completing."""
        runtime = Runtime(db())
        task = _visible_task(runtime, task_id)
        return task, {"ETag": instance_etag(runtime.get_instance(task.instance_id).lock_version)}


@blp.route("/tasks/<task_id>/claim", methods=["POST"])
@require("complete")
@blp.doc(security=[{"bearerAuth": []}])
@blp.arguments(ClaimSchema, required=False, example=ClaimSchema.EXAMPLE)
@blp.response(200, TaskSchema)
def claim(body: dict, task_id: str):
    """Claim a task for yourself; leaders may give it to someone (``assignee``).

    Claiming a task someone else holds answers 409; only leaders (department, center) and
    administrators may name another ``assignee``. The body may be empty."""
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
    """Give a claimed task back to its department's queue.

    The task stays open and any saved draft is kept; anyone of the department may claim it next."""
    session = db()
    runtime = Runtime(session)
    task = _visible_task(runtime, task_id)
    runtime.release(task.id, current_actor())
    session.commit()
    return task


@blp.route("/tasks/<task_id>/draft", methods=["PUT"])
@require("complete")
@blp.doc(security=[{"bearerAuth": []}])
@blp.arguments(CompleteTaskSchema, example=CompleteTaskSchema.EXAMPLE)
@blp.response(200, TaskSchema)
def save_draft(body: dict, task_id: str):
    """Save form data without completing (types checked, required fields not).

    A later save replaces the draft; completion validates the whole form again."""
    session = db()
    runtime = Runtime(session)
    task = _visible_task(runtime, task_id)
    runtime.save_draft(task.id, body["data"], current_actor())
    session.commit()
    return task


@blp.route("/tasks/<task_id>/complete", methods=["POST"])
@require("complete")
@accepts_if_match
@blp.doc(security=[{"bearerAuth": []}])
@blp.arguments(CompleteTaskSchema, example=CompleteTaskSchema.EXAMPLE)
@blp.response(200, InstanceDetailSchema, headers=ETAG_HEADER)
def complete(body: dict, task_id: str):
    """Complete a task with form data validated against its camunda:formData.

    422 names each invalid field in ``errors``; 409 when the task was already completed or the
    instance changed concurrently; 412 when ``If-Match`` (the ETag of the task or its instance)
    is stale. The answer is the instance after the step, with its new ETag and its latest 20
    events (``GET /instances/{instance_id}`` has the whole log)."""
    session = db()
    runtime = Runtime(session)
    # the task, its instance and the instance's state in one query: the step below needs all three
    task = _visible_task(runtime, task_id, with_instance=True)
    check_if_match(instance_etag(runtime.get_instance(task.instance_id).lock_version), "the task's instance")
    instance = runtime.complete_task(task.id, body["data"], current_actor())
    session.commit()
    return instance_detail(runtime, instance, RECENT_EVENTS), {"ETag": instance_etag(instance.lock_version)}
