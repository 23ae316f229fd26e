"""Bearer-token authentication, per-token rate limits and scope checks for the REST API."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import wraps

from flask import Flask, current_app, g, request
from limits import parse as parse_limit

from accounts.service import actor_for, authenticate_token
from api.errors import ApiProblem
from engine.actors import Actor
from server.database import db
from server.extensions import limiter

DEFAULT_RATE_LIMIT = "600/minute"


def current_actor() -> Actor:
    return g.actor


def _authenticate() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiProblem(401, "send an API token as 'Authorization: Bearer <token>'",
                         headers={"WWW-Authenticate": 'Bearer realm="motcua"'})
    session = db()
    row = authenticate_token(session, token.strip())
    if row is None:
        raise ApiProblem(401, "the API token is unknown or revoked",
                         headers={"WWW-Authenticate": 'Bearer realm="motcua", error="invalid_token"'})
    g.actor = actor_for(row.user)
    g.token_scopes = set(row.scopes or ())
    g.token_id = row.id
    g.token_user_id = row.user_id
    if session.dirty:
        session.commit()  # last_used_at moved (at most once a minute per token)
    _check_rate(f"{row.id}:{row.prefix}", row.rate_limit)


def _check_rate(key: str, own_limit: str | None) -> None:
    """Count the request against the token's limit (Flask-Limiter's storage, keyed by the token).

    Storage is RATELIMIT_STORAGE_URI: memory:// counts per gunicorn worker; point it at
    Redis or Memcached for one count across workers and nodes.
    """
    if not limiter.enabled:
        return
    text = own_limit or current_app.config.get("API_RATE_LIMIT") or DEFAULT_RATE_LIMIT
    item = parse_limit(text)
    strategy = limiter.limiter
    allowed = strategy.hit(item, "api-token", key)
    stats = strategy.get_window_stats(item, "api-token", key)
    reset = max(0, math.ceil(stats.reset_time - time.time()))
    g.rate_headers = {"X-RateLimit-Limit": str(item.amount), "X-RateLimit-Remaining": str(max(0, stats.remaining)),
                      "X-RateLimit-Reset": str(reset)}
    if not allowed:
        raise ApiProblem(429, f"this token's rate limit of {text} is used up; retry in {max(1, reset)} s",
                         headers={**g.rate_headers, "Retry-After": str(max(1, reset))})


def require(scope: str, roles: set[str] | None = None) -> Callable:
    """Authenticate the request; demand a token scope and, optionally, one of some roles."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            _authenticate()
            if scope not in g.token_scopes and "admin" not in g.token_scopes:
                raise ApiProblem(403, f"this token lacks the {scope!r} scope")
            if roles and not (roles & g.actor.roles):
                raise ApiProblem(403, f"this action needs one of the roles: {', '.join(sorted(roles))}")
            return view(*args, **kwargs)

        return wrapper

    return decorator


def init_app(app: Flask) -> None:
    app.config.setdefault("API_RATE_LIMIT", DEFAULT_RATE_LIMIT)

    @app.after_request
    def _rate_headers(response):
        for name, value in (g.pop("rate_headers", None) or {}).items():
            response.headers.setdefault(name, value)
        return response
