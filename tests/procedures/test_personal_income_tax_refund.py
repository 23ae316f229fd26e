"""Hoàn thuế thu nhập cá nhân (bpmn/tax_income_refund.bpmn) on a real database.

The city desk receives; a tax officer checks the claim and classifies it "refund first, check later" or
"check first" (which adds the pre-refund check); the tax department's leader decides; the desk returns.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.actors import SYSTEM, Actor
from engine.errors import FormInvalid
from engine.models import Wait
from tests.procedures.helpers import (
    CATALOGUE_PROPERTIES,
    CITY_CLERK,
    Procedure,
    all_tasks,
    assert_lanes_map_to_departments,
    assert_overdue_timers_and_diagram,
    complete_checked,
    start_instance,
    wait_names,
)

PROCEDURE = Procedure("tax_income_refund.bpmn", "personal_income_tax_refund")
DESK = "MOTCUA"

CLERK = CITY_CLERK
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


markers = PROCEDURE.markers


def start(session, business_key: str):
    return start_instance(session, PROCEDURE.process_id, business_key, START_DATA, CLERK, status="waiting")


def assert_rows_in_lane_departments(session, instance_id: str, expected: list[str]) -> None:
    rows = all_tasks(session, instance_id)
    assert [r.element_id for r in rows] == expected
    assert_lanes_map_to_departments(rows, LANE_DEPARTMENTS, completed=True, desk=DESK)


def test_file_validates_with_the_shared_files():
    proc = PROCEDURE.validated()
    assert proc.lanes == sorted(LANE_DEPARTMENTS)
    assert {k: proc.properties[k] for k in CATALOGUE_PROPERTIES} == {
        "procedure_code": "1.007228", "department": "CUCTHUE", "desk": DESK, "agency_code": "H15.01",
        "processing_time": "6", "processing_unit": "working_days", "fee": "0", "level": "city", "online": "true",
    }


def test_refund_first_happy_path(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.01-251008-0201")
        assert wait_names(s, iid, "timer") == {"receive_dossier_timer"}
        complete_checked(s, rt, iid, "receive_dossier", CLERK, RECEPTION)
        complete_checked(s, rt, iid, "review_refund_claim", TAX_OFFICER, REVIEW)
        complete_checked(s, rt, iid, "approve_refund_decision", TAX_LEADER, APPROVE)
        complete_checked(s, rt, iid, "return_to_citizen", CLERK, RETURN)

        instance = rt.get_instance(iid)
        assert instance.status == "completed"
        assert instance.data["amount_approved"] == 4_350_000 and instance.data["tax_year"] == 2024
        assert wait_names(s, iid, "timer") == set()
        assert_rows_in_lane_departments(s, iid, [
            "receive_dossier", "review_refund_claim", "approve_refund_decision", "return_to_citizen",
        ])
        assert markers(rt, iid) == ["accept", "result_issued", "result_returned"]
        steps = [e.element_id for e in rt.events(iid) if e.kind == "step_completed"]
        assert "refund_mode_gateway" in steps and "refund_mode_join" in steps


def test_check_first_adds_the_pre_refund_check(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.01-251008-0202")
        complete_checked(s, rt, iid, "receive_dossier", CLERK, RECEPTION)
        complete_checked(s, rt, iid, "review_refund_claim", TAX_OFFICER, {
            **REVIEW, "tax_code": "8012345678001", "refund_mode": "check_first",
            "review_note": "Hồ sơ đề nghị hoàn lần đầu: kiểm tra trước, hoàn thuế sau.",
        })
        [check] = rt.open_tasks(iid)
        assert check.element_id == "pre_refund_check" and check.department == "CUCTHUE"
        assert "pre_refund_check_timer" in wait_names(s, iid, "timer")
        complete_checked(s, rt, iid, "pre_refund_check", TAX_OFFICER, PRE_CHECK)
        complete_checked(s, rt, iid, "approve_refund_decision", TAX_LEADER, APPROVE)
        complete_checked(s, rt, iid, "return_to_citizen", CLERK, RETURN)

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
        complete_checked(s, rt, iid, "receive_dossier", CLERK, {
            **RECEPTION, "reception_outcome": "supplement",
            "missing_documents": "Chứng từ khấu trừ thuế TNCN năm 2024 của công ty thứ hai.",
        })
        assert rt.open_tasks(iid) == []
        payload = {"documents": ["chung_tu_khau_tru_2024.pdf"], "note": "Bổ sung trực tiếp tại quầy"}
        rt.correlate_message("supplement_received", business_key="H15.01-251008-0203", payload=payload, actor=SYSTEM)
        s.commit()
        complete_checked(s, rt, iid, "receive_dossier", CLERK, RECEPTION)
        [task] = rt.open_tasks(iid)
        assert task.element_id == "review_refund_claim" and task.department == "CUCTHUE"
        assert markers(rt, iid) == ["request_supplement", "supplement_received", "accept"]


def test_refusal_ends_the_dossier(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.01-251008-0204")
        complete_checked(s, rt, iid, "receive_dossier", CLERK, {
            **RECEPTION, "reception_outcome": "refuse",
            "refusal_reason": "Kỳ đề nghị hoàn đã được hoàn thuế theo quyết định số 987/QĐ-CT.",
        })
        assert rt.get_instance(iid).status == "completed"
        assert markers(rt, iid) == ["refuse"]
        assert s.scalars(select(Wait).where(Wait.instance_id == iid)).first() is None


def test_leader_rejects_and_the_desk_returns_without_a_result(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.01-251008-0205")
        complete_checked(s, rt, iid, "receive_dossier", CLERK, RECEPTION)
        complete_checked(s, rt, iid, "review_refund_claim", TAX_OFFICER, {**REVIEW, "amount_approved": 0})
        complete_checked(s, rt, iid, "approve_refund_decision", TAX_LEADER, {
            "decision": "reject", "signed_on": "2025-10-15",
            "leader_note": "Số thuế đã nộp không lớn hơn số thuế phải nộp.",
        })
        complete_checked(s, rt, iid, "return_to_citizen", CLERK, {**RETURN, "e_result": False})
        assert rt.get_instance(iid).status == "completed"
        assert markers(rt, iid) == ["accept", "result_returned"]


@pytest.mark.parametrize("tax_code", ["801234567", "80123456780", "8012345678-001", "MST8012345"])
def test_tax_code_must_have_10_or_13_digits(sessions, deployed, tax_code):
    with sessions() as s:
        rt, iid = start(s, "H15.01-251008-0206")
        complete_checked(s, rt, iid, "receive_dossier", CLERK, RECEPTION)
        [task] = rt.open_tasks(iid)
        with pytest.raises(FormInvalid) as info:
            rt.complete_task(task.id, {**REVIEW, "tax_code": tax_code, "amount_claimed": -1}, TAX_OFFICER)
        s.rollback()
        assert set(info.value.errors) == {"tax_code", "amount_claimed"}


def test_budgeted_steps_have_overdue_timers_and_every_element_is_drawn():
    assert_overdue_timers_and_diagram(PROCEDURE)
