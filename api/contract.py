"""HTTP contract helpers shared by the API views: Idempotency-Key and ETag / If-Match.

Idempotency-Key (on every creating POST): the first request with a key reserves it in its own
transaction; when it succeeds its answer (status + body) is stored, and a retry with the same
key and the same body gets that answer again (header ``Idempotent-Replayed: true``) without a
second effect. The same key with a different body is a 409. A twin sent while the first is
still running waits for it (a few seconds), then gets its answer. Keys are per user and kept
``IDEMPOTENCY_KEY_HOURS`` (24 h); the worker purges older ones.

ETag / If-Match: GET of an instance (and of a task: its instance's ETag) and of a dossier
returns an ETag; the state-changing POSTs on them accept ``If-Match`` and answer 412 when it
is stale. Without If-Match they work as before (the optimistic lock still answers 409 to a
lost race). ``*`` matches any current version.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from copy import deepcopy
from datetime import timedelta
from functools import wraps
from typing import Any

from flask import Response, current_app, g, request
from sqlalchemy.exc import IntegrityError

from api.errors import ApiProblem
from engine import idempotency
from engine.db import utcnow
from engine.models import IdempotencyKey
from server.database import db

KEY_PATTERN_MAX = 255
WAIT_FOR_TWIN_SECONDS = 5.0

IDEMPOTENCY_PARAMETER = {
    "in": "header", "name": "Idempotency-Key", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": KEY_PATTERN_MAX, "pattern": r"^[\x21-\x7e]+$"},
    "example": "portal-7d3f9a2c-0c41-4d5e-9f0e-1b2a3c4d5e6f",
    "description": "any unique string per intended effect (a UUID): a retry with the same key and body answers "
                   "the first result again without a second effect; the same key with another body is 409. "
                   "Kept 24 hours.",
}
IF_MATCH_PARAMETER = {
    "in": "header", "name": "If-Match", "required": False, "schema": {"type": "string", "maxLength": 200},
    "example": '"v12"',
    "description": "the ETag from the last GET: the change is refused with 412 if the resource changed since "
                   "(optional; without it the optimistic lock still answers 409 to a lost race)",
}
ETAG_HEADER = {"ETag": {"description": "the version of the resource, for If-Match", "schema": {"type": "string"}}}


def _add_doc(view: Callable, parameter: dict) -> None:
    doc = deepcopy(getattr(view, "_apidoc", {}))
    manual = doc.setdefault("manual_doc", {})
    params = manual.setdefault("parameters", [])
    if not any(p.get("name") == parameter["name"] for p in params):
        params.append(parameter)
    view._apidoc = doc


# ---------------------------------------------------------------------- Idempotency-Key
def _fingerprint() -> dict:
    """What identifies "the same request": the path and the body (JSON parsed, files by their hash)."""
    if request.is_json:
        body: Any = request.get_json(silent=True)
    elif request.files or request.form:
        body = {
            "form": request.form.to_dict(flat=False),
            "files": sorted(((name or "", f.filename or "", hashlib.sha256(f.stream.read()).hexdigest())
                             for name, f in request.files.items(multi=True)), key=repr),
        }
        for _, f in request.files.items(multi=True):
            f.stream.seek(0)  # the view reads every file again
    else:
        body = hashlib.sha256(request.get_data()).hexdigest()
    return {"method": request.method, "path": request.path, "body": body}


def _replay(row: IdempotencyKey) -> Response:
    response = Response(row.response_body, status=row.response_status, mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _ttl() -> timedelta:
    return timedelta(hours=int(current_app.config.get("IDEMPOTENCY_KEY_HOURS", 24)))


# A reserved key older than this without an answer belongs to a request whose server died between
# committing the work and storing the answer (the work and the key commit together).
ANSWER_LOST_AFTER = timedelta(seconds=60)


def _existing_answer(session, owner: str, scope: str, key: str, fingerprint: dict) -> Response | None:
    """The stored answer of an earlier request with this key, waiting a little for a running twin."""
    deadline = time.monotonic() + WAIT_FOR_TWIN_SECONDS
    while True:
        row = idempotency.find(session, owner, scope, key, _ttl())
        if row is None:
            return None
        if row.request_hash != idempotency.request_hash(fingerprint):
            raise ApiProblem(409, f"Idempotency-Key {key!r} was already used with a different request",
                             errors={"Idempotency-Key": "already used with a different request body"})
        if row.response_status is not None:
            return _replay(row)
        if utcnow() - row.created_at > ANSWER_LOST_AFTER:
            # The work committed with the key (one transaction) but the server stopped before it
            # stored the answer: the effect happened once; say so rather than "still processing".
            raise ApiProblem(409, f"the request with Idempotency-Key {key!r} was carried out at "
                                  f"{row.created_at:%Y-%m-%d %H:%M:%S} UTC but its answer was lost (the server "
                                  "stopped); do not repeat it: look the result up with a GET instead",
                             errors={"Idempotency-Key": "already carried out; answer lost"})
        session.rollback()  # end the snapshot so the next look sees the twin's commit
        if time.monotonic() > deadline:
            raise ApiProblem(409, f"a request with Idempotency-Key {key!r} is still being processed; "
                                  "retry it shortly", headers={"Retry-After": "1"})
        time.sleep(0.1)


def idempotent(scope: str, secret_fields: tuple[str, ...] = ()) -> Callable:
    """Make a creating POST safe to retry with an ``Idempotency-Key`` header (place under @require).

    ``secret_fields``: fields of the answer that are secrets shown once (a new token); the stored answer
    has them as null, so a replay says the resource exists without handing the secret out again."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            key = request.headers.get("Idempotency-Key")
            if key is None:
                return view(*args, **kwargs)
            if not (0 < len(key) <= KEY_PATTERN_MAX) or not key.isascii() or not key.isprintable() or " " in key:
                raise ApiProblem(400, "the Idempotency-Key header must be 1-255 visible ASCII characters",
                                 errors={"Idempotency-Key": "1-255 visible ASCII characters"})
            session = db()
            owner = g.actor.username
            fingerprint = _fingerprint()
            answer = _existing_answer(session, owner, scope, key, fingerprint)
            if answer is not None:
                return answer
            try:
                row = idempotency.reserve(session, owner, scope, key, fingerprint)
            except IntegrityError:
                session.rollback()  # a twin reserved it first: answer what it answers
                answer = _existing_answer(session, owner, scope, key, fingerprint)
                if answer is not None:
                    return answer
                raise
            response = view(*args, **kwargs)
            if isinstance(response, Response) and 200 <= response.status_code < 300:
                body = response.get_data(as_text=True)
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = {}
                resource = payload.get("id") or payload.get("code") if isinstance(payload, dict) else None
                if secret_fields and isinstance(payload, dict):
                    body = json.dumps({**payload, **{name: None for name in secret_fields if name in payload}})
                idempotency.record(row, response.status_code, body, str(resource) if resource else None)
                session.add(row)
                session.commit()
            else:
                session.rollback()
            return response

        _add_doc(wrapper, IDEMPOTENCY_PARAMETER)
        return wrapper

    return decorator


# ---------------------------------------------------------------------- ETag / If-Match
def instance_etag(lock_version: int | None) -> str:
    return f'"v{lock_version or 0}"'


def content_etag(data: Any) -> str:
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return f'"c{digest}"'


def check_if_match(current: str, what: str = "the resource") -> None:
    """412 when the request's If-Match names none of the current version (no header: no check)."""
    header = request.headers.get("If-Match")
    if header is None:
        return
    tags = [t.strip().removeprefix("W/") for t in header.split(",") if t.strip()]
    if "*" in tags or current in tags:
        return
    raise ApiProblem(412, f"{what} changed since you read it (its ETag is now {current}); reload it and try again",
                     headers={"ETag": current})


def accepts_if_match(view: Callable) -> Callable:
    """Document the If-Match header on a view that checks it."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        return view(*args, **kwargs)

    _add_doc(wrapper, IF_MATCH_PARAMETER)
    return wrapper
