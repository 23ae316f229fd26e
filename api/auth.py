"""Bearer-token authentication and scope checks for the REST API."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import g, request

from accounts.service import actor_for, authenticate_token
from api.errors import ApiProblem
from engine.actors import Actor
from server.database import db


def current_actor() -> Actor:
    return g.actor


def _authenticate() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiProblem(401, "send an API token as 'Authorization: Bearer <token>'")
    row = authenticate_token(db(), token.strip())
    if row is None:
        raise ApiProblem(401, "the API token is unknown or revoked")
    g.actor = actor_for(row.user)
    g.token_scopes = set(row.scopes or ())
    g.token_id = row.id
    db().commit()  # last_used_at


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
