"""The one-stop desk receives a dossier at the counter (or by post): tracking code, then the reception task."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError

from api.schemas import ApplicantSchema
from dossiers import service
from dossiers.procedures import all_procedures
from engine.actors import ROLE_ADMIN, ROLE_CLERK
from engine.errors import EngineError
from engine.runtime import Runtime
from server.database import db
from ui.security import current_actor, roles_required

bp = Blueprint("reception", __name__, url_prefix="/reception")
CHANNELS = ("in_person", "postal")


@bp.route("/new", methods=["GET", "POST"])
@roles_required(ROLE_CLERK, ROLE_ADMIN)
def new():
    actor = current_actor()
    procedures = [p for p in all_procedures(db()) if actor.is_admin or p.desk in actor.groups or not p.desk]
    values = request.form.to_dict() if request.method == "POST" else {"channel": "in_person"}
    errors: dict[str, str] = {}
    if request.method == "POST":
        code = values.get("procedure_code", "")
        if code not in {p.code for p in procedures}:
            errors["procedure_code"] = _("Chọn thủ tục do bộ phận của bạn tiếp nhận.")
        if values.get("channel") not in CHANNELS:
            errors["channel"] = _("Chọn hình thức nộp.")
        applicant_raw = {k: (values.get(f"applicant_{k}") or "").strip() or None
                         for k in ("kind", "name", "id_number", "phone", "email", "address")}
        applicant_raw["kind"] = applicant_raw["kind"] or "person"
        try:
            applicant = ApplicantSchema().load(applicant_raw)
        except ValidationError as exc:
            errors.update({f"applicant_{k}": "; ".join(v) for k, v in exc.messages.items()})
        if not errors:
            session = db()
            try:
                dossier = service.submit(session, procedure_code=code, channel=values["channel"],
                                         applicant=applicant, data={}, actor=actor)
                session.commit()
            except EngineError as exc:
                session.rollback()
                errors["procedure_code"] = exc.message
            else:
                flash(_("Đã tạo hồ sơ %(code)s. Kiểm tra hồ sơ và chọn kết quả tiếp nhận.", code=dossier.code),
                      "success")
                tasks = Runtime(session).open_tasks(dossier.id)
                if tasks:
                    return redirect(url_for("task_pages.show", task_id=tasks[0].id))
                return redirect(url_for("dossier_pages.detail", code=dossier.code))
    status = 422 if errors else 200
    return render_template("ui/reception_new.html", procedures=procedures, values=values, errors=errors), status
