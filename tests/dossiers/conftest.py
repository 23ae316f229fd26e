"""Fixtures for dossier tests: the one-stop test procedure deployed, people and helpers."""

from __future__ import annotations

from datetime import datetime

from dossiers import service
from engine.actors import Actor
from engine.calendar import VN_TZ
from engine.runtime import Runtime

DESK = Actor("tiepnhan", frozenset({"clerk"}), frozenset({"MOTCUA"}))
SPECIALIST = Actor("chuyenvien", frozenset({"specialist"}), frozenset({"SXD"}))
LEADER = Actor("lanhdao", frozenset({"leader"}), frozenset({"SXD", "LD_SXD"}))
PORTAL = Actor("congdvc", frozenset({"integrator"}))
APPLICANT = {"kind": "person", "name": "Nguyễn Văn Bình", "id_number": "092085001234", "phone": "0912345678",
             "email": "binh@example.vn", "address": "12 Hòa Bình, Ninh Kiều, Cần Thơ"}


def vn(*args) -> datetime:
    return datetime(*args, tzinfo=VN_TZ)


def complete(session, dossier, element_id, data, actor):
    rt = Runtime(session)
    [task] = [t for t in rt.open_tasks(dossier.id) if t.element_id == element_id]
    rt.complete_task(task.id, data, actor)
    session.commit()
    return task


def submit(session, **kw):
    """A dossier of the one-stop test procedure (9.999001) filed at the desk by the portal; committed."""
    args = {"procedure_code": "9.999001", "channel": "in_person", "applicant": APPLICANT, "data": {}, "actor": PORTAL}
    args.update(kw)
    dossier = service.submit(session, **args)
    session.commit()
    return dossier
