"""Dossier pages: search, and one dossier with its diagram, control sheet, documents, history and slips.

The diagram is drawn in the browser by the bpmn-js viewer (``ui/static/vendor/bpmn-js``,
installed by ``scripts/assets.sh``) from ``GET /dossiers/<code>/diagram.json``; the page
also lists the steps as text for when scripts are off or the diagram cannot be drawn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import login_required
from lxml import etree
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity, SubWorkflowTask
from sqlalchemy import select

from api.dossiers import dossier_visibility
from dossiers import lateness, slips
from dossiers.control_sheet import RESULT_LABELS, control_sheet
from dossiers.lateness import due_state
from dossiers.models import STATUS_NAMES, Dossier
from dossiers.notifications import vn_date
from engine import deadlines
from engine.actors import ROLE_CENTER_LEADER, Actor
from engine.calendar import VN_TZ
from engine.db import utcnow
from engine.errors import EngineError
from engine.models import TASK_READY, Department, EventLogEntry, HumanTask, ProcessVersion, Wait
from engine.parser import XmlRejected, parse_xml, public_id
from engine.runtime import Runtime
from engine.serialization import spec_cache
from server.database import db
from ui.security import current_actor
from ui.uploads import stored_path

bp = Blueprint("dossier_pages", __name__, url_prefix="/dossiers")
PAGE_SIZE = 25
# event-log kinds that mean "this element is done" (the engine's completion kinds)
COMPLETION_KINDS = ("task_completed", "step_completed", "timer_fired", "message_caught")
# the appointment of a new date is at the end of the working day, Vietnam time
APPOINTMENT_TIME = time(17, 0)
DATE_RE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*$")
REASON_MAX = 2000


def visible(code: str) -> Dossier:
    dossier = db().scalar(select(Dossier).where(Dossier.code == code, dossier_visibility(current_actor())))
    if dossier is None:
        abort(404)
    return dossier


@bp.get("")
@login_required
def index():
    visible = dossier_visibility(current_actor())
    query = select(Dossier).where(visible)
    q = (request.args.get("q") or "").strip()[:100]
    status = request.args.get("status", "")
    if q:
        if db().scalar(select(Dossier.id).where(Dossier.code == q, visible)) is not None:
            query = query.where(Dossier.code == q)  # a tracking code: its unique index answers alone
        else:
            escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(Dossier.applicant_name.ilike(f"%{escaped}%", escape="\\"))
    if status.isdigit() and int(status) in STATUS_NAMES:
        query = query.where(Dossier.status_code == int(status))
    page = int(request.args.get("page", "1")) if request.args.get("page", "1").isdigit() else 1
    dossiers = list(db().scalars(query.order_by(Dossier.submitted_at.desc()).limit(PAGE_SIZE + 1)
                                 .offset((page - 1) * PAGE_SIZE)))
    return render_template("ui/dossiers.html", dossiers=dossiers[:PAGE_SIZE], more=len(dossiers) > PAGE_SIZE,
                           page=page, q=q, status=status, statuses=STATUS_NAMES, due_state=due_state)


@bp.get("/<code>")
@login_required
def detail(code: str):
    return render_template("ui/dossier.html", **_page(visible(code)))


@bp.get("/<code>/diagram.json")
@login_required
def diagram(code: str):
    """The BPMN XML of the dossier's process version and where the dossier stands in it."""
    state = diagram_state(visible(code))
    response = jsonify({"xml": state.xml, "active": state.active, "completed": state.completed,
                        "overdue": state.overdue})
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.post("/<code>/apology")
@login_required
def apology(code: str):
    """Issue the apology letter (Form 04) with a new appointment date (the citizen is notified)."""
    dossier = visible(code)
    actor = current_actor()
    if not may_apologise(actor, dossier):
        abort(403)
    raw_date = (request.form.get("new_appointment") or "").strip()
    reason = (request.form.get("reason") or "").strip()
    errors: dict[str, str] = {}
    new_at = parse_vn_date(raw_date)
    if new_at is None:
        errors["new_appointment"] = _("Nhập ngày hẹn mới theo dạng dd/mm/yyyy.")
    elif not deadlines.current_calendar().is_working_day(new_at.date()):
        errors["new_appointment"] = _("Ngày hẹn mới phải là ngày làm việc.")
    if not reason:
        errors["reason"] = _("Nêu lý do chậm trễ.")
    elif len(reason) > REASON_MAX:
        errors["reason"] = _("Lý do dài tối đa %(n)s ký tự.", n=REASON_MAX)
    session = db()
    if not errors:
        try:
            lateness.issue_apology(session, dossier, new_at, reason, actor)
            session.commit()
        except EngineError as exc:
            session.rollback()
            errors = _apology_errors(exc)
    if errors:
        flash(_("Chưa phát hành được thư xin lỗi: vui lòng sửa các trường được đánh dấu."), "error")
        values = {"new_appointment": raw_date, "reason": reason}
        return render_template("ui/dossier.html", **_page(dossier, values, errors)), 422
    flash(_("Đã phát hành thư xin lỗi (mẫu 04); ngày hẹn trả mới: %(day)s.", day=vn_date(new_at)), "success")
    return redirect(url_for("dossier_pages.detail", code=dossier.code, _anchor="apology"))


