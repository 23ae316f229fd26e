"""Sign in and out, language choice. Passwords are scrypt hashes; attempts are rate-limited."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from accounts import audit
from accounts.models import User
from accounts.service import check_password
from server.database import db
from server.extensions import limiter

bp = Blueprint("auth", __name__)
LANGUAGES = ("vi", "en")


class LoginForm(FlaskForm):
    username = StringField("username", validators=[DataRequired(), Length(max=100)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=200)])
    remember = BooleanField("remember")


def _safe_next(target: str | None) -> str:
    """Only redirect within this site after sign-in (no open redirect)."""
    if target and not urlsplit(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("inbox.index")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10 per minute; 50 per hour", methods=["POST"], error_message="too many sign-in attempts")
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        user = db().scalar(select(User).where(User.username == form.username.data.strip()))
        if user is not None and check_password(user, form.password.data):
            session.clear()  # a fresh session on sign-in (no fixation)
            login_user(user, remember=form.remember.data)
            audit.record(db(), "auth.sign_in", f"user:{user.username}", actor=user.username)
            db().commit()
            if user.language in LANGUAGES:
                session["lang"] = user.language
            return redirect(_safe_next(request.args.get("next")))
        # the name as typed (never the password), so guessing shows up in the audit log
        audit.record(db(), "auth.sign_in_failed", f"user:{form.username.data.strip()[:100]}", actor="anonymous")
        db().commit()
        flash(_("Tên đăng nhập hoặc mật khẩu không đúng."), "error")
    return render_template("ui/login.html", form=form), 200 if request.method == "GET" else 401


@bp.post("/logout")
@login_required
def logout():
    audit.record(db(), "auth.sign_out", f"user:{current_user.username}", actor=current_user.username)
    db().commit()
    logout_user()
    session.clear()
    flash(_("Đã đăng xuất."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/language/<code>")
def language(code: str):
    if code in LANGUAGES:
        session["lang"] = code
        if current_user.is_authenticated:
            user = db().get(User, current_user.id)
            user.language = code
            db().commit()
    return redirect(_safe_next(request.form.get("next")))
