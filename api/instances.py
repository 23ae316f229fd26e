"""Instances: list, inspect, and operate (suspend, resume, terminate, retry, fix data)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from api.auth import current_actor, require
from api.contract import ETAG_HEADER, accepts_if_match, check_if_match, instance_etag
from api.pagination import LINK_HEADER, order_clauses, paginate
from api.schemas import (
    INSTANCE_SORTS,
    DataUpdateSchema,
    InstanceDetailSchema,
    InstancePageSchema,
    InstanceQuerySchema,
    InstanceSchema,
    TerminateSchema,
)
from engine.access import check_may_view, instance_visibility
from engine.actors import ROLE_ADMIN
from engine.models import EventLogEntry, Instance
from engine.runtime import Runtime
from server.database import db

blp = Blueprint("instances", __name__, description="Process instances")
SORT_COLUMNS = {name: getattr(Instance, name) for name in INSTANCE_SORTS}


RECENT_EVENTS = 20  # answers to a step carry the latest events only: the whole log grows with history


def instance_detail(runtime: Runtime, instance: Instance, recent: int | None = None) -> dict:
    out = {name: getattr(instance, name) for name in InstanceSchema().fields}
    # after a step: the open tasks as the step left them, without reading them back
    out["tasks"] = runtime.open_tasks(instance.id) if recent is None else runtime.open_tasks_after_step(instance.id)
    if recent is None:
        out["events"] = runtime.events(instance.id)
    else:
        # the newest ``recent`` rows, oldest first, in one bounded query
        rows = runtime.session.scalars(
            select(EventLogEntry).where(EventLogEntry.instance_id == instance.id)
            .order_by(EventLogEntry.id.desc()).limit(recent)
        )
        out["events"] = list(rows)[::-1]
    return out


@blp.route("/instances")
class Instances(MethodView):
    @require("read")
    @blp.doc(security=[{"bearerAuth": []}])
    @blp.arguments(InstanceQuerySchema, location="query")
    @blp.response(200, InstancePageSchema, headers=LINK_HEADER)
    def get(self, args: dict):
        """Instances the caller may see, newest first by default.

        Filter by ``process_id``, ``status`` or ``business_key``; ``sort`` by a field (``-`` descending)."""
        query = select(Instance).where(instance_visibility(current_actor()))
        for name in ("process_id", "status", "business_key"):
            if args.get(name) is not None:
                query = query.where(getattr(Instance, name) == args[name])
        query = query.order_by(*order_clauses(args["sort"], SORT_COLUMNS, Instance.id))
        return paginate(db(), query, args["page"], args["page_size"])


@blp.route("/instances/<instance_id>")
class InstanceDetail(MethodView):
    @require("read")
    @blp.doc(security=[{"bearerAuth": []}])
    @blp.response(200, InstanceDetailSchema, headers=ETAG_HEADER)
    def get(self, instance_id: str):
        """Status, data, open tasks and the event log of one instance.

        The ETag is the instance's state version: send it as ``If-Match`` on the operations and on
        task completion to be refused (412) instead of acting on a state you have not seen."""
        runtime = Runtime(db())
        instance = runtime.get_instance(instance_id)
        check_may_view(db(), current_actor(), instance)
        return instance_detail(runtime, instance), {"ETag": instance_etag(instance.lock_version)}


def _operation(name: str, doc: str, schema=None):
    """POST /instances/{id}/<name>: an administrator's operation on an instance."""

    def view(instance_id: str, body: dict | None = None):
        session = db()
        runtime = Runtime(session)
        # the same row the runtime then updates WHERE lock_version = the one checked here
        check_if_match(instance_etag(runtime.get_instance(instance_id).lock_version), "the instance")
        method = getattr(runtime, name)
        instance = method(instance_id, current_actor(), **(body or {}))
        session.commit()
        return instance_detail(runtime, instance, RECENT_EVENTS), {"ETag": instance_etag(instance.lock_version)}

    view.__name__ = f"instance_{name}"
    view.__doc__ = doc
    wrapped = _reorder(view) if schema is not None else view
    if schema is not None:
        wrapped = blp.arguments(schema, example=getattr(schema, "EXAMPLE", None))(wrapped)
    wrapped = blp.response(200, InstanceDetailSchema, headers=ETAG_HEADER)(wrapped)
    wrapped = blp.doc(security=[{"bearerAuth": []}])(wrapped)
    wrapped = accepts_if_match(wrapped)
    wrapped = require("admin", roles={ROLE_ADMIN})(wrapped)  # authenticate before reading the body
    blp.route(f"/instances/<instance_id>/{name}", methods=["POST"], endpoint=f"instance_{name}")(wrapped)


def _reorder(view):
    # flask-smorest passes parsed bodies positionally before URL kwargs
    def inner(body, instance_id):
        return view(instance_id, body)

    inner.__name__ = view.__name__
    inner.__doc__ = view.__doc__
    return inner


_OPS_NOTE = ("Administrators only. Send the ETag of GET /instances/{instance_id} as If-Match to be refused (412) "
             "if the instance moved since; without it a concurrent step still makes this answer 409.")
_operation("suspend", "Suspend: no step, timer or message moves the instance until it is resumed.\n\n" + _OPS_NOTE)
_operation("resume", "Resume a suspended instance where it stopped.\n\n" + _OPS_NOTE)
_operation("terminate", "Terminate: cancel every open task; the instance ends as terminated.\n\n" + _OPS_NOTE,
           TerminateSchema)
_operation("retry", "Run the step that failed again (after fixing data or deploying a fix).\n\n" + _OPS_NOTE)
_operation("update_data", "Change process variables (typically before a retry).\n\n"
           "The given variables are merged into the instance data. " + _OPS_NOTE, DataUpdateSchema)
