"""The 766 indicators dashboard for leaders: figures, charts, the dossiers behind each number, exports.

Figures come from :mod:`dossiers.indicators` (SQL aggregates; formulas in its docstring). Charts are drawn
by Chart.js served locally (``ui/static/vendor/chart.js``, installed by ``scripts/assets.sh``) from
``ui/static/js/dashboard.js``, which reads the JSON embedded in ``<script type="application/json"
id="dashboard-data">`` (data, not executed: the CSP ``script-src 'self'`` holds). The same figures are in
the page's tables, for when scripts are off.

Who sees what: administrators and center leaders every department; a department leader their own
departments (all of them by default, or one); the lists of dossiers are further limited to the dossiers
the person may open.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import func, select

from api.dossiers import dossier_visibility
from dossiers import indicators as service
from dossiers.lateness import due_state
from dossiers.procedures import all_procedures
from engine.calendar import VN_TZ
from engine.models import Department
from server.database import db
from ui.security import current_actor, roles_required

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
ROLES = ("leader", "center_leader", "admin")
PAGE_SIZE = 50
MAX_DAYS = 366
DATE_RE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*$")
ISO_RE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")
GROUPS = ("transparency", "progress", "online", "digitization", "satisfaction")

# Vietnamese headers of the exports (the same whatever the page's language)
EXPORT_COLUMNS = (
    ("scope", "Phạm vi"),
    ("key", "Mã"),
    ("name", "Tên"),
    ("from", "Từ ngày"),
    ("to", "Đến ngày"),
    ("received", "Hồ sơ tiếp nhận"),
    ("resolved", "Hồ sơ đã giải quyết"),
    ("on_time_rate", "Tỷ lệ đúng hạn (%)"),
    ("avg_processing_days", "Thời gian giải quyết trung bình (ngày làm việc)"),
    ("overdue_open", "Hồ sơ quá hạn đang xử lý"),
    ("online_rate", "Tỷ lệ nộp trực tuyến (%)"),
    ("online_payment_rate", "Tỷ lệ thanh toán trực tuyến (%)"),
    ("digitization_rate", "Tỷ lệ số hóa hồ sơ (%)"),
    ("e_result_rate", "Tỷ lệ kết quả điện tử (%)"),
    ("satisfaction_rate", "Tỷ lệ hài lòng (%)"),
    ("transparency", "Điểm công khai, minh bạch (18)"),
    ("progress", "Điểm tiến độ, kết quả giải quyết (20)"),
    ("online", "Điểm dịch vụ trực tuyến (22)"),
    ("digitization", "Điểm số hóa (22)"),
    ("satisfaction", "Điểm mức độ hài lòng (18)"),
    ("total", "Tổng điểm (100)"),
)
EXPORT_SCOPES = {"all": "Toàn bộ", "department": "Sở, ngành", "procedure": "Thủ tục"}


def indicator_labels() -> dict[str, str]:
    return {
        "received": _("Hồ sơ tiếp nhận"),
        "received_online": _("Hồ sơ nộp trực tuyến"),
        "received_in_person": _("Hồ sơ nộp trực tiếp"),
        "received_postal": _("Hồ sơ nộp qua bưu chính"),
        "resolved": _("Hồ sơ đã giải quyết"),
        "digitized": _("Hồ sơ số hóa cả thành phần và kết quả"),
        "e_result": _("Hồ sơ có kết quả điện tử"),
        "negative_rating": _("Hồ sơ bị phản ánh hoặc đánh giá không hài lòng"),
        "judged": _("Hồ sơ xét tiến độ trong kỳ"),
        "on_time": _("Hồ sơ đúng hạn"),
        "late": _("Hồ sơ trễ hạn"),
        "overdue_open": _("Hồ sơ quá hạn đang xử lý"),
        "paid": _("Hồ sơ đã nộp phí"),
        "paid_online": _("Hồ sơ thanh toán trực tuyến"),
    }


def group_labels() -> dict[str, str]:
    return {
        "transparency": _("Công khai, minh bạch"),
        "progress": _("Tiến độ, kết quả giải quyết"),
        "online": _("Dịch vụ trực tuyến"),
        "digitization": _("Số hóa"),
        "satisfaction": _("Mức độ hài lòng"),
    }


# ----------------------------------------------------------------- the selection
@dataclass
class Selection:
    start: date
    end: date
    department: str = ""  # asked for ("" = everything the person may see)
    procedure_code: str = ""
    scope: str | frozenset[str] | None = None  # the department filter applied
    errors: dict[str, str] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)

    def args(self, **extra) -> dict[str, str]:
        """Query arguments of links keeping the selection (dates as dd/mm/yyyy)."""
        args = {"from": self.start.strftime("%d/%m/%Y"), "to": self.end.strftime("%d/%m/%Y")}
        if self.department:
            args["department"] = self.department
        if self.procedure_code:
            args["procedure_code"] = self.procedure_code
        args.update({k: v for k, v in extra.items() if v is not None})
        return args


def parse_day(text: str) -> date | None:
    """dd/mm/yyyy (also yyyy-mm-dd), or None."""
    match = DATE_RE.match(text or "")
    try:
        if match:
            day, month, year = (int(g) for g in match.groups())
            return date(year, month, day)
        match = ISO_RE.match(text or "")
        if match:
            return date(*(int(g) for g in match.groups()))
    except ValueError:
        return None
    return None


def today() -> date:
    return datetime.now(VN_TZ).date()


def selection() -> Selection:
    """The period and filters asked for in the query string, checked; 403 for a department not one's own."""
    now = today()
    raw = {name: (request.args.get(name) or "").strip()[:50] for name in ("from", "to", "department",
                                                                          "procedure_code")}
    errors: dict[str, str] = {}
    # default: from the 1st of the month of the last day (today unless given) to that day
    end = parse_day(raw["to"]) or now
    start = parse_day(raw["from"]) or end.replace(day=1)
    for name in ("from", "to"):
        if raw[name] and parse_day(raw[name]) is None:
            errors[name] = _("Nhập ngày theo dạng dd/mm/yyyy.")
    if not errors:
        if end < start:
            errors["to"] = _("Ngày cuối phải sau hoặc bằng ngày đầu.")
        elif (end - start).days > MAX_DAYS:
            errors["to"] = _("Chọn khoảng thời gian tối đa một năm.")
    try:
        scope = service.department_scope(current_actor(), raw["department"])
    except PermissionError:
        abort(403)
    return Selection(start, end, raw["department"], raw["procedure_code"], scope, errors, raw)


