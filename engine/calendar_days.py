"""Administrator-edited calendar days, loaded into the calendar in force.

Every process (gunicorn worker, background worker) reloads the table when it is
older than RELOAD_SECONDS, so an edit reaches all of them within that time.
"""

from __future__ import annotations

import threading
import time
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import deadlines
from engine.calendar import WorkingCalendar
from engine.db import utcnow
from engine.models import CalendarDay

RELOAD_SECONDS = 60.0
_loaded_at = 0.0
_lock = threading.Lock()


def load(session: Session) -> WorkingCalendar:
    rows = list(session.scalars(select(CalendarDay)))
    calendar = WorkingCalendar(
        extra_days_off={r.day for r in rows if not r.working},
        extra_working_days={r.day for r in rows if r.working},
    )
    deadlines.set_calendar(calendar)
    return calendar


def refresh_if_stale(session: Session) -> None:
    global _loaded_at
    if time.monotonic() - _loaded_at < RELOAD_SECONDS:
        return
    with _lock:
        if time.monotonic() - _loaded_at < RELOAD_SECONDS:
            return
        load(session)
        _loaded_at = time.monotonic()


def set_day(session: Session, day: date, working: bool, note: str | None, by: str | None) -> CalendarDay:
    row = session.get(CalendarDay, day) or CalendarDay(day=day)
    row.working, row.note, row.updated_by, row.updated_at = working, note, by, utcnow()
    session.add(row)
    session.flush()
    load(session)
    return row


def remove_day(session: Session, day: date) -> bool:
    row = session.get(CalendarDay, day)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    load(session)
    return True


def invalidate() -> None:
    global _loaded_at
    _loaded_at = 0.0
