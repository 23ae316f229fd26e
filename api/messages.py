"""POST /messages: correlate a message to waiting instances, or start one by message."""

from __future__ import annotations

from datetime import timedelta

from flask_smorest import Blueprint

from api.auth import current_actor, require
from api.contract import idempotent
from api.errors import ApiProblem
from api.schemas import MessageResultSchema, MessageSchema
from engine import messages
from engine.actors import ROLE_ADMIN, ROLE_INTEGRATOR
from engine.db import utcnow
from engine.runtime import Runtime
from server.database import db

blp = Blueprint("messages", __name__, description="BPMN messages from integrators")


@blp.route("/messages", methods=["POST"])
@require("messages", roles={ROLE_ADMIN, ROLE_INTEGRATOR})
@idempotent("messages")
@blp.doc(security=[{"bearerAuth": []}])
@blp.arguments(MessageSchema, example=MessageSchema.EXAMPLE)
@blp.response(200, MessageResultSchema)
@blp.alt_response(202, schema=MessageResultSchema, description="nobody waits for it yet: buffered until an instance "
                  "waits for it, or until it expires (MESSAGE_BUFFER_SECONDS)")
@blp.alt_response(404, description="no instance waits for this message and no process starts with it")
def send_message(body: dict):
    """Deliver a message by name, to the instance with a business key or matching correlation values.

    Starts a process whose message start event has this name when no instance waits for it.
    Send an ``Idempotency-Key`` (e.g. the payment's transaction id) so a retry is not delivered twice."""
    if body.get("business_key") is None and not body.get("correlation"):
        raise ApiProblem(400, "give a business_key or correlation values to say which instance the message is for",
                         errors={"business_key": "business_key or correlation is required"})
    session = db()
    reached = Runtime(session).correlate_message(
        body["name"],
        business_key=body.get("business_key"),
        correlation=body.get("correlation"),
        payload=body.get("payload"),
        actor=current_actor(),
        buffer=True,
    )
    session.commit()
    if not reached:  # buffered (engine.messages): delivered when an instance starts waiting for it
        expires = utcnow() + timedelta(seconds=messages.BUFFER_SECONDS)
        return {"name": body["name"], "instances": [], "buffered": True, "expires_at": expires}, 202
    return {"name": body["name"], "instances": reached}
