"""Tables of the workflow runtime.

The serialized instance is the engine's memory; everything people search
lives in ordinary indexed columns written in the same transaction as the step.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

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

    file: Mapped[DeploymentFile] = relationship()
    deployment: Mapped[Deployment] = relationship()


class DecisionVersion(Base):
    """A DMN decision as deployed (so later deploys can resolve decisionRef)."""

    __tablename__ = "decision_versions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    decision_id: Mapped[str] = mapped_column(String(255), index=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("deployment_files.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CalendarDay(Base):
    """A day an administrator added or corrected: an extra day off, or a make-up working day."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    working: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(String(500))
    updated_by: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
