"""Idempotency keys: a retried creating request gets the first result back."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import Conflict
from engine.models import IdempotencyKey


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


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
