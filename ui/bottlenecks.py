"""Bottlenecks on the diagram: which steps of a procedure take longest against their budget.

``/bottlenecks`` lists the procedures; ``/bottlenecks/<process_id>`` draws the procedure's diagram
with the bpmn-js viewer (``ui/static/js/bottlenecks.js``), each user task coloured by its average
or 90th-percentile working time relative to its budget, with the figures in an overlay and in a
table beneath (the table is the page's content without scripts). ``?version=`` narrows the figures
to one version, ``?compare=`` sets a second version beside it (before / after a redesign),
``?from=&to=`` (dd/mm/yyyy) the period in which the tasks were completed. The same figures as JSON
at ``/bottlenecks/<process_id>/data.json``. For leaders, the center's leaders, designers and
administrators.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from flask import Blueprint, abort, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from dossiers import bottlenecks
from engine.errors import NotFound
from engine.models import Department, ProcessVersion
from server.database import db
from ui.security import roles_required

bp = Blueprint("bottlenecks", __name__, url_prefix="/bottlenecks")
ROLES = ("leader", "center_leader", "admin", "designer")
VN_DATE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*$")
ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")


@dataclass
class Query:
    """The page's parameters, checked."""

    version: int | None = None
    compare: int | None = None  # with version: the second version of a side-by-side comparison
    start: date | None = None
    end: date | None = None
    measure: str = "avg"
    raw: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def comparing(self) -> bool:
        return self.compare is not None and self.version is not None and self.compare != self.version

    def args(self) -> dict[str, str]:
        """The query string of the same view (for the JSON and the links)."""
        found = {"version": self.version, "compare": self.compare if self.comparing else None,
                 "from": self.start.isoformat() if self.start else None,
                 "to": self.end.isoformat() if self.end else None}
        return {k: str(v) for k, v in found.items() if v is not None}


def parse_day(text: str) -> date | None:
    """dd/mm/yyyy (as people write it) or yyyy-mm-dd; None if not a real date."""
    match = VN_DATE.match(text or "")
    try:
        if match:
            day, month, year = (int(g) for g in match.groups())
            return date(year, month, day)
        match = ISO_DATE.match(text or "")
        if match:
            return date(*(int(g) for g in match.groups()))
    except ValueError:
        return None
    return None


def _query(versions: list[int]) -> Query:
    q = Query(raw={k: (request.args.get(k) or "").strip()[:20] for k in ("version", "compare", "from", "to")})
    for name in ("version", "compare"):
        value = q.raw[name]
        if not value:
            continue
        if not value.isdigit() or int(value) not in versions:
            abort(404)  # as for an unknown procedure: no such version
        setattr(q, name, int(value))
    if q.compare is not None and q.version is None:
        q.version = versions[-1] if q.compare != versions[-1] else (versions[-2] if len(versions) > 1 else None)
    for name, attr in (("from", "start"), ("to", "end")):
        if q.raw[name]:
            value = parse_day(q.raw[name])
            if value is None:
                q.errors[name] = _("Nhập ngày theo dạng dd/mm/yyyy.")
            else:
                setattr(q, attr, value)
    if q.start and q.end and q.start > q.end:
        q.errors["to"] = _("Ngày kết thúc phải sau ngày bắt đầu.")
        q.end = None
    if "from" in q.errors:
        q.start = None
    if "to" in q.errors:
        q.end = None
    q.measure = "p90" if request.args.get("measure") == "p90" else "avg"
    return q


def _versions_or_404(process_id: str) -> list[ProcessVersion]:
    versions = bottlenecks.versions_of(db(), process_id)
    if not versions:
        abort(404)
    return versions


@bp.get("")
@roles_required(*ROLES)
def index():
    return render_template("ui/bottlenecks.html", procedures=bottlenecks.procedures(db()))


def _analyses(session, process_id: str, q):
    """One version's figures, or two side by side; 404 for an unknown version."""
    try:
        if q.comparing:
            comparison = bottlenecks.compare(session, process_id, q.version, q.compare, q.start, q.end)
            return comparison, [comparison.a, comparison.b]
        return None, [bottlenecks.analyse(session, process_id, q.version, q.start, q.end)]
    except NotFound:
        abort(404)


@bp.get("/<process_id>")
@roles_required(*ROLES)
def show(process_id: str):
    versions = _versions_or_404(process_id)
    q = _query([v.version for v in versions])
    session = db()
    comparison, views = _analyses(session, process_id, q)
    departments = {d.code: d.name_vi for d in session.scalars(select(Department))}
    page = render_template(
        "ui/bottlenecks_show.html", process_id=process_id, name=views[0].name, versions=versions, q=q,
        views=views, comparison=comparison, departments=departments,
        data_url=url_for("bottlenecks.data", process_id=process_id, **q.args()),
        thresholds=(bottlenecks.GREEN, bottlenecks.AMBER),
    )
    return page, (422 if q.errors else 200)


@bp.get("/<process_id>/data.json")
@roles_required(*ROLES)
def data(process_id: str):
    """The figures and the diagram(s): {process_id, name, measure, thresholds, views: [{version, xml,
    analysis}], comparison}; one view, or two (version, compare) side by side."""
    versions = _versions_or_404(process_id)
    q = _query([v.version for v in versions])
    if q.errors:
        return jsonify({"errors": q.errors}), 422
    session = db()
    comparison, analyses = _analyses(session, process_id, q)
    views = []
    for analysis in analyses:
        version = session.get(ProcessVersion, analysis.diagram_version_id)
        views.append({"version": analysis.version, "diagram_version": analysis.diagram_version,
                      "xml": version.file.content, "analysis": analysis.to_dict()})
    response = jsonify({
        "process_id": process_id, "name": analyses[0].name, "measure": q.measure,
        "thresholds": {"green": bottlenecks.GREEN, "amber": bottlenecks.AMBER},
        "views": views, "comparison": comparison.to_dict() if comparison else None,
    })
    response.headers["Cache-Control"] = "private, no-cache"
    return response
