"""The one-stop rules around a running procedure: submission, tracking codes,
status codes, the appointment clock, supplements, fees, results, withdrawal.

The diagram drives the dossier: ``dossier_action`` markers on flow nodes
(see bpmn/README.md) are applied by :func:`on_step`, which the runtime calls
inside every persisted step, so a dossier's row always agrees with its process.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from dossiers.models import (
    ACCEPTED,
    CHANNELS,
    DONE,
    OPEN_STATUSES,
    PAYMENT,
    PROCESSING,
    REFUSED,
    RETURNED,
    SUBMITTED,
    SUPPLEMENT,
    WITHDRAWN,
    Dossier,
    TrackingSequence,
)
from dossiers.notifications import notify_citizen
from dossiers.procedures import get_procedure
from engine import deadlines, hooks
from engine.actors import Actor
from engine.calendar import VN_TZ
from engine.db import utcnow
from engine.errors import EngineError, InvalidState, NotFound
from engine.models import EventLogEntry
from engine.runtime import Runtime

ACTIONS = (
    "accept", "request_supplement", "supplement_received", "refuse", "payment_requested", "paid",
    "result_issued", "result_returned", "step_overdue",
)


# ----------------------------------------------------------------- tracking codes
def allocate_code(session: Session, agency_code: str, at: datetime) -> str:
    """``{agency}-{yymmdd}-{sequence}``: per agency per Vietnam day, atomic, never reused."""
    day = at.astimezone(VN_TZ).strftime("%y%m%d")
    dialect = session.bind.dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(TrackingSequence).values(agency_code=agency_code, day=day, last=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["agency_code", "day"], set_={"last": TrackingSequence.last + 1}
    ).returning(TrackingSequence.last)
    number = session.execute(stmt).scalar_one()
    return f"{agency_code}-{day}-{number:04d}"


# --------------------------------------------------------------------- submission
def submit(
    session: Session,
    *,
    procedure_code: str,
    channel: str,
    applicant: dict[str, Any],
    data: dict[str, Any] | None = None,
    received_at: datetime | None = None,
    attachments: list[dict[str, Any]] | None = None,
    actor: Actor,
) -> Dossier:
    """Create the dossier and start its procedure's process (status 1, newly submitted)."""
    procedure = get_procedure(session, procedure_code)
    if channel not in CHANNELS:
        raise EngineError(f"channel must be one of {', '.join(CHANNELS)}", errors={"channel": "unknown channel"})
    if channel == "online" and not procedure.online:
        raise EngineError(f"procedure {procedure_code} cannot be submitted online",
                          errors={"channel": "online submission is not allowed for this procedure"})
    now = utcnow()
    submitted_at = received_at or now
    if submitted_at > now:
        raise EngineError("received_at lies in the future", errors={"received_at": "must not be in the future"})
    code = allocate_code(session, procedure.agency_code, submitted_at)
    dossier = Dossier(
        id=str(uuid.uuid4()),
        code=code,
        procedure_code=procedure.code,
        procedure_name=procedure.name_vi,
        process_id=procedure.process_id,
        agency_code=procedure.agency_code,
        desk=procedure.desk,
        responsible_department=procedure.department,
        current_department=procedure.desk,
        applicant_kind=applicant.get("kind") or "person",
        applicant_name=applicant["name"],
        applicant_id_number=applicant.get("id_number"),
        applicant_phone=applicant.get("phone"),
        applicant_email=applicant.get("email"),
        applicant_address=applicant.get("address"),
        channel=channel,
        status_code=SUBMITTED,
        status_changed_at=now,
        submitted_at=submitted_at,
        processing_time=procedure.processing_time,
        processing_unit=procedure.processing_unit,
        fee_amount=procedure.fee,
        attachments=list(attachments or []),
        data=dict(data or {}),
    )
    process_data = {
        **(data or {}),
        "dossier_code": code,
        "procedure_code": procedure.code,
        "channel": channel,
        "desk": procedure.desk,
        "applicant_name": dossier.applicant_name,
        "applicant_id_number": dossier.applicant_id_number,
    }
    Runtime(session).start(procedure.process_id, business_key=code, data=process_data, actor=actor,
                           instance_id=dossier.id, on_created=lambda _instance: _attach(session, dossier))
    return dossier


def _attach(session: Session, dossier: Dossier) -> None:
    session.add(dossier)
    session.flush()  # the first step's listener finds it


def get_dossier(session: Session, code: str) -> Dossier:
    dossier = session.scalar(select(Dossier).where(Dossier.code == code))
    if dossier is None:
        raise NotFound(f"dossier {code} not found")
    return dossier


# ----------------------------------------------------------- reacting to the diagram
_NOT_LOOKED_UP = object()


def step_dossier(session: Session, instance, step) -> Dossier | None:
    """The step's dossier, looked up once for all step listeners: the session's identity map does not
    remember that an instance has none, so each listener's ``session.get`` would SELECT again."""
    found = getattr(step, "dossier", _NOT_LOOKED_UP)
    if found is _NOT_LOOKED_UP:
        found = session.get(Dossier, instance.id)
        step.dossier = found
    return found


