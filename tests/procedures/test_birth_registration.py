"""Đăng ký khai sinh (bpmn/ward_birth_registration.bpmn) on a real database.

Deployed with the shared subprocesses and the fee table, then driven through the runtime the way
the ward's people work it: the one-stop desk, the civil-status officer, the chairman, the desk again.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from engine.actors import SYSTEM
from engine.models import Wait
from tests.procedures.helpers import (
    CATALOGUE_PROPERTIES,
    CIVIL_STATUS_OFFICER,
    WARD_CHAIRMAN,
    WARD_CLERK,
    WARD_LANE_DEPARTMENTS,
    Procedure,
    all_tasks,
    assert_lanes_map_to_departments,
    assert_overdue_timers_and_diagram,
    complete_checked,
    start_instance,
    wait_names,
)

PROCEDURE = Procedure("ward_birth_registration.bpmn", "birth_registration")
DESK = "MOTCUA_PHUONG"
CLERK, OFFICER, CHAIRMAN = WARD_CLERK, CIVIL_STATUS_OFFICER, WARD_CHAIRMAN
LANE_DEPARTMENTS = WARD_LANE_DEPARTMENTS

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


markers = PROCEDURE.markers


def start(session, business_key: str):
    return start_instance(session, PROCEDURE.process_id, business_key, START_DATA, CLERK, status="waiting")


def test_file_validates_with_the_shared_files():
    proc = PROCEDURE.validated()
    assert proc.lanes == sorted(LANE_DEPARTMENTS)
    assert {k: proc.properties[k] for k in CATALOGUE_PROPERTIES} == {
        "procedure_code": "1.001193", "department": "TUPHAP_HOTICH", "desk": DESK, "agency_code": "H15.50.05.13",
        "processing_time": "1", "processing_unit": "working_days", "fee": "0", "level": "ward", "online": "true",
    }
    assert proc.properties["required_documents"].split("; ") == [
        "Tờ khai đăng ký khai sinh", "Giấy chứng sinh", "Giấy tờ tùy thân của người đi đăng ký",
    ]


def test_happy_path_desk_officer_chairman_desk(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.50.05.13-251008-0001")
        assert wait_names(s, iid, "timer") == {"receive_dossier_timer"}
        complete_checked(s, rt, iid, "receive_dossier", CLERK, RECEPTION)
        record = complete_checked(s, rt, iid, "record_birth", OFFICER, RECORD)
        sign = complete_checked(s, rt, iid, "sign_birth_certificate", CHAIRMAN, SIGN)
        # the step budgets: a working day is 8 working hours, so 2 h of signing is due before 4 h of recording
        assert sign.due_at - sign.created_at < record.due_at - record.created_at
        ret = complete_checked(s, rt, iid, "return_to_citizen", CLERK, RETURN)
        assert ret.lane is None and ret.candidate_groups == [DESK]  # the shared subprocess addresses the desk

        instance = rt.get_instance(iid)
        assert instance.status == "completed"
        assert instance.data["register_number"] == "125/2025"
        assert instance.data["birth_certificate_file"]["name"] == "giay_chung_sinh_0975.pdf"
        assert instance.data["child_date_of_birth"] == date(2025, 9, 28).isoformat()
        assert wait_names(s, iid, "timer") == set()

        rows = all_tasks(s, iid)
        assert [r.element_id for r in rows] == [
            "receive_dossier", "record_birth", "sign_birth_certificate", "return_to_citizen",
        ]
        assert_lanes_map_to_departments(rows, LANE_DEPARTMENTS, completed=True)
        assert [r.department for r in rows[:3]] == ["MOTCUA_PHUONG", "TUPHAP_HOTICH", "LD_PHUONG"]
        assert [r.completed_by for r in rows] == ["motcuaphuong", "hotich", "chutich", "motcuaphuong"]

        assert markers(rt, iid) == ["accept", "result_issued", "result_returned"]
        steps = [e.element_id for e in rt.events(iid) if e.kind == "step_completed"]
        assert steps.index("accept_dossier") < steps.index("result_issued") < steps.index("call_return_result")
        assert "dossier_completed" in steps and "refused_end" not in steps


def test_supplement_loop_returns_to_reception(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.50.05.13-251008-0002")
        first = complete_checked(s, rt, iid, "receive_dossier", CLERK, {
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

        again = complete_checked(s, rt, iid, "receive_dossier", CLERK, RECEPTION)
        assert again.id != first.id  # reception runs a second time
        [task] = rt.open_tasks(iid)
        assert task.element_id == "record_birth" and task.department == "TUPHAP_HOTICH"
        assert markers(rt, iid) == ["request_supplement", "supplement_received", "accept"]


def test_refusal_ends_the_dossier(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.50.05.13-251008-0003")
        complete_checked(s, rt, iid, "receive_dossier", CLERK, {
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
        complete_checked(s, rt, iid, "receive_dossier", CLERK, RECEPTION)
        complete_checked(s, rt, iid, "record_birth", OFFICER, RECORD)
        complete_checked(s, rt, iid, "sign_birth_certificate", CHAIRMAN, {
            "decision": "reject", "signed_on": "2025-10-08",
            "leader_note": "Thông tin nơi sinh không khớp Giấy chứng sinh.",
        })
        complete_checked(s, rt, iid, "return_to_citizen", CLERK, {**RETURN, "e_result": False})
        assert rt.get_instance(iid).status == "completed"
        assert markers(rt, iid) == ["accept", "result_returned"]  # no result issued


def test_invalid_form_data_is_refused(sessions, deployed):
    """The officer's form enforces its constraints (a 9-digit ID, no birth-certificate file)."""
    from engine.errors import FormInvalid

    with sessions() as s:
        rt, iid = start(s, "H15.50.05.13-251008-0005")
        complete_checked(s, rt, iid, "receive_dossier", CLERK, RECEPTION)
        [task] = rt.open_tasks(iid)
        bad = {k: v for k, v in RECORD.items() if k != "birth_certificate_file"} | {"mother_id_number": "123456789"}
        with pytest.raises(FormInvalid) as info:
            rt.complete_task(task.id, bad, OFFICER)
        s.rollback()
        assert set(info.value.errors) == {"birth_certificate_file", "mother_id_number"}


def test_budgeted_steps_have_overdue_timers_and_every_element_is_drawn():
    assert_overdue_timers_and_diagram(PROCEDURE)
