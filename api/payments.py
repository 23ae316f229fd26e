"""POST /payments/confirmations: the payment platform says a dossier's fee was paid.

No bearer token: the request is authenticated by its HMAC signature (the shared secret
PAYMENT_WEBHOOK_SECRET), checked before anything in it is read. See docs/integrations.md.
"""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from api.errors import ApiProblem
from engine.errors import Conflict, InvalidState
from integrations import payments
from server.database import db

blp = Blueprint("payments", __name__, description="Payment platform callbacks (signed, idempotent)")
SIGNATURE_HEADERS = [
    {"in": "header", "name": "X-Motcua-Timestamp", "required": True, "schema": {"type": "string"},
     "description": "unix seconds when the request was signed (at most 5 minutes from the server's clock)",
     "example": "1791436800"},
    {"in": "header", "name": "X-Motcua-Signature", "required": True, "schema": {"type": "string"},
     "description": 'sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" with the shared secret>',
     "example": "sha256=5f2b…"},
]


class PaymentConfirmationSchema(Schema):
    """What the payment platform sends once a fee is paid."""

    transaction_id = fields.String(required=True, validate=validate.Length(min=1, max=100),
                                   metadata={"example": "NAPAS-20261008-000918"})
    dossier_code = fields.String(required=True, validate=validate.Length(min=1, max=64),
                                 metadata={"example": "H15.01-261008-0001"})
    amount = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=10**12),
                            metadata={"example": 115000, "description": "đồng; must equal the fee due"})
    channel = fields.String(load_default="online", validate=validate.OneOf(["online", "counter"]),
                            metadata={"example": "online"})
    paid_at = fields.AwareDateTime(allow_none=True, metadata={"example": "2026-10-08T09:41:00+07:00"})


class PaymentResultSchema(Schema):
    transaction_id = fields.String(metadata={"example": "NAPAS-20261008-000918"})
    dossier_code = fields.String(metadata={"example": "H15.01-261008-0001"})
    amount = fields.Integer(metadata={"example": 115000})
    fee_state = fields.String(metadata={"example": "paid"})
    status_code = fields.Integer(metadata={"example": 4, "description": "the dossier's national status after it"})


@blp.route("/payments/confirmations", methods=["POST"])
@blp.doc(parameters=SIGNATURE_HEADERS, security=[],
         requestBody={"required": True, "content": {"application/json": {
             "schema": PaymentConfirmationSchema,
             "example": {"transaction_id": "NAPAS-20261008-000918", "dossier_code": "H15.01-261008-0001",
                         "amount": 115000, "channel": "online", "paid_at": "2026-10-08T09:41:00+07:00"}}}})
@blp.response(200, PaymentResultSchema)
@blp.alt_response(401, description="missing, stale or wrong signature")
@blp.alt_response(404, description="no dossier with this code")
@blp.alt_response(409, description="the transaction id was used for other data, or no fee is waiting")
@blp.alt_response(422, description="invalid body, or the amount differs from the fee due")
@blp.alt_response(503, description="payment confirmations are not configured")
def confirm_payment():
    """Confirm a payment.

    Signed by the payment platform (no bearer token); idempotent by ``transaction_id``. The dossier's fee
    is marked paid and its process, waiting for message ``payment_confirmed``, moves on."""
    raw = request.get_data(cache=True)
    payments.check_signature(raw, request.headers.get("X-Motcua-Timestamp"),
                             request.headers.get("X-Motcua-Signature"))
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiProblem(422, "the body must be a JSON object", errors={"json": "expected a JSON object"})
    try:
        body = PaymentConfirmationSchema().load(data)
    except ValidationError as exc:
        errors = {k: "; ".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in exc.messages.items()}
        raise ApiProblem(422, "invalid request: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
                         errors=errors) from None
    session = db()
    try:
        answer = payments.confirm(session, body)
        session.commit()
    except (IntegrityError, Conflict, InvalidState, StaleDataError) as exc:
        # the same confirmation arriving twice at once: the loser (a duplicate key, a lost optimistic
        # lock, or "already paid" seen after the winner committed) answers what the winner stored
        session.rollback()
        answer = payments.replayed(session, body)
        if answer is None:
            raise exc from None
    return answer
