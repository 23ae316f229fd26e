"""Creating users and tokens, checking passwords and bearer tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from accounts.models import ApiToken, User
from engine.actors import ROLES, Actor
from engine.db import utcnow
from engine.deployments import latest_versions
from engine.errors import EngineError, NotFound
from engine.models import Department, LaneMapping, ProcessVersion

TOKEN_PREFIX = "mc_"
SCOPES = ("read", "start", "complete", "messages", "deploy", "admin")
# last_used_at is written at most this often, so reads do not turn into writes
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def actor_for(user: User) -> Actor:
    return Actor(
        username=user.username,
        roles=frozenset(user.roles or ()),
        groups=frozenset(d.code for d in user.departments),
    )


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"user {username!r} not found")
    return user


def ensure_department(session: Session, code: str, name_vi: str, name_en: str | None = None) -> Department:
    dept = session.get(Department, code)
    if dept is None:
        dept = Department(code=code, name_vi=name_vi, name_en=name_en)
        session.add(dept)
    return dept


def create_user(
    session: Session,
    username: str,
    password: str | None,
    roles: list[str],
    departments: list[str] | None = None,
    full_name: str | None = None,
) -> User:
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise EngineError(f"unknown role(s): {', '.join(sorted(unknown))}; known: {', '.join(ROLES)}")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise EngineError(f"user {username!r} already exists")
    user = User(username=username, full_name=full_name, roles=list(roles))
    if password is not None:
        set_password(user, password)
    for code in departments or []:
        dept = session.get(Department, code)
        if dept is None:
            raise NotFound(f"department {code!r} not found")
        user.departments.append(dept)
    session.add(user)
    session.flush()
    return user


def set_password(user: User, password: str) -> None:
    if len(password) < 10:
        raise EngineError("a password needs at least 10 characters")
    user.password_hash = generate_password_hash(password, method="scrypt")


def check_password(user: User, password: str) -> bool:
    return bool(user.password_hash) and user.is_active and check_password_hash(user.password_hash, password)


def create_token(session: Session, user: User, name: str, scopes: list[str] | None = None,
                 rate_limit: str | None = None) -> str:
    """Create a token and return it in clear text: the only time it is visible."""
    return issue_token(session, user, name, scopes, rate_limit)[1]


def issue_token(session: Session, user: User, name: str, scopes: list[str] | None = None,
                rate_limit: str | None = None, parent_id: int | None = None) -> tuple[ApiToken, str]:
    """Create a token: the stored row (hash only) and the clear text, to show once. ``parent_id``: the
    token that asked for it, revoked with it."""
    scopes = list(dict.fromkeys(scopes)) if scopes else list(SCOPES)
    unknown = set(scopes) - set(SCOPES)
    if unknown:
        raise EngineError(f"unknown scope(s): {', '.join(sorted(unknown))}; known: {', '.join(SCOPES)}")
    if rate_limit is not None:
        rate_limit = normalize_rate_limit(rate_limit)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, user=user, name=name, prefix=token[:10], token_hash=hash_token(token),
                   scopes=scopes, rate_limit=rate_limit, parent_id=parent_id)
    session.add(row)
    session.flush()
    return row, token


RATE_LIMIT = re.compile(r"^\s*(\d{1,7})\s*(?:/|per)\s*(second|minute|hour|day)s?\s*$")


def normalize_rate_limit(text: str) -> str:
    """'600 per minute' / '600/minute' → '600/minute'; anything else is an error naming the form."""
    match = RATE_LIMIT.match(text or "")
    if not match or int(match.group(1)) < 1:
        raise EngineError(f"rate limit {text!r} is not like '600/minute' (per second, minute, hour or day)")
    return f"{int(match.group(1))}/{match.group(2)}"


def authenticate_token(session: Session, token: str) -> ApiToken | None:
    """The token's row, or None if unknown or revoked. last_used_at moves at most once a minute,
    so a burst of requests is one write, not one per request (the caller commits if dirty)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    # token, user and departments in one round trip (User.departments alone would be a second SELECT)
    query = (select(ApiToken).where(ApiToken.token_hash == hash_token(token))
             .options(joinedload(ApiToken.user).joinedload(User.departments)))
    row = session.scalars(query).unique().first()
    if row is None or row.revoked_at is not None or not row.user.is_active:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        row.last_used_at = now
    return row


