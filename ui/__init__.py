"""The web app for civil servants, designers and leaders: server-rendered Flask + Jinja.

Vietnamese by default (Flask-Babel, English available), dates dd/mm/yyyy, CSRF on every
form, sign-in with Flask-Login. Each concern is a blueprint in its own module.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, redirect, render_template, request, send_from_directory, session, url_for
from flask_babel import get_translations
from flask_login import current_user
from jinja2 import pass_context
from markupsafe import Markup

from accounts.models import User
from api.errors import http_problem
from dossiers.notifications import vn_date, vn_datetime
from server.database import db
from server.extensions import babel, csrf, limiter, login_manager


def vn_iso_date(value) -> str:
    """An ISO date string from task data shown as people write it: 2026-11-23 -> 23/11/2026."""
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        return f"{value[8:10]}/{value[5:7]}/{value[0:4]}"
    return "" if value is None else str(value)


def _newstyle(func, plural: bool = False):
    """What Jinja's i18n extension does with newstyle=True: the text is markup when autoescaping, and the
    %(name)s values (escaped) are filled in; ngettext(singular, plural, num) also offers %(num)s."""

    @pass_context
    def translate(context, *args, **variables):
        if plural:
            variables.setdefault("num", args[2])
        text = func(*args)
        if context.eval_ctx.autoescape:
            text = Markup(text)  # noqa: S704 - our own catalogue, as Jinja's newstyle gettext does
        return text % variables
    return translate


def _locale() -> str:
    return session.get("lang") or "vi"


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "vi")
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Ho_Chi_Minh")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(Path(__file__).parent / "translations"))
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 8 * 3600)  # a working day
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("RATELIMIT_STORAGE_URI", "memory://"))
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    babel.init_app(app, locale_selector=_locale)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(token: str) -> User | None:
        user_id, _, fingerprint = token.partition(".")
        if not user_id.isdigit():
            return None
        user = db().get(User, int(user_id))
        if user is None or not user.is_active or user.get_id() != token:
            return None  # password changed or account disabled: the old session ends
        return user

    from ui import (
        admin,
        api_tokens,
        auth,
        bottlenecks,
        dashboard,
        designer,
        dossier_pages,
        feedback,
        inbox,
        integrations,
        public,
        reception,
        tasks,
    )

    for module in (auth, inbox, tasks, dossier_pages, reception, admin, public, feedback, dashboard, bottlenecks,
                   designer):
        app.register_blueprint(module.bp)
    app.register_blueprint(integrations.bp)  # /admin/integrations: webhooks and the delivery log
    app.register_blueprint(api_tokens.bp)  # /admin/integrations/tokens: API tokens, revocation

    static_dir = Path(__file__).parent / "static"
    app.add_url_rule(
        "/static/<path:filename>", endpoint="static_ui",
        view_func=lambda filename: send_from_directory(static_dir, filename, max_age=3600),
    )
    app.jinja_env.filters["vn_date"] = vn_date
    app.jinja_env.filters["vn_datetime"] = vn_datetime
    app.jinja_env.filters["vn_iso_date"] = vn_iso_date

    @app.context_processor
    def _globals():
        # gettext bound to this request's catalogue: templates call _() ~200 times a page, and Flask-Babel's
        # global looks the catalogue up through several context locals on every call (~7 ms of the inbox)
        translations = get_translations()
        return {"lang": _locale(), "current_path": request.full_path.rstrip("?"),
                "gettext": _newstyle(translations.ugettext),
                "ngettext": _newstyle(translations.ungettext, plural=True)}

    @app.get("/favicon.ico")
    def favicon():
        return "", 204, {"Cache-Control": "public, max-age=86400"}  # no icon yet; no 404 noise

    @app.get("/")
    def home():
        if current_user.is_authenticated:
            return redirect(url_for("inbox.index"))
        return redirect(url_for("auth.login"))

    @app.errorhandler(403)
    def forbidden(_exc):
        if request.path.startswith("/api/"):
            return http_problem(_exc)  # the API answers problem+json, never an HTML page
        return render_template("ui/error.html", code=403), 403

    @app.errorhandler(404)
    def not_found(_exc):
        if request.path.startswith("/api/"):
            return http_problem(_exc)  # the API answers problem+json, never an HTML page
        return render_template("ui/error.html", code=404), 404

    @app.errorhandler(429)
    def too_many(_exc):
        if request.path.startswith("/api/"):
            return http_problem(_exc)  # the API answers problem+json, never an HTML page
        return render_template("ui/error.html", code=429), 429

    @app.after_request
    def _content_security_policy(response):
        if not request.path.startswith("/api/v1/docs"):
            response.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'",
            )
        return response