@bp.get("/<code>/slips/<kind>")
@login_required
def slip(code: str, kind: str):
    """Forms 01–05 for the signed-in civil servant (the API serves the same slips to integrators)."""
    dossier = visible(code)
    try:
        rendered = slips.render_slip(db(), dossier, kind, request.host_url)
    except EngineError:
        abort(404)  # unknown slip, or one this dossier does not have (no receipt before acceptance...)
    if request.args.get("format") == "pdf":
        return Response(rendered.pdf(), mimetype="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{rendered.filename}.pdf"'})
    return Response(rendered.html, mimetype="text/html")


@bp.get("/<code>/files/<digest>")
@login_required
def attachment(code: str, digest: str):
    dossier = visible(code)
    known = [a for a in _files(dossier) if a.get("sha256") == digest]
    path = stored_path(digest)
    if not known or path is None:
        abort(404)
    return send_file(path, mimetype=known[0].get("content_type", "application/octet-stream"),
                     download_name=known[0]["name"], as_attachment=False)


# ---------------------------------------------------------------------------- helpers
def may_apologise(actor: Actor, dossier: Dossier) -> bool:
    """The department or desk handling the dossier, administrators and the center's leaders."""
    if actor.is_admin or ROLE_CENTER_LEADER in actor.roles:
        return True
    handling = {dossier.current_department, dossier.responsible_department, dossier.desk} - {None}
    return bool(handling & actor.groups)


def parse_vn_date(text: str) -> datetime | None:
    """dd/mm/yyyy as people write it -> that day at 17:00 Vietnam time (None if not a real date)."""
    match = DATE_RE.match(text or "")
    if not match:
        return None
    day, month, year = (int(g) for g in match.groups())
    try:
        return datetime.combine(date(year, month, day), APPOINTMENT_TIME, VN_TZ)
    except ValueError:
        return None


def _apology_errors(exc: EngineError) -> dict[str, str]:
    known = (exc.detail or {}).get("errors") or {}
    errors = {}
    if "new_appointment_at" in known:
        errors["new_appointment"] = _("Ngày hẹn mới phải sau ngày hẹn hiện tại.")
    if "reason" in known:
        errors["reason"] = _("Nêu lý do chậm trễ.")
    if not errors:
        errors["form"] = _("Hồ sơ đã kết thúc, không thể phát hành thư xin lỗi.") if exc.status == 409 else exc.message
    return errors


@dataclass
class Step:
    element_id: str
    name: str
    state: str  # done | current | overdue
    at: datetime | None = None


@dataclass
class DiagramState:
    xml: str
    active: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    overdue: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)  # the text fallback: named steps done, then where it is


