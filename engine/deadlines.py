"""The calendar in force, and deadlines computed from time budgets.

One WorkingCalendar is active per process (the official calendar plus the days an
administrator added or corrected, see ``engine.calendar_days``). Step budgets are
written in diagrams as ISO-8601 durations read as *working* time: ``P2D`` = two
working days, ``PT4H`` = four working hours, ``P1M`` = one month.
"""

from __future__ import annotations

import threading
from datetime import datetime

from engine.calendar import WorkingCalendar, parse_budget
from engine.db import utcnow

_lock = threading.Lock()
_calendar = WorkingCalendar()


def current_calendar() -> WorkingCalendar:
    return _calendar


def set_calendar(calendar: WorkingCalendar) -> None:
    global _calendar
    with _lock:
        _calendar = calendar


def budget_deadline(budget: str, start: datetime, calendar: WorkingCalendar | None = None) -> datetime:
    """When a step that starts at ``start`` with this budget is due."""
    amount, unit = parse_budget(budget)
    return (calendar or _calendar).deadline(start, amount, unit)


def working_deadline(budget: str) -> str:
    """For timer expressions in diagrams: ``working_deadline("P2D")`` → ISO date-time, due in working time."""
    return budget_deadline(str(budget), utcnow()).isoformat()
