"""Deployed processes, their versions, and starting instances."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from api.auth import current_actor, require
from api.contract import idempotent
from api.pagination import LINK_HEADER, paginate_list
from api.schemas import InstanceSchema, ProcessPageSchema, ProcessQuerySchema, ProcessSchema, StartInstanceSchema
from engine.actors import ROLE_ADMIN, ROLE_CLERK, ROLE_INTEGRATOR
from engine.deployments import latest_versions
from engine.errors import NotFound
from engine.models import ProcessVersion
from engine.runtime import Runtime
from server.database import db

blp = Blueprint("processes", __name__, description="Deployed processes and their versions")


def _process_dict(pv: ProcessVersion) -> dict:
    return {
        "process_id": pv.process_id,
        "name": pv.name,
        "latest_version": pv.version,
        "properties": pv.properties,
        "lanes": pv.lanes,
        "start_messages": pv.start_messages,
    }


@blp.route("/processes")
class Processes(MethodView):
    @require("read")
    @blp.doc(security=[{"bearerAuth": []}])
    @blp.arguments(ProcessQuerySchema, location="query")
    @blp.response(200, ProcessPageSchema, headers=LINK_HEADER)
    def get(self, args: dict):
        """Deployed processes with their latest version.

        One item per process id; ``GET /processes/{process_id}`` has every version and the BPMN XML."""
        items = [_process_dict(pv) for pv in latest_versions(db())]
        return paginate_list(items, args["page"], args["page_size"], args["sort"])


@blp.route("/processes/<process_id>")
class ProcessDetail(MethodView):
    @require("read")
    @blp.doc(security=[{"bearerAuth": []}])
    @blp.response(200, ProcessSchema)
    def get(self, process_id: str):
        """A process: every version (newest first) and the BPMN XML of the latest.

        404 when no version of ``process_id`` is deployed."""
        versions = list(
            db().scalars(
                select(ProcessVersion)
                .where(ProcessVersion.process_id == process_id)
                .order_by(ProcessVersion.version.desc())
            )
        )
        if not versions:
            raise NotFound(f"process {process_id!r} is not deployed")
        out = _process_dict(versions[0])
        out["versions"] = versions
        out["bpmn_xml"] = versions[0].file.content
        return out


@blp.route("/processes/<process_id>/instances")
class StartInstance(MethodView):
    @require("start", roles={ROLE_ADMIN, ROLE_INTEGRATOR, ROLE_CLERK})
    @idempotent("start")
    @blp.doc(security=[{"bearerAuth": []}])
    @blp.arguments(StartInstanceSchema, example=StartInstanceSchema.EXAMPLE)
    @blp.response(201, InstanceSchema)
    def post(self, body: dict, process_id: str):
        """Start an instance of the latest (or a given) version.

        The process runs until its first wait (a user task, a timer, a message); the answer is the
        instance at that point. Send an ``Idempotency-Key`` so a retry never starts a second one."""
        session = db()
        instance = Runtime(session).start(
            process_id, business_key=body.get("business_key"), data=body.get("data"), actor=current_actor(),
            version=body.get("version"),
        )
        session.commit()
        return instance
