"""Hand-built task histories of the one-stop test procedure, with known working times."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select

from engine.calendar import VN_TZ
from engine.models import HumanTask, Instance, ProcessVersion, Wait

PROCESS = "onestop_fixture"


def vn(*args) -> datetime:
    return datetime(*args, tzinfo=VN_TZ)


def version_id(session, number: int = 1) -> int:
    return session.scalar(select(ProcessVersion.id).where(ProcessVersion.process_id == PROCESS,
                                                          ProcessVersion.version == number))


def instance(session, number: int = 1, status: str = "completed") -> str:
    row = Instance(id=str(uuid.uuid4()), process_id=PROCESS, version_id=version_id(session, number),
                   business_key=f"BN-{uuid.uuid4().hex[:8]}", status=status, data={}, started_by="tests")
    session.add(row)
    session.flush()
    return row.id


def task(session, instance_id: str, element_id: str, created: datetime, completed: datetime | None,
         due: datetime | None, *, lane: str | None = "Sở Xây dựng", department: str | None = "SXD") -> HumanTask:
    row = HumanTask(id=str(uuid.uuid4()), instance_id=instance_id, process_id=PROCESS, element_id=element_id,
                    name=element_id, lane=lane, department=department,
                    state="completed" if completed else "ready", created_at=created, completed_at=completed,
                    due_at=due, completed_by="chuyenvien" if completed else None)
    session.add(row)
    return row


def wait(session, instance_id: str, element_id: str, kind: str = "message", name: str | None = None) -> None:
    session.add(Wait(instance_id=instance_id, task_id=str(uuid.uuid4()), element_id=element_id, kind=kind, name=name,
                     due_at=vn(2026, 3, 20, 17) if kind == "timer" else None))
