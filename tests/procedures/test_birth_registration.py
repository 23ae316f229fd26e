"""Đăng ký khai sinh (bpmn/ward_birth_registration.bpmn) on a real database.

Deployed with the shared subprocesses and the fee table, then driven through the runtime the way
the ward's people work it: the one-stop desk, the civil-status officer, the chairman, the desk again.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select

from engine.actors import SYSTEM, Actor
from engine.deployments import deploy
from engine.models import HumanTask, Wait
from engine.runtime import Runtime
from engine.validation import validate_files

LIBRARY = Path(__file__).resolve().parents[2] / "bpmn"
PROCEDURE_FILE = "ward_birth_registration.bpmn"
PROCESS_ID = "birth_registration"
DESK = "MOTCUA_PHUONG"

CLERK = Actor("motcuaphuong", frozenset({"clerk"}), frozenset({"MOTCUA_PHUONG"}))
OFFICER = Actor("hotich", frozenset({"specialist"}), frozenset({"TUPHAP_HOTICH"}))
CHAIRMAN = Actor("chutich", frozenset({"leader"}), frozenset({"LD_PHUONG"}))
LANE_DEPARTMENTS = {
    "Bộ phận Một cửa UBND phường": "MOTCUA_PHUONG",
    "Công chức Tư pháp - Hộ tịch": "TUPHAP_HOTICH",
    "Lãnh đạo UBND phường": "LD_PHUONG",
}

START_DATA = {"desk": DESK, "procedure_code": "1.001193", "channel": "in_person", "applicant_name": "Nguyễn Thị Thu"}
RECEPTION = {
    "applicant_name": "Nguyễn Thị Thu",
    "applicant_id_number": "092190001234",
    "applicant_relationship": "mother",
    "applicant_phone": "0907 123 456",
    "reception_outcome": "accept",
}
RECORD = {
    "child_full_name": "Trần Minh Khang",
    "child_date_of_birth": "2025-09-28",
    "child_place_of_birth": "Bệnh viện Phụ sản thành phố Cần Thơ",
    "child_sex": "male",
    "child_ethnicity": "Kinh",
    "child_nationality": "Việt Nam",
    "mother_full_name": "Nguyễn Thị Thu",
    "mother_id_number": "092190001234",
    "father_full_name": "Trần Văn Hải",
    "father_id_number": "092088004321",
    "birth_certificate_file": {"name": "giay_chung_sinh_0975.pdf", "size": 182044},
    "register_number": "125/2025",
    "review_note": "Giấy tờ hợp lệ.",
}
SIGN = {"decision": "approve", "signed_on": "2025-10-08"}
RETURN = {"result_channel": "in_person", "e_result": True, "returned_on": "2025-10-08", "receiver_name": "Nguyễn Thị Thu"}


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
    """The dossier markers the instance passed, in order (throw/catch events, user tasks, end events)."""
    return [
        ACTIONS[e.element_id]
        for e in rt.events(instance_id)
        if e.kind in ("step_completed", "message_caught", "task_completed") and e.element_id in ACTIONS
    ]


def timer_waits(session, instance_id: str) -> set[str]:
    return set(session.scalars(select(Wait.element_id).where(Wait.instance_id == instance_id, Wait.kind == "timer")))


def complete(session, rt: Runtime, instance_id: str, element_id: str, actor: Actor, data: dict) -> HumanTask:
    """Complete the one open task (it must be `element_id`) as `actor`, who must be allowed to work on it."""
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
        "procedure_code": "1.001193", "department": "TUPHAP_HOTICH", "desk": DESK, "agency_code": "H15.50.05.13",
        "processing_time": "1", "processing_unit": "working_days", "fee": "0", "level": "ward", "online": "true",
    }
    assert proc.properties["required_documents"].split("; ") == [
        "Tờ khai đăng ký khai sinh", "Giấy chứng sinh", "Giấy tờ tùy thân của người đi đăng ký",
    ]


def test_happy_path_desk_officer_chairman_desk(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.50.05.13-251008-0001")
        assert timer_waits(s, iid) == {"receive_dossier_timer"}
        complete(s, rt, iid, "receive_dossier", CLERK, RECEPTION)
        record = complete(s, rt, iid, "record_birth", OFFICER, RECORD)
        sign = complete(s, rt, iid, "sign_birth_certificate", CHAIRMAN, SIGN)
        # the step budgets: a working day is 8 working hours, so 2 h of signing is due before 4 h of recording
        assert sign.due_at - sign.created_at < record.due_at - record.created_at
        ret = complete(s, rt, iid, "return_to_citizen", CLERK, RETURN)
        assert ret.lane is None and ret.candidate_groups == [DESK]  # the shared subprocess addresses the desk

        instance = rt.get_instance(iid)
        assert instance.status == "completed"
        assert instance.data["register_number"] == "125/2025"
        assert instance.data["birth_certificate_file"]["name"] == "giay_chung_sinh_0975.pdf"
        assert instance.data["child_date_of_birth"] == date(2025, 9, 28).isoformat()
        assert timer_waits(s, iid) == set()

        rows = list(s.scalars(select(HumanTask).where(HumanTask.instance_id == iid).order_by(HumanTask.created_at)))
        assert [r.element_id for r in rows] == [
            "receive_dossier", "record_birth", "sign_birth_certificate", "return_to_citizen",
        ]
        for row in rows:
            assert row.state == "completed"
            assert row.due_at is not None
            if row.lane is not None:
                assert row.department == LANE_DEPARTMENTS[row.lane], row.element_id
        assert [r.department for r in rows[:3]] == ["MOTCUA_PHUONG", "TUPHAP_HOTICH", "LD_PHUONG"]
        assert [r.completed_by for r in rows] == ["motcuaphuong", "hotich", "chutich", "motcuaphuong"]

        assert markers(rt, iid) == ["accept", "result_issued", "result_returned"]
        steps = [e.element_id for e in rt.events(iid) if e.kind == "step_completed"]
        assert steps.index("accept_dossier") < steps.index("result_issued") < steps.index("call_return_result")
        assert "dossier_completed" in steps and "refused_end" not in steps


def test_supplement_loop_returns_to_reception(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.50.05.13-251008-0002")
        first = complete(s, rt, iid, "receive_dossier", CLERK, {
            **RECEPTION, "reception_outcome": "supplement",
            "missing_documents": "Giấy chứng sinh bản chính (bản nộp là bản chụp).",
        })
        instance = rt.get_instance(iid)
        assert instance.status == "waiting" and rt.open_tasks(iid) == []
        assert set(s.scalars(select(Wait.name).where(Wait.instance_id == iid, Wait.kind == "message"))) == {
            "supplement_received"
        }
        assert markers(rt, iid) == ["request_supplement"]

        payload = {"documents": ["giay_chung_sinh_ban_chinh.pdf"], "note": "Đã nộp bản chính"}
        [reached] = rt.correlate_message("supplement_received", business_key="H15.50.05.13-251008-0002",
                                         payload=payload, actor=SYSTEM)
        s.commit()
        assert reached.id == iid
        assert rt.get_instance(iid).data["supplement"] == payload

        again = complete(s, rt, iid, "receive_dossier", CLERK, RECEPTION)
        assert again.id != first.id  # reception runs a second time
        [task] = rt.open_tasks(iid)
        assert task.element_id == "record_birth" and task.department == "TUPHAP_HOTICH"
        assert markers(rt, iid) == ["request_supplement", "supplement_received", "accept"]


def test_refusal_ends_the_dossier(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.50.05.13-251008-0003")
        complete(s, rt, iid, "receive_dossier", CLERK, {
            **RECEPTION, "reception_outcome": "refuse",
            "refusal_reason": "Trẻ đã được đăng ký khai sinh tại UBND phường khác.",
        })
        instance = rt.get_instance(iid)
        assert instance.status == "completed"
        assert rt.open_tasks(iid) == []
        assert markers(rt, iid) == ["refuse"]
        assert s.scalars(select(Wait).where(Wait.instance_id == iid)).first() is None
        assert "refused_end" in [e.element_id for e in rt.events(iid) if e.kind == "step_completed"]


def test_chairman_rejects_and_the_desk_returns_without_a_result(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.50.05.13-251008-0004")
        complete(s, rt, iid, "receive_dossier", CLERK, RECEPTION)
        complete(s, rt, iid, "record_birth", OFFICER, RECORD)
        complete(s, rt, iid, "sign_birth_certificate", CHAIRMAN, {
            "decision": "reject", "signed_on": "2025-10-08",
            "leader_note": "Thông tin nơi sinh không khớp Giấy chứng sinh.",
        })
        complete(s, rt, iid, "return_to_citizen", CLERK, {**RETURN, "e_result": False})
        assert rt.get_instance(iid).status == "completed"
        assert markers(rt, iid) == ["accept", "result_returned"]  # no result issued


def test_invalid_form_data_is_refused(sessions, deployed):
    """The officer's form enforces its constraints (a 9-digit ID, no birth-certificate file)."""
    from engine.errors import FormInvalid

    with sessions() as s:
        rt, iid = start(s, "H15.50.05.13-251008-0005")
        complete(s, rt, iid, "receive_dossier", CLERK, RECEPTION)
        [task] = rt.open_tasks(iid)
        bad = {k: v for k, v in RECORD.items() if k != "birth_certificate_file"} | {"mother_id_number": "123456789"}
        with pytest.raises(FormInvalid) as info:
            rt.complete_task(task.id, bad, OFFICER)
        s.rollback()
        assert set(info.value.errors) == {"birth_certificate_file", "mother_id_number"}


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
