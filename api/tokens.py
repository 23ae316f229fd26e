"""API tokens over the API: list mine (administrators: everyone's), create (shown once), revoke."""

from __future__ import annotations

from types import SimpleNamespace

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from accounts.models import ApiToken, User
from accounts.service import SCOPES, get_user, issue_token, revoke_token, tokens_query
from api.auth import current_actor, require
from api.contract import idempotent
from api.errors import ApiProblem
from api.pagination import order_clauses, paginate
from api.schemas import (
    CreateTokenSchema,
    NewTokenSchema,
    RevokeTokenQuerySchema,
    TokenPageSchema,
    TokenQuerySchema,
    TokenSchema,
)
from engine.errors import EngineError, NotFound
from server.database import db

blp = Blueprint("tokens", __name__, description="API tokens: scopes, owner, rate limit, last use, revocation")
SECURITY = [{"bearerAuth": []}]
SORT_COLUMNS = {"created_at": ApiToken.created_at, "last_used_at": ApiToken.last_used_at, "name": ApiToken.name}


def _me() -> User:
    return get_user(db(), current_actor().username)


def _visible_token(token_id: int) -> ApiToken:
    """My token, or anyone's for an administrator; someone else's answers 404 like an unknown id."""
    row = db().get(ApiToken, token_id)
    if row is None or not (current_actor().is_admin or row.user.username == current_actor().username):
        raise NotFound(f"token {token_id} not found")
    return row


@blp.route("/tokens")
class Tokens(MethodView):
    @require("read")
    @blp.doc(security=SECURITY)
    @blp.arguments(TokenQuerySchema, location="query")
    @blp.response(200, TokenPageSchema)
    def get(self, args: dict):
        """My API tokens, newest first; administrators may ask for everyone's (``all``) or one user's (``owner``).

        The secret itself is never shown again: only its prefix, scopes, rate limit, last use and revocation."""
        actor = current_actor()
        wants_others = args["all"] or (args.get("owner") and args["owner"] != actor.username)
        if wants_others and not actor.is_admin:
            raise ApiProblem(403, "only administrators may list other people's tokens")
        session = db()
        query = tokens_query(None if args["all"] or args.get("owner") else _me(), args.get("revoked"))
        if args.get("owner"):  # a filter like the others: an unknown user is an empty page
            query = query.where(ApiToken.user_id.in_(select(User.id).where(User.username == args["owner"])))
        query = query.order_by(*order_clauses(args["sort"], SORT_COLUMNS, ApiToken.id.desc()))
        return paginate(session, query, args["page"], args["page_size"])

    @require("read")
    @idempotent("tokens", secret_fields=("token",))
    @blp.doc(security=SECURITY)
    @blp.arguments(CreateTokenSchema, example={"name": "national portal sync", "scopes": ["read", "start", "messages"]})
    @blp.response(201, NewTokenSchema)
    def post(self, body: dict):
        """Create a token for myself; the answer's ``token`` is the secret, shown this once.

        A retry with the same ``Idempotency-Key`` answers the same token with ``token: null``: the secret is
        never stored, not even for the replay.

        A token can only hand out scopes it has itself (a token with ``admin`` has them all);
        only administrators set ``rate_limit``."""
        actor = current_actor()
        own = set(g.token_scopes)
        scopes = body.get("scopes") or [s for s in SCOPES if s in own or "admin" in own]
        beyond = [s for s in scopes if s not in own and "admin" not in own]
        if beyond:
            raise ApiProblem(403, f"this token cannot create a token with scope(s) it lacks: {', '.join(beyond)}",
                             errors={"scopes": f"not held by the calling token: {', '.join(beyond)}"})
        if body.get("rate_limit") and not actor.is_admin:
            raise ApiProblem(403, "only administrators set a token's rate limit",
                             errors={"rate_limit": "administrators only"})
        session = db()
        try:
            row, secret = issue_token(session, _me(), body["name"], scopes, body.get("rate_limit"), g.token_id)
        except EngineError as exc:
            raise ApiProblem(422, exc.message, errors={"rate_limit": exc.message}) from None
        session.commit()
        # the secret exists only in this answer: never stored, never on the row
        fields = ("id", "name", "prefix", "scopes", "rate_limit", "created_at", "last_used_at", "revoked_at", "user",
                  "parent_id")
        return SimpleNamespace(**{name: getattr(row, name) for name in fields}, token=secret)


@blp.route("/tokens/<int:token_id>")
class TokenDetail(MethodView):
    @require("read")
    @blp.doc(security=SECURITY)
    @blp.response(200, TokenSchema)
    def get(self, token_id: int):
        """One of my tokens (administrators: anyone's).

        Someone else's token answers 404, as if it did not exist; the secret is never shown again."""
        return _visible_token(token_id)

    @require("read")
    @blp.doc(security=SECURITY)
    @blp.arguments(RevokeTokenQuerySchema, location="query")
    @blp.response(204, description="revoked (revoking twice is harmless)")
    def delete(self, args: dict, token_id: int):
        """Revoke a token at once: the next request with it, or with any token it created, answers 401.

        Tokens created through this one (``parent_id``), at any depth, are revoked with it unless
        ``keep_children=true``: a leaked token leaves nothing behind, and a rotation can keep the new token.

        A token may revoke itself; administrators may revoke anyone's. Revoking twice is harmless."""
        session = db()
        row = _visible_token(token_id)
        if row.user_id != _me().id and "admin" not in g.token_scopes:
            raise ApiProblem(403, "revoking someone else's token needs a token with the admin scope")
        revoke_token(session, row.id, children=not args["keep_children"])
        session.commit()
