"""Administration: people, departments, lane → department mapping."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import select

from accounts.models import User
from engine.models import Department, LaneMapping
from server.database import db
from ui.security import roles_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/users")
@roles_required("admin")
def users():
    return render_template(
        "ui/admin_users.html",
        users=list(db().scalars(select(User).order_by(User.username))),
        departments=list(db().scalars(select(Department).order_by(Department.code))),
        mappings=list(db().scalars(select(LaneMapping).order_by(LaneMapping.lane))),
    )
