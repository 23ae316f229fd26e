"""Tables of the integration layer: subscriptions, the outbox, deliveries and their attempts,
payment confirmations (idempotency by the platform's transaction id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.db import Base, BigIntPK, JSONText, UTCDateTime, utcnow

# delivery states
PENDING, DELIVERED, FAILED, DEAD = "pending", "delivered", "failed", "dead"
DELIVERY_STATES = (PENDING, DELIVERED, FAILED, DEAD)
DUE_STATES = (PENDING, FAILED)  # the sender picks these up when next_attempt_at has come
PORTAL_TARGET = "portal"


class WebhookSubscription(Base):
    """An integrator's endpoint and the events it wants (optionally only some procedures)."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    # shared secret for the HMAC signature: kept so we can sign, shown once, never logged
    secret: Mapped[str] = mapped_column(String(200))
    event_types: Mapped[list[str]] = mapped_column(JSONText, default=list)
    procedure_codes: Mapped[list[str]] = mapped_column(JSONText, default=list)  # empty: every procedure
    description: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    owner: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def target(self) -> str:
        return f"sub:{self.id}"

    def wants(self, event_type: str, procedure_code: str | None) -> bool:
        if not self.active:
            return False
        if "*" not in self.event_types and event_type not in self.event_types:
            return False
        return not self.procedure_codes or procedure_code in self.procedure_codes


class OutboxEvent(Base):
    """One thing that happened, written in the step's transaction; ``id`` is what receivers de-duplicate on."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_dossier", "dossier_id", "seq"),)

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True)  # order of events
    id: Mapped[str] = mapped_column(String(36), unique=True)  # uuid4, public
    type: Mapped[str] = mapped_column(String(60), index=True)
    dossier_id: Mapped[str | None] = mapped_column(String(36))
    dossier_code: Mapped[str | None] = mapped_column(String(64), index=True)
    instance_id: Mapped[str | None] = mapped_column(String(36), index=True)
    procedure_code: Mapped[str | None] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Delivery(Base):
    """An event × a receiver (a subscription or the portal feed): sent until delivered, or dead."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "target", name="uq_webhook_deliveries_event_target"),  # never twice by design
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_order", "target", "dossier_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("outbox_events.id", ondelete="CASCADE"), index=True)
    target: Mapped[str] = mapped_column(String(40))  # "sub:<id>" or "portal"
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), index=True)
    dossier_id: Mapped[str | None] = mapped_column(String(36))  # deliveries of one dossier go out in order
    url: Mapped[str] = mapped_column(String(2000))
    body: Mapped[str] = mapped_column(Text)  # the exact JSON sent, frozen so a redelivery is identical
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    event: Mapped[OutboxEvent] = relationship(lazy="joined")
    subscription: Mapped[WebhookSubscription | None] = relationship()


class DeliveryAttempt(Base):
    """Each try of a delivery, for the delivery log."""

    __tablename__ = "webhook_delivery_attempts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)


class PaymentConfirmation(Base):
    """A payment platform's confirmation, kept by its transaction id so a replay changes nothing."""

    __tablename__ = "payment_confirmations"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(100), unique=True)
    dossier_code: Mapped[str] = mapped_column(String(64), index=True)
    amount: Mapped[int] = mapped_column(Integer)
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
