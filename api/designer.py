"""Designer studio over the API: version history, XML, diff, lint, rollback, migration of instances.

Reading is for designers and administrators (scope "read"); rollback and migration need the
"deploy" scope. Every rollback and migration is audited to the ``motcua.audit`` logger.
"""

from __future__ import annotations

import logging

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor, require
from api.contract import idempotent
from api.deployments import uploaded_files
from api.designer_schemas import (
    DiffArgsSchema,
    DiffSchema,
    LintResultSchema,
    MigrationRequestSchema,
    MigrationResultSchema,
    RollbackResultSchema,
    RollbackSchema,
    VersionEntrySchema,
)
from api.errors import ApiProblem
from engine import migration, versions
from engine.actors import ROLE_ADMIN, ROLE_DESIGNER
from engine.errors import DeploymentInvalid
from engine.lint import lint
from server.database import db

blp = Blueprint("designer", __name__, description="Designer studio: versions, diff, lint, rollback, migration")
audit = logging.getLogger("motcua.audit")
DESIGNERS = {ROLE_ADMIN, ROLE_DESIGNER}


def _audit(action: str, target: str, **details) -> None:
    extra = "".join(f" {k}={v!r}" for k, v in details.items())
    audit.info("by=%s action=%s target=%r%s", current_actor().username, action, target, extra)


@blp.route("/processes/<process_id>/versions")
class Versions(MethodView):
    @require("read", roles=DESIGNERS)
    @blp.doc(security=[{"bearerAuth": []}])
    @blp.response(200, VersionEntrySchema(many=True))
    def get(self, process_id: str):
        """Version history of a process.

        Newest first: who deployed each version, when, with which change note, from where
        (disk, browser or API), the version an edit started from, and how many instances still run on it.
        Needs the designer or administrator role.
        """
        return versions.version_history(db(), process_id)


@blp.route("/processes/<process_id>/versions/<int:version>/xml")
class VersionXml(MethodView):
    @require("read", roles=DESIGNERS)
    @blp.doc(security=[{"bearerAuth": []}])
    @blp.response(200, content_type="application/xml", description="the BPMN file as deployed")
    def get(self, process_id: str, version: int):
        """The BPMN XML of one version.

        The file exactly as deployed (Camunda extensions included), as an ``application/xml`` download.
        """
        name, xml = versions.version_xml(db(), process_id, version)
        stem = name.rsplit(".", 1)[0]
        filename = f"{stem}.v{version}.bpmn"
        return Response(xml, mimetype="application/xml",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@blp.route("/processes/<process_id>/diff")
class Diff(MethodView):
    @require("read", roles=DESIGNERS)
    @blp.doc(security=[{"bearerAuth": []}])
    @blp.arguments(DiffArgsSchema, location="query")
    @blp.response(200, DiffSchema)
    def get(self, args: dict, process_id: str):
        """Compare two versions of a process.

        Elements added, removed and changed (compared by element id, with a readable list of what
        changed: names, forms, budgets, lanes, flows, conditions, timers), elements only moved on the
        diagram, and a unified diff of the canonical XML.
        """
        return versions.diff_versions(db(), process_id, args["from_"], args["to"])


@blp.route("/deployments/validate")
class Validate(MethodView):
    @require("deploy", roles=DESIGNERS)
    @blp.doc(
        security=[{"bearerAuth": []}],
        requestBody={"content": {"multipart/form-data": {"schema": {
            "type": "object",
            "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
            "required": ["files"],
        }}}},
    )
    @blp.response(200, LintResultSchema)
    def post(self):
        """Validate and lint files without deploying.

        The same checks as ``flask bpmn validate --lint``: every problem names its file, line and
        element, with severity ``error`` (blocks a deploy) or ``warning``. Always 200; see ``valid``.
        """
        problems = lint(db(), uploaded_files())
        db().rollback()
        return {
            "valid": not any(p.severity == "error" for p in problems),
            "problems": [p.to_dict() for p in problems],
            "lines": [str(p) for p in problems],
        }


@blp.route("/processes/<process_id>/rollback")
class Rollback(MethodView):
    @require("deploy", roles=DESIGNERS)
    @idempotent("rollback")  # a retried rollback does not deploy a second version
    @blp.doc(security=[{"bearerAuth": []}])
    @blp.arguments(RollbackSchema, example=RollbackSchema.EXAMPLE)
    @blp.response(201, RollbackResultSchema)
    def post(self, body: dict, process_id: str):
        """Roll back to an older version.

        Deploys the older content again as a new version with a change note; running instances keep
        the version they started on (move them with the migrations endpoint).
        """
        session = db()
        try:
            result = versions.rollback(session, process_id, body["version"], current_actor().username,
                                       body.get("note"), source="api")
        except DeploymentInvalid as exc:
            session.rollback()
            raise ApiProblem(422, "that version no longer deploys on this platform", problems=exc.detail["problems"],
                             lines=exc.lines()) from None
        session.commit()
        new = [p.version for p in result.processes if p.process_id == process_id]
        _audit("process.rollback", f"process:{process_id}", to_version=body["version"],
               new_version=new[0] if new else None)
        return {"deployment_id": result.deployment_id, "processes": [p.to_dict() for p in result.processes]}


@blp.route("/processes/<process_id>/migrations")
class Migrations(MethodView):
    @require("deploy", roles=DESIGNERS)
    @blp.doc(security=[{"bearerAuth": []}])
    @blp.arguments(MigrationRequestSchema, example=MigrationRequestSchema.EXAMPLE)
    @blp.response(200, MigrationResultSchema)
    def post(self, body: dict, process_id: str):
        """Move running instances to another version.

        Dry run (default): which running instances can move to ``to_version`` and why not.
        With ``dry_run: false``: move those that can, each in its own transaction; the others stay.
        Every move is written to the instance's event log.
        """
        session = db()
        if body["dry_run"]:
            plan = migration.plan_migration(session, process_id, body["to_version"], body.get("instance_ids"))
            session.rollback()
            return {"dry_run": True, "to_version": body["to_version"], "plan": plan, "moved": [], "skipped": []}
        result = migration.migrate_instances(session, process_id, body["to_version"], body.get("instance_ids"),
                                             current_actor())
        _audit("process.migrate", f"process:{process_id}", to_version=body["to_version"],
               moved=[e["instance_id"] for e in result["moved"]], skipped=len(result["skipped"]))
        return {"dry_run": False, "plan": [], **result}
