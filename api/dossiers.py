"""One-stop dossiers over the API: procedures, submission, status, supplements, slips, register."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import exists, or_, select

from api.auth import current_actor, require
from api.contract import ETAG_HEADER, accepts_if_match, check_if_match, content_etag, idempotent
from api.errors import ApiProblem
from api.pagination import LINK_HEADER, order_clauses, paginate, paginate_list
from api.schemas import (
    DOSSIER_SORTS,
    ApologySchema,
    DossierPageSchema,
    DossierQuerySchema,
    DossierSchema,
    IssueApologySchema,
    ProcedurePageSchema,
    ProcedureQuerySchema,
    RegisterQuerySchema,
    SlipQuerySchema,
    SubmitDossierSchema,
    SupplementSchema,
    WithdrawSchema,
)
from dossiers import lateness, service, slips
from dossiers.models import CLOCK_STATUSES, Dossier
from dossiers.procedures import all_procedures
from engine.access import task_visibility
from engine.actors import ROLE_ADMIN, ROLE_CENTER_LEADER, ROLE_CLERK, ROLE_INTEGRATOR, ROLE_LEADER, Actor
from engine.calendar import VN_TZ
from engine.db import utcnow
from engine.errors import NotFound
from engine.models import HumanTask, Instance
from server.database import db

blp = Blueprint("dossiers", __name__, description="One-stop dossiers (hồ sơ)")
SORT_COLUMNS = {name: getattr(Dossier, name) for name in DOSSIER_SORTS if name != "appointment_date"}
SORT_COLUMNS["appointment_date"] = Dossier.appointment_at
SECURITY = [{"bearerAuth": []}]
DESK_ROLES = {ROLE_ADMIN, ROLE_INTEGRATOR, ROLE_CLERK}
DOCUMENT_CONTENT = {
    "text/html": {"schema": {"type": "string"}},
    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
}


def dossier_visibility(actor: Actor):
    """Dossiers of my departments (desk, responsible, current) or with a task I may see."""
    if actor.acts_for_system or ROLE_CENTER_LEADER in actor.roles:
        return True
    groups = sorted(actor.groups)
    return or_(
        Dossier.desk.in_(groups),
        Dossier.responsible_department.in_(groups),
        Dossier.current_department.in_(groups),
        # correlated to this dossier's own instance and tasks (index probes), not a list of every visible task
        exists(select(Instance.id).where(Instance.id == Dossier.id, Instance.started_by == actor.username)),
        exists(select(HumanTask.id).where(HumanTask.instance_id == Dossier.id, task_visibility(actor))),
    )


def dossier_etag(dossier: Dossier) -> str:
    """The dossier's version: its content without the fields that move with the clock alone."""
    data = DossierSchema().dump(dossier)
    for moving in ("due_state", "remaining_working_hours"):
        data.pop(moving, None)
    return content_etag(data)


def visible_dossier(code: str) -> Dossier:
    dossier = db().scalar(select(Dossier).where(Dossier.code == code, dossier_visibility(current_actor())))
    if dossier is None:
        raise NotFound(f"dossier {code} not found")  # 404 also for someone else's dossier
    return dossier


@blp.route("/procedures")
class Procedures(MethodView):
    @require("read")
    @blp.doc(security=SECURITY)
    @blp.arguments(ProcedureQuerySchema, location="query")
    @blp.response(200, ProcedurePageSchema, headers=LINK_HEADER)
    def get(self, args: dict):
        """Administrative procedures offered (from the metadata of the deployed diagrams).

        Code, names, department, processing time, fee, the process that runs it, whether it can be
        submitted online, and the documents to bring; filter by ``department`` or ``online``."""
        items = [p.to_dict() for p in all_procedures(db())]
        if args.get("department"):
            items = [p for p in items if p.get("department") == args["department"]]
        if args.get("online") is not None:
            items = [p for p in items if bool(p.get("online")) is args["online"]]
        return paginate_list(items, args["page"], args["page_size"], args["sort"])


