"""The working-day calendar: the days an administrator added or corrected."""

from __future__ import annotations

from datetime import date

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from api.auth import current_actor, require
from api.pagination import LINK_HEADER, order_clauses, paginate
from api.schemas import CalendarDayPageSchema, CalendarDaySchema, CalendarQuerySchema
from engine import calendar_days
from engine.actors import ROLE_ADMIN
from engine.errors import NotFound
from engine.models import CalendarDay
from server.database import db

blp = Blueprint("calendar", __name__, description="Working-day calendar overrides")


@blp.route("/calendar/days")
class CalendarDays(MethodView):
    @require("read")
    @blp.doc(security=[{"bearerAuth": []}])
    @blp.arguments(CalendarQuerySchema, location="query")
    @blp.response(200, CalendarDayPageSchema, headers=LINK_HEADER)
    def get(self, args: dict):
        """Extra days off and make-up working days set by administrators.

        Public holidays (Tết, official day swaps) come from the official calendar and are not listed."""
        query = select(CalendarDay).order_by(*order_clauses(args["sort"], {"day": CalendarDay.day}))
        return paginate(db(), query, args["page"], args["page_size"])

    @require("admin", roles={ROLE_ADMIN})
    @blp.doc(security=[{"bearerAuth": []}])
    @blp.arguments(CalendarDaySchema, example=CalendarDaySchema.EXAMPLE)
    @blp.response(200, CalendarDaySchema)
    def put(self, body: dict):
        """Add or correct a day: ``working: false`` for an extra day off, ``true`` for a make-up working day.

        Administrators only; setting the same day again replaces its entry (PUT is idempotent)."""
        session = db()
        row = calendar_days.set_day(session, body["day"], body["working"], body.get("note"), current_actor().username)
        session.commit()
        return row


@blp.route("/calendar/days/<day>")
class CalendarDayDetail(MethodView):
    @require("admin", roles={ROLE_ADMIN})
    @blp.doc(security=[{"bearerAuth": []}])
    @blp.response(204)
    def delete(self, day: str):
        """Remove an override: the day follows the official calendar again.

        404 when the day has no override or is not a date (YYYY-MM-DD)."""
        try:
            parsed = date.fromisoformat(day)
        except ValueError:
            raise NotFound(f"{day!r} is not a date (YYYY-MM-DD)") from None
        session = db()
        if not calendar_days.remove_day(session, parsed):
            raise NotFound(f"no override for {day}")
        session.commit()
