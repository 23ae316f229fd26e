"""The inbox: my tasks, my departments' unclaimed tasks, tasks I completed."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import login_required

from dossiers.inbox import VIEWS, InboxFilters, counts, inbox_page
from dossiers.models import CHANNELS
from dossiers.procedures import all_procedures
from engine.access import may_work_on
from engine.errors import EngineError
from engine.models import TASK_READY, HumanTask
from engine.runtime import Runtime
from server.database import db
from ui.security import current_actor

bp = Blueprint("inbox", __name__, url_prefix="/inbox")


def _date(value: str | None) -> date | None:
    """dd/mm/yyyy as people write it (ISO accepted too)."""
    if not value:
        return None
    try:
        if "/" in value:
            day, month, year = (int(part) for part in value.split("/"))
            return date(year, month, day)
        return date.fromisoformat(value)
    except ValueError:
        return None


@bp.get("")
@login_required
def index():
    view = request.args.get("view", "department")
    if view not in VIEWS:
        view = "department"
    filters = InboxFilters(
        procedure=request.args.get("procedure") or None,
        step=request.args.get("step") or None,
        due=request.args.get("due") if request.args.get("due") in ("overdue", "warned", "ok") else None,
        channel=request.args.get("channel") if request.args.get("channel") in CHANNELS else None,
        date_from=_date(request.args.get("from")),
        date_to=_date(request.args.get("to")),
        q=(request.args.get("q") or "").strip()[:100] or None,
    )
    page = request.args.get("page", "1")
    result = inbox_page(db(), current_actor(), view, filters, int(page) if page.isdigit() else 1)
    return render_template("ui/inbox.html", view=view, filters=filters, result=result,
                           procedures=all_procedures(db()))


@bp.get("/count")
@login_required
def count():
    return jsonify(counts(db(), current_actor()))


@bp.post("/claim")
@login_required
def bulk_claim():
    """Claim several unclaimed tasks at once (the checkboxes of the department view)."""
    actor = current_actor()
    session = db()
    claimed = 0
    for task_id in request.form.getlist("task_id")[:100]:
        task = session.get(HumanTask, task_id)
        if task is None or task.state != TASK_READY or task.assignee or not may_work_on(actor, task):
            continue
        try:
            Runtime(session).claim(task.id, actor)
            session.commit()
            claimed += 1
        except EngineError:
            session.rollback()
    flash(ngettext("Đã nhận %(num)d việc.", "Đã nhận %(num)d việc.", claimed) if claimed
          else _("Không nhận được việc nào (có thể người khác đã nhận trước)."), "success" if claimed else "error")
    return redirect(url_for("inbox.index", view="mine"))