@blp.route("/dossiers")
class Dossiers(MethodView):
    @require("read")
    @blp.doc(security=SECURITY)
    @blp.arguments(DossierQuerySchema, location="query")
    @blp.response(200, DossierPageSchema, headers=LINK_HEADER)
    def get(self, args: dict):
        """Dossiers the caller may see, newest first by default.

        Filter by national ``status_code``, ``procedure_code``, current ``department``, ``overdue``;
        ``q`` searches the tracking code or the applicant's name (prefix)."""
        query = select(Dossier).where(dossier_visibility(current_actor()))
        query = query.order_by(*order_clauses(args["sort"], SORT_COLUMNS, Dossier.id))
        if args.get("status_code"):
            query = query.where(Dossier.status_code == args["status_code"])
        if args.get("procedure_code"):
            query = query.where(Dossier.procedure_code == args["procedure_code"])
        if args.get("department"):
            query = query.where(Dossier.current_department == args["department"])
        if args.get("overdue") is True:
            query = query.where(Dossier.status_code.in_(CLOCK_STATUSES), Dossier.appointment_at < utcnow())
        elif args.get("overdue") is False:
            query = query.where(or_(Dossier.appointment_at.is_(None), Dossier.appointment_at >= utcnow()))
        if args.get("q"):
            term = args["q"].strip()
            if db().scalar(select(Dossier.id).where(Dossier.code == term)) is not None:
                query = query.where(Dossier.code == term)  # a tracking code: its unique index answers alone
            else:
                query = query.where(Dossier.applicant_name.ilike(f"{_like(term)}%", escape="\\"))
        return paginate(db(), query, args["page"], args["page_size"])

    @require("start", roles=DESK_ROLES)
    @idempotent("dossiers")
    @blp.doc(security=SECURITY)
    @blp.arguments(SubmitDossierSchema, example=SubmitDossierSchema.EXAMPLE)
    @blp.response(201, DossierSchema, headers=ETAG_HEADER)
    def post(self, body: dict):
        """Submit a dossier: tracking code issued, the procedure's process started (status 1).

        The appointment date is computed on the working-day calendar. Send an ``Idempotency-Key``
        (the portal's own request id) so a retry never registers the dossier twice."""
        session = db()
        dossier = service.submit(
            session,
            procedure_code=body["procedure_code"],
            channel=body["channel"],
            applicant=body["applicant"],
            data=body.get("data"),
            received_at=body.get("received_at"),
            attachments=body.get("attachments"),
            actor=current_actor(),
        )
        session.commit()
        return dossier, {"ETag": dossier_etag(dossier)}


@blp.route("/dossiers/<code>")
class DossierDetail(MethodView):
    @require("read")
    @blp.doc(security=SECURITY)
    @blp.response(200, DossierSchema, headers=ETAG_HEADER)
    def get(self, code: str):
        """One dossier by tracking code.

        404 as well for a dossier the caller may not see. The ETag changes whenever the dossier
        does (not with the passing time): send it as ``If-Match`` on supplement and withdraw."""
        dossier = visible_dossier(code)
        return dossier, {"ETag": dossier_etag(dossier)}


@blp.route("/dossiers/<code>/supplement", methods=["POST"])
@require("messages", roles=DESK_ROLES)
@idempotent("supplements")
@accepts_if_match
@blp.doc(security=SECURITY)
@blp.arguments(SupplementSchema, example=SupplementSchema.EXAMPLE)
@blp.response(200, DossierSchema, headers=ETAG_HEADER)
def supplement(body: dict, code: str):
    """The citizen's supplement arrived: the process continues and the clock resumes.

    409 when no supplement was requested. ``Idempotency-Key`` makes a retry safe; ``If-Match``
    refuses (412) a supplement to a dossier that changed since it was read."""
    session = db()
    check_if_match(dossier_etag(visible_dossier(code)), "the dossier")
    dossier = service.supplement(session, code, body, current_actor())
    session.commit()
    return dossier, {"ETag": dossier_etag(dossier)}


