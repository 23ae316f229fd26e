"""Deployed processes, their versions, and starting instances."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.auth import current_actor, require
from api.schemas import InstanceSchema, ProcessSchema, StartInstanceSchema
from engine import idempotency
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
    @blp.response(200, ProcessSchema(many=True))
    def get(self):
        """List deployed processes with their latest version."""
        return [_process_dict(pv) for pv in latest_versions(db())]


@blp.route("/processes/<process_id>")
class ProcessDetail(MethodView):
    @require("read")
    @blp.doc(security=[{"bearerAuth": []}])
    @blp.response(200, ProcessSchema)
    def get(self, process_id: str):
        """A process: every version (newest first) and the BPMN XML of the latest."""
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
    @blp.doc(
        security=[{"bearerAuth": []}],
        parameters=[{
            "in": "header", "name": "Idempotency-Key", "required": False, "schema": {"type": "string"},
            "description": "retrying with the same key returns the instance created the first time",
        }],
    )
    @blp.arguments(StartInstanceSchema)
    @blp.response(201, InstanceSchema)
    def post(self, body: dict, process_id: str):
        """Start an instance of the latest (or a given) version."""
        session = db()
        actor = current_actor()
        runtime = Runtime(session)
        key = request.headers.get("Idempotency-Key")
        scope = f"start:{process_id}"
        fingerprint = {"process_id": process_id, **body}
        if key:
            existing = idempotency.lookup(session, actor.username, scope, key, fingerprint)
            if existing:
                return runtime.get_instance(existing)
        instance = runtime.start(
            process_id, business_key=body.get("business_key"), data=body.get("data"), actor=actor,
            version=body.get("version"),
        )
        if key:
            idempotency.remember(session, actor.username, scope, key, fingerprint, instance.id)
        try:
            session.commit()
        except IntegrityError:
            # a concurrent request with the same key won: answer with its instance
            session.rollback()
            if key:
                existing = idempotency.lookup(session, actor.username, scope, key, fingerprint)
                if existing:
                    return runtime.get_instance(existing)
            raise
        return instance
