"""Hoàn thuế thu nhập cá nhân (bpmn/tax_income_refund.bpmn) on a real database.

The city desk receives; a tax officer checks the claim and classifies it "refund first, check later" or
"check first" (which adds the pre-refund check); the tax department's leader decides; the desk returns.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select

from engine.actors import SYSTEM, Actor
from engine.deployments import deploy
from engine.errors import FormInvalid
from engine.models import HumanTask, Wait
from engine.runtime import Runtime
from engine.validation import validate_files

LIBRARY = Path(__file__).resolve().parents[2] / "bpmn"
PROCEDURE_FILE = "tax_income_refund.bpmn"
PROCESS_ID = "personal_income_tax_refund"
DESK = "MOTCUA"

CLERK = Actor("tiepnhan", frozenset({"clerk"}), frozenset({"MOTCUA"}))
TAX_OFFICER = Actor("thue", frozenset({"specialist"}), frozenset({"CUCTHUE"}))
TAX_LEADER = Actor("lanhdaothue", frozenset({"leader"}), frozenset({"LD_CUCTHUE"}))
LANE_DEPARTMENTS = {"Bộ phận Một cửa": "MOTCUA", "Cục Thuế": "CUCTHUE", "Lãnh đạo Cục Thuế": "LD_CUCTHUE"}

START_DATA = {"desk": DESK, "procedure_code": "1.007228", "channel": "in_person", "applicant_name": "Võ Thanh Tâm"}
RECEPTION = {
    "applicant_name": "Võ Thanh Tâm",
    "applicant_id_number": "092087001122",
    "applicant_phone": "0918.456.789",
    "applicant_email": "tam.vo@example.vn",
    "reception_outcome": "accept",
}
REVIEW = {
    "tax_code": "8012345678",
    "tax_year": 2024,
    "amount_claimed": 4_350_000,
    "amount_approved": 4_350_000,
    "bank_account": "0111000123456",
    "bank_name": "Ngân hàng TMCP Ngoại thương Việt Nam - Chi nhánh Cần Thơ",
    "refund_mode": "refund_first",
    "review_note": "Người nộp thuế chưa có tiền sử vi phạm; thuộc diện hoàn trước kiểm tra sau.",
}
PRE_CHECK = {
    "inspection_record_number": "15/BB-KTr",
    "inspection_findings": "Đối chiếu chứng từ khấu trừ: giảm trừ gia cảnh kê khai thừa 1 người phụ thuộc.",
    "amount_approved": 3_100_000,
}
APPROVE = {"decision": "approve", "refund_decision_number": "1234/QĐ-CT", "signed_on": "2025-10-15"}
RETURN = {"result_channel": "electronic", "e_result": True, "returned_on": "2025-10-15"}


def library_files() -> list[tuple[str, bytes]]:
    common = [*sorted((LIBRARY / "common").glob("*.bpmn")), LIBRARY / "common" / "fee_schedule.dmn"]
    return [(f"common/{p.name}", p.read_bytes()) for p in common] + [
        (PROCEDURE_FILE, (LIBRARY / PROCEDURE_FILE).read_bytes())
    ]


def dossier_actions() -> dict[str, str]:
    """element id -> dossier_action marker, over the procedure and the subprocesses it calls."""
    found = {}
    for _name, content in library_files():
        root = etree.fromstring(content)
        for prop in root.iter("{http://camunda.org/schema/1.0/bpmn}property"):
            if prop.get("name") == "dossier_action":
                owner = prop.getparent().getparent().getparent()  # property < properties < extensionElements < node
                found[owner.get("id")] = prop.get("value")
    return found


ACTIONS = dossier_actions()


def markers(rt: Runtime, instance_id: str) -> list[str]:
    return [
        ACTIONS[e.element_id]
        for e in rt.events(instance_id)
        if e.kind in ("step_completed", "message_caught", "task_completed") and e.element_id in ACTIONS
    ]


def timer_waits(session, instance_id: str) -> set[str]:
    return set(session.scalars(select(Wait.element_id).where(Wait.instance_id == instance_id, Wait.kind == "timer")))


def complete(session, rt: Runtime, instance_id: str, element_id: str, actor: Actor, data: dict) -> HumanTask:
    [task] = rt.open_tasks(instance_id)
    assert task.element_id == element_id
    assert task.due_at is not None, f"{element_id} has a time budget, so a due time"
    assert actor.may_work_on(department=task.department, candidate_groups=task.candidate_groups,
                             candidate_users=task.candidate_users, assignee=task.assignee)
    if task.lane is not None:
        assert f"{element_id}_timer" in timer_waits(session, instance_id), "budgeted step without its boundary timer"
    rt.complete_task(task.id, data, actor)
    session.commit()
    return task


def assert_rows_in_lane_departments(session, instance_id: str, expected: list[str]) -> None:
    rows = list(session.scalars(
        select(HumanTask).where(HumanTask.instance_id == instance_id).order_by(HumanTask.created_at)
    ))
    assert [r.element_id for r in rows] == expected
    for row in rows:
        assert row.state == "completed" and row.due_at is not None
        if row.lane is not None:
            assert row.department == LANE_DEPARTMENTS[row.lane], row.element_id
        else:
            assert row.candidate_groups == [DESK]


@pytest.fixture
def deployed(sessions, people):
    with sessions() as s:
        result = deploy(s, library_files(), "tests")
        s.commit()
        assert PROCESS_ID in {p.process_id for p in result.processes}


def start(session, business_key: str):
    rt = Runtime(session)
    instance = rt.start(PROCESS_ID, business_key=business_key, data=dict(START_DATA), actor=CLERK)
    session.commit()
    assert instance.status == "waiting"
    return rt, instance.id


def test_file_validates_with_the_shared_files():
    result = validate_files(library_files())
    assert [str(p) for p in result.problems] == []
    [proc] = [p for p in result.processes if p.process_id == PROCESS_ID]
    assert proc.lanes == sorted(LANE_DEPARTMENTS)
    assert {k: proc.properties[k] for k in ("procedure_code", "department", "desk", "agency_code", "processing_time",
                                            "processing_unit", "fee", "level", "online")} == {
        "procedure_code": "1.007228", "department": "CUCTHUE", "desk": DESK, "agency_code": "H15.01",
        "processing_time": "6", "processing_unit": "working_days", "fee": "0", "level": "city", "online": "true",
    }


def test_refund_first_happy_path(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.01-251008-0201")
        assert timer_waits(s, iid) == {"receive_dossier_timer"}
        complete(s, rt, iid, "receive_dossier", CLERK, RECEPTION)
        complete(s, rt, iid, "review_refund_claim", TAX_OFFICER, REVIEW)
        complete(s, rt, iid, "approve_refund_decision", TAX_LEADER, APPROVE)
        complete(s, rt, iid, "return_to_citizen", CLERK, RETURN)

        instance = rt.get_instance(iid)
        assert instance.status == "completed"
        assert instance.data["amount_approved"] == 4_350_000 and instance.data["tax_year"] == 2024
        assert timer_waits(s, iid) == set()
        assert_rows_in_lane_departments(s, iid, [
            "receive_dossier", "review_refund_claim", "approve_refund_decision", "return_to_citizen",
        ])
        assert markers(rt, iid) == ["accept", "result_issued", "result_returned"]
        steps = [e.element_id for e in rt.events(iid) if e.kind == "step_completed"]
        assert "refund_mode_gateway" in steps and "refund_mode_join" in steps


def test_check_first_adds_the_pre_refund_check(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.01-251008-0202")
        complete(s, rt, iid, "receive_dossier", CLERK, RECEPTION)
        complete(s, rt, iid, "review_refund_claim", TAX_OFFICER, {
            **REVIEW, "tax_code": "8012345678001", "refund_mode": "check_first",
            "review_note": "Hồ sơ đề nghị hoàn lần đầu: kiểm tra trước, hoàn thuế sau.",
        })
        [check] = rt.open_tasks(iid)
        assert check.element_id == "pre_refund_check" and check.department == "CUCTHUE"
        assert "pre_refund_check_timer" in timer_waits(s, iid)
        complete(s, rt, iid, "pre_refund_check", TAX_OFFICER, PRE_CHECK)
        complete(s, rt, iid, "approve_refund_decision", TAX_LEADER, APPROVE)
        complete(s, rt, iid, "return_to_citizen", CLERK, RETURN)

        instance = rt.get_instance(iid)
        assert instance.status == "completed"
        assert instance.data["amount_approved"] == 3_100_000  # the check corrected the amount
        assert_rows_in_lane_departments(s, iid, [
            "receive_dossier", "review_refund_claim", "pre_refund_check", "approve_refund_decision",
            "return_to_citizen",
        ])
        assert markers(rt, iid) == ["accept", "result_issued", "result_returned"]


def test_supplement_loop_returns_to_reception(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.01-251008-0203")
        complete(s, rt, iid, "receive_dossier", CLERK, {
            **RECEPTION, "reception_outcome": "supplement",
            "missing_documents": "Chứng từ khấu trừ thuế TNCN năm 2024 của công ty thứ hai.",
        })
        assert rt.open_tasks(iid) == []
        payload = {"documents": ["chung_tu_khau_tru_2024.pdf"], "note": "Bổ sung trực tiếp tại quầy"}
        rt.correlate_message("supplement_received", business_key="H15.01-251008-0203", payload=payload, actor=SYSTEM)
        s.commit()
        complete(s, rt, iid, "receive_dossier", CLERK, RECEPTION)
        [task] = rt.open_tasks(iid)
        assert task.element_id == "review_refund_claim" and task.department == "CUCTHUE"
        assert markers(rt, iid) == ["request_supplement", "supplement_received", "accept"]


def test_refusal_ends_the_dossier(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.01-251008-0204")
        complete(s, rt, iid, "receive_dossier", CLERK, {
            **RECEPTION, "reception_outcome": "refuse",
            "refusal_reason": "Kỳ đề nghị hoàn đã được hoàn thuế theo quyết định số 987/QĐ-CT.",
        })
        assert rt.get_instance(iid).status == "completed"
        assert markers(rt, iid) == ["refuse"]
        assert s.scalars(select(Wait).where(Wait.instance_id == iid)).first() is None


def test_leader_rejects_and_the_desk_returns_without_a_result(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.01-251008-0205")
        complete(s, rt, iid, "receive_dossier", CLERK, RECEPTION)
        complete(s, rt, iid, "review_refund_claim", TAX_OFFICER, {**REVIEW, "amount_approved": 0})
        complete(s, rt, iid, "approve_refund_decision", TAX_LEADER, {
            "decision": "reject", "signed_on": "2025-10-15",
            "leader_note": "Số thuế đã nộp không lớn hơn số thuế phải nộp.",
        })
        complete(s, rt, iid, "return_to_citizen", CLERK, {**RETURN, "e_result": False})
        assert rt.get_instance(iid).status == "completed"
        assert markers(rt, iid) == ["accept", "result_returned"]


@pytest.mark.parametrize("tax_code", ["801234567", "80123456780", "8012345678-001", "MST8012345"])
def test_tax_code_must_have_10_or_13_digits(sessions, deployed, tax_code):
    with sessions() as s:
        rt, iid = start(s, "H15.01-251008-0206")
        complete(s, rt, iid, "receive_dossier", CLERK, RECEPTION)
        [task] = rt.open_tasks(iid)
        with pytest.raises(FormInvalid) as info:
            rt.complete_task(task.id, {**REVIEW, "tax_code": tax_code, "amount_claimed": -1}, TAX_OFFICER)
        s.rollback()
        assert set(info.value.errors) == {"tax_code", "amount_claimed"}


BPMN_NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "camunda": "http://camunda.org/schema/1.0/bpmn",
}


def test_budgeted_steps_have_overdue_timers_and_every_element_is_drawn():
    root = etree.fromstring((LIBRARY / PROCEDURE_FILE).read_bytes())
    by_id = {el.get("id"): el for el in root.iter() if el.get("id")}
    lane_of = {ref.text: lane.get("name") for lane in root.iterfind(".//bpmn:lane", BPMN_NS)
               for ref in lane.iterfind("bpmn:flowNodeRef", BPMN_NS)}
    next_of = {f.get("sourceRef"): f.get("targetRef") for f in root.iterfind(".//bpmn:sequenceFlow", BPMN_NS)}
    for task in root.iterfind(".//bpmn:userTask", BPMN_NS):
        budget = task.find(".//camunda:property[@name='time_budget']", BPMN_NS)
        assert budget is not None, task.get("id")
        [timer] = root.xpath(".//bpmn:boundaryEvent[@attachedToRef=$t]", namespaces=BPMN_NS, t=task.get("id"))
        assert timer.get("cancelActivity") == "false"
        assert timer.findtext(".//bpmn:timeDate", namespaces=BPMN_NS) == f'working_deadline("{budget.get("value")}")'
        overdue = next_of[timer.get("id")]
        assert ACTIONS[overdue] == "step_overdue"
        end = by_id[next_of[overdue]]
        assert etree.QName(end).localname == "endEvent"
        assert lane_of[timer.get("id")] == lane_of[overdue] == lane_of[end.get("id")] == lane_of[task.get("id")]
    process = root.find("bpmn:process", BPMN_NS)
    nodes = [el.get("id") for el in process if el.find("bpmn:incoming", BPMN_NS) is not None
             or el.find("bpmn:outgoing", BPMN_NS) is not None]
    assert sorted(nodes) == sorted(lane_of)  # every flow node in exactly one lane (no duplicates either)
    assert len(lane_of) == sum(1 for _ in root.iterfind(".//bpmn:flowNodeRef", BPMN_NS))
    drawn = {s.get("bpmnElement") for s in root.iterfind(".//bpmndi:BPMNShape", BPMN_NS)}
    edges = {e.get("bpmnElement") for e in root.iterfind(".//bpmndi:BPMNEdge", BPMN_NS)}
    lanes = {lane.get("id") for lane in root.iterfind(".//bpmn:lane", BPMN_NS)}
    assert drawn == set(nodes) | lanes | {root.find(".//bpmn:participant", BPMN_NS).get("id")}
    assert edges == {f.get("id") for f in root.iterfind(".//bpmn:sequenceFlow", BPMN_NS)}