def department_options(allowed: frozenset[str] | None) -> list[tuple[str, str]]:
    """(code, name) of the departments one may pick: the responsible departments of the procedures."""
    codes = {p.department for p in all_procedures(db()) if p.department}
    if allowed is not None:
        codes = (codes & allowed) or set(allowed)
    names = dict(db().execute(select(Department.code, Department.name_vi).where(Department.code.in_(codes))).all())
    return sorted(((code, names.get(code) or code) for code in codes), key=lambda item: item[1])


def procedure_options(allowed: frozenset[str] | None) -> list[tuple[str, str]]:
    return [(p.code, p.name_vi) for p in all_procedures(db()) if allowed is None or p.department in allowed]


# ----------------------------------------------------------------- pages
@bp.get("")
@roles_required(*ROLES)
def index():
    sel = selection()
    allowed = service.visible_departments(current_actor())
    context = {
        "sel": sel, "labels": indicator_labels(), "groups": group_labels(), "group_points": service.GROUP_POINTS,
        "departments": department_options(allowed), "procedures": procedure_options(allowed),
        "presets": _presets(), "figures": None, "by_department": [], "by_procedure": [], "chart_data": None,
        "mine_only": allowed is not None,
    }
    if sel.errors:
        return render_template("ui/dashboard.html", **context), 422
    result = service.overview(db(), sel.start, sel.end, sel.scope, sel.procedure_code or None)
    context.update(figures=result.total, by_department=result.by_department, by_procedure=result.by_procedure,
                   chart_data=_chart_data(result.total, result.by_department))
    return render_template("ui/dashboard.html", **context)


