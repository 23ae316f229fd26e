"""Administration: people, departments, lane → department mapping (administrators only).

Every change is written to the ``motcua.audit`` logger as one line: who, what, target
(never a password). Forms are validated here, with the error next to its field and
status 422; a successful change redirects (POST-redirect-GET) with a flash message.
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from accounts import service
from accounts.models import User, user_departments
from engine.actors import (
    ROLE_ADMIN,
    ROLE_CENTER_LEADER,
    ROLE_CLERK,
    ROLE_DESIGNER,
    ROLE_INTEGRATOR,
    ROLE_LEADER,
    ROLE_SPECIALIST,
    ROLES,
)
from engine.models import Department, LaneMapping
from server.database import db
from ui.security import administrators_only, roles_required

bp = Blueprint("admin", __name__, url_prefix="/admin")
audit = logging.getLogger("motcua.audit")

NAME_MAX = 255
LANE_MAX = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


bp.before_request(administrators_only)  # every page: signed in, role admin


def role_labels() -> dict[str, str]:
    return {
        ROLE_ADMIN: _("Quản trị hệ thống"),
        ROLE_INTEGRATOR: _("Tích hợp (cổng dịch vụ công, thanh toán)"),
        ROLE_DESIGNER: _("Thiết kế quy trình"),
        ROLE_CLERK: _("Cán bộ tiếp nhận một cửa"),
        ROLE_SPECIALIST: _("Chuyên viên"),
        ROLE_LEADER: _("Lãnh đạo phòng, sở"),
        ROLE_CENTER_LEADER: _("Lãnh đạo Trung tâm"),
    }


def _audit(action: str, target: str, **details) -> None:
    """One line per change: who, what, target, and what changed (never a password)."""
    extra = "".join(f" {key}={value!r}" for key, value in details.items())
    audit.info("by=%s action=%s target=%r%s", current_user.username, action, target, extra)


def _departments() -> list[Department]:
    return list(db().scalars(select(Department).order_by(Department.code)))


def _text(name: str) -> str:
    return (request.form.get(name) or "").strip()


def _check_text(errors: dict, name: str, value: str, *, required: bool, max_len: int = NAME_MAX) -> None:
    if required and not value:
        errors[name] = _("Trường này là bắt buộc.")
    elif len(value) > max_len:
        errors[name] = _("Tối đa %(n)d ký tự.", n=max_len)
    elif _CONTROL.search(value):
        errors[name] = _("Không được chứa ký tự điều khiển.")


def _invalid_form() -> None:
    flash(_("Vui lòng sửa các trường được đánh dấu."), "error")


# ---------------------------------------------------------------------- people
def _user_or_404(user_id: int) -> User:
    user = db().get(User, user_id)
    if user is None:
        abort(404)
    return user


def _read_user_form() -> tuple[dict, dict]:
    """Name, roles and departments as posted, and the errors found in them."""
    known = {d.code for d in _departments()}
    values = {
        "full_name": _text("full_name"),
        "roles": request.form.getlist("roles"),
        "departments": request.form.getlist("departments"),
    }
    errors: dict[str, str] = {}
    _check_text(errors, "full_name", values["full_name"], required=True)
    if not values["roles"]:
        errors["roles"] = _("Chọn ít nhất một vai trò.")
    elif set(values["roles"]) - set(ROLES):
        errors["roles"] = _("Vai trò không hợp lệ.")
    if set(values["departments"]) - known:
        errors["departments"] = _("Phòng không tồn tại.")
    return values, errors


def _check_password(errors: dict) -> str:
    password = request.form.get("password") or ""
    confirm = request.form.get("password_confirm") or ""
    if len(password) < service.PASSWORD_MIN_LENGTH:
        errors["password"] = _("Mật khẩu cần ít nhất %(n)d ký tự.", n=service.PASSWORD_MIN_LENGTH)
    elif len(password) > service.PASSWORD_MAX_LENGTH:
        errors["password"] = _("Mật khẩu tối đa %(n)d ký tự.", n=service.PASSWORD_MAX_LENGTH)
    elif password != confirm:
        errors["password_confirm"] = _("Hai lần nhập mật khẩu không khớp.")
    return password


def _users_page(status: int = 200):
    people = list(db().scalars(select(User).order_by(User.username)))
    return render_template("ui/admin_users.html", users=people, role_labels=role_labels()), status


@bp.get("/users")
@roles_required(ROLE_ADMIN)
def users():
    return _users_page()


def _user_form(user: User | None, values: dict, errors: dict):
    if errors:
        _invalid_form()
    return render_template(
        "ui/admin_user_form.html", user=user, values=values, errors=errors, roles=ROLES,
        role_labels=role_labels(), departments=_departments(),
    ), 422 if errors else 200


@bp.route("/users/new", methods=["GET", "POST"])
@roles_required(ROLE_ADMIN)
def user_new():
    if request.method == "GET":
        return _user_form(None, {"username": "", "full_name": "", "roles": [], "departments": []}, {})
    values, errors = _read_user_form()
    values["username"] = _text("username").lower()
    if not values["username"]:
        errors["username"] = _("Trường này là bắt buộc.")
    elif not service.USERNAME_PATTERN.match(values["username"]):
        errors["username"] = _("Chỉ gồm chữ thường không dấu, chữ số và . _ - (2 đến 100 ký tự).")
    elif db().scalar(select(User.id).where(User.username == values["username"])) is not None:
        errors["username"] = _("Tên đăng nhập này đã có.")
    password = _check_password(errors)
    if not errors:
        session = db()
        try:
            user = service.create_user(session, values["username"], password, values["roles"],
                                       values["departments"], values["full_name"])
            session.commit()
        except IntegrityError:  # created by someone else at the same moment
            session.rollback()
            errors["username"] = _("Tên đăng nhập này đã có.")
        else:
            _audit("user.create", f"user:{user.username}", roles=user.roles,
                   departments=[d.code for d in user.departments])
            flash(_("Đã tạo người dùng %(name)s.", name=user.username), "success")
            return redirect(url_for("admin.users"), 303)
    return _user_form(None, values, errors)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles_required(ROLE_ADMIN)
def user_edit(user_id: int):
    user = _user_or_404(user_id)
    if request.method == "GET":
        return _user_form(user, {
            "full_name": user.full_name or "", "roles": list(user.roles or ()),
            "departments": [d.code for d in user.departments], "is_active": user.is_active,
        }, {})
    values, errors = _read_user_form()
    values["is_active"] = request.form.get("is_active") == "1"
    if user.id == current_user.id:
        if ROLE_ADMIN not in values["roles"]:
            errors["roles"] = _("Bạn không thể bỏ vai trò quản trị của chính mình.")
        if not values["is_active"]:
            errors["is_active"] = _("Bạn không thể tự khóa tài khoản của mình.")
    if errors:
        return _user_form(user, values, errors)
    before = {"full_name": user.full_name, "roles": list(user.roles or ()),
              "departments": sorted(d.code for d in user.departments), "active": user.is_active}
    service.update_user(db(), user, full_name=values["full_name"], roles=values["roles"],
                        departments=values["departments"], is_active=values["is_active"])
    after = {"full_name": user.full_name, "roles": list(user.roles),
             "departments": sorted(d.code for d in user.departments), "active": user.is_active}
    db().commit()
    changes = {key: after[key] for key in after if after[key] != before[key]}
    _audit("user.update", f"user:{user.username}", **changes)
    flash(_("Đã lưu người dùng %(name)s.", name=user.username), "success")
    return redirect(url_for("admin.users"), 303)


@bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
@roles_required(ROLE_ADMIN)
def user_password(user_id: int):
    user = _user_or_404(user_id)
    errors: dict[str, str] = {}
    if request.method == "POST":
        password = _check_password(errors)
        if not errors:
            service.set_password(user, password)
            db().commit()
            if user.id == current_user.id:
                login_user(user)  # keep this session; every other one of this person ends
            _audit("user.password_reset", f"user:{user.username}")
            flash(_("Đã đặt mật khẩu mới cho %(name)s; các phiên đăng nhập cũ đã kết thúc.", name=user.username),
                  "success")
            return redirect(url_for("admin.users"), 303)
        _invalid_form()
    return render_template("ui/admin_user_password.html", user=user, errors=errors), 422 if errors else 200


@bp.post("/users/<int:user_id>/deactivate")
@roles_required(ROLE_ADMIN)
def user_deactivate(user_id: int):
    user = _user_or_404(user_id)
    if user.id == current_user.id:
        flash(_("Bạn không thể tự khóa tài khoản của mình."), "error")
        return _users_page(422)
    if not user.is_active:
        flash(_("Tài khoản %(name)s đã bị khóa từ trước.", name=user.username), "info")
        return redirect(url_for("admin.users"), 303)
    user.is_active = False
    db().commit()
    _audit("user.deactivate", f"user:{user.username}")
    flash(_("Đã khóa tài khoản %(name)s; các phiên đăng nhập và mã API của người này không còn dùng được.",
            name=user.username), "success")
    return redirect(url_for("admin.users"), 303)


# ----------------------------------------------------------------- departments
def _department_or_404(code: str) -> Department:
    dept = db().get(Department, code)
    if dept is None:
        abort(404)
    return dept


def _read_department_names(errors: dict) -> dict:
    values = {"name_vi": _text("name_vi"), "name_en": _text("name_en")}
    _check_text(errors, "name_vi", values["name_vi"], required=True)
    _check_text(errors, "name_en", values["name_en"], required=False)
    return values


def _department_form(dept: Department | None, values: dict, errors: dict):
    if errors:
        _invalid_form()
    return render_template("ui/admin_department_form.html", department=dept, values=values,
                           errors=errors), 422 if errors else 200


@bp.get("/departments")
@roles_required(ROLE_ADMIN)
def departments():
    people = dict(db().execute(
        select(user_departments.c.department_code, func.count()).group_by(user_departments.c.department_code)
    ).all())
    return render_template("ui/admin_departments.html", departments=_departments(), people=people)


@bp.route("/departments/new", methods=["GET", "POST"])
@roles_required(ROLE_ADMIN)
def department_new():
    if request.method == "GET":
        return _department_form(None, {"code": "", "name_vi": "", "name_en": ""}, {})
    errors: dict[str, str] = {}
    values = {"code": _text("code"), **_read_department_names(errors)}
    if not values["code"]:
        errors["code"] = _("Trường này là bắt buộc.")
    elif not service.DEPARTMENT_CODE_PATTERN.match(values["code"]):
        errors["code"] = _("Mã chỉ gồm chữ in hoa không dấu, chữ số và dấu gạch dưới (tối đa 50 ký tự).")
    elif db().get(Department, values["code"]) is not None:
        errors["code"] = _("Mã phòng này đã có.")
    if not errors:
        session = db()
        try:
            service.create_department(session, values["code"], values["name_vi"], values["name_en"] or None)
            session.commit()
        except IntegrityError:
            session.rollback()
            errors["code"] = _("Mã phòng này đã có.")
        else:
            _audit("department.create", f"department:{values['code']}", name_vi=values["name_vi"],
                   name_en=values["name_en"] or None)
            flash(_("Đã tạo phòng %(code)s.", code=values["code"]), "success")
            return redirect(url_for("admin.departments"), 303)
    return _department_form(None, values, errors)


@bp.route("/departments/<department_code>", methods=["GET", "POST"])
@roles_required(ROLE_ADMIN)
def department_edit(department_code: str):
    dept = _department_or_404(department_code)
    if request.method == "GET":
        return _department_form(dept, {"code": dept.code, "name_vi": dept.name_vi, "name_en": dept.name_en or ""}, {})
    errors: dict[str, str] = {}
    values = {"code": dept.code, **_read_department_names(errors)}
    if errors:
        return _department_form(dept, values, errors)
    session = db()
    unmapped_before = set(service.unmapped_lanes(session))
    before = {"name_vi": dept.name_vi, "name_en": dept.name_en}
    dept.name_vi, dept.name_en = values["name_vi"], values["name_en"] or None
    session.flush()
    lost = sorted(set(service.unmapped_lanes(session)) - unmapped_before)
    session.commit()
    changes = {key: getattr(dept, key) for key in before if getattr(dept, key) != before[key]}
    _audit("department.update", f"department:{dept.code}", **changes)
    flash(_("Đã lưu phòng %(code)s.", code=dept.code), "success")
    if lost:
        flash(_("Các làn sau được nhận theo tên cũ của phòng và nay chưa gắn phòng nào: %(lanes)s. "
                "Hãy thêm ánh xạ làn → phòng.", lanes=", ".join(lost)), "error")
    return redirect(url_for("admin.departments"), 303)


# ------------------------------------------------------------ lanes → departments
def _lanes_page(values: dict, errors: dict):
    session = db()
    if errors:
        _invalid_form()
    return render_template(
        "ui/admin_lanes.html",
        mappings=list(session.scalars(select(LaneMapping).order_by(LaneMapping.lane))),
        names={d.code: d.name_vi for d in _departments()},
        departments=_departments(),
        unmapped=service.unmapped_lanes(session),
        values=values,
        errors=errors,
    ), 422 if errors else 200


@bp.route("/lanes", methods=["GET", "POST"])
@roles_required(ROLE_ADMIN)
def lanes():
    if request.method == "GET":
        return _lanes_page({"lane": request.args.get("lane", "")[:LANE_MAX], "department": ""}, {})
    # a lane name is kept as drawn (only surrounding spaces removed): the runtime compares it exactly
    values = {"lane": _text("lane"), "department": _text("department")}
    errors: dict[str, str] = {}
    _check_text(errors, "lane", values["lane"], required=True, max_len=LANE_MAX)
    if "lane" not in errors and db().get(LaneMapping, values["lane"]) is not None:
        errors["lane"] = _("Làn này đã được gắn với một phòng; xóa ánh xạ cũ trước.")
    if not values["department"]:
        errors["department"] = _("Chọn một phòng.")
    elif db().get(Department, values["department"]) is None:
        errors["department"] = _("Phòng không tồn tại.")
    if not errors:
        session = db()
        try:
            service.map_lane(session, values["lane"], values["department"])
            session.commit()
        except IntegrityError:
            session.rollback()
            errors["lane"] = _("Làn này đã được gắn với một phòng; xóa ánh xạ cũ trước.")
        else:
            _audit("lane.map", f"lane:{values['lane']}", department=values["department"])
            flash(_("Đã gắn làn “%(lane)s” với phòng %(code)s. Áp dụng cho các bước mới.",
                    lane=values["lane"], code=values["department"]), "success")
            return redirect(url_for("admin.lanes"), 303)
    return _lanes_page(values, errors)


@bp.post("/lanes/delete")
@roles_required(ROLE_ADMIN)
def lane_delete():
    session = db()
    mapping = session.get(LaneMapping, request.form.get("lane") or "")
    if mapping is None:
        abort(404)
    lane, code = mapping.lane, mapping.department_code
    service.unmap_lane(session, lane)
    session.commit()
    _audit("lane.unmap", f"lane:{lane}", department=code)
    flash(_("Đã xóa ánh xạ làn “%(lane)s”.", lane=lane), "success")
    return redirect(url_for("admin.lanes"), 303)


AUDIT_PAGE_SIZE = 100


@bp.get("/audit")
@roles_required(ROLE_ADMIN)
def audit_log():
    """The append-only audit log, newest first, filtered by action prefix and person."""
    from accounts import audit as audit_service

    action = (request.args.get("action") or "").strip()[:60]
    actor = (request.args.get("actor") or "").strip()[:100]
    page = request.args.get("page", "1")
    page = int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1
    entries = audit_service.recent(db(), action=action or None, actor=actor or None,
                                   limit=AUDIT_PAGE_SIZE + 1, offset=(page - 1) * AUDIT_PAGE_SIZE)
    return render_template("ui/admin_audit.html", entries=entries[:AUDIT_PAGE_SIZE], page=page,
                           has_next=len(entries) > AUDIT_PAGE_SIZE, action=action, actor=actor)
