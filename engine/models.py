"""Tables of the workflow runtime.

The serialized instance is the engine's memory; everything people search
lives in ordinary indexed columns written in the same transaction as the step.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    event,
    inspect,
    text,
)
from sqlalchemy.orm import Mapped, Session, deferred, mapped_column, relationship

from engine.db import Base, BigIntPK, JSONText, UTCDateTime, utcnow

# Instance statuses (the API exposes these strings)
RUNNING = "running"
WAITING = "waiting"
SUSPENDED = "suspended"
ERROR = "error"
COMPLETED = "completed"
TERMINATED = "terminated"
INSTANCE_STATUSES = (RUNNING, WAITING, SUSPENDED, ERROR, COMPLETED, TERMINATED)
FINISHED_STATUSES = (COMPLETED, TERMINATED)

# Human task states
TASK_READY = "ready"
TASK_COMPLETED = "completed"
TASK_CANCELLED = "cancelled"


class Department(Base):
    """A department (sở, ngành) or desk. Diagram lanes map to departments."""

    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(50), primary_key=True)
    name_vi: Mapped[str] = mapped_column(String(255))
    name_en: Mapped[str | None] = mapped_column(String(255))


class LaneMapping(Base):
    """Lane name (as drawn in a diagram) -> department, where they differ."""

    __tablename__ = "lane_mappings"

    lane: Mapped[str] = mapped_column(String(255), primary_key=True)
    department_code: Mapped[str] = mapped_column(ForeignKey("departments.code", ondelete="CASCADE"))


class Deployment(Base):
    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deployed_by: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20), default="api")  # api | disk | ui

    files: Mapped[list[DeploymentFile]] = relationship(back_populates="deployment")


class DeploymentFile(Base):
    __tablename__ = "deployment_files"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(10))  # bpmn | dmn
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content: Mapped[str] = deferred(mapped_column(Text))

    deployment: Mapped[Deployment] = relationship(back_populates="files")


class ProcessVersion(Base):
    """One deployed version of one executable process."""

    __tablename__ = "process_versions"
    __table_args__ = (UniqueConstraint("process_id", "version"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(500))
    content_hash: Mapped[str] = mapped_column(String(64))
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"))
    file_id: Mapped[int] = mapped_column(ForeignKey("deployment_files.id"))
    # process-level camunda:properties (procedure metadata for the one-stop rules)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    start_messages: Mapped[list[str]] = mapped_column(JSONText, default=list)
    lanes: Mapped[list[str]] = mapped_column(JSONText, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    spec_json: Mapped[str] = deferred(mapped_column(Text))
    # designer studio (engine.versions): the version an edit started from, the version a rollback
    # re-deployed, and when `flask bpmn export` wrote this version to bpmn/ (disk vs browser rule)
    base_version: Mapped[int | None] = mapped_column(Integer)
    rollback_of: Mapped[int | None] = mapped_column(Integer)
    exported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    file: Mapped[DeploymentFile] = relationship()
    deployment: Mapped[Deployment] = relationship()


class DecisionVersion(Base):
    """A DMN decision as deployed (so later deploys can resolve decisionRef)."""

    __tablename__ = "decision_versions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    decision_id: Mapped[str] = mapped_column(String(255), index=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("deployment_files.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # written back into bpmn/ by `flask bpmn export` (as ProcessVersion.exported_at): disk edits deploy again
    exported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    file: Mapped[DeploymentFile] = relationship()


class Instance(Base):
    __tablename__ = "instances"
    __table_args__ = (Index("ix_instances_process_status", "process_id", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    process_id: Mapped[str] = mapped_column(String(255))
    version_id: Mapped[int] = mapped_column(ForeignKey("process_versions.id"), index=True)
    business_key: Mapped[str | None] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    # Optimistic lock: SQLAlchemy adds "AND lock_version = :seen" to every UPDATE.
    lock_version: Mapped[int] = mapped_column(Integer, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONText)
    suspended_from: Mapped[str | None] = mapped_column(String(20))
    started_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    version: Mapped[ProcessVersion] = relationship(lazy="joined")
    state: Mapped[InstanceState] = relationship(lazy="select", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": lock_version}


class InstanceState(Base):
    """The serialized SpiffWorkflow instance, apart so lists never load it."""

    __tablename__ = "instance_states"

    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[str] = mapped_column(Text)


class HumanTask(Base):
    """A user task as the inbox sees it: open ones plus the history of done ones."""

    __tablename__ = "human_tasks"
    __table_args__ = (
        Index("ix_human_tasks_state_dept_due", "state", "department", "due_at"),
        Index("ix_human_tasks_state_assignee", "state", "assignee"),
        Index("ix_human_tasks_completed_by", "completed_by", "completed_at"),
        Index("ix_human_tasks_process_element", "process_id", "element_id", "completed_at"),  # bottlenecks
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the SpiffWorkflow task id
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), index=True)
    process_id: Mapped[str] = mapped_column(String(255))
    element_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(500))
    lane: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(50))
    candidate_groups: Mapped[list[str]] = mapped_column(JSONText, default=list)
    candidate_users: Mapped[list[str]] = mapped_column(JSONText, default=list)
    assignee: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20), default=TASK_READY)
    form: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, default=list)
    draft: Mapped[dict[str, Any] | None] = mapped_column(JSONText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by: Mapped[str | None] = mapped_column(String(100))


class EventLogEntry(Base):
    """Every step, handoff, claim, message, timer and error of an instance."""

    __tablename__ = "event_log"
    __table_args__ = (Index("ix_event_log_instance", "instance_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    element_id: Mapped[str | None] = mapped_column(String(255))
    element_name: Mapped[str | None] = mapped_column(String(500))
    element_type: Mapped[str | None] = mapped_column(String(60))
    task_id: Mapped[str | None] = mapped_column(String(36))
    actor: Mapped[str | None] = mapped_column(String(100))
    from_lane: Mapped[str | None] = mapped_column(String(255))
    to_lane: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONText)


class Wait(Base):
    """What a waiting instance waits for: a due timer or a named message."""

    __tablename__ = "waits"
    __table_args__ = (Index("ix_waits_kind_due", "kind", "due_at"), Index("ix_waits_kind_name", "kind", "name"))

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(10))  # timer | message
    name: Mapped[str | None] = mapped_column(String(255))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IdempotencyKey(Base):
    """A creating request's key, so a retried POST returns the first result."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("owner", "scope", "key"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(255))
    resource_id: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # the first answer, replayed to a retry with the same key (None while the first request runs)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)


