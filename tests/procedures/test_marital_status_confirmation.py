"""Cấp Giấy xác nhận tình trạng hôn nhân (bpmn/ward_marital_status_confirmation.bpmn) on a real database.

The ward desk receives and collects the 15.000 đ fee through the shared `collect_fee` subprocess (the amount
comes from the `fee_schedule` DMN table), the civil-status officer verifies, the chairman signs, the desk returns.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select

from engine.actors import SYSTEM, Actor
from engine.deployments import deploy
from engine.errors import NotFound
from engine.models import HumanTask, Wait
from engine.runtime import Runtime
from engine.validation import validate_files

LIBRARY = Path(__file__).resolve().parents[2] / "bpmn"
PROCEDURE_FILE = "ward_marital_status_confirmation.bpmn"
PROCESS_ID = "marital_status_confirmation"
DESK = "MOTCUA_PHUONG"

CLERK = Actor("motcuaphuong", frozenset({"clerk"}), frozenset({"MOTCUA_PHUONG"}))
OFFICER = Actor("hotich", frozenset({"specialist"}), frozenset({"TUPHAP_HOTICH"}))
CHAIRMAN = Actor("chutich", frozenset({"leader"}), frozenset({"LD_PHUONG"}))
PAYMENT_PLATFORM = Actor("congdvc", frozenset({"integrator"}))
LANE_DEPARTMENTS = {
    "Bộ phận Một cửa UBND phường": "MOTCUA_PHUONG",
    "Công chức Tư pháp - Hộ tịch": "TUPHAP_HOTICH",
    "Lãnh đạo UBND phường": "LD_PHUONG",
}

START_DATA = {"desk": DESK, "procedure_code": "1.004873", "channel": "in_person", "applicant_name": "Lê Hoàng Phúc"}
RECEPTION = {
    "applicant_name": "Lê Hoàng Phúc",
    "applicant_id_number": "092095006789",
    "applicant_date_of_birth": "12/04/1995",
    "residence_address": "45 Trần Hưng Đạo, phường Ninh Kiều, thành phố Cần Thơ",
    "applicant_phone": "0939123456",
    "reception_outcome": "accept",
}
VERIFY = {
    "purpose_of_use": "marriage",
    "purpose_detail": "Kết hôn với bà Phạm Ngọc Anh",
    "current_status": "single",
    "previous_residences": "Phường Xuân Khánh, quận Ninh Kiều (2013-2020)",
    "verification_needed": False,
    "certificate_number": "87/2025/XNHN",
    "review_note": "Đã tra cứu Cơ sở dữ liệu hộ tịch điện tử: chưa đăng ký kết hôn.",
}
SIGN = {"decision": "approve", "signed_on": "2025-10-09"}
RETURN = {"result_channel": "electronic", "e_result": True, "returned_on": "2025-10-09"}
PAYMENT = {"amount": 15000, "transaction_id": "PAYGOV-20251008-000123", "channel": "online"}


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


def waits(session, instance_id: str, kind: str) -> set[str]:
    column = Wait.element_id if kind == "timer" else Wait.name
    return set(session.scalars(select(column).where(Wait.instance_id == instance_id, Wait.kind == kind)))


def complete(session, rt: Runtime, instance_id: str, element_id: str, actor: Actor, data: dict) -> HumanTask:
    [task] = rt.open_tasks(instance_id)
    assert task.element_id == element_id
    assert task.due_at is not None, f"{element_id} has a time budget, so a due time"
    assert actor.may_work_on(department=task.department, candidate_groups=task.candidate_groups,
                             candidate_users=task.candidate_users, assignee=task.assignee)
    if task.lane is not None:
        assert f"{element_id}_timer" in waits(session, instance_id, "timer"), "budgeted step without its timer"
    rt.complete_task(task.id, data, actor)
    session.commit()
    return task


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


def accept_and_pay(session, rt: Runtime, instance_id: str, business_key: str) -> None:
    complete(session, rt, instance_id, "receive_dossier", CLERK, RECEPTION)
    # accepted, then the fee: looked up in the table, requested, and the dossier waits for the payment platform
    instance = rt.get_instance(instance_id)
    assert instance.status == "waiting" and rt.open_tasks(instance_id) == []
    assert waits(session, instance_id, "message") == {"payment_confirmed"}
    assert instance.data["fee_amount"] == 15000
    [reached] = rt.correlate_message("payment_confirmed", business_key=business_key, payload=dict(PAYMENT),
                                     actor=PAYMENT_PLATFORM)
    session.commit()
    assert reached.id == instance_id
    assert rt.get_instance(instance_id).data["payment"] == PAYMENT


def test_file_validates_with_the_shared_files():
    result = validate_files(library_files())
    assert [str(p) for p in result.problems] == []
    [proc] = [p for p in result.processes if p.process_id == PROCESS_ID]
    assert proc.lanes == sorted(LANE_DEPARTMENTS)
    assert {k: proc.properties[k] for k in ("procedure_code", "department", "desk", "agency_code", "processing_time",
                                            "processing_unit", "fee", "level", "online")} == {
        "procedure_code": "1.004873", "department": "TUPHAP_HOTICH", "desk": DESK, "agency_code": "H15.50.05.13",
        "processing_time": "3", "processing_unit": "working_days", "fee": "15000", "level": "ward", "online": "true",
    }
    assert "collect_fee" in proc.subprocess_specs and "return_result" in proc.subprocess_specs


def test_happy_path_with_fee_payment(sessions, deployed):
    key = "H15.50.05.13-251008-0101"
    with sessions() as s:
        rt, iid = start(s, key)
        assert waits(s, iid, "timer") == {"receive_dossier_timer"}
        with pytest.raises(NotFound):  # nothing waits for a payment before the dossier is accepted
            rt.correlate_message("payment_confirmed", business_key=key, payload=dict(PAYMENT), actor=PAYMENT_PLATFORM)
        s.rollback()

        accept_and_pay(s, rt, iid, key)
        verify = complete(s, rt, iid, "verify_marital_status", OFFICER, VERIFY)
        complete(s, rt, iid, "sign_marital_certificate", CHAIRMAN, SIGN)
        complete(s, rt, iid, "return_to_citizen", CLERK, RETURN)

        instance = rt.get_instance(iid)
        assert instance.status == "completed"
        assert instance.data["fee_amount"] == 15000
        assert instance.data["certificate_number"] == "87/2025/XNHN"
        assert waits(s, iid, "timer") == set() and waits(s, iid, "message") == set()
        # two working days for the verification
        assert (verify.due_at - verify.created_at).days >= 1

        steps = [e.element_id for e in rt.events(iid) if e.kind == "step_completed"]
        assert "lookup_fee" in steps and steps.index("accept_dossier") < steps.index("lookup_fee")
        assert steps.index("call_collect_fee") < steps.index("result_issued")

        rows = list(s.scalars(select(HumanTask).where(HumanTask.instance_id == iid).order_by(HumanTask.created_at)))
        assert [r.element_id for r in rows] == [
            "receive_dossier", "verify_marital_status", "sign_marital_certificate", "return_to_citizen",
        ]
        for row in rows:
            assert row.state == "completed" and row.due_at is not None
            if row.lane is not None:
                assert row.department == LANE_DEPARTMENTS[row.lane], row.element_id
            else:
                assert row.candidate_groups == [DESK]
        assert [r.department for r in rows[:3]] == ["MOTCUA_PHUONG", "TUPHAP_HOTICH", "LD_PHUONG"]

        assert markers(rt, iid) == ["accept", "payment_requested", "paid", "result_issued", "result_returned"]


def test_supplement_loop_returns_to_reception(sessions, deployed):
    key = "H15.50.05.13-251008-0102"
    with sessions() as s:
        rt, iid = start(s, key)
        complete(s, rt, iid, "receive_dossier", CLERK, {
            **RECEPTION, "reception_outcome": "supplement",
            "missing_documents": "Bản án/quyết định ly hôn đã có hiệu lực pháp luật.",
        })
        assert rt.open_tasks(iid) == []
        assert waits(s, iid, "message") == {"supplement_received"}
        payload = {"documents": ["quyet_dinh_ly_hon.pdf"], "note": "Bổ sung qua Cổng dịch vụ công"}
        rt.correlate_message("supplement_received", business_key=key, payload=payload, actor=SYSTEM)
        s.commit()
        assert rt.get_instance(iid).data["supplement"] == payload

        accept_and_pay(s, rt, iid, key)
        [task] = rt.open_tasks(iid)
        assert task.element_id == "verify_marital_status" and task.department == "TUPHAP_HOTICH"
        assert markers(rt, iid) == ["request_supplement", "supplement_received", "accept", "payment_requested", "paid"]


def test_refusal_ends_without_a_fee(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.50.05.13-251008-0103")
        complete(s, rt, iid, "receive_dossier", CLERK, {
            **RECEPTION, "reception_outcome": "refuse",
            "refusal_reason": "Người yêu cầu không cư trú trên địa bàn phường.",
        })
        instance = rt.get_instance(iid)
        assert instance.status == "completed"
        assert "fee_amount" not in instance.data
        assert markers(rt, iid) == ["refuse"]
        assert s.scalars(select(Wait).where(Wait.instance_id == iid)).first() is None


def test_chairman_rejects_and_the_desk_returns_without_a_result(sessions, deployed):
    key = "H15.50.05.13-251008-0104"
    with sessions() as s:
        rt, iid = start(s, key)
        accept_and_pay(s, rt, iid, key)
        complete(s, rt, iid, "verify_marital_status", OFFICER, {
            **VERIFY, "current_status": "divorced", "verification_needed": True,
            "verification_result": "UBND phường Cái Khế chưa trả lời văn bản xác minh.",
        })
        complete(s, rt, iid, "sign_marital_certificate", CHAIRMAN, {
            "decision": "reject", "signed_on": "2025-10-10", "leader_note": "Chưa đủ căn cứ xác nhận.",
        })
        complete(s, rt, iid, "return_to_citizen", CLERK, {**RETURN, "result_channel": "in_person", "e_result": False})
        assert rt.get_instance(iid).status == "completed"
        assert markers(rt, iid) == ["accept", "payment_requested", "paid", "result_returned"]


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
