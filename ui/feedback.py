"""Leaders follow up negative ratings and complaints from the satisfaction survey.

A department leader sees those of their departments' dossiers; the center's leaders and
administrators see all (dossiers.feedback). Each follow-up records the note, who and when.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from dossiers import feedback
from engine.errors import EngineError, NotFound
from server.database import db
from ui.security import current_actor, roles_required

bp = Blueprint("feedback", __name__, url_prefix="/feedback")


def _list(pending: bool, errors: dict[int, str] | None = None, values: dict[int, str] | None = None):
    ratings = feedback.negative_ratings(db(), current_actor(), pending_only=pending)
    return render_template("ui/feedback.html", ratings=ratings, pending=pending, errors=errors or {},
                           values=values or {}, note_max=feedback.NOTE_MAX)


@bp.get("")
@roles_required(*feedback.FEEDBACK_ROLES)
def index():
    return _list(request.args.get("pending") == "1")


@bp.post("/<int:rating_id>/follow-up")
@roles_required(*feedback.FEEDBACK_ROLES)
def follow_up(rating_id: int):
    session = db()
    note = (request.form.get("note") or "").strip()
    pending = request.form.get("pending") == "1"
    try:
        feedback.follow_up(session, rating_id, note, current_actor())
        session.commit()
    except NotFound:
        session.rollback()
        abort(404)  # unknown, or another department's: not confirmed either way
    except EngineError as exc:
        session.rollback()
        known = (exc.detail or {}).get("errors") or {}
        message = (_("Ghi chú dài tối đa %(n)s ký tự.", n=feedback.NOTE_MAX) if "at most" in known.get("note", "")
                   else _("Ghi rõ việc đã làm để xử lý phản ánh."))
        flash(_("Chưa ghi nhận được việc xử lý: vui lòng sửa ô được đánh dấu."), "error")
        return _list(pending, {rating_id: message}, {rating_id: note}), 422
    flash(_("Đã ghi nhận việc xử lý phản ánh."), "success")
    return redirect(url_for("feedback.index", pending="1" if pending else None, _anchor=f"rating-{rating_id}"))
