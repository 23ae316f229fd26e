"""Every procedure in bpmn/ as a dossier: submitted, received, handed between departments,
paid where it has a fee, approved and returned — plus a supplement and a late dossier."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from dossiers import lateness, service
from dossiers.models import Dossier
from dossiers.procedures import all_procedures
from engine.actors import SYSTEM
from engine.db import utcnow
from engine.deployments import deploy
from engine.forms import FieldDef
from engine.models import EventLogEntry
from engine.runtime import Runtime
from tests.dossiers.conftest import APPLICANT

LIBRARY = Path(__file__).resolve().parents[2] / "bpmn"
PREFERRED = ("accept", "approve", "approved", "grant", "agree", "refund_first", "ok", "yes", "in_person", "pass")
SAMPLE_VALUES = {"tax_code": "8012345678", "id_number": "092085001234"}


@pytest.fixture
def library(sessions, people):
    files = [(p.name, p.read_bytes()) for p in sorted(LIBRARY.rglob("*")) if p.suffix in (".bpmn", ".dmn")]
    with sessions() as s:
        deploy(s, files, "tests")
        s.commit()
    return sessions


def valid_value(field: FieldDef):
    """A realistic valid value for a form field (what a careful clerk would type)."""
    if field.id in SAMPLE_VALUES or any(field.id.endswith(k) for k in SAMPLE_VALUES):
        key = next(k for k in SAMPLE_VALUES if field.id.endswith(k))
        return SAMPLE_VALUES[key]
    if field.type == "enum":
        ids = [o[0] for o in field.options]
        return next((p for p in PREFERRED if p in ids), ids[0])
    if field.type in ("long", "number", "decimal"):
        low = field.min if field.min is not None else 1
        return max(low, 1) if field.max is None else min(max(low, 1), field.max)
    if field.type == "boolean":
        return True
    if field.type == "date":
        return utcnow().date().isoformat()
    if field.type == "file":
        return {"name": "ban_scan.pdf"}
    if field.type == "email":
        return "congdan@example.vn"
    if field.type == "phone":
        return "0912345678"
    if field.pattern:
        for candidate in ("8012345678", "092085001234", "A1234567", "ABC-123"):
            if re.fullmatch(field.pattern, candidate):
                return candidate
    text = "Nội dung mẫu hợp lệ"
    return text[: field.maxlength] if field.maxlength else text


def drive(sessions, dossier_id: str, outcome: str = "accept", max_steps: int = 40) -> Dossier:
    """Work every open task of the dossier until it is closed (paying fees when asked)."""
    for _ in range(max_steps):
        with sessions() as s:
            rt = Runtime(s)
            dossier = s.get(Dossier, dossier_id)
            if dossier.instance.status in ("completed", "terminated"):
                return dossier
            tasks = rt.open_tasks(dossier_id)
            if not tasks:
                assert dossier.status_code == 6, f"stuck in status {dossier.status_code} with no open task"
                rt.correlate_message("payment_confirmed", business_key=dossier.code,
                                     payload={"amount": dossier.fee_amount, "channel": "online",
                                              "transaction_id": "VNPAY-1"}, actor=SYSTEM)
                s.commit()
                continue
            task = tasks[0]
            data = {}
            for raw in task.form:
                field = FieldDef.from_dict(raw)
                if field.readonly:
                    continue
                data[field.id] = outcome if field.id == "reception_outcome" else valid_value(field)
            rt.complete_task(task.id, data, SYSTEM)
            s.commit()
    raise AssertionError("the dossier did not finish")


def status_trail(session, dossier_id: str) -> list[int]:
    rows = session.scalars(select(EventLogEntry).where(EventLogEntry.instance_id == dossier_id,
                                                      EventLogEntry.kind == "dossier_status").order_by(EventLogEntry.id))
    return [r.detail["to"] for r in rows]


def test_library_has_six_real_procedures(library):
    with library() as s:
        codes = {p.code for p in all_procedures(s)}
    assert {"1.001193", "1.004873", "1.007228", "1.009994", "1.001612", "1.002809"} <= codes


@pytest.mark.parametrize("code", ["1.001193", "1.004873", "1.007228", "1.009994", "1.001612", "1.002809"])
def test_each_procedure_from_reception_to_returned_result(library, code):
    with library() as s:
        dossier = service.submit(s, procedure_code=code, channel="in_person", applicant=APPLICANT, data={},
                                 actor=SYSTEM)
        s.commit()
        dossier_id = dossier.id
    final = drive(library, dossier_id)
    with library() as s:
        final = s.get(Dossier, dossier_id)
        trail = status_trail(s, dossier_id)
        assert final.status_code == 10, trail
        assert trail[0] == 2 and trail[-2:] == [9, 10], trail
        assert final.appointment_at is not None and final.received_at is not None
        assert final.returned_at is not None and final.result_channel is not None
        assert final.instance.status == "completed"
        if final.fee_amount:
            assert 6 in trail and final.fee_state == "paid" and final.paid_at is not None
        departments = {e.to_lane for e in s.scalars(select(EventLogEntry).where(
            EventLogEntry.instance_id == dossier_id, EventLogEntry.kind == "task_created")) if e.to_lane}
        assert len(departments) >= 2, departments  # handed between departments


def test_refusal_at_reception(library):
    with library() as s:
        d = service.submit(s, procedure_code="1.001612", channel="online", applicant=APPLICANT, actor=SYSTEM)
        s.commit()
        dossier_id = d.id
    final = drive(library, dossier_id, outcome="refuse")
    assert final.status_code == 3 and final.appointment_at is None


def test_supplement_before_acceptance_then_accept(library):
    with library() as s:
        d = service.submit(s, procedure_code="1.001193", channel="in_person", applicant=APPLICANT, actor=SYSTEM)
        s.commit()
        code, dossier_id = d.code, d.id
        rt = Runtime(s)
        [task] = rt.open_tasks(dossier_id)
        data = {f["id"]: valid_value(FieldDef.from_dict(f)) for f in task.form if not f.get("readonly")}
        data.update(reception_outcome="supplement", missing_documents="Giấy chứng sinh bản chính")
        rt.complete_task(task.id, data, SYSTEM)
        s.commit()
        s.refresh(d)
        assert d.status_code == 5 and d.supplement_count == 1 and d.paused_since is None  # clock not started
        service.supplement(s, code, {"documents": [{"name": "giay_chung_sinh.pdf"}]}, SYSTEM)
        s.commit()
        s.refresh(d)
        assert d.status_code == 1 and d.complete_since is not None
    final = drive(library, dossier_id)
    with library() as s:
        final = s.get(Dossier, dossier_id)
        assert final.status_code == 10 and final.received_at == final.complete_since
        assert status_trail(s, dossier_id)[:3] == [5, 1, 2]


def test_late_dossier_in_the_library(library):
    """Received 30 days ago: past its appointment, warned, apology drafted, finished late."""
    with library() as s:
        d = service.submit(s, procedure_code="1.002809", channel="in_person", applicant=APPLICANT,
                           received_at=utcnow() - timedelta(days=30), actor=SYSTEM)
        s.commit()
        dossier_id = d.id
        rt = Runtime(s)
        [task] = rt.open_tasks(dossier_id)
        data = {f["id"]: valid_value(FieldDef.from_dict(f)) for f in task.form if not f.get("readonly")}
        rt.complete_task(task.id, data, SYSTEM)
        s.commit()
        assert lateness.check_deadlines(s) == {"warned": 1, "overdue": 1}
        s.commit()
        s.refresh(d)
        assert d.overdue_at is not None and d.apologies[0].state == "draft"
    final = drive(library, dossier_id)
    assert final.status_code == 10 and final.late is True
