"""The working-day calendar: the days an administrator added or corrected."""

from __future__ import annotations

from datetime import date

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from api.auth import current_actor, require
from api.schemas import CalendarDaySchema
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
    @blp.response(200, CalendarDaySchema(many=True))
    def get(self):
        """Extra days off and make-up working days set by administrators (holidays come from the official calendar)."""
        return list(db().scalars(select(CalendarDay).order_by(CalendarDay.day)))

    @require("admin", roles={ROLE_ADMIN})
    @blp.doc(security=[{"bearerAuth": []}])
    @blp.arguments(CalendarDaySchema)
    @blp.response(200, CalendarDaySchema)
    def put(self, body: dict):
        """Add or correct a day: ``working: false`` for an extra day off, ``true`` for a make-up working day."""
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
        """Remove an override: the day follows the official calendar again."""
        try:
            parsed = date.fromisoformat(day)
        except ValueError:
            raise NotFound(f"{day!r} is not a date (YYYY-MM-DD)") from None
        session = db()
        if not calendar_days.remove_day(session, parsed):
            raise NotFound(f"no override for {day}")
        session.commit()
