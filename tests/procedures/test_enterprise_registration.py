"""Đăng ký thành lập doanh nghiệp tư nhân (1.001612): the diagram run end to end on a real database.

The fee is collected right after acceptance and the `fee_schedule` table makes
it free online (no payment wait) and 50,000 đ at the counter (waits for
`payment_confirmed`); lanes map to departments; supplement, refusal and the
leader's reject end where they should.
"""

from __future__ import annotations

from engine.actors import SYSTEM, Actor
from engine.runtime import Runtime
from tests.procedures.helpers import (
    CITY_CLERK,
    CITY_MARKERS,
    Procedure,
    all_tasks,
    assert_lanes_map_to_departments,
    complete,
    only_task,
    start_instance,
    waits_by_element,
)

PROCEDURE = Procedure("city_enterprise_registration.bpmn", "enterprise_registration", marked=CITY_MARKERS)

CLERK = CITY_CLERK
SPECIALIST = Actor("kehoach", frozenset({"specialist"}), frozenset({"SKHDT"}))
LEADER = Actor("kehoach", frozenset({"leader"}), frozenset({"SKHDT", "LD_SKHDT"}))

LANE_DEPARTMENTS = {
    "Bộ phận Một cửa": "MOTCUA",
    "Sở Kế hoạch và Đầu tư": "SKHDT",
    "Lãnh đạo Sở Kế hoạch và Đầu tư": "LD_SKHDT",
}
BUDGETED = {"receive_dossier", "review_enterprise", "leader_approval", "return_to_citizen"}

RECEPTION = {
    "applicant_name": "Trần Thị Bích Ngọc",
    "applicant_phone": "0913 456 789",
    "registration_form": {"name": "giay_de_nghi_dkdn.pdf"},
    "owner_id_copy": {"name": "cccd_chu_doanh_nghiep.pdf"},
    "reception_outcome": "accept",
}
REVIEW = {
    "enterprise_name": "Doanh nghiệp tư nhân Thương mại Bích Ngọc",
    "name_available": True,
    "charter_capital": 500_000_000,
    "business_lines": "4711 - Bán lẻ lương thực, thực phẩm trong cửa hàng kinh doanh tổng hợp",
    "owner_id_number": "092190004567",
    "head_office_address": "45 đường 30 Tháng 4, phường Xuân Khánh, quận Ninh Kiều, TP Cần Thơ",
}


def start(session, key: str, channel: str = "in_person"):
    data = {"desk": "MOTCUA", "procedure_code": "1.001612", "channel": channel,
            "applicant_name": "Trần Thị Bích Ngọc"}
    return start_instance(session, PROCEDURE.process_id, key, data, SYSTEM)


markers = PROCEDURE.markers


def finish(rt: Runtime, s, iid: str, decision: dict) -> None:
    complete(rt, iid, "review_enterprise", REVIEW, SPECIALIST)
    s.commit()
    complete(rt, iid, "leader_approval", decision, LEADER)
    s.commit()
    complete(rt, iid, "return_to_citizen", {"result_channel": "electronic", "e_result": True,
                                             "returned_on": "2026-03-13"}, CLERK)
    s.commit()


def test_diagram_validates_with_the_common_files():
    parsed = PROCEDURE.validated()
    assert sorted(parsed.lanes) == sorted(LANE_DEPARTMENTS)
    assert parsed.properties["procedure_code"] == "1.001612" and parsed.properties["processing_time"] == "3"


