"""Webhooks: subscriptions, and the sender that delivers the outbox.

The sender claims due deliveries (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite takes the
write lock at BEGIN) and pushes their ``next_attempt_at`` forward by a lease before sending, so
a worker killed mid-send only delays them: another worker retries once the lease has run out.
A dossier's deliveries to one receiver go out in order: a later one waits while an earlier one
is not delivered (or dead). Each POST carries::

    X-Motcua-Event-Id, X-Motcua-Event-Type, X-Motcua-Delivery-Attempt,
    X-Motcua-Timestamp: <unix seconds>,
    X-Motcua-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from accounts import audit
from engine.actors import Actor
from engine.db import utcnow
from engine.errors import EngineError, Forbidden, InvalidState, NotFound
from integrations import egress, settings
from integrations.events import EVENT_TYPES
from integrations.models import (
    DEAD,
    DELIVERED,
    DUE_STATES,
    FAILED,
    PENDING,
    PORTAL_TARGET,
    Delivery,
    DeliveryAttempt,
    OutboxEvent,
    WebhookSubscription,
)

log = logging.getLogger("motcua.webhooks")
audit_log = logging.getLogger("motcua.audit")
SIGNATURE_PREFIX = "sha256="


# ------------------------------------------------------------------- signatures
def sign(secret: str, timestamp: int | str, body: bytes | str) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``"<timestamp>.<body>"``."""
    raw = body.encode() if isinstance(body, str) else body
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify(secret: str, timestamp: str | None, body: bytes, signature: str | None, *, now: float | None = None,
           tolerance: int = 300) -> str | None:
    """None when the signature is valid and fresh; otherwise what is wrong (for the 401's detail)."""
    if not timestamp or not signature:
        return "sign the request: X-Motcua-Timestamp and X-Motcua-Signature headers are required"
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return "X-Motcua-Timestamp must be unix seconds"
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > tolerance:
        return f"X-Motcua-Timestamp is more than {tolerance} s away from the server's clock"
    # bytes, not str: compare_digest refuses non-ASCII text (a header is latin-1), which would be a 500
    if not hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.strip().encode("latin-1", "replace")):
        return "the signature does not match the body and timestamp"
    return None


# ----------------------------------------------------------------- subscriptions
def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def egress_policy() -> egress.Policy:
    cfg = settings.current()
    portal_host = urlsplit(cfg.portal_feed_url).hostname if cfg.portal_feed_url else None
    return egress.parse(cfg.blocked_networks, cfg.allowed_networks, portal_host or "")


def _check_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EngineError("the webhook URL must be an absolute http:// or https:// URL",
                          errors={"url": "must be an absolute http(s) URL"})
    # an address given as such is refused at once; a name is checked on every connection (it may move)
    reason = egress.literal_refusal(egress_policy(), parts.hostname)
    if reason is not None:
        raise EngineError(f"the webhook URL may not point there: {reason}", errors={"url": reason})
    return url.strip()


def _check_types(types: list[str]) -> list[str]:
    unknown = sorted(set(types) - set(EVENT_TYPES) - {"*"})
    if unknown or not types:
        raise EngineError("unknown event type(s): " + ", ".join(unknown) if unknown else "name at least one event type",
                          errors={"event_types": "known types: " + ", ".join(EVENT_TYPES) + " (or *)"})
    return list(dict.fromkeys(types))


def create_subscription(session: Session, *, url: str, event_types: list[str], owner: Actor,
                        procedure_codes: list[str] | None = None, description: str | None = None,
                        secret: str | None = None) -> WebhookSubscription:
    now = utcnow()
    sub = WebhookSubscription(url=_check_url(url), secret=secret or new_secret(), event_types=_check_types(event_types),
                              procedure_codes=list(dict.fromkeys(procedure_codes or [])), description=description,
                              active=True, owner=owner.username, created_at=now, updated_at=now)
    session.add(sub)
    session.flush()
    return sub


def subscription_visibility(actor: Actor):
    """Administrators see every subscription; an integrator its own."""
    return True if actor.is_admin else WebhookSubscription.owner == actor.username


def get_subscription(session: Session, subscription_id: int, actor: Actor) -> WebhookSubscription:
    sub = session.scalar(select(WebhookSubscription).where(WebhookSubscription.id == subscription_id,
                                                           subscription_visibility(actor)))
    if sub is None:
        raise NotFound(f"webhook subscription {subscription_id} not found")
    return sub


