"""Webhooks over the API: subscriptions, the delivery log with a manual redeliver, events by id.

Subscriptions are written with the ``admin`` scope by administrators and integration accounts
(the owner is the token's user); an integrator sees its own subscriptions and their deliveries,
an administrator everything (the national portal feed too). See docs/integrations.md.
"""

from __future__ import annotations

import json

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from api.auth import current_actor, require
from api.contract import idempotent
from api.pagination import PageArgs, order_clauses, paginate, sort_field
from api.schemas import PageSchema
from engine.actors import ROLE_ADMIN, ROLE_INTEGRATOR
from integrations import webhooks
from integrations.events import EVENT_TYPES
from integrations.models import DELIVERY_STATES, Delivery, WebhookSubscription
from server.database import db

blp = Blueprint("webhooks", __name__, description="Webhooks: subscriptions, deliveries, events")
SECURITY = [{"bearerAuth": []}]
ROLES = {ROLE_ADMIN, ROLE_INTEGRATOR}
EVENT_TYPE_CHOICES = [*EVENT_TYPES, "*"]
_URL = validate.URL(schemes={"http", "https"}, require_tld=False, error="must be an absolute http(s) URL")


# ---------------------------------------------------------------------- schemas
class SubscriptionSchema(Schema):
    """A webhook subscription (the secret is shown only in the answer to its creation)."""

    id = fields.Integer(metadata={"example": 3})
    url = fields.String(metadata={"example": "https://dichvucong.example.vn/motcua/webhooks"})
    event_types = fields.List(fields.String(), metadata={"example": ["dossier.accepted", "dossier.result_returned"]})
    procedure_codes = fields.List(fields.String(), metadata={"example": ["1.002809"],
                                                             "description": "empty: every procedure"})
    description = fields.String(allow_none=True, metadata={"example": "Cổng DVC tỉnh"})
    active = fields.Boolean(metadata={"example": True})
    owner = fields.String(metadata={"example": "congdvc"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class CreatedSubscriptionSchema(SubscriptionSchema):
    secret = fields.String(metadata={"description": "HMAC secret for X-Motcua-Signature; shown this once",
                                     "example": "whsec_4kq9Xr…"})


class SubscriptionCreateSchema(Schema):
    url = fields.String(required=True, validate=[validate.Length(max=2000), _URL],
                        metadata={"example": "https://dichvucong.example.vn/motcua/webhooks"})
    event_types = fields.List(fields.String(validate=validate.OneOf(EVENT_TYPE_CHOICES)), required=True,
                              validate=validate.Length(min=1, max=len(EVENT_TYPE_CHOICES)),
                              metadata={"example": ["dossier.accepted", "dossier.paid", "dossier.result_returned"]})
    procedure_codes = fields.List(fields.String(validate=validate.Length(min=1, max=50)),
                                  load_default=list, validate=validate.Length(max=200),
                                  metadata={"example": ["1.002809"]})
    description = fields.String(allow_none=True, validate=validate.Length(max=500),
                                metadata={"example": "Cổng DVC tỉnh"})


class SubscriptionUpdateSchema(Schema):
    url = fields.String(validate=[validate.Length(max=2000), _URL])
    event_types = fields.List(fields.String(validate=validate.OneOf(EVENT_TYPE_CHOICES)),
                              validate=validate.Length(min=1, max=len(EVENT_TYPE_CHOICES)))
    procedure_codes = fields.List(fields.String(validate=validate.Length(min=1, max=50)),
                                  validate=validate.Length(max=200))
    description = fields.String(allow_none=True, validate=validate.Length(max=500))
    active = fields.Boolean(metadata={"example": False})


class SubscriptionPageSchema(PageSchema):
    items = fields.List(fields.Nested(SubscriptionSchema))


class SubscriptionQuerySchema(PageArgs):
    active = fields.Boolean()
    sort = sort_field(("id", "created_at", "url"), "id")


class DeliveryAttemptSchema(Schema):
    at = fields.DateTime()
    status_code = fields.Integer(allow_none=True, metadata={"example": 503})
    error = fields.String(allow_none=True, metadata={"example": "HTTP 503: Service Unavailable"})
    duration_ms = fields.Integer(metadata={"example": 42})


class DeliverySchema(Schema):
    """One event to one receiver (``sub:<id>`` or ``portal``) and where its sending stands."""

    id = fields.Integer(metadata={"example": 17})
    event_id = fields.String(metadata={"example": "0b5c1f0e-5d0b-4c1e-a0f8-1f2e3d4c5b6a"})
    event_type = fields.String(attribute="event.type", metadata={"example": "dossier.accepted"})
    dossier_code = fields.String(attribute="event.dossier_code", allow_none=True,
                                 metadata={"example": "H15.01-261008-0001"})
    target = fields.String(metadata={"example": "sub:3"})
    subscription_id = fields.Integer(allow_none=True, metadata={"example": 3})
    url = fields.String()
    status = fields.String(metadata={"enum": list(DELIVERY_STATES), "example": "failed"})
    attempts = fields.Integer(metadata={"example": 2})
    next_attempt_at = fields.DateTime()
    last_attempt_at = fields.DateTime(allow_none=True)
    last_status_code = fields.Integer(allow_none=True, metadata={"example": 500})
    last_error = fields.String(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class DeliveryDetailSchema(DeliverySchema):
    attempt_log = fields.List(fields.Nested(DeliveryAttemptSchema))
    body = fields.Function(lambda d: json.loads(d.body), metadata={"description": "the JSON sent", "type": "object"})


class DeliveryPageSchema(PageSchema):
    items = fields.List(fields.Nested(DeliverySchema))


class DeliveryQuerySchema(PageArgs):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATES), metadata={"example": "failed"})
    subscription_id = fields.Integer(validate=validate.Range(min=1, max=2**62), metadata={"example": 3})
    event_id = fields.String(validate=validate.Length(max=36))
    target = fields.String(validate=validate.Length(max=40), metadata={"example": "portal"})
    sort = sort_field(("id", "created_at", "next_attempt_at"), "-id")


class WebhookEventSchema(Schema):
    """An event as sent (``payload`` is the webhook body) with its deliveries the caller may see."""

    id = fields.String(metadata={"example": "0b5c1f0e-5d0b-4c1e-a0f8-1f2e3d4c5b6a"})
    type = fields.String(metadata={"example": "dossier.paid"})
    dossier_code = fields.String(allow_none=True)
    instance_id = fields.String(allow_none=True)
    created_at = fields.DateTime()
    payload = fields.Dict()
    deliveries = fields.List(fields.Nested(DeliverySchema))


# ---------------------------------------------------------------------- routes
@blp.route("/webhooks")
class Subscriptions(MethodView):
    @require("read", roles=ROLES)
    @blp.doc(security=SECURITY)
    @blp.arguments(SubscriptionQuerySchema, location="query")
    @blp.response(200, SubscriptionPageSchema)
    def get(self, args: dict):
        """Webhook subscriptions.

        An integrator sees its own subscriptions, an administrator all of them. Secrets are never listed."""
        query = select(WebhookSubscription).where(webhooks.subscription_visibility(current_actor()))
        if args.get("active") is not None:
            query = query.where(WebhookSubscription.active.is_(args["active"]))
        columns = {"id": WebhookSubscription.id, "created_at": WebhookSubscription.created_at,
                   "url": WebhookSubscription.url}
        query = query.order_by(*order_clauses(args["sort"], columns, WebhookSubscription.id))
        return paginate(db(), query, args["page"], args["page_size"])

    @require("admin", roles=ROLES)
    @idempotent("webhooks")  # a retried subscription is not created twice
    @blp.doc(security=SECURITY)
    @blp.arguments(SubscriptionCreateSchema, example={
        "url": "https://dichvucong.example.vn/motcua/webhooks", "event_types": ["dossier.accepted", "dossier.paid",
                                                                              "dossier.result_returned"],
        "procedure_codes": ["1.002809"], "description": "Cổng DVC tỉnh"})
    @blp.response(201, CreatedSubscriptionSchema)
    def post(self, body: dict):
        """Subscribe a URL to event types.

        ``event_types`` lists types from docs/integrations.md (or ``["*"]``); ``procedure_codes`` limits it to
        some procedures. The owner is the token's user. The HMAC ``secret`` is in this answer only."""
        session = db()
        sub = webhooks.create_subscription(session, url=body["url"], event_types=body["event_types"],
                                           procedure_codes=body.get("procedure_codes"),
                                           description=body.get("description"), owner=current_actor())
        session.flush()
        webhooks.audit_change(session, "webhook.create", f"webhook:{sub.id}", current_actor().username,
                              url=sub.url, event_types=sub.event_types, procedure_codes=sub.procedure_codes)
        session.commit()
        return sub


@blp.route("/webhooks/<int:subscription_id>")
class SubscriptionDetail(MethodView):
    @require("read", roles=ROLES)
    @blp.doc(security=SECURITY)
    @blp.response(200, SubscriptionSchema)
    def get(self, subscription_id: int):
        """One subscription.

        404 for another integrator's subscription, as for an unknown id."""
        return webhooks.get_subscription(db(), subscription_id, current_actor())

    @require("admin", roles=ROLES)
    @blp.doc(security=SECURITY)
    @blp.arguments(SubscriptionUpdateSchema, example={"active": False})
    @blp.response(200, SubscriptionSchema)
    def patch(self, body: dict, subscription_id: int):
        """Change a subscription.

        Change the URL, event types, procedures or description; ``active: false`` pauses it (its deliveries
        wait until it is active again)."""
        session = db()
        sub = webhooks.update_subscription(session, webhooks.get_subscription(session, subscription_id,
                                                                              current_actor()), body)
        webhooks.audit_change(session, "webhook.update", f"webhook:{sub.id}", current_actor().username,
                              changed=sorted(body), url=sub.url, active=sub.active)
        session.commit()
        return sub

    @require("admin", roles=ROLES)
    @blp.doc(security=SECURITY)
    @blp.response(204)
    def delete(self, subscription_id: int):
        """Delete a subscription.

        Its deliveries and their attempts are deleted with it; nothing more is sent to its URL."""
        session = db()
        sub = webhooks.get_subscription(session, subscription_id, current_actor())
        webhooks.audit_change(session, "webhook.delete", f"webhook:{sub.id}", current_actor().username,
                              url=sub.url)
        session.delete(sub)
        session.commit()


@blp.route("/deliveries")
class Deliveries(MethodView):
    @require("read", roles=ROLES)
    @blp.doc(security=SECURITY)
    @blp.arguments(DeliveryQuerySchema, location="query")
    @blp.response(200, DeliveryPageSchema)
    def get(self, args: dict):
        """The delivery log.

        Newest first by default; filter by ``status`` (pending, delivered, failed, dead), ``subscription_id``,
        ``event_id`` or ``target`` (``sub:<id>`` or ``portal``, administrators only)."""
        query = select(Delivery).where(webhooks.delivery_visibility(current_actor()))
        for name in ("status", "subscription_id", "event_id", "target"):
            if args.get(name) is not None:
                query = query.where(getattr(Delivery, name) == args[name])
        columns = {"id": Delivery.id, "created_at": Delivery.created_at, "next_attempt_at": Delivery.next_attempt_at}
        query = query.order_by(*order_clauses(args["sort"], columns, Delivery.id))
        return paginate(db(), query, args["page"], args["page_size"])


def _detail(delivery: Delivery) -> Delivery:
    delivery.attempt_log = webhooks.attempts_of(db(), delivery.id)  # read by DeliveryDetailSchema
    return delivery


@blp.route("/deliveries/<int:delivery_id>")
class DeliveryDetail(MethodView):
    @require("read", roles=ROLES)
    @blp.doc(security=SECURITY)
    @blp.response(200, DeliveryDetailSchema)
    def get(self, delivery_id: int):
        """One delivery.

        With every attempt (time, HTTP status, error, duration) and the exact JSON body sent."""
        return _detail(webhooks.get_delivery(db(), delivery_id, current_actor()))


@blp.route("/deliveries/<int:delivery_id>/redeliver", methods=["POST"])
@require("admin", roles=ROLES)
@blp.doc(security=SECURITY)
@blp.response(200, DeliverySchema)
def redeliver(delivery_id: int):
    """Redeliver.

    The delivery is sent again at the worker's next pass: same event id and body, so a receiver that saw
    it already de-duplicates. Its attempt count starts again from zero."""
    session = db()
    delivery = webhooks.redeliver(session, webhooks.get_delivery(session, delivery_id, current_actor()),
                                  current_actor())
    session.commit()
    return delivery


@blp.route("/events/<event_id>")
@require("read", roles=ROLES)
@blp.doc(security=SECURITY)
@blp.response(200, WebhookEventSchema)
def get_event(event_id: str):
    """One event.

    By the id receivers get in ``X-Motcua-Event-Id``: the body sent, and its deliveries the caller may see."""
    session = db()
    actor = current_actor()
    event = webhooks.get_event(session, event_id, actor)
    deliveries = session.scalars(select(Delivery).where(Delivery.event_id == event.id,
                                                        webhooks.delivery_visibility(actor)).order_by(Delivery.id))
    return {"id": event.id, "type": event.type, "dossier_code": event.dossier_code, "instance_id": event.instance_id,
            "created_at": event.created_at, "payload": event.payload, "deliveries": list(deliveries)}
