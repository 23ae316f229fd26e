"""Who is signed in, and what they may do, for the web pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort
from flask_login import current_user, login_required

from accounts.service import actor_for
from engine.actors import ROLE_ADMIN, Actor
from server.extensions import login_manager


def current_actor() -> Actor:
    return actor_for(current_user)


def roles_required(*roles: str) -> Callable:
    """Signed in, and holding one of these roles (403 otherwise)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if not set(roles) & set(current_user.roles or ()):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def administrators_only():
    """A blueprint's before_request for every page of it, present and future: signed in (else /login),
    role admin (else 403)."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if ROLE_ADMIN not in (current_user.roles or ()):
        abort(403)
    return None