def test_in_person_pays_50000_then_happy_path(sessions, deployed):
    key = "H15.01-260310-0101"
    with sessions() as s:
        rt, iid = start(s, key)
        assert "receive_dossier_overdue" in waits_by_element(s, iid, "timer")
        complete(rt, iid, "receive_dossier", RECEPTION, CLERK)
        s.commit()

        inst = rt.get_instance(iid)
        assert inst.status == "waiting" and inst.data["fee_amount"] == 50000
        assert rt.open_tasks(iid) == []  # the specialist gets nothing before the fee is paid
        assert waits_by_element(s, iid, "message") == {"wait_payment": "payment_confirmed"}
        rt.correlate_message("payment_confirmed", business_key=key,
                             payload={"amount": 50000, "transaction_id": "QR-552001", "channel": "counter"},
                             actor=SYSTEM)
        s.commit()

        review = only_task(rt, iid, "review_enterprise")
        assert review.department == "SKHDT" and review.due_at is not None
        assert waits_by_element(s, iid, "timer").get("review_enterprise_overdue") is not None
        finish(rt, s, iid, {"leader_decision": "approve", "certificate_number": "1801234567"})

        inst = rt.get_instance(iid)
        assert inst.status == "completed"
        assert inst.data["certificate_number"] == "1801234567"
        rows = all_tasks(s, iid)
        assert [r.element_id for r in rows] == ["receive_dossier", "review_enterprise", "leader_approval",
                                                "return_to_citizen"]
        assert_lanes_map_to_departments(rows, LANE_DEPARTMENTS, budgeted=BUDGETED)
        assert [r.department for r in rows] == ["MOTCUA", "SKHDT", "LD_SKHDT", None]
        assert rows[-1].candidate_groups == ["MOTCUA"]
        assert markers(rt, iid) == ["dossier_accepted", "payment_requested", "wait_payment", "result_issued",
                                    "return_to_citizen"]
        assert waits_by_element(s, iid, "timer") == {}


def test_online_is_free_and_does_not_wait_for_payment(sessions, deployed):
    key = "H15.01-260310-0102"
    with sessions() as s:
        rt, iid = start(s, key, channel="online")
        complete(rt, iid, "receive_dossier", RECEPTION, CLERK)
        s.commit()
        assert rt.get_instance(iid).data["fee_amount"] == 0
        only_task(rt, iid, "review_enterprise")  # straight on, no payment step
        assert waits_by_element(s, iid, "message") == {}
        finish(rt, s, iid, {"leader_decision": "approve", "certificate_number": "1801234568"})
        assert rt.get_instance(iid).status == "completed"
        assert markers(rt, iid) == ["dossier_accepted", "result_issued", "return_to_citizen"]


def test_supplement_loop_returns_to_reception(sessions, deployed):
    key = "H15.01-260310-0103"
    with sessions() as s:
        rt, iid = start(s, key, channel="online")
        complete(rt, iid, "receive_dossier", {**RECEPTION, "owner_id_copy": None, "reception_outcome": "supplement",
                                              "missing_documents": "Bản sao CCCD của chủ doanh nghiệp"}, CLERK)
        s.commit()
        assert rt.open_tasks(iid) == []
        assert waits_by_element(s, iid, "message") == {"wait_supplement": "supplement_received"}
        rt.correlate_message("supplement_received", business_key=key,
                             payload={"documents": ["cccd.pdf"], "note": "Bổ sung CCCD"}, actor=SYSTEM)
        s.commit()
        complete(rt, iid, "receive_dossier", RECEPTION, CLERK)
        s.commit()
        only_task(rt, iid, "review_enterprise")
        assert markers(rt, iid) == ["supplement_requested", "wait_supplement", "dossier_accepted"]


def test_refusal_at_reception_ends_the_dossier(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.01-260310-0104")
        complete(rt, iid, "receive_dossier", {**RECEPTION, "reception_outcome": "refuse",
                                              "refusal_reason": "Chủ hồ sơ đang là chủ một doanh nghiệp tư nhân khác"},
                 CLERK)
        s.commit()
        assert rt.get_instance(iid).status == "completed"
        assert markers(rt, iid) == ["reception_refused"]
        assert "fee_amount" not in rt.get_instance(iid).data


def test_leader_reject_returns_without_a_certificate(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.01-260310-0105", channel="online")
        complete(rt, iid, "receive_dossier", RECEPTION, CLERK)
        s.commit()
        finish(rt, s, iid, {"leader_decision": "reject", "leader_note": "Tên doanh nghiệp gây nhầm lẫn"})
        assert rt.get_instance(iid).status == "completed"
        assert markers(rt, iid) == ["dossier_accepted", "return_to_citizen"]
