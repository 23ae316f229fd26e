"""Events out: what happened to a dossier (or an instance), written to the outbox in the same
transaction as the step that caused it, with one delivery row per receiver that wants it.

The dossier rules mark every status change in the step's event log (``dossier_status`` with the
action); :func:`on_step` — a step listener registered after theirs — turns those into events.
Lateness, apologies and withdrawals happen outside steps and call :func:`dossier_event`.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import inspect, or_, select
from sqlalchemy.orm import Session

from accounts.models import User
from dossiers.models import STATUS_NAMES, Dossier
from dossiers.service import step_dossier
from engine import hooks
from engine.db import utcnow
from integrations import portal, settings
from integrations.models import PENDING, PORTAL_TARGET, Delivery, OutboxEvent, WebhookSubscription

SUBMITTED = "dossier.submitted"
ACCEPTED = "dossier.accepted"
REFUSED = "dossier.refused"
PROCESSING = "dossier.processing"
SUPPLEMENT_REQUESTED = "dossier.supplement_requested"
SUPPLEMENT_RECEIVED = "dossier.supplement_received"
HANDED_OFF = "dossier.handed_off"
PAYMENT_REQUESTED = "dossier.payment_requested"
PAID = "dossier.paid"
OVERDUE_WARNING = "dossier.overdue_warning"
OVERDUE = "dossier.overdue"
APOLOGY_ISSUED = "dossier.apology_issued"
RESULT_ISSUED = "dossier.result_issued"
RESULT_RETURNED = "dossier.result_returned"
WITHDRAWN = "dossier.withdrawn"
INSTANCE_ERROR = "instance.error"

EVENT_TYPES: dict[str, str] = {
    SUBMITTED: "a dossier was submitted (status 1)",
    ACCEPTED: "the desk accepted it: receipt and appointment date (status 2)",
    REFUSED: "the desk refused it, with the reason (status 3)",
    PROCESSING: "processing started or resumed (status 4)",
    SUPPLEMENT_REQUESTED: "the citizen must supplement; the clock is paused (status 5)",
    SUPPLEMENT_RECEIVED: "the supplement arrived; the clock resumes",
    HANDED_OFF: "the dossier moved to another department",
    PAYMENT_REQUESTED: "a fee is due (status 6)",
    PAID: "the fee was paid",
    OVERDUE_WARNING: "a working day before the appointment, the dossier is not done",
    OVERDUE: "the appointment date passed",
    APOLOGY_ISSUED: "an apology letter with a new appointment date was issued",
    RESULT_ISSUED: "the result is ready (status 9)",
    RESULT_RETURNED: "the result was handed to the citizen (status 10)",
    WITHDRAWN: "the citizen withdrew the dossier (status 7)",
    INSTANCE_ERROR: "a step of the process failed; the instance waits for a fix (any process)",
}
# dossier_action (see dossiers.service) -> event type
_ACTIONS = {
    "accept": ACCEPTED, "refuse": REFUSED, "processing": PROCESSING, "request_supplement": SUPPLEMENT_REQUESTED,
    "supplement_received": SUPPLEMENT_RECEIVED, "payment_requested": PAYMENT_REQUESTED, "paid": PAID,
    "result_issued": RESULT_ISSUED, "result_returned": RESULT_RETURNED, "withdraw": WITHDRAWN,
}
_LOG_KINDS = {"overdue_warning": OVERDUE_WARNING, "overdue": OVERDUE, "apology_issued": APOLOGY_ISSUED}


def install() -> None:
    """Follow every persisted step, after the dossier rules (whose status entries we read)."""
    from dossiers import service

    service.install()  # no-op when installed already; guarantees it runs first
    hooks.add_step_listener(on_step)


# ----------------------------------------------------------------------- emitting
def emit(session: Session, event_type: str, *, dossier: Dossier | None = None, instance: Any = None,
         data: dict[str, Any] | None = None, now: datetime | None = None,
         supplements: list[dict[str, Any]] | None = None) -> OutboxEvent:
    """Write one event and its deliveries into the caller's transaction (nothing is sent here)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    now = now or utcnow()
    instance = instance if instance is not None else (dossier.instance if dossier is not None else None)
    event = OutboxEvent(
        id=str(uuid.uuid4()), type=event_type, created_at=now,
        dossier_id=dossier.id if dossier is not None else None,
        dossier_code=dossier.code if dossier is not None else None,
        instance_id=instance.id if instance is not None else None,
        procedure_code=dossier.procedure_code if dossier is not None else None,
    )
    event.payload = {
        "id": event.id,
        "type": event_type,
        "created_at": now.isoformat(),
        "dossier": snapshot(dossier, (data or {}).get("to_status")) if dossier is not None else None,
        "instance": {"id": instance.id, "process_id": instance.process_id, "business_key": instance.business_key,
                     "status": instance.status} if instance is not None else None,
        "data": dict(data or {}),
    }
    session.add(event)
    body = _canonical(event.payload)
    subscriptions = session.scalars(
        select(WebhookSubscription).where(
            WebhookSubscription.active.is_(True),
            # a deactivated owner's subscriptions stop receiving dossier data with the account
            or_(WebhookSubscription.owner.is_(None),
                WebhookSubscription.owner.in_(select(User.username).where(User.is_active.is_(True)))))
        .order_by(WebhookSubscription.id)
    )
    for sub in subscriptions:
        if sub.wants(event_type, event.procedure_code):
            session.add(Delivery(event_id=event.id, target=sub.target, subscription_id=sub.id, url=sub.url,
                                 dossier_id=event.dossier_id, body=body, status=PENDING, next_attempt_at=now,
                                 created_at=now))
    cfg = settings.current()
    feed = cfg.portal_feed_url if cfg.portal_feed_secret else None  # never an unsigned feed
    if feed and dossier is not None and event_type in portal.FEED_EVENT_TYPES:
        history = supplement_history(session, dossier, extra=supplements)
        session.add(Delivery(event_id=event.id, target=PORTAL_TARGET, url=feed, dossier_id=dossier.id,
                             body=_canonical(portal.feed_record(session, event, dossier, history)),
                             status=PENDING, next_attempt_at=now, created_at=now))
    return event


