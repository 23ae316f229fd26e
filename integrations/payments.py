"""Events in: the payment platform confirms that a dossier's fee was paid.

The platform signs each request like our webhooks (``X-Motcua-Timestamp`` and
``X-Motcua-Signature: sha256=HMAC(PAYMENT_WEBHOOK_SECRET, "<timestamp>.<body>")``). A confirmation
is idempotent by the platform's ``transaction_id``: the same request again answers what it
answered the first time and changes nothing; another request under the same id is a conflict.
A valid one delivers message ``payment_confirmed`` to the dossier's waiting process, whose
``paid`` marker marks the fee paid and moves the dossier on.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dossiers.models import Dossier
from engine.actors import ROLE_INTEGRATOR, Actor
from engine.errors import Conflict, EngineError, InvalidState, NotFound
from engine.runtime import Runtime
from integrations import settings, webhooks
from integrations.models import PaymentConfirmation

PLATFORM = Actor("payment-platform", frozenset({ROLE_INTEGRATOR}))
MESSAGE = "payment_confirmed"


class SignatureInvalid(EngineError):
    status = 401


class NotConfigured(EngineError):
    status = 503


class AmountMismatch(EngineError):
    status = 422


def check_signature(body: bytes, timestamp: str | None, signature: str | None, now: float | None = None) -> None:
    cfg = settings.current()
    if not cfg.payment_secret:
        raise NotConfigured("payment confirmations are not configured on this server (PAYMENT_WEBHOOK_SECRET)")
    problem = webhooks.verify(cfg.payment_secret, timestamp, body, signature, now=now,
                              tolerance=cfg.payment_tolerance_seconds)
    if problem:
        raise SignatureInvalid(problem)


def request_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def replayed(session: Session, body: dict[str, Any]) -> dict[str, Any] | None:
    """The answer given the first time to this transaction id, or None; another body is a conflict."""
    row = session.scalar(
        select(PaymentConfirmation).where(PaymentConfirmation.transaction_id == body["transaction_id"]))
    if row is None:
        return None
    if row.request_hash != request_hash(body):
        raise Conflict(f"transaction {body['transaction_id']} was already confirmed with different data",
                       errors={"transaction_id": "already used for another confirmation"})
    return row.response


def confirm(session: Session, body: dict[str, Any]) -> dict[str, Any]:
    """Apply a verified, validated confirmation (the caller commits); returns the answer to give."""
    earlier = replayed(session, body)
    if earlier is not None:
        return earlier
    code = body["dossier_code"]
    dossier = session.scalar(select(Dossier).where(Dossier.code == code))
    if dossier is None:
        raise NotFound(f"dossier {code} not found", errors={"dossier_code": "no such dossier"})
    if dossier.fee_state != "due":
        state = "already paid" if dossier.fee_state == "paid" else "not due"
        raise InvalidState(f"dossier {code} has no fee waiting for payment (fee {state})")
    if body["amount"] != dossier.fee_amount:
        raise AmountMismatch(f"the amount {body['amount']} differs from the fee due, {dossier.fee_amount}",
                             errors={"amount": f"must be {dossier.fee_amount}"})
    payload = {"amount": body["amount"], "transaction_id": body["transaction_id"],
               "channel": body.get("channel") or "online"}
    if body.get("paid_at") is not None:
        payload["paid_at"] = body["paid_at"].isoformat()
    try:
        Runtime(session).correlate_message(MESSAGE, business_key=code, payload=payload, actor=PLATFORM)
    except NotFound:
        raise InvalidState(f"dossier {code} is not waiting for a payment") from None
    answer = {"transaction_id": body["transaction_id"], "dossier_code": code, "amount": body["amount"],
              "fee_state": dossier.fee_state, "status_code": dossier.status_code}
    session.add(PaymentConfirmation(transaction_id=body["transaction_id"], dossier_code=code, amount=body["amount"],
                                    request_hash=request_hash(body), response=answer))
    session.flush()
    return answer
