"""Idempotency keys: a retried creating request gets the first result back.

A key is (owner, scope, key). The API reserves it in the creating transaction (``reserve``),
stores the first answer once the request succeeded (``record``), and replays that answer to
any retry with the same body; a different body is a conflict. Keys expire after
``IDEMPOTENCY_KEY_HOURS`` (24 by default): ``find`` ignores older ones and the worker's
``purge`` deletes them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.db import utcnow
from engine.errors import Conflict
from engine.models import IdempotencyKey

DEFAULT_TTL = timedelta(hours=24)


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(_canonical(body), sort_keys=True, default=str).encode()).hexdigest()


def _canonical(value: Any) -> Any:
    """Keys as strings, so any parsed body (form fields too) sorts and hashes the same way every time."""
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def lookup(session: Session, owner: str, scope: str, key: str, body: Any) -> str | None:
    """The resource id created earlier with this key, or None. A different body is a conflict."""
    row = session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.owner == owner, IdempotencyKey.scope == scope, IdempotencyKey.key == key
        )
    )
    if row is None:
        return None
    if row.request_hash != request_hash(body):
        raise Conflict(f"Idempotency-Key {key!r} was already used with a different request body")
    return row.resource_id


def remember(session: Session, owner: str, scope: str, key: str, body: Any, resource_id: str) -> None:
    """Store the key in the creating transaction; a concurrent twin fails on the unique constraint."""
    session.add(
        IdempotencyKey(owner=owner, scope=scope, key=key, resource_id=resource_id, request_hash=request_hash(body))
    )


def find(session: Session, owner: str, scope: str, key: str, ttl: timedelta = DEFAULT_TTL) -> IdempotencyKey | None:
    """The live key row, or None; an expired one is deleted so the key can be used again."""
    row = session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.owner == owner, IdempotencyKey.scope == scope, IdempotencyKey.key == key
        )
    )
    if row is not None and utcnow() - row.created_at > ttl:
        session.delete(row)
        session.flush()
        return None
    return row


def reserve(session: Session, owner: str, scope: str, key: str, body: Any) -> IdempotencyKey:
    """Insert the key before the work (flushed: a concurrent twin waits on, then fails, the unique index)."""
    row = IdempotencyKey(owner=owner, scope=scope, key=key, resource_id="", request_hash=request_hash(body))
    session.add(row)
    session.flush()
    return row


def record(row: IdempotencyKey, status: int, body: str, resource_id: str | None = None) -> None:
    """Keep the first answer for replay (the caller commits)."""
    row.response_status = status
    row.response_body = body
    row.resource_id = (resource_id or "")[:64]


def purge(session: Session, ttl: timedelta = DEFAULT_TTL) -> int:
    """Delete expired keys; returns how many (the caller commits)."""
    result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - ttl))
    return result.rowcount or 0
