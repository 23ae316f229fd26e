"""The append-only audit log: who did what to what, when, from where.

Rows are written in the same transaction as the change they describe, so a change
that rolls back leaves no audit row and a committed change always has one. Most rows
come from one ORM hook (``after_flush``) that recognises what was flushed — a deploy,
a claim or completion in the event log, a user's roles or departments, a token, a
calendar day, a lane mapping — whichever view, API call or CLI command made it.
Sign-in, failed sign-in and sign-out are recorded explicitly (``record``).

The database refuses UPDATE and DELETE on ``audit_log`` (a trigger on PostgreSQL and on
SQLite, see migration 0009). TRUNCATE (PostgreSQL) still works: it is what the tests'
cleaning and a restore use; ``empty_table`` is the SQLite equivalent for tests.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, event, insert, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.db import Base, BigIntPK, JSONText, UTCDateTime, utcnow

log = logging.getLogger("motcua.audit")
TABLE = "audit_log"

# event-log kinds that people (not the engine) cause and the audit log keeps
AUDITED_EVENTS = {
    "task_claimed": "task.claim", "task_released": "task.release", "task_completed": "task.complete",
    "instance_suspended": "instance.suspend", "instance_resumed": "instance.resume",
    "instance_terminated": "instance.terminate", "instance_retried": "instance.retry",
    "data_updated": "instance.update_data",
}

# SQLite has no functions in triggers; RAISE(ABORT) rolls the statement back.
SQLITE_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END",
)
POSTGRES_TRIGGER = (
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP; END $$",
    # row triggers do not fire on TRUNCATE: the tests' cleaning and pg_restore --clean still work
    "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
)


class AuditEntry(Base):
    __tablename__ = TABLE
    __table_args__ = (Index("ix_audit_log_actor_at", "actor", "at"), Index("ix_audit_log_action_at", "action", "at"))

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str | None] = mapped_column(String(255))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONText)
    ip: Mapped[str | None] = mapped_column(String(64))


# --- who and where: from the request when there is one ------------------------------------------
def _request_actor() -> str | None:
    try:
        from flask import g, has_request_context
        from flask_login import current_user
    except ImportError:  # pragma: no cover - flask is always installed with the app
        return None
    if not has_request_context():
        return None
    actor = getattr(g, "actor", None)
    if actor is not None:
        return actor.username
    if getattr(current_user, "is_authenticated", False):
        return current_user.username
    return None


def _request_ip() -> str | None:
    try:
        from flask import has_request_context, request
    except ImportError:  # pragma: no cover
        return None
    return (request.remote_addr or None) if has_request_context() else None


def _row(action: str, target: str | None, actor: str | None, details: dict | None) -> dict[str, Any]:
    return {"at": utcnow(), "actor": (actor or _request_actor() or "system")[:100], "action": action,
            "target": (target or "")[:255] or None, "details": details or None, "ip": _request_ip()}


def record(session: Session, action: str, target: str | None = None, *, actor: str | None = None,
           details: dict | None = None) -> None:
    """Add one audit row to the session's transaction (the caller commits)."""
    session.add(AuditEntry(**_row(action, target, actor, details)))


# --- what was flushed ---------------------------------------------------------------------------
def _changed(obj: Any, name: str) -> tuple[Any, Any] | None:
    history = inspect(obj).attrs[name].history
    if not history.has_changes():
        return None
    before = history.deleted[0] if history.deleted else None
    after = history.added[0] if history.added else None
    return before, after


