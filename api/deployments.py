"""POST /deployments: upload .bpmn/.dmn files as new process versions."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor, require
from api.contract import idempotent
from api.errors import ApiProblem
from api.schemas import DeploymentResultSchema, ValidationProblemSchema
from engine.actors import ROLE_ADMIN, ROLE_DESIGNER
from engine.deployments import deploy
from engine.errors import DeploymentInvalid
from server.database import db

blp = Blueprint("deployments", __name__, description="Deploy BPMN and DMN files")

ALLOWED_SUFFIXES = (".bpmn", ".bpmn20.xml", ".dmn", ".xml")
MAX_FILES = 50


def uploaded_files() -> list[tuple[str, bytes]]:
    files = request.files.getlist("files")
    if not files:
        raise ApiProblem(400, "send one or more files in the multipart field 'files'")
    if len(files) > MAX_FILES:
        raise ApiProblem(400, f"at most {MAX_FILES} files per deployment")
    out = []
    for storage in files:
        name = (storage.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
        if not name.lower().endswith(ALLOWED_SUFFIXES):
            raise ApiProblem(415, f"{name or 'a file'}: only .bpmn and .dmn files can be deployed")
        out.append((name, storage.read()))
    return out


@blp.route("/deployments")
class Deployments(MethodView):
    @require("deploy", roles={ROLE_ADMIN, ROLE_DESIGNER})
    @idempotent("deployments")
    @blp.doc(
        security=[{"bearerAuth": []}],
        requestBody={
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                            "note": {"type": "string", "description": "change note"},
                        },
                        "required": ["files"],
                    }
                }
            }
        },
    )
    @blp.response(201, DeploymentResultSchema)
    @blp.alt_response(422, schema=ValidationProblemSchema, description="validation problems, one per line")
    def post(self):
        """Validate and deploy files; a process gets a new version only when its content changed.

        422 lists every problem as ``FILE:LINE: ELEMENT: message`` (``lines``) and structured
        (``problems``); nothing is deployed then. 415 for a file that is not .bpmn/.dmn."""
        files = uploaded_files()
        session = db()
        try:
            result = deploy(session, files, current_actor().username, note=request.form.get("note"))
        except DeploymentInvalid as exc:
            session.rollback()
            raise ApiProblem(
                422, "the files are not valid BPMN/DMN for this platform", problems=exc.detail["problems"],
                lines=exc.lines(),
            ) from None
        session.commit()
        return {
            "deployment_id": result.deployment_id,
            "processes": [p.to_dict() for p in result.processes],
            "decisions": result.decisions,
        }
