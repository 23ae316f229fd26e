"""Pages for citizens, without signing in: the public lookup, the kiosk, the satisfaction survey.

- ``/lookup?code=…`` — where the receipt's QR code points: the dossier's status as the holder
  of its tracking code may see it (dossiers.public.PublicStatus: no personal data, the name masked).
- ``/kiosk`` — the touch screens at the center: look up a dossier, browse the procedures, start
  an online submission (the dossier is submitted by the kiosk's integration account).
- ``/survey/<code>?t=…`` — the one satisfaction rating of a finished dossier; the token is an
  HMAC of the code, so only links the system issued are accepted.

Lookups and submissions are rate-limited per address (Flask-Limiter) against guessing codes.
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from api.schemas import ApplicantSchema
from dossiers.models import Dossier
from dossiers.procedures import all_procedures
from dossiers.public import (
    COMMENT_MAX,
    SURVEY_STATUSES,
    AlreadyRated,
    lookup,
    lookup_url,
    normalize_code,
    online_procedure,
    rate,
    submit_online,
    survey_url,
    valid_survey_token,
)
from dossiers.slips import qr_svg
from engine.errors import EngineError, NotFound
from engine.models import Department
from server.database import db
from server.extensions import limiter

bp = Blueprint("public", __name__)

LOOKUP_LIMIT = "30 per minute"
SUBMIT_LIMIT = "10 per minute; 200 per day"
SURVEY_LIMIT = "20 per minute"
APPLICANT_FIELDS = ("name", "id_number", "phone", "email", "address")
ID_NUMBER_RE = re.compile(r"^\d{12}$")
SUBMITTED_KEY = "kiosk_submitted"
# a shared kiosk forgets what it showed: result pages go back to the start after this many seconds
KIOSK_RESET_SECONDS = 120


def _typed_code() -> str:
    return normalize_code(request.args.get("code"))


lookup_limit = limiter.shared_limit(LOOKUP_LIMIT, scope="public-lookup", exempt_when=lambda: not _typed_code())


# ----------------------------------------------------------------------- helpers
def _kiosk() -> bool:
    return request.path.startswith("/kiosk")


@bp.after_request
def _private(response):
    """Nothing of a citizen's lookup stays in a shared browser's cache or leaks in a Referer."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _error_page(exc: HTTPException):
    code = exc.code or 500
    return render_template("ui/public_error.html", code=code, kiosk=_kiosk()), code


bp.register_error_handler(403, _error_page)
bp.register_error_handler(404, _error_page)
bp.register_error_handler(429, _error_page)


def money(amount: int | None) -> str:
    return f"{int(amount or 0):,}".replace(",", ".")


def unit_names() -> dict[str, str]:
    return {"working_days": _("ngày làm việc"), "working_hours": _("giờ làm việc"), "months": _("tháng")}


def _departments() -> dict[str, Department]:
    return {d.code: d for d in db().scalars(select(Department))}


def _lookup_page(template: str):
    code = _typed_code()
    status = lookup(db(), code) if code else None
    survey = survey_url(status.code) if status is not None and status.survey_open else None
    http_status = 404 if code and status is None else 200
    return render_template(template, code=code, status=status, survey_link=survey, kiosk=_kiosk(),
                           reset_seconds=KIOSK_RESET_SECONDS if status is not None else None), http_status


# ------------------------------------------------------------------ public lookup
@bp.get("/lookup")
@lookup_limit
def lookup_page():
    return _lookup_page("ui/public_lookup.html")


# -------------------------------------------------------------------------- kiosk
@bp.get("/kiosk")
def kiosk_home():
    session.pop(SUBMITTED_KEY, None)  # the next person does not see the previous confirmation
    return render_template("ui/kiosk_home.html", kiosk=True)


@bp.get("/kiosk/lookup")
@lookup_limit
def kiosk_lookup():
    return _lookup_page("ui/kiosk_lookup.html")


@bp.get("/kiosk/procedures")
def kiosk_procedures():
    only_online = request.args.get("online") == "1"
    procedures = [p for p in all_procedures(db()) if p.online or not only_online]
    return render_template("ui/kiosk_procedures.html", procedures=procedures, only_online=only_online,
                           departments=_departments(), units=unit_names(), money=money, kiosk=True)


def _applicant_errors(exc: ValidationError) -> dict[str, str]:
    messages = {
        "name": _("Nhập họ và tên (tối đa 255 ký tự)."),
        "id_number": _("Số định danh cá nhân gồm đúng 12 chữ số."),
        "phone": _("Số điện thoại chưa đúng (ví dụ 0912345678)."),
        "email": _("Địa chỉ email chưa đúng."),
        "address": _("Địa chỉ dài tối đa 500 ký tự."),
    }
    return {f"applicant_{k}": messages.get(k, _("Giá trị chưa đúng.")) for k in exc.messages}


