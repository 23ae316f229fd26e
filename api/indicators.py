"""The national "766" indicators over the API: the scorecard of a period, a department, a procedure."""

from __future__ import annotations

from datetime import date, datetime

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api.auth import current_actor, require
from api.errors import ApiProblem
from dossiers import indicators as service
from engine.actors import ROLE_ADMIN, ROLE_CENTER_LEADER, ROLE_INTEGRATOR, ROLE_LEADER
from engine.calendar import VN_TZ
from server.database import db

blp = Blueprint("indicators", __name__, description="The 766 indicators (Decision 766/QĐ-TTg)")
SECURITY = [{"bearerAuth": []}]
READERS = {ROLE_LEADER, ROLE_CENTER_LEADER, ROLE_ADMIN, ROLE_INTEGRATOR}
MAX_DAYS = 366


class IndicatorQuerySchema(Schema):
    from_ = fields.Date(data_key="from", metadata={"description": "first day (Vietnam date); default: the 1st of "
                                                                  "the current month"})
    to = fields.Date(metadata={"description": "last day, included; default: today (Vietnam)"})
    department = fields.String(validate=validate.Length(min=1, max=50),
                               metadata={"description": "responsible department code"})
    procedure_code = fields.String(validate=validate.Length(min=1, max=50))


class PointsSchema(Schema):
    transparency = fields.Float(metadata={"description": "of 18"})
    progress = fields.Float(metadata={"description": "of 20"})
    online = fields.Float(metadata={"description": "of 22"})
    digitization = fields.Float(metadata={"description": "of 22"})
    satisfaction = fields.Float(metadata={"description": "of 18"})
    total = fields.Float(metadata={"description": "of 100"})


class IndicatorsSchema(Schema):
    from_ = fields.Date(data_key="from", metadata={"example": "2026-11-01"})
    to = fields.Date(metadata={"example": "2026-11-30"})
    received = fields.Integer(metadata={"example": 1240})
    resolved = fields.Integer(metadata={"example": 1175})
    on_time_rate = fields.Float(allow_none=True, metadata={"description": "percent; null: nothing to judge",
                                                           "example": 96.4})
    avg_processing_days = fields.Float(allow_none=True, metadata={"description": "working days"})
    overdue_open = fields.Integer()
    online_rate = fields.Float(allow_none=True)
    online_payment_rate = fields.Float(allow_none=True)
    digitization_rate = fields.Float(allow_none=True)
    e_result_rate = fields.Float(allow_none=True)
    satisfaction_rate = fields.Float(allow_none=True)
    points = fields.Nested(PointsSchema)


@blp.route("/indicators")
@require("read", roles=READERS)
@blp.doc(security=SECURITY)
@blp.arguments(IndicatorQuerySchema, location="query")
@blp.response(200, IndicatorsSchema)
def get_indicators(args: dict):
    """The 766 indicators and points of the dossiers of a period (formulas: dossiers/indicators.py).

    A department leader sees their own departments (all of them when ``department`` is not given)."""
    today = datetime.now(VN_TZ).date()
    end = args.get("to") or today
    start = args.get("from_") or (date(end.year, end.month, 1) if args.get("to") else today.replace(day=1))
    if end < start:
        raise ApiProblem(422, "'to' is before 'from'", errors={"to": "must not be before from"})
    if (end - start).days > MAX_DAYS:
        raise ApiProblem(422, "the indicators cover at most one year", errors={"to": "at most 366 days after from"})
    try:
        department = service.department_scope(current_actor(), args.get("department"))
    except PermissionError:
        raise ApiProblem(403, "you may read the indicators of your own departments only") from None
    figures = service.indicators(db(), start, end, department, args.get("procedure_code"))
    return {"from_": start, "to": end, **figures.to_dict()}
