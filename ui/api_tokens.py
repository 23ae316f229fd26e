"""Administration of API tokens (administrators only): who holds which token, with which scopes, when it was
last used, what it created; revoke one, with or without the tokens created through it.

Views are thin: the list is ``accounts.service.tokens_query`` and a revocation ``revoke_token``, the same
functions as the REST API (api/tokens.py) and ``flask tokens``. Secrets are never shown: only their
prefix. Tokens are created over the API or with ``flask tokens create`` (the secret is shown once there).
"""

from __future__ import annotations

import math

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from accounts.models import ApiToken, User
from accounts.service import revoke_token, tokens_query
from engine.actors import ROLE_ADMIN
from engine.errors import NotFound
from server.database import db
from ui.security import administrators_only, roles_required

bp = Blueprint("tokens_admin", __name__, url_prefix="/admin/integrations/tokens")

PAGE_SIZE = 50
STATES = ("active", "revoked", "all")


bp.before_request(administrators_only)  # every page: signed in, role admin


@bp.get("")
@roles_required(ROLE_ADMIN)
def tokens():
    """Every token, newest first; by state (active by default) and owner."""
    state = request.args.get("state") or "active"
    owner = (request.args.get("owner") or "").strip()[:100]
    page = request.args.get("page", "1")
    if state not in STATES or not page.isdigit() or int(page) < 1:
        abort(400)
    page_number = int(page)
    query = tokens_query(revoked={"active": False, "revoked": True}.get(state))
    if owner:
        query = query.where(ApiToken.user_id.in_(select(User.id).where(User.username == owner)))
    session = db()
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = list(session.scalars(query.order_by(ApiToken.id.desc()).limit(PAGE_SIZE)
                                .offset((page_number - 1) * PAGE_SIZE)))
    children = dict(session.execute(
        select(ApiToken.parent_id, func.count()).where(ApiToken.parent_id.in_([t.id for t in rows]),
                                                       ApiToken.revoked_at.is_(None))
        .group_by(ApiToken.parent_id)).all())
    owners = list(session.scalars(select(User.username).where(User.id.in_(select(ApiToken.user_id)))
                                  .order_by(User.username)))
    return render_template(
        "integrations/tokens.html", tokens=rows, children=children, total=total, page=page_number,
        pages=max(1, math.ceil(total / PAGE_SIZE)), state=state, owner=owner, owners=owners,
        default_limit=_default_limit(), section="integrations")


def _default_limit() -> str:
    from flask import current_app

    return current_app.config.get("API_RATE_LIMIT", "600/minute")


@bp.post("/<int:token_id>/revoke")
@roles_required(ROLE_ADMIN)
def revoke(token_id: int):
    """Revoke at once; the tokens created through it too unless the form says keep them (a rotation)."""
    session = db()
    keep_children = request.form.get("keep_children") == "1"
    try:
        row = revoke_token(session, token_id, children=not keep_children)
    except NotFound:
        abort(404)
    session.commit()
    if keep_children:
        flash(_("Đã thu hồi khóa #%(id)d (%(name)s); các khóa tạo từ nó vẫn dùng được.", id=row.id, name=row.name),
              "success")
    else:
        flash(_("Đã thu hồi khóa #%(id)d (%(name)s) và các khóa tạo từ nó.", id=row.id, name=row.name), "success")
    state = request.form.get("state")
    return redirect(url_for(".tokens", state=state if state in STATES else None,
                            owner=(request.form.get("owner") or "")[:100] or None), 303)