def audit_change(session: Session, action: str, target: str, actor: str, **details: Any) -> None:
    """A change to webhooks by the API or the admin pages: an audit row in the same transaction and one
    ``motcua.audit`` line; never a secret."""
    audit.record(session, action, target, actor=actor, details=details or None)
    extra = "".join(f" {key}={value!r}" for key, value in details.items())
    audit_log.info("by=%s action=%s target=%r%s", actor, action, target, extra)


def update_subscription(session: Session, sub: WebhookSubscription, changes: dict[str, Any]) -> WebhookSubscription:
    if "url" in changes:
        sub.url = _check_url(changes["url"])
        # what is still to be sent goes to the new address (a broken or compromised endpoint is replaced)
        session.execute(update(Delivery).where(Delivery.subscription_id == sub.id, Delivery.status != DELIVERED)
                        .values(url=sub.url))
    if "event_types" in changes:
        sub.event_types = _check_types(changes["event_types"])
    if "procedure_codes" in changes:
        sub.procedure_codes = list(dict.fromkeys(changes["procedure_codes"] or []))
    for name in ("active", "description"):
        if name in changes:
            setattr(sub, name, changes[name])
    sub.updated_at = utcnow()
    session.flush()
    return sub


def delivery_visibility(actor: Actor):
    """Administrators see every delivery (the portal feed too); an integrator those of its subscriptions."""
    if actor.is_admin:
        return True
    own = select(WebhookSubscription.id).where(WebhookSubscription.owner == actor.username)
    return Delivery.subscription_id.in_(own)


def get_delivery(session: Session, delivery_id: int, actor: Actor) -> Delivery:
    row = session.scalar(select(Delivery).where(Delivery.id == delivery_id, delivery_visibility(actor)))
    if row is None:
        raise NotFound(f"delivery {delivery_id} not found")
    return row


def get_event(session: Session, event_id: str, actor: Actor) -> OutboxEvent:
    """An event, for an administrator or an integrator it was delivered to."""
    event = session.scalar(select(OutboxEvent).where(OutboxEvent.id == event_id))
    if event is None or not (actor.is_admin or session.scalar(
            select(Delivery.id).where(Delivery.event_id == event_id, delivery_visibility(actor)).limit(1))):
        raise NotFound(f"event {event_id} not found")
    return event


def attempts_of(session: Session, delivery_id: int) -> list[DeliveryAttempt]:
    return list(session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)
                                .order_by(DeliveryAttempt.id)))


def redeliver(session: Session, delivery: Delivery, actor: Actor, now: datetime | None = None) -> Delivery:
    """Send it again soon (same event id, same body: receivers that saw it de-duplicate); audited here so
    the API and the admin pages record it alike."""
    if delivery.subscription is not None and not delivery.subscription.active:
        raise InvalidState("the subscription is inactive; activate it first")
    if delivery.target == PORTAL_TARGET and not actor.is_admin:
        raise Forbidden("only administrators redeliver the portal feed")
    delivery.status = PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = now or utcnow()
    session.flush()
    audit_change(session, "webhook.redeliver", f"delivery:{delivery.id}", actor.username,
                 event_id=delivery.event_id, receiver=delivery.target)
    return delivery