def _entries_for(session: Session) -> list[dict[str, Any]]:
    from accounts.models import ApiToken, User
    from engine.models import CalendarDay, Department, Deployment, EventLogEntry, LaneMapping

    rows: list[dict[str, Any]] = []
    for obj in session.new:
        if isinstance(obj, EventLogEntry) and obj.kind in AUDITED_EVENTS:
            detail = {k: v for k, v in (obj.detail or {}).items() if k in ("assignee", "previous", "reason", "keys")}
            rows.append(_row(AUDITED_EVENTS[obj.kind], f"instance:{obj.instance_id}", obj.actor,
                             {"element": obj.element_id, "task": obj.task_id, **detail}))
        elif isinstance(obj, Deployment):
            rows.append(_row("deploy", f"deployment:{obj.id}", obj.deployed_by,
                             {"files": [f.name for f in obj.files], "source": obj.source, "note": obj.note}))
        elif isinstance(obj, User):
            rows.append(_row("user.create", f"user:{obj.username}", None,
                             {"roles": list(obj.roles or ()), "departments": [d.code for d in obj.departments]}))
        elif isinstance(obj, ApiToken):
            rows.append(_row("token.create", f"token:{obj.id}", None,
                             {"user_id": obj.user_id, "name": obj.name, "scopes": list(obj.scopes or ())}))
        elif isinstance(obj, Department):
            rows.append(_row("department.create", f"department:{obj.code}", None, {"name_vi": obj.name_vi}))
        elif isinstance(obj, LaneMapping):
            rows.append(_row("lane.map", f"lane:{obj.lane}", None, {"department": obj.department_code}))
        elif isinstance(obj, CalendarDay):
            rows.append(_row("calendar.set", f"day:{obj.day}", obj.updated_by,
                             {"working": obj.working, "note": obj.note}))
    for obj in session.dirty:
        if isinstance(obj, User):
            changes: dict[str, Any] = {}
            for name in ("roles", "is_active"):
                change = _changed(obj, name)
                if change is not None:
                    changes[name] = {"from": change[0], "to": change[1]}
            history = inspect(obj).attrs["departments"].history
            if history.added or history.deleted:
                changes["departments"] = {"added": sorted(d.code for d in history.added),
                                          "removed": sorted(d.code for d in history.deleted)}
            if _changed(obj, "password_hash") is not None:
                changes["password"] = "changed"  # never the hash itself
            if changes:
                rows.append(_row("user.update", f"user:{obj.username}", None, changes))
        elif isinstance(obj, ApiToken):
            change = _changed(obj, "revoked_at")
            if change is not None and change[1] is not None:
                rows.append(_row("token.revoke", f"token:{obj.id}", None, {"user_id": obj.user_id}))
        elif isinstance(obj, CalendarDay) and session.is_modified(obj):
            rows.append(_row("calendar.set", f"day:{obj.day}", obj.updated_by,
                             {"working": obj.working, "note": obj.note}))
    for obj in session.deleted:
        if isinstance(obj, CalendarDay):
            rows.append(_row("calendar.delete", f"day:{obj.day}", None, None))
        elif isinstance(obj, LaneMapping):
            rows.append(_row("lane.unmap", f"lane:{obj.lane}", None, {"department": obj.department_code}))
        elif isinstance(obj, ApiToken):
            rows.append(_row("token.delete", f"token:{obj.id}", None, {"user_id": obj.user_id}))
    return rows


@event.listens_for(Session, "after_flush")
def _audit_after_flush(session: Session, _flush_context: Any) -> None:
    # Inserted on the flush's own connection: same transaction as the change, ids already assigned.
    rows = _entries_for(session)
    if rows:
        session.connection().execute(insert(AuditEntry.__table__), rows)


# --- reading and test support -------------------------------------------------------------------
def recent(session: Session, *, action: str | None = None, actor: str | None = None,
           limit: int = 100, offset: int = 0) -> list[AuditEntry]:
    query = select(AuditEntry)
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True))
    if actor:
        query = query.where(AuditEntry.actor == actor)
    return list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset)))


def empty_table(conn: Connection, name: str) -> None:
    """DELETE every row of a table; for audit_log on SQLite the triggers are lifted meanwhile (tests only)."""
    if name == TABLE and conn.dialect.name == "sqlite":
        conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
        conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
        conn.execute(text("DELETE FROM audit_log"))
        for statement in SQLITE_TRIGGERS:
            conn.execute(text(statement))
        return
    conn.execute(text(f"DELETE FROM {name}"))  # noqa: S608 - table names come from the metadata