def _presets() -> list[tuple[str, date, date]]:
    now = today()
    quarter_start = date(now.year, 3 * ((now.month - 1) // 3) + 1, 1)
    return [
        (_("Tháng này"), now.replace(day=1), now),
        (_("Quý này"), quarter_start, now),
        (_("Từ đầu năm"), date(now.year, 1, 1), now),
    ]


def _chart_data(figures: service.Figures, by_department: list[service.Figures]) -> dict:
    groups = group_labels()
    labels = indicator_labels()
    return {
        "onTime": {
            "title": _("Tỷ lệ đúng hạn theo sở, ngành"),
            "labels": [row.name or "—" for row in by_department],
            "values": [row.on_time_rate for row in by_department],
        },
        "channels": {
            "title": _("Kênh nộp hồ sơ"),
            "labels": [labels["received_online"], labels["received_in_person"], labels["received_postal"]],
            "values": [figures.counts["received_online"], figures.counts["received_in_person"],
                       figures.counts["received_postal"]],
        },
        "points": {
            "title": _("Điểm theo nhóm chỉ số"),
            "labels": [groups[g] for g in GROUPS],
            "values": [figures.points[g] for g in GROUPS],
            "max": [service.GROUP_POINTS[g] for g in GROUPS],
            "scored": _("Điểm đạt"),
            "maximum": _("Điểm tối đa"),
        },
    }


@bp.get("/dossiers")
@roles_required(*ROLES)
def dossiers():
    """The dossiers behind one number of the dashboard."""
    sel = selection()
    indicator = request.args.get("indicator") or "received"
    labels = indicator_labels()
    if indicator not in labels:
        abort(404)
    page = request.args.get("page", "1")
    page = int(page) if page.isdigit() and 0 < int(page) < 100000 else 1
    context = {"sel": sel, "indicator": indicator, "label": labels[indicator], "labels": labels, "dossiers": [],
               "total": 0, "page": page, "more": False, "due_state": due_state}
    if sel.errors:
        return render_template("ui/dashboard_dossiers.html", **context), 422
    query = service.drill_down(db(), sel.start, sel.end, indicator, sel.scope, sel.procedure_code or None)
    query = query.where(dossier_visibility(current_actor()))
    session = db()
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = list(session.scalars(query.limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)))
    context.update(dossiers=rows[:PAGE_SIZE], more=len(rows) > PAGE_SIZE, total=total)
    return render_template("ui/dashboard_dossiers.html", **context)


# ----------------------------------------------------------------- exports
def _export_rows(sel: Selection) -> list[dict]:
    result = service.overview(db(), sel.start, sel.end, sel.scope, sel.procedure_code or None)
    scopes = [("all", [result.total]), ("department", result.by_department), ("procedure", result.by_procedure)]
    rows = []
    for kind, figures_list in scopes:
        for figures in figures_list:
            row = {"scope": EXPORT_SCOPES[kind], "key": figures.key or "", "name": figures.name or "",
                   "from": sel.start.strftime("%d/%m/%Y"), "to": sel.end.strftime("%d/%m/%Y"),
                   **{k: v for k, v in figures.to_dict().items() if k != "points"}, **figures.points}
            if kind == "all":
                row["key"] = sel.department or sel.procedure_code or ""
                row["name"] = "Tất cả hồ sơ trong phạm vi đã chọn"
            rows.append(row)
    return rows


def _filename(sel: Selection, extension: str) -> str:
    return f"chi-so-766_{sel.start.isoformat()}_{sel.end.isoformat()}.{extension}"


def _checked_selection() -> Selection:
    sel = selection()
    if sel.errors:
        abort(Response("; ".join(sel.errors.values()), status=422, mimetype="text/plain"))
    return sel


@bp.get("/export.csv")
@roles_required(*ROLES)
def export_csv():
    """The figures as CSV: UTF-8 with a byte order mark, so Excel shows the Vietnamese letters right."""
    sel = _checked_selection()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([header for _key, header in EXPORT_COLUMNS])
    for row in _export_rows(sel):
        writer.writerow(["" if row.get(key) is None else row.get(key) for key, _header in EXPORT_COLUMNS])
    body = "\ufeff" + out.getvalue()
    return Response(body.encode("utf-8"), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{_filename(sel, "csv")}"',
        "Content-Type": "text/csv; charset=utf-8"})


@bp.get("/export.xlsx")
@roles_required(*ROLES)
def export_xlsx():
    """The figures as an Excel workbook (one sheet, numbers as numbers)."""
    sel = _checked_selection()
    book = Workbook()
    sheet = book.active
    sheet.title = "Chỉ số 766"
    sheet.append([header for _key, header in EXPORT_COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in _export_rows(sel):
        sheet.append([row.get(key) for key, _header in EXPORT_COLUMNS])
    sheet.freeze_panes = "A2"
    for column, (key, header) in zip(sheet.columns, EXPORT_COLUMNS, strict=True):
        width = 40 if key == "name" else max(10, min(24, len(header) // 2 + 4))
        sheet.column_dimensions[column[0].column_letter].width = width
    out = io.BytesIO()
    book.save(out)
    return Response(out.getvalue(), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{_filename(sel, "xlsx")}"'})
