"""Deadlines of dossiers: warnings, overdue flags and apology letters (Form 04).

A dossier can never silently pass its appointment date: the worker's
:func:`check_deadlines` warns the department a working day ahead and drafts the
apology, and flags the dossier overdue once the date has passed. Issuing the
apology (a person of the department) sets the new appointment date and tells
the citizen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dossiers.models import CLOCK_STATUSES, OPEN_STATUSES, SUPPLEMENT, Apology, Dossier
from dossiers.notifications import notify_citizen, notify_department, vn_date
from engine import deadlines
from engine.actors import Actor
from engine.db import utcnow
from engine.errors import EngineError, InvalidState
from engine.models import EventLogEntry

WARN_WORKING_HOURS = 8.0  # one working day before the appointment


@dataclass(frozen=True)
class DueState:
    state: str  # ok | warned | overdue | paused | closed | not_started
    remaining_hours: float | None  # working hours left (negative: overdue by)


def due_state(dossier: Dossier, now: datetime | None = None, warn_hours: float = WARN_WORKING_HOURS) -> DueState:
    now = now or utcnow()
    if dossier.status_code not in OPEN_STATUSES:
        return DueState("closed", None)
    if dossier.appointment_at is None:
        return DueState("not_started", None)
    calendar = deadlines.current_calendar()
    if dossier.status_code == SUPPLEMENT and dossier.paused_since is not None:
        left = calendar.working_hours_between(dossier.paused_since, dossier.appointment_at)
        return DueState("paused", left)
    if now > dossier.appointment_at:
        return DueState("overdue", -calendar.working_hours_between(dossier.appointment_at, now))
    left = calendar.working_hours_between(now, dossier.appointment_at)
    return DueState("warned" if left <= warn_hours else "ok", left)


def task_due_state(due_at: datetime | None, now: datetime | None = None,
                   warn_hours: float = WARN_WORKING_HOURS) -> DueState:
    if due_at is None:
        return DueState("ok", None)
    now = now or utcnow()
    calendar = deadlines.current_calendar()
    if now > due_at:
        return DueState("overdue", -calendar.working_hours_between(due_at, now))
    left = calendar.working_hours_between(now, due_at)
    return DueState("warned" if left <= warn_hours else "ok", left)


def proposed_new_appointment(dossier: Dossier) -> datetime:
    """Draft proposal: half the legal processing time again (at least one working day) after the old date."""
    extra = max(1, math.ceil(dossier.processing_time / 2)) if dossier.processing_unit == "working_days" else 1
    return deadlines.current_calendar().add_working_days(dossier.appointment_at, extra)


def check_deadlines(session: Session, now: datetime | None = None,
                    warn_hours: float = WARN_WORKING_HOURS) -> dict[str, int]:
    """Warn and draft apologies for dossiers about to be late; flag those that are late."""
    now = now or utcnow()
    counts = {"warned": 0, "overdue": 0}
    candidates = session.scalars(
        select(Dossier)
        .where(Dossier.status_code.in_(CLOCK_STATUSES), Dossier.appointment_at.is_not(None))
        .where((Dossier.warned_at.is_(None)) | (Dossier.overdue_at.is_(None)))
        .order_by(Dossier.appointment_at)
    )
    for dossier in candidates:
        state = due_state(dossier, now, warn_hours)
        if state.state in ("warned", "overdue") and dossier.warned_at is None:
            dossier.warned_at = now
            if not any(a.state == "draft" for a in dossier.apologies):
                session.add(Apology(dossier=dossier, department=dossier.current_department, state="draft",
                                    previous_appointment_at=dossier.appointment_at,
                                    new_appointment_at=proposed_new_appointment(dossier), drafted_at=now))
            notify_department(session, dossier, "overdue_warning", f"Hồ sơ {dossier.code} sắp quá hạn",
                              f"Hồ sơ {dossier.code} hẹn trả ngày {vn_date(dossier.appointment_at)}: "
                              "cần giải quyết ngay hoặc phát hành thư xin lỗi (mẫu 04).")
            _log(session, dossier, "overdue_warning", now, {"appointment_at": dossier.appointment_at.isoformat()})
            counts["warned"] += 1
        if state.state == "overdue" and dossier.overdue_at is None:
            dossier.overdue_at = now
            notify_department(session, dossier, "overdue", f"Hồ sơ {dossier.code} đã quá hạn",
                              f"Hồ sơ {dossier.code} đã quá ngày hẹn {vn_date(dossier.appointment_at)}.")
            _log(session, dossier, "overdue", now, {"appointment_at": dossier.appointment_at.isoformat()})
            counts["overdue"] += 1
    return counts


def issue_apology(session: Session, dossier: Dossier, new_appointment_at: datetime, reason: str,
                  actor: Actor) -> Apology:
    """Issue Form 04: the citizen is told, and the dossier gets its new appointment date."""
    if dossier.status_code not in OPEN_STATUSES:
        raise InvalidState(f"dossier {dossier.code} is closed; no apology can be issued")
    if not reason or not reason.strip():
        raise EngineError("give the reason for the delay", errors={"reason": "is required"})
    if dossier.appointment_at is None or new_appointment_at <= dossier.appointment_at:
        raise EngineError("the new appointment must be after the current one",
                          errors={"new_appointment_at": "must be after the current appointment date"})
    apology = next((a for a in dossier.apologies if a.state == "draft"), None) or Apology(dossier=dossier)
    now = utcnow()
    apology.state = "issued"
    apology.reason = reason.strip()
    apology.department = apology.department or dossier.current_department
    apology.previous_appointment_at = dossier.appointment_at
    apology.new_appointment_at = new_appointment_at
    apology.issued_at = now
    apology.issued_by = actor.username
    session.add(apology)
    previous = dossier.appointment_at
    dossier.appointment_at = new_appointment_at
    dossier.warned_at = None  # warn again before the new date
    dossier.overdue_at = None
    notify_citizen(session, dossier, "apology", previous=vn_date(previous), reason=apology.reason)
    _log(session, dossier, "apology_issued", now,
         {"previous": previous.isoformat(), "new": new_appointment_at.isoformat(), "reason": apology.reason},
         actor.username)
    session.flush()
    return apology


def _log(session: Session, dossier: Dossier, kind: str, at: datetime, detail: dict, actor: str | None = None) -> None:
    session.add(EventLogEntry(instance_id=dossier.id, kind=kind, at=at, actor=actor, detail=detail))
    from integrations.events import dossier_event  # integrators hear of it in the same transaction

    dossier_event(session, dossier, kind, detail, at)
