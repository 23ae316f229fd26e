"""The process designer's studio: edit diagrams in the browser, validate, deploy versions,
compare them, roll back, and move running dossiers to a new version.

Pages for designers and administrators only (403 for everyone else):

- ``/designer``: the deployed processes (latest version, who/when, running instances), a new
  procedure from the template, upload of ``.bpmn``/``.dmn`` files;
- ``/designer/<process_id>``: the bpmn-js Modeler with the Camunda properties panel (the bundle
  ``ui/static/vendor/designer/designer.bundle.js`` built by ``scripts/assets.sh`` from
  ``ui/static_src/``); validate-as-you-edit through ``POST /designer/lint`` (``engine.lint``,
  the same lines as the CLI), deploy through ``POST /designer/deploy`` (a change note and the
  base version; a newer deploy by someone else answers 409);
- ``/designer/<process_id>/versions``: the history, compare two versions, roll back;
- ``/designer/<process_id>/diff``: two diagrams with the added / removed / changed elements
  marked, the list of changes and the XML diff;
- ``/designer/<process_id>/migrate``: the dry run per running instance, then "move selected";
- ``/designer/decisions``: the DMN tables (list, download; upload on the index page).

The views are thin: the engine's services (``engine.lint``, ``engine.versions``,
``engine.migration``, ``engine.deployments``) do the work; what is only about the studio (the
new-procedure template) is a plain function here that tests call directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from lxml import etree
from sqlalchemy import func, select

from engine import migration as migration_service
from engine import versions as versions_service
from engine.actors import ROLE_ADMIN, ROLE_DESIGNER
from engine.calendar import VN_TZ
from engine.deployments import deploy, latest_version, latest_versions
from engine.errors import Conflict, DeploymentInvalid, EngineError, NotFound
from engine.lint import lint
from engine.models import FINISHED_STATUSES, DecisionVersion, Department, Instance, ProcessVersion
from engine.parser import BPMN_NS
from server.database import db
from ui.migration_reasons import reason_of
from ui.security import current_actor, roles_required

bp = Blueprint("studio", __name__, url_prefix="/designer")
ROLES = (ROLE_DESIGNER, ROLE_ADMIN)
TEMPLATE = Path(__file__).parent / "designer_templates" / "new_procedure.bpmn"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ALLOWED_SUFFIXES = (".bpmn", ".bpmn20.xml", ".dmn", ".xml")
MAX_FILES = 20
MAX_XML_BYTES = 2 * 1024 * 1024  # a diagram of a few hundred elements is ~200 KB
NOTE_MAX = 1000
PROCESS_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$")  # an XML NCName, as BPMN ids are
FILENAME = re.compile(r"^[\w.-]{1,200}$")
PROCEDURE_CODE = re.compile(r"^[0-9A-Za-z.\-]{0,30}$")


def vn_when(value: datetime | None) -> str:
    """dd/mm/yyyy HH:MM, Vietnam time."""
    return value.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M") if value is not None else "—"


@bp.app_template_filter("designer_when")
def _designer_when(value) -> str:
    return vn_when(value)


# ------------------------------------------------------------------ the template
@dataclass
class NewProcedure:
    """The form of a new procedure from the template, checked."""

    process_id: str = ""
    name_vi: str = ""
    name_en: str = ""
    procedure_code: str = ""
    desk: str = "MOTCUA"
    department: str = "SXD"
    leader: str = "LD_SXD"
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args, session) -> NewProcedure:
        form = cls(**{k: (args.get(k) or "").strip()[:200] for k in
                      ("process_id", "name_vi", "name_en", "procedure_code", "desk", "department", "leader")})
        if not PROCESS_ID.match(form.process_id):
            form.errors["process_id"] = _("Mã quy trình bắt đầu bằng chữ cái, chỉ gồm chữ không dấu, số, "
                                          "'_', '-', '.'.")
        elif latest_version(session, form.process_id) is not None:
            form.errors["process_id"] = _("Đã có quy trình với mã này: mở nó để sửa.")
        if not form.name_vi:
            form.errors["name_vi"] = _("Nhập tên thủ tục.")
        if not PROCEDURE_CODE.match(form.procedure_code):
            form.errors["procedure_code"] = _("Mã thủ tục chỉ gồm số, chữ, '.' và '-'.")
        known = set(session.scalars(select(Department.code)))
        for name in ("desk", "department", "leader"):
            if getattr(form, name) not in known:
                form.errors[name] = _("Chọn một phòng ban trong danh sách.")
        return form


def new_procedure_xml(process_id: str, name_vi: str, name_en: str = "", procedure_code: str = "",
                      lanes: dict[str, tuple[str, str]] | None = None) -> bytes:
    """The template (desk → department → leader → desk) as a new procedure.

    ``lanes`` maps the template's lane roles ``desk``, ``department``, ``leader`` to
    ``(department code, lane name)``: the lane is named after the department and its user tasks
    offered to that department (candidate groups). Ids and names are set with lxml, never by
    pasting text into XML.
    """
    tree = etree.parse(str(TEMPLATE), etree.XMLParser(remove_blank_text=False, resolve_entities=False))
    root = tree.getroot()
    ns = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS}
    [process] = root.xpath("bpmn:process", namespaces=ns)
    old_id = process.get("id")
    process.set("id", process_id)
    process.set("name", f"{name_vi} / {name_en}" if name_en else name_vi)
    for participant in root.xpath("bpmn:collaboration/bpmn:participant", namespaces=ns):
        if participant.get("processRef") == old_id:
            participant.set("processRef", process_id)
            participant.set("name", name_vi)
    props = {p.get("name"): p for p in process.xpath(
        "bpmn:extensionElements/camunda:properties/camunda:property", namespaces=ns)}
    props["name_vi"].set("value", name_vi)
    props["name_en"].set("value", name_en or name_vi)
    props["procedure_code"].set("value", procedure_code)
    lanes = lanes or {}
    lane_ids = {"desk": "Lane_desk", "department": "Lane_department", "leader": "Lane_leader"}
    for role, (code, lane_name) in lanes.items():
        [lane] = process.xpath(f"bpmn:laneSet/bpmn:lane[@id='{lane_ids[role]}']", namespaces=ns)
        lane.set("name", lane_name)
        refs = {(ref.text or "").strip() for ref in lane.xpath("bpmn:flowNodeRef", namespaces=ns)}
        for task in process.xpath("bpmn:userTask", namespaces=ns):
            if task.get("id") in refs:
                task.set(f"{{{CAMUNDA_NS}}}candidateGroups", code)
        if role in ("desk", "department"):
            props[role].set("value", code)
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def _lanes_for(session, form: NewProcedure) -> dict[str, tuple[str, str]]:
    names = {d.code: d.name_vi for d in session.scalars(select(Department))}
    return {role: (getattr(form, role), names[getattr(form, role)]) for role in ("desk", "department", "leader")}


# ------------------------------------------------------------------ helpers
def _versions_or_404(process_id: str) -> list[ProcessVersion]:
    rows = list(db().scalars(select(ProcessVersion).where(ProcessVersion.process_id == process_id)
                             .order_by(ProcessVersion.version)))
    if not rows:
        abort(404)
    return rows


def _version_arg(name: str, versions: list[ProcessVersion], default: int | None) -> int | None:
    raw = (request.args.get(name) or request.form.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) not in {v.version for v in versions}:
        abort(404)  # as for an unknown procedure: no such version
    return int(raw)


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(_json_error(400, _("Gửi dữ liệu JSON.")))
    return body


def _json_error(status: int, message: str, **extra) -> Response:
    response = jsonify({"error": message, **extra})
    response.status_code = status
    return response


def _xml_of(body: dict) -> tuple[str, bytes]:
    xml = body.get("xml")
    filename = str(body.get("filename") or "diagram.bpmn").replace("\\", "/").rsplit("/", 1)[-1]
    if not isinstance(xml, str) or not xml.strip():
        abort(_json_error(400, _("Thiếu nội dung sơ đồ (xml).")))
    data = xml.encode("utf-8")
    if len(data) > MAX_XML_BYTES:
        abort(_json_error(413, _("Sơ đồ quá lớn (tối đa %(n)s MB).", n=MAX_XML_BYTES // (1024 * 1024))))
    if not FILENAME.match(filename) or not filename.lower().endswith(ALLOWED_SUFFIXES):
        filename = "diagram.bpmn"
    return filename, data


def _running_counts(session) -> dict[str, int]:
    return dict(session.execute(
        select(Instance.process_id, func.count()).where(Instance.status.not_in(FINISHED_STATUSES))
        .group_by(Instance.process_id)).all())


def _departments(session) -> list[Department]:
    return list(session.scalars(select(Department).order_by(Department.code)))


# ------------------------------------------------------------------ pages
@bp.get("")
@roles_required(*ROLES)
def index():
    return _index_page()


def _index_page(problems: list[str] | None = None, status: int = 200):
    session = db()
    rows = sorted(latest_versions(session), key=lambda v: v.process_id)
    decisions = len(set(session.scalars(select(DecisionVersion.decision_id))))
    return render_template("designer/index.html", versions=rows, running=_running_counts(session),
                           decisions=decisions, problems=problems or [], max_files=MAX_FILES), status


@bp.post("/upload")
@roles_required(*ROLES)
def upload():
    """Deploy uploaded .bpmn/.dmn files (Camunda Modeler's files open unchanged)."""
    storages = request.files.getlist("files")
    note = (request.form.get("note") or "").strip()[:NOTE_MAX]
    if not storages or not any(s.filename for s in storages):
        return _index_page([_("Chọn một hoặc nhiều tệp .bpmn hoặc .dmn.")], 400)
    if len(storages) > MAX_FILES:
        return _index_page([_("Tối đa %(n)s tệp mỗi lần.", n=MAX_FILES)], 400)
    files = []
    for storage in storages:
        name = (storage.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
        if not name.lower().endswith(ALLOWED_SUFFIXES):
            return _index_page([_("%(name)s: chỉ nhận tệp .bpmn và .dmn.", name=name or "?")], 415)
        data = storage.read(MAX_XML_BYTES + 1)
        if len(data) > MAX_XML_BYTES:
            return _index_page([_("%(name)s: tệp quá lớn (tối đa %(n)s MB).", name=name,
                                  n=MAX_XML_BYTES // (1024 * 1024))], 413)
        files.append((name, data))
    if not note:
        return _index_page([_("Ghi chú thay đổi là bắt buộc: ai đọc lịch sử phiên bản cần biết vì sao.")], 422)
    session = db()
    try:
        result = deploy(session, files, current_actor().username, note=note, source="ui")
    except DeploymentInvalid as exc:
        session.rollback()
        return _index_page(exc.lines(), 422)
    session.commit()
    changed = [f"{p.process_id} v{p.version}" for p in result.processes if p.changed] + result.decisions
    if changed:
        flash(_("Đã triển khai: %(what)s.", what=", ".join(changed)), "success")
    else:
        flash(_("Không có gì thay đổi: các tệp giống phiên bản đang dùng."), "info")
    if result.decisions:
        # a process carries its fee tables in its own version: say so rather than let a designer believe
        # new dossiers already use the new fees
        flash(_("Bảng %(ids)s đã lưu. Các quy trình dùng bảng này chỉ áp dụng bảng mới khi được triển khai lại "
                "(tải lên lại quy trình, hoặc flask bpmn deploy cả thư mục bpmn/).", ids=", ".join(result.decisions)),
              "info")
    return redirect(url_for("studio.index"))


@bp.get("/new")
@roles_required(*ROLES)
def new():
    """The new-procedure form; once it is valid, the modeler opens on the template (nothing is
    deployed until the designer deploys)."""
    session = db()
    if "process_id" not in request.args:
        return render_template("designer/new.html", form=NewProcedure(), departments=_departments(session))
    form = NewProcedure.from_args(request.args, session)
    if form.errors:
        return render_template("designer/new.html", form=form, departments=_departments(session)), 422
    args = {k: getattr(form, k) for k in ("process_id", "name_vi", "name_en", "procedure_code", "desk",
                                          "department", "leader")}
    return render_template(
        "designer/modeler.html", process_id=form.process_id, name=form.name_vi, current=None,
        filename=f"{form.process_id}.bpmn", xml_url=url_for("studio.template_xml", **args), is_new=True,
    )


@bp.get("/template.bpmn")
@roles_required(*ROLES)
def template_xml():
    if "process_id" not in request.args:  # the bare template, as a designer may want to download it
        return Response(TEMPLATE.read_bytes(), mimetype="application/xml", headers={"Cache-Control": "no-store"})
    session = db()
    form = NewProcedure.from_args(request.args, session)
    if form.errors:
        return _json_error(422, _("Thông tin thủ tục mới chưa hợp lệ."), errors=form.errors)
    xml = new_procedure_xml(form.process_id, form.name_vi, form.name_en, form.procedure_code,
                            _lanes_for(session, form))
    return Response(xml, mimetype="application/xml", headers={"Cache-Control": "no-store"})


@bp.post("/lint")
@roles_required(*ROLES)
def lint_xml():
    """The server's validation plus the lint rules for the modeler's current XML:
    {"problems": [{file, line, element, message, severity}]}."""
    filename, data = _xml_of(_json_body())
    problems = lint(db(), [(filename, data)])
    return jsonify({"problems": [p.to_dict() for p in problems]})


@bp.post("/deploy")
@roles_required(*ROLES)
def deploy_xml():
    """Deploy the modeler's XML as a new version: {xml, filename, note, base_version}."""
    body = _json_body()
    filename, data = _xml_of(body)
    note = str(body.get("note") or "").strip()[:NOTE_MAX]
    if not note:
        return _json_error(422, _("Ghi chú thay đổi là bắt buộc: ai đọc lịch sử phiên bản cần biết vì sao."))
    base = body.get("base_version")
    if base is not None and (not isinstance(base, int) or isinstance(base, bool) or base < 1):
        return _json_error(400, _("Phiên bản gốc không hợp lệ."))
    session = db()
    try:
        result = versions_service.deploy_edited(session, filename, data, current_actor().username, note, base,
                                                source="ui")
    except DeploymentInvalid as exc:
        session.rollback()
        return _json_error(422, _("Sơ đồ còn lỗi, chưa triển khai: sửa các lỗi trong danh sách."),
                           problems=exc.detail["problems"])
    except Conflict as exc:
        session.rollback()
        latest = exc.detail.get("latest")
        if base is None:
            message = _("Đã có quy trình với mã này (phiên bản %(n)s): mở nó để sửa, hoặc đổi mã quy trình.",
                        n=latest or "?")
        else:
            message = _("Có người đã triển khai phiên bản %(n)s sau khi bạn mở sơ đồ này (bạn sửa từ phiên bản "
                        "%(base)s). Tải sơ đồ của bạn về, mở lại phiên bản mới nhất rồi sửa lại.",
                        n=latest or "?", base=base)
        return _json_error(409, message, latest_version=latest, detail=str(exc))
    except EngineError as exc:
        session.rollback()
        return _json_error(422, str(exc))
    session.commit()
    processes = list(result.processes)
    main = next((p for p in processes if p.changed), processes[0] if processes else None)
    if main is None:
        return _json_error(422, _("Tệp không có quy trình nào để triển khai."))
    if not main.changed:
        message = _("Không có gì thay đổi so với phiên bản %(n)s.", n=main.version)
    else:
        message = _("Đã triển khai phiên bản %(n)s của %(pid)s.", n=main.version, pid=main.process_id)
    return jsonify({
        "process_id": main.process_id, "version": main.version, "changed": main.changed, "message": message,
        "versions_url": url_for("studio.versions", process_id=main.process_id),
        "migrate_url": url_for("studio.migrate", process_id=main.process_id),
    }), (201 if main.changed else 200)


@bp.get("/decisions")
@roles_required(*ROLES)
def decisions():
    """The DMN tables (latest version of each); ?download=<decision_id> gives the file."""
    session = db()
    rows = list(session.scalars(select(DecisionVersion).order_by(DecisionVersion.decision_id, DecisionVersion.id)))
    latest: dict[str, DecisionVersion] = {}
    counts: dict[str, int] = {}
    for row in rows:
        latest[row.decision_id] = row
        counts[row.decision_id] = counts.get(row.decision_id, 0) + 1
    wanted = request.args.get("download")
    if wanted is not None:
        row = latest.get(wanted)
        if row is None:
            abort(404)
        return _attachment(row.file.content, row.file.name)
    return render_template("designer/decisions.html", decisions=list(latest.values()), counts=counts)


def _attachment(content: str, name: str) -> Response:
    safe = name if FILENAME.match(name) else "diagram.bpmn"
    return Response(content, mimetype="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="{safe}"', "Cache-Control": "no-store"})


@bp.get("/<process_id>")
@roles_required(*ROLES)
def edit(process_id: str):
    versions = _versions_or_404(process_id)
    current = versions[-1]
    return render_template(
        "designer/modeler.html", process_id=process_id, name=current.name or process_id, current=current,
        filename=current.file.name, xml_url=url_for("studio.xml", process_id=process_id), is_new=False,
    )


@bp.get("/<process_id>/xml")
@roles_required(*ROLES)
def xml(process_id: str):
    """One version's BPMN file (the latest without ?version=); ?download=1 as an attachment."""
    versions = _versions_or_404(process_id)
    number = _version_arg("version", versions, versions[-1].version)
    row = next(v for v in versions if v.version == number)
    if request.args.get("download"):
        stem = row.file.name.rsplit(".bpmn", 1)[0]
        return _attachment(row.file.content, f"{stem}.v{number}.bpmn")
    return Response(row.file.content, mimetype="application/xml", headers={"Cache-Control": "private, no-cache"})


@bp.get("/<process_id>/versions")
@roles_required(*ROLES)
def versions(process_id: str):
    _versions_or_404(process_id)
    history = versions_service.version_history(db(), process_id)
    return render_template("designer/versions.html", process_id=process_id, history=history,
                           name=(history[0].get("name") if history else None) or process_id)  # newest first


@bp.post("/<process_id>/rollback")
@roles_required(*ROLES)
def rollback(process_id: str):
    """Deploy an older version again (a new version with that content)."""
    versions = _versions_or_404(process_id)
    number = _version_arg("version", versions, None)
    note = (request.form.get("note") or "").strip()[:NOTE_MAX]
    if number is None:
        flash(_("Chọn phiên bản để quay lại."), "error")
        return redirect(url_for("studio.versions", process_id=process_id))
    if not note:
        flash(_("Ghi chú thay đổi là bắt buộc: ai đọc lịch sử phiên bản cần biết vì sao."), "error")
        return redirect(url_for("studio.versions", process_id=process_id))
    session = db()
    try:
        result = versions_service.rollback(session, process_id, number, current_actor().username, note)
    except (EngineError, DeploymentInvalid) as exc:
        session.rollback()
        flash(_("Không quay lại được phiên bản %(n)s: %(why)s", n=number, why=str(exc)), "error")
        return redirect(url_for("studio.versions", process_id=process_id))
    session.commit()
    new_version = _result_version(result, process_id)
    flash(_("Đã triển khai lại phiên bản %(old)s thành phiên bản %(new)s.", old=number, new=new_version or "?"),
          "success")
    return redirect(url_for("studio.versions", process_id=process_id))


def _result_version(result, process_id: str) -> int | None:
    if isinstance(result, dict):
        return result.get("version")
    for p in getattr(result, "processes", []) or []:
        if p.process_id == process_id:
            return p.version
    return getattr(result, "version", None)


@bp.get("/<process_id>/diff")
@roles_required(*ROLES)
def diff(process_id: str):
    """Two versions side by side (by default the two latest)."""
    versions = _versions_or_404(process_id)
    numbers = [v.version for v in versions]
    to_v = _version_arg("to", versions, numbers[-1])
    from_v = _version_arg("from", versions, numbers[-2] if len(numbers) > 1 else numbers[-1])
    result = None
    if from_v != to_v:
        try:
            result = versions_service.diff_versions(db(), process_id, from_v, to_v)
        except NotFound:
            abort(404)
    return render_template("designer/diff.html", process_id=process_id, numbers=numbers, from_v=from_v, to_v=to_v,
                           result=result, xml_lines=_diff_lines(result["xml_diff"] if result else ""),
                           name=versions[-1].name or process_id)


def _diff_lines(text: str) -> list[tuple[str, str]]:
    """(css class, line) of a unified diff, for the colored XML diff."""
    out = []
    for line in text.splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        out.append((kind, line))
    return out


@bp.get("/<process_id>/migrate")
@roles_required(*ROLES)
def migrate(process_id: str):
    """The dry run: per running instance, whether it can move to the target version and why not."""
    versions = _versions_or_404(process_id)
    to_v = _version_arg("to", versions, versions[-1].version)
    plan = migration_service.plan_migration(db(), process_id, to_v)
    return render_template("designer/migrate.html", process_id=process_id, plan=plan, to_v=to_v,
                           numbers=[v.version for v in versions], name=versions[-1].name or process_id,
                           reason_of=reason_of)


@bp.post("/<process_id>/migrate")
@roles_required(*ROLES)
def migrate_post(process_id: str):
    versions = _versions_or_404(process_id)
    to_v = _version_arg("to", versions, versions[-1].version)
    selected = [i.strip() for i in request.form.getlist("instance_id") if i.strip()][:1000]
    back = redirect(url_for("studio.migrate", process_id=process_id, to=to_v))
    if not selected:
        flash(_("Chọn ít nhất một hồ sơ để chuyển."), "error")
        return back
    session = db()
    try:
        outcome = migration_service.migrate_instances(session, process_id, to_v, selected, current_actor().username)
    except EngineError as exc:
        session.rollback()
        flash(_("Không chuyển được: %(why)s", why=str(exc)), "error")
        return back
    session.commit()
    moved = outcome.get("moved", []) if isinstance(outcome, dict) else []
    skipped = outcome.get("skipped", []) if isinstance(outcome, dict) else []
    flash(_("Đã chuyển %(n)s hồ sơ sang phiên bản %(v)s.", n=len(moved), v=to_v), "success")
    for entry in skipped[:10]:
        flash(_("Không chuyển %(code)s: %(why)s", code=entry.get("business_key") or entry.get("instance_id"),
                why=reason_of(entry) or "?"), "error")
    return back
