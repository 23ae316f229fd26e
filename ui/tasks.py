"""Working on one task: the form generated from camunda:formData, drafts, claim, hand-off."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select

from accounts.models import User
from dossiers.models import Dossier
from engine.access import may_work_on
from engine.actors import ROLE_ADMIN, ROLE_CENTER_LEADER, ROLE_LEADER
from engine.errors import Conflict, EngineError, FormInvalid
from engine.forms import FieldDef
from engine.models import TASK_READY, Department, HumanTask
from engine.runtime import Runtime
from server.database import db
from ui.messages import field_errors
from ui.security import current_actor
from ui.uploads import UploadRejected, save_upload

bp = Blueprint("task_pages", __name__, url_prefix="/tasks")
LEADER_ROLES = {ROLE_LEADER, ROLE_CENTER_LEADER, ROLE_ADMIN}
# variables the dossier layer puts into every process: shown elsewhere on the page
INTERNAL_KEYS = {"dossier_code", "procedure_code", "channel", "desk", "applicant_name", "applicant_id_number"}


def _task(task_id: str) -> HumanTask:
    try:
        task = Runtime(db()).get_task(task_id)
    except EngineError:
        abort(404)
    actor = current_actor()
    if not (may_work_on(actor, task) or task.completed_by == actor.username):
        abort(404)  # another department's task: do not even confirm it exists
    return task


def _form_values(fields: list[FieldDef]) -> tuple[dict, dict]:
    """Read the posted form into typed-looking values (the engine validates and coerces)."""
    data, errors = {}, {}
    for field in fields:
        if field.readonly:
            continue
        if field.type == "boolean":
            data[field.id] = field.id in request.form
        elif field.type == "file":
            storage = request.files.get(field.id)
            if storage and storage.filename:
                try:
                    data[field.id] = save_upload(storage)
                except UploadRejected as exc:
                    errors[field.id] = str(exc)
            elif request.form.get(f"{field.id}__kept"):
                data[field.id] = {"name": request.form[f"{field.id}__kept"]}
        else:
            value = request.form.get(field.id, "")
            if value != "" or field.required:
                data[field.id] = value
    return data, errors


def _context(task: HumanTask, values: dict | None = None, errors: dict | None = None) -> dict:
    session = db()
    dossier = session.get(Dossier, task.instance_id)
    instance = Runtime(session).get_instance(task.instance_id)
    fields = [FieldDef.from_dict(f) for f in task.form]
    current = {**(instance.data or {}), **(task.draft or {}), **(values or {})}
    departments = {d.code: d.name_vi for d in session.scalars(select(Department))}
    colleagues = []
    if LEADER_ROLES & current_actor().roles and task.department:
        colleagues = [u for u in session.scalars(select(User).order_by(User.username))
                      if task.department in {d.code for d in u.departments}]
    hidden = {f.id for f in fields} | INTERNAL_KEYS
    shown = {k: v for k, v in (instance.data or {}).items() if k not in hidden and not isinstance(v, dict | list)}
    return {"task": task, "dossier": dossier, "instance": instance, "fields": fields, "values": current,
            "errors": errors or {}, "departments": departments, "colleagues": colleagues, "shown": shown}


@bp.get("/<task_id>")
@login_required
def show(task_id: str):
    return render_template("ui/task.html", **_context(_task(task_id)))


@bp.post("/<task_id>")
@login_required
def submit(task_id: str):
    task = _task(task_id)
    if task.state != TASK_READY:
        flash(_("Việc này đã được xử lý."), "error")
        return redirect(url_for("inbox.index"))
    fields = [FieldDef.from_dict(f) for f in task.form]
    values, upload_errors = _form_values(fields)
    session = db()
    runtime = Runtime(session)
    try:
        if upload_errors:
            raise FormInvalid(upload_errors)
        if request.form.get("action") == "draft":
            runtime.save_draft(task.id, values, current_actor())
            session.commit()
            flash(_("Đã lưu nháp."), "success")
            return redirect(url_for("task_pages.show", task_id=task.id))
        dossier = session.get(Dossier, task.instance_id)
        accepted_before = dossier is not None and dossier.received_at is not None
        instance = runtime.complete_task(task.id, values, current_actor())
        session.commit()
    except FormInvalid as exc:
        session.rollback()
        flash(_("Vui lòng sửa các trường được đánh dấu."), "error")
        return render_template("ui/task.html", **_context(task, values, field_errors(exc.errors))), 422
    except Conflict:
        session.rollback()
        flash(_("Hồ sơ vừa được người khác cập nhật; việc này đã được xử lý."), "error")
        return redirect(url_for("inbox.index"))
    just_accepted = dossier is not None and not accepted_before and dossier.received_at is not None
    _flash_handoff(instance.id, just_accepted)
    return redirect(url_for("inbox.index"))


def _flash_handoff(instance_id: str, just_accepted: bool = False) -> None:
    """Say where the dossier went: the departments of the tasks that opened."""
    session = db()
    runtime = Runtime(session)
    names = {d.code: d.name_vi for d in session.scalars(select(Department))}
    targets = sorted({names.get(t.department, t.department or ", ".join(t.candidate_groups))
                      for t in runtime.open_tasks(instance_id)})
    dossier = session.get(Dossier, instance_id)
    label = dossier.code if dossier else instance_id[:8]
    if targets:
        flash(_("Đã chuyển hồ sơ %(code)s đến: %(to)s.", code=label, to=", ".join(targets)), "success")
    else:
        flash(_("Đã hoàn thành bước xử lý hồ sơ %(code)s.", code=label), "success")
    if dossier is not None and dossier.received_at is not None and just_accepted:
        flash(url_for("dossiers.slip", code=dossier.code, kind="receipt", format="pdf"), "receipt")


def _command(run, success: str, then: str):
    """Run one task command in its own transaction; say how it went; go on to ``then``."""
    session = db()
    try:
        run(Runtime(session))
        session.commit()
        flash(success, "success")
    except EngineError as exc:
        session.rollback()
        flash(exc.message, "error")
    return redirect(then)


@bp.post("/<task_id>/claim")
@login_required
def claim(task_id: str):
    task = _task(task_id)
    return _command(lambda rt: rt.claim(task.id, current_actor()), _("Đã nhận việc."),
                    url_for("task_pages.show", task_id=task.id))


@bp.post("/<task_id>/release")
@login_required
def release(task_id: str):
    task = _task(task_id)
    return _command(lambda rt: rt.release(task.id, current_actor()), _("Đã trả việc về phòng."),
                    url_for("inbox.index"))


@bp.post("/<task_id>/assign")
@login_required
def assign(task_id: str):
    """Leaders give a task to someone of the department."""
    task = _task(task_id)
    actor = current_actor()
    if not LEADER_ROLES & actor.roles:
        abort(403)
    username = request.form.get("assignee", "")
    user = db().scalar(select(User).where(User.username == username))
    if user is None or (task.department and task.department not in {d.code for d in user.departments}):
        flash(_("Người được giao phải thuộc phòng xử lý bước này."), "error")
        return redirect(url_for("task_pages.show", task_id=task.id))
    return _command(lambda rt: rt.claim(task.id, actor, assignee=username),
                    _("Đã giao việc cho %(name)s.", name=user.full_name or username),
                    url_for("task_pages.show", task_id=task.id))