class CalendarDay(Base):
    """A day an administrator added or corrected: an extra day off, or a make-up working day."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    working: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(String(500))
    updated_by: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BufferedMessage(Base):
    """A message that arrived before any instance waited for it: delivered when one starts waiting, until expiry."""

    __tablename__ = "buffered_messages"
    __table_args__ = (Index("ix_buffered_messages_name_key", "name", "business_key"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    business_key: Mapped[str | None] = mapped_column(String(255))
    correlation: Mapped[dict[str, Any] | None] = mapped_column(JSONText)
    payload: Mapped[Any | None] = mapped_column(JSONText, nullable=True)  # as migration 0007
    sent_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class TaskCandidate(Base):
    """Who a task is offered to, one row per candidate group or user, so the inbox finds offered tasks through
    an index instead of reading every task's JSON (issue 8). Groups equal to the task's department are left
    out: the department column already makes the task visible to them. Kept in step with HumanTask by
    ``_keep_task_candidates`` below (any code path that adds or edits a task)."""

    __tablename__ = "task_candidates"
    __table_args__ = (Index("ix_task_candidates_kind_value", "kind", "value", "task_id"),)

    task_id: Mapped[str] = mapped_column(ForeignKey("human_tasks.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)  # group | user
    value: Mapped[str] = mapped_column(String(255), primary_key=True)


def task_candidate_rows(task_id: str, department: str | None, groups, users) -> list[dict[str, str]]:
    """The task_candidates rows of one task (also used by the migration's backfill and the scale fill)."""
    rows = {("group", str(g)) for g in groups or () if g and str(g) != department}
    rows |= {("user", str(u)) for u in users or () if u}
    return [{"task_id": task_id, "kind": kind, "value": value} for kind, value in sorted(rows)]


@event.listens_for(Session, "before_flush")
def _keep_task_candidates(session: Session, _context, _instances) -> None:
    for obj in session.new:
        if isinstance(obj, HumanTask):
            for row in task_candidate_rows(obj.id, obj.department, obj.candidate_groups, obj.candidate_users):
                session.add(TaskCandidate(**row))
    for obj in session.dirty:
        if isinstance(obj, HumanTask) and obj.id and _candidates_changed(obj):
            session.execute(delete(TaskCandidate).where(TaskCandidate.task_id == obj.id))
            for row in task_candidate_rows(obj.id, obj.department, obj.candidate_groups, obj.candidate_users):
                session.add(TaskCandidate(**row))


def _candidates_changed(task: HumanTask) -> bool:
    state = inspect(task)
    return any(state.attrs[name].history.has_changes() for name in ("candidate_groups", "candidate_users",
                                                                      "department"))


# open tasks nobody has claimed, in inbox order: the department tab reads its first page off this index
# and stops after a page (PostgreSQL sorts NULL due dates last, as the inbox does)
_OPEN_UNCLAIMED = "state = 'ready' AND assignee IS NULL"
Index("ix_human_tasks_open_queue", HumanTask.due_at, HumanTask.created_at, HumanTask.id, HumanTask.department,
      postgresql_where=text(_OPEN_UNCLAIMED), sqlite_where=text(_OPEN_UNCLAIMED))
# every open task by department and assignee: the inbox tab counts read this index alone
Index("ix_human_tasks_open_dept", HumanTask.department, HumanTask.assignee, HumanTask.created_at, HumanTask.id,
      postgresql_where=text("state = 'ready'"), sqlite_where=text("state = 'ready'"))