def validate_applicant(values: dict[str, str]) -> tuple[dict | None, dict[str, str]]:
    """The applicant fields of the kiosk form, checked with the API's ApplicantSchema (+ kiosk rules)."""
    raw = {k: (values.get(f"applicant_{k}") or "").strip() or None for k in APPLICANT_FIELDS}
    errors: dict[str, str] = {}
    applicant = None
    try:
        applicant = ApplicantSchema().load({"kind": "person", **raw})
    except ValidationError as exc:
        errors.update(_applicant_errors(exc))
    if not raw["name"]:
        errors["applicant_name"] = _("Nhập họ và tên người nộp.")
    if not raw["id_number"] or not ID_NUMBER_RE.match(raw["id_number"]):
        errors["applicant_id_number"] = _("Số định danh cá nhân gồm đúng 12 chữ số.")
    if not raw["phone"]:
        errors["applicant_phone"] = _("Nhập số điện thoại để nhận thông báo.")
    return (None if errors else applicant), errors


@bp.route("/kiosk/submit/<procedure_code>", methods=["GET", "POST"])
@limiter.limit(SUBMIT_LIMIT, methods=["POST"])
def kiosk_submit(procedure_code: str):
    try:
        procedure = online_procedure(db(), procedure_code)
    except NotFound:
        abort(404)  # unknown, or not offered online: submitted at the counter only
    values = {k: v for k, v in request.form.items() if k.startswith("applicant_")} if request.method == "POST" else {}
    errors: dict[str, str] = {}
    if request.method == "POST":
        applicant, errors = validate_applicant(values)
        if applicant is not None:
            s = db()
            try:
                dossier = submit_online(s, procedure.code, applicant)
                s.commit()
            except EngineError as exc:
                s.rollback()
                errors["form"] = _("Chưa nộp được hồ sơ: %(reason)s", reason=exc.message)
            else:
                session[SUBMITTED_KEY] = dossier.code
                return redirect(url_for("public.kiosk_submitted"), 303)
    return render_template("ui/kiosk_submit.html", procedure=procedure, values=values, errors=errors,
                           units=unit_names(), money=money, kiosk=True), 422 if errors else 200


@bp.get("/kiosk/submitted")
def kiosk_submitted():
    code = session.get(SUBMITTED_KEY)
    dossier = db().scalar(select(Dossier).where(Dossier.code == code)) if code else None
    if dossier is None:
        return redirect(url_for("public.kiosk_home"))
    try:
        documents = online_procedure(db(), dossier.procedure_code).required_documents
    except NotFound:
        documents = ()
    link = lookup_url(dossier.code, request.host_url)
    return render_template("ui/kiosk_submitted.html", dossier=dossier, documents=documents, link=link,
                           qr=qr_svg(link), kiosk=True, reset_seconds=KIOSK_RESET_SECONDS)


# ------------------------------------------------------------------------- survey
@bp.route("/survey/<code>", methods=["GET", "POST"])
@limiter.limit(SURVEY_LIMIT)
def survey(code: str):
    token = request.args.get("t")
    s = db()
    dossier = s.scalar(select(Dossier).where(Dossier.code == code[:64]))
    if dossier is None or not valid_survey_token(dossier.code, token):
        abort(404)  # a link the system did not issue: nothing about the dossier is confirmed
    context = {"code": dossier.code, "procedure": dossier.procedure_name, "token": token, "errors": {},
               "values": {}, "comment_max": COMMENT_MAX}
    if dossier.status_code not in SURVEY_STATUSES:
        return render_template("ui/public_survey.html", state="not_ready", **context), 409
    status = lookup(s, dossier.code)
    if status.rated:
        return render_template("ui/public_survey.html", state="rated", **context), \
            409 if request.method == "POST" else 200
    if request.method == "GET":
        return render_template("ui/public_survey.html", state="open", **context)

    values = {"score": request.form.get("score", ""), "comment": (request.form.get("comment") or "").strip(),
              "complaint": request.form.get("complaint") == "y"}
    errors: dict[str, str] = {}
    if values["score"] not in {"1", "2", "3", "4", "5"}:
        errors["score"] = _("Chọn mức hài lòng từ 1 đến 5.")
    if len(values["comment"]) > COMMENT_MAX:
        errors["comment"] = _("Ý kiến dài tối đa %(n)s ký tự.", n=COMMENT_MAX)
    elif values["complaint"] and not values["comment"]:
        errors["comment"] = _("Nêu nội dung phản ánh, kiến nghị.")
    if not errors:
        try:
            rate(s, dossier, int(values["score"]), values["comment"], values["complaint"])
            s.commit()
        except AlreadyRated:
            s.rollback()
            return render_template("ui/public_survey.html", state="rated", **context), 409
        except EngineError:
            s.rollback()
            errors["form"] = _("Chưa ghi nhận được đánh giá. Vui lòng thử lại.")
        else:
            flash(_("Cảm ơn ông/bà đã đánh giá. Ý kiến đã được chuyển đến lãnh đạo cơ quan."), "success")
            return redirect(survey_url(dossier.code), 303)
    context.update(values=values, errors=errors)
    return render_template("ui/public_survey.html", state="open", **context), 422
