"""Cấp đổi giấy phép lái xe (1.002809): the diagram run end to end on a real database.

At the counter the fee is 135,000 đ (115,000 đ online) and is collected right
after acceptance; the payment message moves the dossier on to Sở Giao thông
vận tải; lanes map to departments; supplement, refusal and a licence missing
from the national database (skips printing, leader rejects) end where they should.
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

PROCEDURE = Procedure("city_driving_licence_renewal.bpmn", "driving_licence_renewal", marked=CITY_MARKERS)

CLERK = CITY_CLERK
SPECIALIST = Actor("giaothong", frozenset({"specialist"}), frozenset({"SGTVT"}))
LEADER = Actor("giaothong", frozenset({"leader"}), frozenset({"SGTVT", "LD_SGTVT"}))

LANE_DEPARTMENTS = {
    "Bộ phận Một cửa": "MOTCUA",
    "Sở Giao thông vận tải": "SGTVT",
    "Lãnh đạo Sở Giao thông vận tải": "LD_SGTVT",
}
BUDGETED = {"receive_dossier", "check_licence_database", "print_new_licence", "leader_sign", "return_to_citizen"}

RECEPTION = {
    "applicant_name": "Lê Hoàng Phúc",
    "licence_number": "920123456789",
    "licence_class": "B2",
    "licence_expiry": "20/04/2026",
    "health_certificate": {"name": "giay_kham_suc_khoe.pdf"},
    "portrait_photo": {"name": "anh_3x4.jpg"},
    "reception_outcome": "accept",
}


def start(session, key: str, channel: str = "in_person"):
    data = {"desk": "MOTCUA", "procedure_code": "1.002809", "channel": channel, "applicant_name": "Lê Hoàng Phúc"}
    return start_instance(session, PROCEDURE.process_id, key, data, SYSTEM)


markers = PROCEDURE.markers


def accept_and_pay(rt: Runtime, s, iid: str, key: str, amount: int) -> None:
    complete(rt, iid, "receive_dossier", RECEPTION, CLERK)
    s.commit()
    assert rt.get_instance(iid).data["fee_amount"] == amount
    assert rt.open_tasks(iid) == []
    assert waits_by_element(s, iid, "message") == {"wait_payment": "payment_confirmed"}
    rt.correlate_message("payment_confirmed", business_key=key,
                         payload={"amount": amount, "transaction_id": "NAPAS-0091", "channel": "online"},
                         actor=SYSTEM)
    s.commit()


def test_diagram_validates_with_the_common_files():
    parsed = PROCEDURE.validated()
    assert sorted(parsed.lanes) == sorted(LANE_DEPARTMENTS)
    assert parsed.properties["procedure_code"] == "1.002809" and parsed.properties["fee"] == "135000"


def test_in_person_fee_135000_payment_moves_it_on_to_the_end(sessions, deployed):
    key = "H15.01-260310-0201"
    with sessions() as s:
        rt, iid = start(s, key)
        assert "receive_dossier_overdue" in waits_by_element(s, iid, "timer")
        complete(rt, iid, "receive_dossier", RECEPTION, CLERK)
        s.commit()

        inst = rt.get_instance(iid)
        assert inst.status == "waiting" and inst.data["fee_amount"] == 135000
        assert rt.open_tasks(iid) == []
        [reached] = rt.correlate_message("payment_confirmed", business_key=key,
                                         payload={"amount": 135000, "transaction_id": "POS-77812",
                                                  "channel": "counter"}, actor=SYSTEM)
        s.commit()
        assert reached.id == iid and reached.data["payment"]["transaction_id"] == "POS-77812"

        check = only_task(rt, iid, "check_licence_database")
        assert check.department == "SGTVT"
        assert waits_by_element(s, iid, "timer").get("check_licence_database_overdue") is not None
        rt.complete_task(check.id, {"database_status": "valid", "check_note": "Khớp dữ liệu GPLX quốc gia"},
                         SPECIALIST)
        s.commit()
        complete(rt, iid, "print_new_licence", {"new_licence_number": "920123456789",
                                                "new_expiry_date": "2036-03-20"}, SPECIALIST)
        s.commit()
        complete(rt, iid, "leader_sign", {"leader_decision": "approve"}, LEADER)
        s.commit()
        complete(rt, iid, "return_to_citizen", {"result_channel": "postal", "returned_on": "2026-03-17",
                                                 "receiver_name": "Lê Hoàng Phúc"}, CLERK)
        s.commit()

        inst = rt.get_instance(iid)
        assert inst.status == "completed"
        rows = all_tasks(s, iid)
        assert [r.element_id for r in rows] == ["receive_dossier", "check_licence_database", "print_new_licence",
                                                "leader_sign", "return_to_citizen"]
        assert_lanes_map_to_departments(rows, LANE_DEPARTMENTS, budgeted=BUDGETED)
        assert [r.department for r in rows] == ["MOTCUA", "SGTVT", "SGTVT", "LD_SGTVT", None]
        assert rows[-1].candidate_groups == ["MOTCUA"]
        assert markers(rt, iid) == ["dossier_accepted", "payment_requested", "wait_payment", "result_issued",
                                    "return_to_citizen"]
        assert waits_by_element(s, iid, "timer") == {} and waits_by_element(s, iid, "message") == {}


def test_online_fee_is_115000(sessions, deployed):
    key = "H15.01-260310-0202"
    with sessions() as s:
        rt, iid = start(s, key, channel="online")
        accept_and_pay(rt, s, iid, key, 115000)
        only_task(rt, iid, "check_licence_database")


def test_supplement_loop_returns_to_reception(sessions, deployed):
    key = "H15.01-260310-0203"
    with sessions() as s:
        rt, iid = start(s, key)
        complete(rt, iid, "receive_dossier", {**RECEPTION, "health_certificate": None,
                                              "reception_outcome": "supplement",
                                              "missing_documents": "Giấy khám sức khỏe còn hiệu lực"}, CLERK)
        s.commit()
        assert rt.open_tasks(iid) == []
        assert waits_by_element(s, iid, "message") == {"wait_supplement": "supplement_received"}
        rt.correlate_message("supplement_received", business_key=key,
                             payload={"documents": ["giay_kham_suc_khoe.pdf"], "note": ""}, actor=SYSTEM)
        s.commit()
        accept_and_pay(rt, s, iid, key, 135000)
        only_task(rt, iid, "check_licence_database")
        assert markers(rt, iid) == ["supplement_requested", "wait_supplement", "dossier_accepted",
                                    "payment_requested", "wait_payment"]


def test_refusal_at_reception_ends_the_dossier(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.01-260310-0204")
        complete(rt, iid, "receive_dossier", {**RECEPTION, "reception_outcome": "refuse",
                                              "refusal_reason": "Giấy phép lái xe đang bị tạm giữ"}, CLERK)
        s.commit()
        assert rt.get_instance(iid).status == "completed"
        assert markers(rt, iid) == ["reception_refused"]
        assert waits_by_element(s, iid, "timer") == {} and waits_by_element(s, iid, "message") == {}


def test_licence_not_in_database_skips_printing_and_leader_rejects(sessions, deployed):
    key = "H15.01-260310-0205"
    with sessions() as s:
        rt, iid = start(s, key)
        accept_and_pay(rt, s, iid, key, 135000)
        complete(rt, iid, "check_licence_database",
                 {"database_status": "invalid", "check_note": "Không có dữ liệu trong hệ thống GPLX quốc gia"},
                 SPECIALIST)
        s.commit()
        sign = only_task(rt, iid, "leader_sign")  # no printing
        assert sign.department == "LD_SGTVT"
        rt.complete_task(sign.id, {"leader_decision": "reject", "leader_note": "Đề nghị xác minh hồ sơ gốc"}, LEADER)
        s.commit()
        complete(rt, iid, "return_to_citizen", {"result_channel": "in_person", "returned_on": "2026-03-17"}, CLERK)
        s.commit()
        assert rt.get_instance(iid).status == "completed"
        assert "print_new_licence" not in [r.element_id for r in all_tasks(s, iid)]
        assert markers(rt, iid) == ["dossier_accepted", "payment_requested", "wait_payment", "return_to_citizen"]
