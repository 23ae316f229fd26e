"""One-stop dossiers over the API: procedures, submission, status, supplements, slips, register."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from api.auth import current_actor, require
from api.errors import ApiProblem
from api.pagination import paginate
from api.schemas import (
    ApologySchema,
    DossierPageSchema,
    DossierQuerySchema,
    DossierSchema,
    IssueApologySchema,
    ProcedureSchema,
    RegisterQuerySchema,
    SlipQuerySchema,
    SubmitDossierSchema,
    SupplementSchema,
    WithdrawSchema,
)
from dossiers import lateness, service, slips
from dossiers.models import CLOCK_STATUSES, Dossier
from dossiers.procedures import all_procedures
from engine import idempotency
from engine.access import instance_visibility
from engine.actors import ROLE_ADMIN, ROLE_CENTER_LEADER, ROLE_CLERK, ROLE_INTEGRATOR, ROLE_LEADER, Actor
from engine.calendar import VN_TZ
from engine.db import utcnow
from engine.errors import NotFound
from server.database import db

blp = Blueprint("dossiers", __name__, description="One-stop dossiers (hồ sơ)")
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
        Dossier.id.in_(select(Dossier.id).join(Dossier.instance).where(instance_visibility(actor))),
    )


def visible_dossier(code: str) -> Dossier:
    dossier = db().scalar(select(Dossier).where(Dossier.code == code, dossier_visibility(current_actor())))
    if dossier is None:
        raise NotFound(f"dossier {code} not found")  # 404 also for someone else's dossier
    return dossier


@blp.route("/procedures")
class Procedures(MethodView):
    @require("read")
    @blp.doc(security=SECURITY)
    @blp.response(200, ProcedureSchema(many=True))
    def get(self):
        """Administrative procedures offered (from the metadata of the deployed diagrams)."""
        return [p.to_dict() for p in all_procedures(db())]


@blp.route("/dossiers")
class Dossiers(MethodView):
    @require("read")
    @blp.doc(security=SECURITY)
    @blp.arguments(DossierQuerySchema, location="query")
    @blp.response(200, DossierPageSchema)
    def get(self, args: dict):
        """Dossiers, newest first; filter by national status, procedure, department, overdue; search."""
        query = select(Dossier).where(dossier_visibility(current_actor())).order_by(Dossier.submitted_at.desc())
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
            query = query.where(or_(Dossier.code == term, Dossier.applicant_name.ilike(f"{_like(term)}%", escape="\\")))
        return paginate(db(), query, args["page"], args["page_size"])

    @require("start", roles=DESK_ROLES)
    @blp.doc(security=SECURITY, parameters=[{
        "in": "header", "name": "Idempotency-Key", "required": False, "schema": {"type": "string"},
        "description": "retrying with the same key returns the dossier created the first time"}])
    @blp.arguments(SubmitDossierSchema)
    @blp.response(201, DossierSchema)
    def post(self, body: dict):
        """Submit a dossier: tracking code issued, the procedure's process started (status 1)."""
        session = db()
        actor = current_actor()
        key = request.headers.get("Idempotency-Key")
        if key:
            existing = idempotency.lookup(session, actor.username, "dossiers", key, body)
            if existing:
                return session.get(Dossier, existing)
        dossier = service.submit(
            session,
            procedure_code=body["procedure_code"],
            channel=body["channel"],
            applicant=body["applicant"],
            data=body.get("data"),
            received_at=body.get("received_at"),
            attachments=body.get("attachments"),
            actor=actor,
        )
        if key:
            idempotency.remember(session, actor.username, "dossiers", key, body, dossier.id)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            existing = idempotency.lookup(session, actor.username, "dossiers", key, body) if key else None
            if existing:
                return session.get(Dossier, existing)
            raise
        return dossier


@blp.route("/dossiers/<code>")
class DossierDetail(MethodView):
    @require("read")
    @blp.doc(security=SECURITY)
    @blp.response(200, DossierSchema)
    def get(self, code: str):
        """One dossier by tracking code."""
        return visible_dossier(code)


@blp.route("/dossiers/<code>/supplement", methods=["POST"])
@require("messages", roles=DESK_ROLES)
@blp.doc(security=SECURITY)
@blp.arguments(SupplementSchema)
@blp.response(200, DossierSchema)
def supplement(body: dict, code: str):
    """The citizen's supplement arrived: the process continues and the clock resumes."""
    session = db()
    visible_dossier(code)
    dossier = service.supplement(session, code, body, current_actor())
    session.commit()
    return dossier


@blp.route("/dossiers/<code>/withdraw", methods=["POST"])
@require("start", roles=DESK_ROLES)
@blp.doc(security=SECURITY)
@blp.arguments(WithdrawSchema)
@blp.response(200, DossierSchema)
def withdraw(body: dict, code: str):
    """The citizen withdraws the dossier (status 7); open tasks are cancelled."""
    session = db()
    visible_dossier(code)
    dossier = service.withdraw(session, code, body.get("reason"), current_actor())
    session.commit()
    return dossier


@blp.route("/dossiers/<code>/apologies", methods=["POST"])
@require("complete")
@blp.doc(security=SECURITY)
@blp.arguments(IssueApologySchema)
@blp.response(201, ApologySchema)
def issue_apology(body: dict, code: str):
    """Issue the apology letter (Form 04) with a new appointment date; the citizen is notified."""
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
    """receipt (01), supplement (02), refusal (03), apology (04), control-sheet (05): HTML, or PDF with format=pdf."""
    rendered = slips.render_slip(db(), visible_dossier(code), kind, request.host_url)
    return _output(rendered, args["format"])


@blp.route("/register")
@require("read", roles={ROLE_ADMIN, ROLE_CLERK, ROLE_LEADER, ROLE_CENTER_LEADER})
@blp.doc(security=SECURITY, responses={"200": {"description": "the register", "content": DOCUMENT_CONTENT}})
@blp.arguments(RegisterQuerySchema, location="query")
def register(args: dict):
    """The dossier register (Form 06) of dossiers received from ``from`` to ``to`` (inclusive dates)."""
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