def tokens_query(owner: User | None = None, revoked: bool | None = None):
    """Tokens, optionally of one owner, active (revoked=False) or revoked (True) only."""
    query = select(ApiToken)
    if owner is not None:
        query = query.where(ApiToken.user_id == owner.id)
    if revoked is True:
        query = query.where(ApiToken.revoked_at.is_not(None))
    elif revoked is False:
        query = query.where(ApiToken.revoked_at.is_(None))
    return query


def revoke_token(session: Session, token_id: int, owner: User | None = None, children: bool = True) -> ApiToken:
    """Revoke a token and every token created through it at any depth (of ``owner`` when given: someone
    else's answers NotFound). ``children=False`` (a rotation) revokes it alone and detaches its children,
    so revoking it again later leaves them alone too. Revoking twice is harmless."""
    row = session.get(ApiToken, token_id)
    if row is None or (owner is not None and row.user_id != owner.id):
        raise NotFound(f"token {token_id} not found")
    now = utcnow()
    if not children:
        session.execute(update(ApiToken).where(ApiToken.parent_id == row.id).values(parent_id=None))
    generation, seen = [row], {row.id}
    while generation:
        for token in generation:
            if token.revoked_at is None:
                token.revoked_at = now  # on the object, so the audit listener records each one
        if not children:
            break
        below = session.scalars(select(ApiToken).where(ApiToken.parent_id.in_([t.id for t in generation])))
        generation = [token for token in below if token.id not in seen]
        seen.update(token.id for token in generation)
    session.flush()
    return row


# ------------------------------------------------------------------ administration
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,99}$")
DEPARTMENT_CODE_PATTERN = re.compile(r"^[A-Z0-9_]{1,50}$")
PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 200  # what the sign-in form accepts


def departments_by_code(session: Session, codes: list[str]) -> list[Department]:
    """The departments of these codes, in the order given; NotFound names the first unknown one."""
    found = []
    for code in dict.fromkeys(codes):
        dept = session.get(Department, code)
        if dept is None:
            raise NotFound(f"department {code!r} not found")
        found.append(dept)
    return found


def update_user(
    session: Session,
    user: User,
    *,
    full_name: str | None,
    roles: list[str],
    departments: list[str],
    is_active: bool,
) -> None:
    """Replace a user's name, roles, departments and active flag (the caller commits)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise EngineError(f"unknown role(s): {', '.join(sorted(unknown))}; known: {', '.join(ROLES)}")
    user.departments = departments_by_code(session, departments)
    user.full_name = full_name
    user.roles = [role for role in ROLES if role in roles]
    user.is_active = is_active
    session.flush()


def create_department(session: Session, code: str, name_vi: str, name_en: str | None = None) -> Department:
    if not DEPARTMENT_CODE_PATTERN.match(code):
        raise EngineError("a department code is upper-case letters, digits and underscores")
    if session.get(Department, code) is not None:
        raise EngineError(f"department {code!r} already exists")
    dept = Department(code=code, name_vi=name_vi, name_en=name_en)
    session.add(dept)
    session.flush()
    return dept


def map_lane(session: Session, lane: str, department_code: str) -> LaneMapping:
    """Say which department a lane name stands for (the caller commits)."""
    if session.get(Department, department_code) is None:
        raise NotFound(f"department {department_code!r} not found")
    if session.get(LaneMapping, lane) is not None:
        raise EngineError(f"lane {lane!r} is already mapped")
    mapping = LaneMapping(lane=lane, department_code=department_code)
    session.add(mapping)
    session.flush()
    return mapping


def unmap_lane(session: Session, lane: str) -> LaneMapping:
    mapping = session.get(LaneMapping, lane)
    if mapping is None:
        raise NotFound(f"lane {lane!r} is not mapped")
    session.delete(mapping)
    session.flush()
    return mapping


def unmapped_lanes(session: Session) -> dict[str, list[ProcessVersion]]:
    """Lanes of the latest deployed versions that no department stands for, with the processes using them.

    The same rule as the runtime: an explicit mapping, else a department whose code,
    Vietnamese or English name equals the lane name.
    """
    known = set(session.scalars(select(LaneMapping.lane)))
    for dept in session.scalars(select(Department)):
        known.update(name for name in (dept.code, dept.name_vi, dept.name_en) if name)
    out: dict[str, list[ProcessVersion]] = {}
    for version in latest_versions(session):
        for lane in dict.fromkeys(version.lanes or ()):
            if lane and lane not in known:
                out.setdefault(lane, []).append(version)
    return dict(sorted(out.items()))
