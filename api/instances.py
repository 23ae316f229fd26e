"""Instances: list, inspect, and operate (suspend, resume, terminate, retry, fix data)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from api.auth import current_actor, require
from api.pagination import paginate
from api.schemas import (
    DataUpdateSchema,
    InstanceDetailSchema,
    InstancePageSchema,
    InstanceQuerySchema,
    InstanceSchema,
    TerminateSchema,
)
from engine.access import check_may_view, instance_visibility
from engine.actors import ROLE_ADMIN
from engine.models import Instance
from engine.runtime import Runtime
from server.database import db

blp = Blueprint("instances", __name__, description="Process instances")


def instance_detail(runtime: Runtime, instance: Instance) -> dict:
    out = {name: getattr(instance, name) for name in InstanceSchema().fields}
    out["tasks"] = runtime.open_tasks(instance.id)
    out["events"] = runtime.events(instance.id)
    return out


@blp.route("/instances")
class Instances(MethodView):
    @require("read")
    @blp.doc(security=[{"bearerAuth": []}])
    @blp.arguments(InstanceQuerySchema, location="query")
    @blp.response(200, InstancePageSchema)
    def get(self, args: dict):
        """Instances, newest first, filtered by process, status or business key."""
        query = select(Instance).where(instance_visibility(current_actor())).order_by(Instance.created_at.desc())
        for name in ("process_id", "status", "business_key"):
            if args.get(name) is not None:
                query = query.where(getattr(Instance, name) == args[name])
        return paginate(db(), query, args["page"], args["page_size"])


@blp.route("/instances/<instance_id>")
class InstanceDetail(MethodView):
    @require("read")
    @blp.doc(security=[{"bearerAuth": []}])
    @blp.response(200, InstanceDetailSchema)
    def get(self, instance_id: str):
        """Status, data, open tasks and the event log of one instance."""
        runtime = Runtime(db())
        instance = runtime.get_instance(instance_id)
        check_may_view(db(), current_actor(), instance)
        return instance_detail(runtime, instance)


def _operation(name: str, doc: str, schema=None):
    """POST /instances/{id}/<name>: an administrator's operation on an instance."""

    def view(instance_id: str, body: dict | None = None):
        session = db()
        runtime = Runtime(session)
        method = getattr(runtime, name)
        instance = method(instance_id, current_actor(), **(body or {}))
        session.commit()
        return instance_detail(runtime, instance)

    view.__name__ = f"instance_{name}"
    view.__doc__ = doc
    wrapped = _reorder(view) if schema is not None else view
    if schema is not None:
        wrapped = blp.arguments(schema)(wrapped)
    wrapped = blp.response(200, InstanceDetailSchema)(wrapped)
    wrapped = blp.doc(security=[{"bearerAuth": []}])(wrapped)
    wrapped = require("admin", roles={ROLE_ADMIN})(wrapped)  # authenticate before reading the body
    blp.route(f"/instances/<instance_id>/{name}", methods=["POST"], endpoint=f"instance_{name}")(wrapped)


def _reorder(view):
    # flask-smorest passes parsed bodies positionally before URL kwargs
    def inner(body, instance_id):
        return view(instance_id, body)

    inner.__name__ = view.__name__
    inner.__doc__ = view.__doc__
    return inner


_operation("suspend", "Suspend: no step, timer or message moves the instance until it is resumed.")
_operation("resume", "Resume a suspended instance where it stopped.")
_operation("terminate", "Terminate: cancel every open task; the instance ends as terminated.", TerminateSchema)
_operation("retry", "Run the step that failed again (after fixing data or deploying a fix).")
_operation("update_data", "Change process variables (typically before a retry).", DataUpdateSchema)