def on_step(session: Session, instance, step) -> None:
    """Runtime listener: apply dossier markers and follow the work between departments."""
    dossier = step_dossier(session, instance, step)
    if dossier is None:
        return
    now = step.runtime.clock()
    data = instance.data or {}
    for _entry, spec in step.completed:
        action = (getattr(spec, "extensions", None) or {}).get("dossier_action")
        if action:
            apply_action(dossier, action, data, now, step)
    for task in step.new_tasks:
        if task.department or task.candidate_groups:
            dossier.current_department = task.department or task.candidate_groups[0]
        if dossier.status_code == ACCEPTED:
            _set_status(dossier, PROCESSING, now, step, "processing")


def apply_action(dossier: Dossier, action: str, data: dict, now: datetime, step) -> None:
    calendar = deadlines.current_calendar()
    if action == "accept":
        dossier.received_at = dossier.complete_since or dossier.submitted_at
        dossier.appointment_at = calendar.deadline(dossier.received_at, dossier.processing_time,
                                                   dossier.processing_unit)
        dossier.original_appointment_at = dossier.appointment_at
        _set_status(dossier, ACCEPTED, now, step, action)
        notify_citizen(step.runtime.session, dossier, "receipt")
    elif action == "request_supplement":
        dossier.supplement_count += 1
        dossier.missing_documents = data.get("missing_documents") or dossier.missing_documents
        if dossier.received_at is not None:
            dossier.paused_since = now  # the clock stops while the citizen supplements
        _set_status(dossier, SUPPLEMENT, now, step, action)
        notify_citizen(step.runtime.session, dossier, "supplement")
    elif action == "supplement_received":
        if dossier.received_at is None:
            dossier.complete_since = now
            _set_status(dossier, SUBMITTED, now, step, action)
        else:
            if dossier.paused_since is not None:
                paused = calendar.working_hours_between(dossier.paused_since, now)
                dossier.paused_hours += paused
                dossier.appointment_at = calendar.extend(dossier.appointment_at, paused)
                dossier.paused_since = None
            _set_status(dossier, PROCESSING, now, step, action)
    elif action == "refuse":
        dossier.refusal_reason = data.get("refusal_reason") or dossier.refusal_reason
        dossier.finished_at = now
        _set_status(dossier, REFUSED, now, step, action)
        notify_citizen(step.runtime.session, dossier, "refusal")
    elif action == "payment_requested":
        dossier.fee_amount = int(data.get("fee_amount") or dossier.fee_amount or 0)
        dossier.fee_state = "due"
        _set_status(dossier, PAYMENT, now, step, action)
        notify_citizen(step.runtime.session, dossier, "payment")
    elif action == "paid":
        payment = data.get("payment") if isinstance(data.get("payment"), dict) else {}
        dossier.fee_state = "paid"
        dossier.paid_at = now
        dossier.payment_channel = payment.get("channel") or ("online" if dossier.channel == "online" else "counter")
        # paying for a result that is already issued (e.g. a permit) returns to "done"
        _set_status(dossier, DONE if dossier.finished_at else PROCESSING, now, step, action)
    elif action == "result_issued":
        dossier.finished_at = now
        dossier.late = dossier.appointment_at is not None and now > dossier.appointment_at
        _set_status(dossier, DONE, now, step, action)
        notify_citizen(step.runtime.session, dossier, "result")
    elif action == "result_returned":
        dossier.returned_at = now
        dossier.result_channel = data.get("result_channel") or dossier.result_channel
        dossier.e_result = bool(data.get("e_result")) or dossier.result_channel == "electronic"
        if dossier.finished_at is None:
            dossier.finished_at = now
        _set_status(dossier, RETURNED, now, step, action)
    elif action == "step_overdue":
        step.log_instance("step_overdue", detail={"department": dossier.current_department})


def _set_status(dossier: Dossier, status: int, now: datetime, step, action: str) -> None:
    if dossier.status_code == status:
        return
    step.log_instance("dossier_status", detail={"from": dossier.status_code, "to": status, "action": action})
    dossier.status_code = status
    dossier.status_changed_at = now


# ----------------------------------------------------------------- citizen actions
def supplement(session: Session, code: str, payload: dict[str, Any], actor: Actor) -> Dossier:
    """The citizen's supplement arrives: deliver message ``supplement_received`` to the process."""
    dossier = get_dossier(session, code)
    if dossier.status_code != SUPPLEMENT:
        raise InvalidState(f"dossier {code} is not waiting for a supplement (status {dossier.status_code})")
    dossier.attachments = [*dossier.attachments, *payload.get("documents", [])]
    Runtime(session).correlate_message("supplement_received", business_key=code, payload=payload, actor=actor)
    return dossier


def withdraw(session: Session, code: str, reason: str | None, actor: Actor) -> Dossier:
    dossier = get_dossier(session, code)
    if dossier.status_code not in OPEN_STATUSES:
        raise InvalidState(f"dossier {code} is already closed (status {dossier.status_code})")
    Runtime(session).terminate(dossier.id, actor, reason=reason or "withdrawn by the citizen")
    session.add(EventLogEntry(instance_id=dossier.id, kind="dossier_status", actor=actor.username,
                              detail={"from": dossier.status_code, "to": WITHDRAWN, "action": "withdraw"}))
    previous, dossier.status_code = dossier.status_code, WITHDRAWN
    dossier.status_changed_at = dossier.finished_at = utcnow()
    from integrations.events import dossier_event  # integrators hear of it in the same transaction

    dossier_event(session, dossier, "dossier_status", {"from": previous, "to": WITHDRAWN, "action": "withdraw"})
    return dossier


def install() -> None:
    hooks.add_step_listener(on_step)