def diagram_state(dossier: Dossier, tasks: list[HumanTask] | None = None,
                  events: list[EventLogEntry] | None = None, with_xml: bool = True) -> DiagramState:
    """Where the dossier stands on its diagram, as element ids of the process version's XML.

    Active: open human tasks and waiting catch events (not the boundary timers that watch a
    task's budget). Completed: elements the event log records as done. Elements inside a
    called subprocess (``collect_fee``, ``return_result``) are not in the caller's XML: the
    callActivity that runs them is marked instead.
    """
    session = db()
    version = session.get(ProcessVersion, dossier.instance.version_id)
    elements, callers = _layout(version)
    xml = version.file.content if with_xml else ""

    def placed(element_id: str | None) -> list[str]:
        if element_id in elements:
            return [element_id]
        return callers.get(element_id, [])

    state = DiagramState(xml=xml)
    now = utcnow()
    current: dict[str, Step] = {}
    if tasks is None:
        tasks = _open_tasks(dossier.id)
    for task in tasks:
        late = task.due_at is not None and task.due_at < now
        for element_id in placed(task.element_id):
            _add(state.active, element_id)
            if late:
                _add(state.overdue, element_id)
            step = current.setdefault(element_id, Step(element_id, _name(elements, element_id, task.name),
                                                       "current", task.created_at))
            if late:
                step.state = "overdue"
    waits = session.scalars(select(Wait).where(Wait.instance_id == dossier.id).order_by(Wait.id))
    for wait in waits:
        if elements.get(wait.element_id, ("", None))[0] == "boundaryEvent":
            continue  # a timer watching a task's budget: the task is where the dossier is
        for element_id in placed(wait.element_id):
            _add(state.active, element_id)
            current.setdefault(element_id, Step(element_id, _name(elements, element_id), "current"))
    done: dict[str, Step] = {}
    if events is None:
        events = list(session.scalars(select(EventLogEntry).where(EventLogEntry.instance_id == dossier.id,
                                                                  EventLogEntry.kind.in_(COMPLETION_KINDS))
                                      .order_by(EventLogEntry.id)))
    for event in events:
        if event.kind not in COMPLETION_KINDS or event.element_id not in elements:
            continue  # inside a subprocess: its callActivity is logged when the subprocess ends
        _add(state.completed, event.element_id)
        kind, name = elements[event.element_id]
        if event.element_id not in current and name and not kind.endswith("Gateway"):
            done[event.element_id] = Step(event.element_id, _name(elements, event.element_id, event.element_name),
                                          "done", event.at)
    state.steps = sorted(done.values(), key=lambda s: s.at) + list(current.values())
    return state


def _open_tasks(dossier_id: str) -> list[HumanTask]:
    return list(db().scalars(select(HumanTask).where(HumanTask.instance_id == dossier_id,
                                                     HumanTask.state == TASK_READY)
                             .order_by(HumanTask.created_at, HumanTask.id)))


# process version -> (its diagram's elements, callActivity callers): a deployed version never changes, so the
# XML is read and parsed once per process, not on every page (keyed with the hash and time: test databases
# reuse ids)
_LAYOUTS: dict[tuple, tuple[dict, dict]] = {}


def _layout(version: ProcessVersion) -> tuple[dict, dict]:
    key = (version.id, version.content_hash, version.created_at)
    cached = _LAYOUTS.get(key)
    if cached is None:
        elements = _xml_elements(version.file.content, version.file.name)
        cached = (elements, _callers(version, set(elements)))
        if len(_LAYOUTS) >= 512:
            _LAYOUTS.clear()
        _LAYOUTS[key] = cached
    return cached


def _add(items: list[str], value: str) -> None:
    if value not in items:
        items.append(value)


def _name(elements: dict, element_id: str, fallback: str | None = None) -> str:
    return (elements.get(element_id, ("", None))[1] or fallback or element_id).replace("\n", " ")


def _xml_elements(xml: str, filename: str) -> dict[str, tuple[str, str | None]]:
    """Every element of the diagram with an id: id -> (kind, e.g. userTask; name)."""
    try:
        root = parse_xml(xml.encode("utf-8"), filename).getroot()
    except XmlRejected:
        return {}
    found = {}
    for el in root.iter():
        if isinstance(el.tag, str) and el.get("id"):
            found[el.get("id")] = (etree.QName(el).localname, el.get("name"))
    return found