# ---------------------------------------------------------------------- sending
def backoff(attempts: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds before the next try after ``attempts`` failures: 10, 20, 40 … ±20 % jitter, at most the cap."""
    cfg = settings.current()
    delay = cfg.backoff_base_seconds * (2 ** max(0, attempts - 1))
    return min(cfg.backoff_cap_seconds, delay * (0.8 + 0.4 * rand()))


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


Transport = Callable[[str, bytes, dict[str, str], float], tuple[int | None, str | None]]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a redirect is an answer, not a delivery
        return None


_opener = egress.opener(egress_policy, _NoRedirect())


def http_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int | None, str | None]:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310 - http(s) checked
    try:
        with _opener.open(request, timeout=timeout) as response:
            return response.status, None
    except urllib.error.HTTPError as exc:
        # the status only: the receiver's body is not kept, or a subscription to an internal address
        # would read that service's answers back through the delivery log
        return exc.code, f"HTTP {exc.code}"
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, egress.RefusedAddress):
            return None, str(exc.reason)  # nothing was sent; the subscription points at a blocked network
        return None, f"URLError: {exc}"[:500]
    except Exception as exc:  # noqa: BLE001 - any network failure is a failed attempt
        return None, f"{exc.__class__.__name__}: {exc}"[:500]


def claim_due(session: Session, now: datetime, limit: int | None = None) -> list[int]:
    """Claim up to ``limit`` due deliveries for this worker (their lease starts now); commits."""
    cfg = settings.current()
    earlier = aliased(Delivery)
    blocked = exists().where(earlier.target == Delivery.target, earlier.dossier_id == Delivery.dossier_id,
                             earlier.status.in_(DUE_STATES), earlier.id < Delivery.id)
    active = or_(Delivery.subscription_id.is_(None), Delivery.subscription_id.in_(
        select(WebhookSubscription.id).where(WebhookSubscription.active.is_(True))))
    query = (select(Delivery.id)
             .where(Delivery.status.in_(DUE_STATES), Delivery.next_attempt_at <= now, active, ~blocked)
             .order_by(Delivery.next_attempt_at, Delivery.id)
             .limit(limit or cfg.batch))
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(session.scalars(query))
    if ids:
        session.execute(update(Delivery).where(Delivery.id.in_(ids))
                        .values(next_attempt_at=now + timedelta(seconds=cfg.lease_seconds)))
    session.commit()
    return ids


def _secret_for(delivery: Delivery) -> str:
    secret = (settings.current().portal_feed_secret if delivery.target == PORTAL_TARGET
              else delivery.subscription.secret if delivery.subscription is not None else None)
    if not secret:  # never sign with an empty key: anyone could forge that signature
        raise RuntimeError(f"delivery {delivery.id}: no signing secret for {delivery.target}")
    return secret


def attempt(delivery: Delivery, transport: Transport = http_post, now: float | None = None) -> Outcome:
    """One POST of the delivery's frozen body, signed now."""
    body = delivery.body.encode()
    timestamp = str(int(time.time() if now is None else now))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "motcua-webhooks/1",
        "X-Motcua-Event-Id": delivery.event_id,
        "X-Motcua-Event-Type": delivery.event.type,
        "X-Motcua-Delivery-Attempt": str(delivery.attempts + 1),
        "X-Motcua-Timestamp": timestamp,
        "X-Motcua-Signature": sign(_secret_for(delivery), timestamp, body),
    }
    started = time.monotonic()
    status, error = transport(delivery.url, body, headers, settings.current().timeout_seconds)
    return Outcome(status, error if status is None or not 200 <= status < 300 else None,
                   int((time.monotonic() - started) * 1000))


def record(session: Session, delivery: Delivery, outcome: Outcome, now: datetime,
           rand: Callable[[], float] = random.random) -> None:
    """Store the attempt; schedule the next one with backoff, or give up (dead)."""
    cfg = settings.current()
    session.add(DeliveryAttempt(delivery_id=delivery.id, at=now, status_code=outcome.status_code,
                                error=outcome.error, duration_ms=outcome.duration_ms))
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = outcome.status_code
    if outcome.ok:
        delivery.status, delivery.delivered_at, delivery.last_error = DELIVERED, now, None
        return
    delivery.last_error = outcome.error or f"HTTP {outcome.status_code}"
    too_old = (now - delivery.event.created_at).total_seconds() >= cfg.max_age_seconds
    if delivery.attempts >= cfg.max_attempts or too_old:
        delivery.status = DEAD
        log.warning("delivery %s to %s is dead after %d attempt(s): %s", delivery.id, delivery.target,
                    delivery.attempts, delivery.last_error)
    else:
        delivery.status = FAILED
        delivery.next_attempt_at = now + timedelta(seconds=backoff(delivery.attempts, rand))


def send_due(sessions: sessionmaker, *, clock: Callable[[], datetime] = utcnow, transport: Transport = http_post,
             max_rounds: int = 50, rand: Callable[[], float] = random.random) -> dict[str, int]:
    """Deliver what is due now, round after round while there is some (a dossier's next event
    becomes due when its previous one is delivered); returns counts."""
    counts = {"delivered": 0, "failed": 0, "dead": 0}
    lease = timedelta(seconds=settings.current().lease_seconds)
    for _ in range(max_rounds):
        now = clock()
        with sessions() as session:
            ids = claim_due(session, now)
        if not ids:
            break
        for delivery_id in ids:
            with sessions() as session:
                # Still ours? A slow batch can outlive its lease, and another worker then takes the
                # delivery over: whoever renews the lease it saw sends it, never both (row locked until commit).
                taken = session.execute(
                    update(Delivery).where(Delivery.id == delivery_id, Delivery.status.in_(DUE_STATES),
                                           Delivery.next_attempt_at == now + lease)
                    .values(next_attempt_at=clock() + lease)).rowcount
                if not taken:
                    continue
                delivery = session.get(Delivery, delivery_id)
                outcome = attempt(delivery, transport, now=clock().timestamp())
                record(session, delivery, outcome, clock(), rand)
                session.commit()
                counts[{DELIVERED: "delivered", DEAD: "dead"}.get(delivery.status, "failed")] += 1
        if counts["failed"] or counts["dead"]:
            break  # failures wait for their backoff; no point in spinning
    return counts
