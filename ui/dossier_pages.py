"""Dossier pages: search, and one dossier with its status, documents, history and slips."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request, send_file
from flask_login import login_required
from sqlalchemy import select

from api.dossiers import dossier_visibility
from dossiers.lateness import due_state
from dossiers.models import STATUS_NAMES, Dossier
from engine.models import Department
from engine.runtime import Runtime
from server.database import db
from ui.security import current_actor
from ui.uploads import stored_path

bp = Blueprint("dossier_pages", __name__, url_prefix="/dossiers")
PAGE_SIZE = 25


def visible(code: str) -> Dossier:
    dossier = db().scalar(select(Dossier).where(Dossier.code == code, dossier_visibility(current_actor())))
    if dossier is None:
        abort(404)
    return dossier


@bp.get("")
@login_required
def index():
    query = select(Dossier).where(dossier_visibility(current_actor()))
    q = (request.args.get("q") or "").strip()[:100]
    status = request.args.get("status", "")
    if q:
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where((Dossier.code == q) | Dossier.applicant_name.ilike(f"%{escaped}%", escape="\\"))
    if status.isdigit() and int(status) in STATUS_NAMES:
        query = query.where(Dossier.status_code == int(status))
    page = int(request.args.get("page", "1")) if request.args.get("page", "1").isdigit() else 1
    dossiers = list(db().scalars(query.order_by(Dossier.submitted_at.desc()).limit(PAGE_SIZE + 1)
                                 .offset((page - 1) * PAGE_SIZE)))
    return render_template("ui/dossiers.html", dossiers=dossiers[:PAGE_SIZE], more=len(dossiers) > PAGE_SIZE,
                           page=page, q=q, status=status, statuses=STATUS_NAMES, due_state=due_state)


@bp.get("/<code>")
@login_required
def detail(code: str):
    dossier = visible(code)
    runtime = Runtime(db())
    departments = {d.code: d.name_vi for d in db().scalars(select(Department))}
    return render_template(
        "ui/dossier.html", dossier=dossier, due=due_state(dossier), tasks=runtime.open_tasks(dossier.id),
        events=runtime.events(dossier.id), departments=departments, statuses=STATUS_NAMES,
    )


@bp.get("/<code>/files/<digest>")
@login_required
def attachment(code: str, digest: str):
    dossier = visible(code)
    known = [a for a in _files(dossier) if a.get("sha256") == digest]
    path = stored_path(digest)
    if not known or path is None:
        abort(404)
    return send_file(path, mimetype=known[0].get("content_type", "application/octet-stream"),
                     download_name=known[0]["name"], as_attachment=False)


def _files(dossier: Dossier) -> list[dict]:
    """Documents attached to the dossier or uploaded in its task forms."""
    files = [a for a in dossier.attachments if isinstance(a, dict)]
    for value in (dossier.instance.data or {}).values():
        if isinstance(value, dict) and value.get("sha256"):
            files.append(value)
    return files