def _callers(version: ProcessVersion, in_diagram: set[str]) -> dict[str, list[str]]:
    """Element id inside a called process -> the callActivity id(s) of this diagram that call it."""
    try:
        spec, subprocess_specs = spec_cache.get(version.id, lambda: version.spec_json)
    except Exception:  # noqa: BLE001 - the diagram is still shown, only without subprocess positions
        return {}

    def inside(process_id: str, seen: frozenset[str]) -> set[str]:
        sub = subprocess_specs.get(process_id)
        if sub is None or process_id in seen:
            return set()
        ids = set()
        for task_spec in sub.task_specs.values():
            if getattr(task_spec, "bpmn_id", None):
                ids.add(public_id(task_spec.bpmn_id))
            if isinstance(task_spec, SubWorkflowTask):
                ids |= inside(task_spec.spec, seen | {process_id})
        return ids

    callers: dict[str, list[str]] = {}
    for task_spec in spec.task_specs.values():
        if isinstance(task_spec, CallActivity) and getattr(task_spec, "bpmn_id", None):
            caller = public_id(task_spec.bpmn_id)
            for element_id in inside(task_spec.spec, frozenset()) - in_diagram:
                _add(callers.setdefault(element_id, []), caller)
    return callers


def _files(dossier: Dossier) -> list[dict]:
    """Documents attached to the dossier or uploaded in its task forms."""
    files = [a for a in dossier.attachments if isinstance(a, dict)]
    for value in (dossier.instance.data or {}).values():
        if isinstance(value, dict) and value.get("sha256"):
            files.append(value)
    return files


def _documents(dossier: Dossier) -> list[dict]:
    """The documents list of the page: each file once, with whether it can be opened here."""
    seen, documents = set(), []
    for item in _files(dossier):
        name = str(item.get("name") or item.get("sha256") or "").strip()
        if not name:
            continue
        digest = item.get("sha256") if isinstance(item.get("sha256"), str) else None
        key = digest or name
        if key in seen:
            continue
        seen.add(key)
        documents.append({"name": name, "sha256": digest, "size": item.get("size"),
                          "content_type": item.get("content_type"),
                          "stored": bool(digest) and stored_path(digest) is not None})
    return documents


def _page(dossier: Dossier, values: dict | None = None, errors: dict | None = None) -> dict:
    session = db()
    runtime = Runtime(session)
    departments = {d.code: d.name_vi for d in session.scalars(select(Department))}
    due = due_state(dossier)
    draft = next((a for a in dossier.apologies if a.state == "draft"), None)
    issued = [a for a in dossier.apologies if a.state == "issued"]
    apology_open = dossier.is_open and (due.state in ("warned", "overdue") or draft is not None)
    if values is None:
        values = {"new_appointment": vn_date(draft.new_appointment_at) if draft and draft.new_appointment_at else "",
                  "reason": (draft.reason or "") if draft else ""}
    # the open tasks and the history, read once for the step list and the page
    tasks, events = _open_tasks(dossier.id), runtime.events(dossier.id)
    steps = diagram_state(dossier, tasks, events, with_xml=False).steps
    return {
        "dossier": dossier, "due": due, "tasks": tasks, "events": events,
        "departments": departments, "statuses": STATUS_NAMES, "control_rows": control_sheet(session, dossier),
        "result_labels": RESULT_LABELS, "documents": _documents(dossier), "steps": steps,
        "apology_open": apology_open or bool(errors), "apology_draft": draft, "apologies_issued": issued,
        "may_apologise": may_apologise(current_actor(), dossier),
        "apology_values": values, "apology_errors": errors or {}, "event_labels": event_labels(),
    }


def event_labels() -> dict[str, str]:
    """What each kind of history entry means, for people (the API keeps the codes)."""
    return {
        "instance_started": _("Nộp hồ sơ"), "task_created": _("Chuyển đến"), "task_completed": _("Hoàn thành bước"),
        "task_claimed": _("Nhận việc"), "task_released": _("Trả việc"), "message_received": _("Nhận thông báo"),
        "timer_fired": _("Đến hạn"), "dossier_status": _("Trạng thái"), "error": _("Lỗi xử lý"),
        "apology_issued": _("Phát hành thư xin lỗi"), "overdue": _("Quá hạn"),
        "overdue_warning": _("Cảnh báo sắp quá hạn"),
        "instance_completed": _("Kết thúc"), "instance_terminated": _("Dừng xử lý"),
        "rating_follow_up": _("Xử lý phản ánh"),
    }