@blp.route("/dossiers/<code>/withdraw", methods=["POST"])
@require("start", roles=DESK_ROLES)
@accepts_if_match
@blp.doc(security=SECURITY)
@blp.arguments(WithdrawSchema, example=WithdrawSchema.EXAMPLE)
@blp.response(200, DossierSchema, headers=ETAG_HEADER)
def withdraw(body: dict, code: str):
    """The citizen withdraws the dossier (status 7); open tasks are cancelled.

    409 when the dossier is already finished; 412 when ``If-Match`` is stale."""
    session = db()
    check_if_match(dossier_etag(visible_dossier(code)), "the dossier")
    dossier = service.withdraw(session, code, body.get("reason"), current_actor())
    session.commit()
    return dossier, {"ETag": dossier_etag(dossier)}


@blp.route("/dossiers/<code>/apologies", methods=["POST"])
@require("complete")
@idempotent("apologies")
@blp.doc(security=SECURITY)
@blp.arguments(IssueApologySchema, example=IssueApologySchema.EXAMPLE)
@blp.response(201, ApologySchema)
def issue_apology(body: dict, code: str):
    """Issue the apology letter (Form 04) with a new appointment date; the citizen is notified.

    Only the department handling the dossier (or the center's leaders) may issue it; the new
    appointment must be later than the current one."""
    session = db()
    dossier = visible_dossier(code)
    actor = current_actor()
    allowed = actor.is_admin or ROLE_CENTER_LEADER in actor.roles or bool(
        {dossier.current_department, dossier.responsible_department, dossier.desk} & actor.groups
    )
    if not allowed:
        raise ApiProblem(403, "only the department handling the dossier can issue its apology")
    apology = lateness.issue_apology(session, dossier, body["new_appointment_at"], body["reason"], actor)
    session.commit()
    return apology


@blp.route("/dossiers/<code>/slips/<kind>")
@require("read")
@blp.doc(security=SECURITY, responses={"200": {"description": "the slip", "content": DOCUMENT_CONTENT}})
@blp.arguments(SlipQuerySchema, location="query")
def slip(args: dict, code: str, kind: str):
    """A slip of the dossier: receipt (01), supplement (02), refusal (03), apology (04), control-sheet (05).

    HTML, or PDF with ``format=pdf``; 409 when the dossier has no such slip yet (e.g. no receipt before
    acceptance), 404 for an unknown kind."""
    rendered = slips.render_slip(db(), visible_dossier(code), kind, request.host_url)
    return _output(rendered, args["format"])


@blp.route("/register")
@require("read", roles={ROLE_ADMIN, ROLE_CLERK, ROLE_LEADER, ROLE_CENTER_LEADER})
@blp.doc(security=SECURITY, responses={"200": {"description": "the register", "content": DOCUMENT_CONTENT}})
@blp.arguments(RegisterQuerySchema, location="query")
def register(args: dict):
    """The dossier register (Form 06) of dossiers received from ``from`` to ``to`` (inclusive dates).

    At most one year; HTML, or PDF with ``format=pdf``; optionally one ``department``."""
    if args["to"] < args["from_"]:
        raise ApiProblem(422, "'to' is before 'from'", errors={"to": "must not be before from"})
    if (args["to"] - args["from_"]).days > 366:
        raise ApiProblem(422, "the register covers at most one year", errors={"to": "at most 366 days after from"})
    start = datetime.combine(args["from_"], time.min, VN_TZ)
    end = datetime.combine(args["to"] + timedelta(days=1), time.min, VN_TZ)
    rendered = slips.render_register(db(), start, end, request.host_url, args.get("department"))
    return _output(rendered, args["format"])


def _output(rendered: slips.Rendered, fmt: str) -> Response:
    if fmt == "pdf":
        return Response(rendered.pdf(), mimetype="application/pdf", headers={
            "Content-Disposition": f'inline; filename="{rendered.filename}.pdf"'})
    return Response(rendered.html, mimetype="text/html")


def _like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