def snapshot(dossier: Dossier, status: int | None = None) -> dict[str, Any]:
    """What receivers see of a dossier: no identity numbers, phones or addresses.

    The dossier as it stands after the step, except its status: the one the event moved it to
    (a step may pass several markers, e.g. accepted then payment requested).
    """
    status = status or dossier.status_code

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "code": dossier.code,
        "procedure_code": dossier.procedure_code,
        "procedure_name": dossier.procedure_name,
        "status_code": status,
        "status_name": STATUS_NAMES[status][1],
        "channel": dossier.channel,
        "applicant_name": dossier.applicant_name,
        "current_department": dossier.current_department,
        "submitted_at": iso(dossier.submitted_at),
        "received_at": iso(dossier.received_at),
        "appointment_at": iso(dossier.appointment_at),
        "fee_amount": dossier.fee_amount,
        "fee_state": dossier.fee_state,
        "supplement_count": dossier.supplement_count,
        "finished_at": iso(dossier.finished_at),
        "returned_at": iso(dossier.returned_at),
    }


def supplement_history(session: Session, dossier: Dossier, extra: list[dict] | None = None) -> list[dict[str, Any]]:
    """Supplement requests and receipts of the dossier, oldest first, from its earlier events."""
    with session.no_autoflush:
        rows = session.execute(
            select(OutboxEvent.type, OutboxEvent.created_at, OutboxEvent.payload)
            .where(OutboxEvent.dossier_id == dossier.id,
                   OutboxEvent.type.in_((SUPPLEMENT_REQUESTED, SUPPLEMENT_RECEIVED)))
            .order_by(OutboxEvent.seq)
        ).all()
    items = [{"type": t, "at": at, "data": (payload or {}).get("data") or {}} for t, at, payload in rows]
    return items + list(extra or [])


def _canonical(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)


# ---------------------------------------------------------------- from the steps
def on_step(session: Session, instance, step) -> None:
    """Step listener: the step's status changes, handoff and error become events."""
    now = step.runtime.clock()
    dossier = step_dossier(session, instance, step)  # looked up once per step with the dossier rules
    if dossier is None:
        for entry in step.entries:
            if entry.kind == "error":
                emit(session, INSTANCE_ERROR, instance=instance, data=dict(entry.detail or {}), now=now)
        return
    for entry in step.entries:
        if entry.kind == "instance_started":
            emit(session, SUBMITTED, dossier=dossier, instance=instance, now=now)
        elif entry.kind == "dossier_status":
            _status_event(session, dossier, instance, entry.detail or {}, now)
        elif entry.kind == "error":
            emit(session, INSTANCE_ERROR, dossier=dossier, instance=instance, data=dict(entry.detail or {}), now=now)
    history = inspect(dossier).attrs.current_department.history
    if history.deleted and history.added and history.deleted[0] != history.added[0]:
        emit(session, HANDED_OFF, dossier=dossier, instance=instance, now=now,
             data={"from_department": history.deleted[0], "to_department": history.added[0]})


def _status_event(session: Session, dossier: Dossier, instance, detail: dict, now: datetime) -> None:
    event_type = _ACTIONS.get(detail.get("action"))
    if event_type is None:
        return
    data: dict[str, Any] = {"from_status": detail.get("from"), "to_status": detail.get("to")}
    supplements = None
    if event_type == SUPPLEMENT_REQUESTED:
        data["missing_documents"] = dossier.missing_documents
        data["supplement_count"] = dossier.supplement_count
    elif event_type == REFUSED:
        data["refusal_reason"] = dossier.refusal_reason
    elif event_type in (PAYMENT_REQUESTED, PAID):
        data.update(fee_amount=dossier.fee_amount, fee_state=dossier.fee_state,
                    payment_channel=dossier.payment_channel)
        payment = (instance.data or {}).get("payment")
        if event_type == PAID and isinstance(payment, dict):
            data["transaction_id"] = payment.get("transaction_id")
    elif event_type == RESULT_RETURNED:
        data.update(result_channel=dossier.result_channel, e_result=dossier.e_result)
    if event_type in (SUPPLEMENT_REQUESTED, SUPPLEMENT_RECEIVED):
        supplements = [{"type": event_type, "at": now, "data": data}]
    emit(session, event_type, dossier=dossier, instance=instance, data=data, now=now, supplements=supplements)


def dossier_event(session: Session, dossier: Dossier, kind: str, detail: dict[str, Any] | None = None,
                  now: datetime | None = None) -> OutboxEvent | None:
    """For the dossier rules outside steps: lateness (``overdue_warning``, ``overdue``),
    ``apology_issued`` and a ``dossier_status`` change such as a withdrawal."""
    if kind == "dossier_status":
        event_type = _ACTIONS.get((detail or {}).get("action"))
        data = {"from_status": (detail or {}).get("from"), "to_status": (detail or {}).get("to")}
    else:
        event_type = _LOG_KINDS.get(kind)
        data = dict(detail or {})
    if event_type is None:
        return None
    return emit(session, event_type, dossier=dossier, data=data, now=now)
