"""Cấp Giấy xác nhận tình trạng hôn nhân (bpmn/ward_marital_status_confirmation.bpmn) on a real database.

The ward desk receives and collects the 15.000 đ fee through the shared `collect_fee` subprocess (the amount
comes from the `fee_schedule` DMN table), the civil-status officer verifies, the chairman signs, the desk returns.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.actors import SYSTEM, Actor
from engine.errors import NotFound
from engine.models import Wait
from engine.runtime import Runtime
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

PROCEDURE = Procedure("ward_marital_status_confirmation.bpmn", "marital_status_confirmation")
DESK = "MOTCUA_PHUONG"
CLERK, OFFICER, CHAIRMAN = WARD_CLERK, CIVIL_STATUS_OFFICER, WARD_CHAIRMAN
PAYMENT_PLATFORM = Actor("congdvc", frozenset({"integrator"}))
LANE_DEPARTMENTS = WARD_LANE_DEPARTMENTS

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


markers = PROCEDURE.markers


def start(session, business_key: str):
    return start_instance(session, PROCEDURE.process_id, business_key, START_DATA, CLERK, status="waiting")


def accept_and_pay(session, rt: Runtime, instance_id: str, business_key: str) -> None:
    complete_checked(session, rt, instance_id, "receive_dossier", CLERK, RECEPTION)
    # accepted, then the fee: looked up in the table, requested, and the dossier waits for the payment platform
    instance = rt.get_instance(instance_id)
    assert instance.status == "waiting" and rt.open_tasks(instance_id) == []
    assert wait_names(session, instance_id, "message") == {"payment_confirmed"}
    assert instance.data["fee_amount"] == 15000
    [reached] = rt.correlate_message("payment_confirmed", business_key=business_key, payload=dict(PAYMENT),
                                     actor=PAYMENT_PLATFORM)
    session.commit()
    assert reached.id == instance_id
    assert rt.get_instance(instance_id).data["payment"] == PAYMENT


def test_file_validates_with_the_shared_files():
    proc = PROCEDURE.validated()
    assert proc.lanes == sorted(LANE_DEPARTMENTS)
    assert {k: proc.properties[k] for k in CATALOGUE_PROPERTIES} == {
        "procedure_code": "1.004873", "department": "TUPHAP_HOTICH", "desk": DESK, "agency_code": "H15.50.05.13",
        "processing_time": "3", "processing_unit": "working_days", "fee": "15000", "level": "ward", "online": "true",
    }
    assert "collect_fee" in proc.subprocess_specs and "return_result" in proc.subprocess_specs


def test_happy_path_with_fee_payment(sessions, deployed):
    key = "H15.50.05.13-251008-0101"
    with sessions() as s:
        rt, iid = start(s, key)
        assert wait_names(s, iid, "timer") == {"receive_dossier_timer"}
        with pytest.raises(NotFound):  # nothing waits for a payment before the dossier is accepted
            rt.correlate_message("payment_confirmed", business_key=key, payload=dict(PAYMENT), actor=PAYMENT_PLATFORM)
        s.rollback()

        accept_and_pay(s, rt, iid, key)
        verify = complete_checked(s, rt, iid, "verify_marital_status", OFFICER, VERIFY)
        complete_checked(s, rt, iid, "sign_marital_certificate", CHAIRMAN, SIGN)
        complete_checked(s, rt, iid, "return_to_citizen", CLERK, RETURN)

        instance = rt.get_instance(iid)
        assert instance.status == "completed"
        assert instance.data["fee_amount"] == 15000
        assert instance.data["certificate_number"] == "87/2025/XNHN"
        assert wait_names(s, iid, "timer") == set() and wait_names(s, iid, "message") == set()
        # two working days for the verification
        assert (verify.due_at - verify.created_at).days >= 1

        steps = [e.element_id for e in rt.events(iid) if e.kind == "step_completed"]
        assert "lookup_fee" in steps and steps.index("accept_dossier") < steps.index("lookup_fee")
        assert steps.index("call_collect_fee") < steps.index("result_issued")

        rows = all_tasks(s, iid)
        assert [r.element_id for r in rows] == [
            "receive_dossier", "verify_marital_status", "sign_marital_certificate", "return_to_citizen",
        ]
        assert_lanes_map_to_departments(rows, LANE_DEPARTMENTS, completed=True, desk=DESK)
        assert [r.department for r in rows[:3]] == ["MOTCUA_PHUONG", "TUPHAP_HOTICH", "LD_PHUONG"]

        assert markers(rt, iid) == ["accept", "payment_requested", "paid", "result_issued", "result_returned"]


def test_supplement_loop_returns_to_reception(sessions, deployed):
    key = "H15.50.05.13-251008-0102"
    with sessions() as s:
        rt, iid = start(s, key)
        complete_checked(s, rt, iid, "receive_dossier", CLERK, {
            **RECEPTION, "reception_outcome": "supplement",
            "missing_documents": "Bản án/quyết định ly hôn đã có hiệu lực pháp luật.",
        })
        assert rt.open_tasks(iid) == []
        assert wait_names(s, iid, "message") == {"supplement_received"}
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
        complete_checked(s, rt, iid, "receive_dossier", CLERK, {
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
        complete_checked(s, rt, iid, "verify_marital_status", OFFICER, {
            **VERIFY, "current_status": "divorced", "verification_needed": True,
            "verification_result": "UBND phường Cái Khế chưa trả lời văn bản xác minh.",
        })
        complete_checked(s, rt, iid, "sign_marital_certificate", CHAIRMAN, {
            "decision": "reject", "signed_on": "2025-10-10", "leader_note": "Chưa đủ căn cứ xác nhận.",
        })
        complete_checked(s, rt, iid, "return_to_citizen", CLERK,
                         {**RETURN, "result_channel": "in_person", "e_result": False})
        assert rt.get_instance(iid).status == "completed"
        assert markers(rt, iid) == ["accept", "payment_requested", "paid", "result_returned"]


def test_budgeted_steps_have_overdue_timers_and_every_element_is_drawn():
    assert_overdue_timers_and_diagram(PROCEDURE)
