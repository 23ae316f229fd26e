"""Cấp giấy phép xây dựng nhà ở riêng lẻ (1.009994): the diagram run end to end on a real database.

Lanes map to departments, the site inspection (Sở Xây dựng) and the land-use
opinion (Sở Tài nguyên và Môi trường) are open at the same time and the join
waits for both, the fee is collected after the leader approves, and the
supplement, refusal and leader-reject paths end where they should.
"""

from __future__ import annotations

from sqlalchemy import select

from engine.actors import SYSTEM, Actor
from engine.models import Wait
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

PROCEDURE = Procedure("city_construction_permit.bpmn", "construction_permit_house", marked=CITY_MARKERS)

CLERK = CITY_CLERK
BUILDER = Actor("chuyenvien", frozenset({"specialist"}), frozenset({"SXD"}))
LAND = Actor("tainguyen", frozenset({"specialist"}), frozenset({"STNMT"}))
LEADER = Actor("lanhdao", frozenset({"leader"}), frozenset({"SXD", "LD_SXD"}))

LANE_DEPARTMENTS = {
    "Bộ phận Một cửa": "MOTCUA",
    "Sở Xây dựng": "SXD",
    "Sở Tài nguyên và Môi trường": "STNMT",
    "Lãnh đạo Sở Xây dựng": "LD_SXD",
}
BUDGETED = {"receive_dossier", "appraise_design", "site_inspection", "land_use_opinion", "consolidate_proposal",
            "leader_approval", "return_to_citizen"}

RECEPTION = {
    "applicant_name": "Nguyễn Văn An",
    "applicant_id_number": "092085001234",
    "plot_address": "Thửa 215, tờ bản đồ 12, phường An Khánh, quận Ninh Kiều, TP Cần Thơ",
    "land_certificate_number": "CS 04521",
    "floors": 3,
    "construction_area": 96.5,
    "design_drawings": {"name": "ban_ve_thiet_ke.pdf"},
    "reception_outcome": "accept",
}


def start(session, key: str, channel: str = "in_person"):
    data = {"desk": "MOTCUA", "procedure_code": "1.009994", "channel": channel, "applicant_name": "Nguyễn Văn An"}
    return start_instance(session, PROCEDURE.process_id, key, data, SYSTEM)


markers = PROCEDURE.markers


def test_diagram_validates_with_the_common_files():
    parsed = PROCEDURE.validated()
    assert sorted(parsed.lanes) == sorted(LANE_DEPARTMENTS)
    assert parsed.properties["procedure_code"] == "1.009994"
    assert parsed.properties["fee"] == "75000" and parsed.properties["department"] == "SXD"


def test_happy_path_parallel_opinions_fee_after_approval(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.01-260310-0001")
        assert "receive_dossier_overdue" in waits_by_element(s, iid, "timer")
        complete(rt, iid, "receive_dossier", RECEPTION, CLERK)
        s.commit()

        only_task(rt, iid, "appraise_design")
        # the non-interrupting timer is armed
        assert waits_by_element(s, iid, "timer").get("appraise_design_overdue") is not None
        complete(rt, iid, "appraise_design", {"design_compliance": "compliant", "building_density": 80,
                                              "appraisal_note": "Thiết kế phù hợp quy hoạch chi tiết 1/500"}, BUILDER)
        s.commit()

        # both branches are open at the same time, in two departments' inboxes
        open_now = rt.open_tasks(iid)
        assert sorted((t.element_id, t.department) for t in open_now) == [
            ("land_use_opinion", "STNMT"), ("site_inspection", "SXD")]
        assert all(t.due_at is not None for t in open_now)
        waits = waits_by_element(s, iid, "timer")
        assert {"site_inspection_overdue", "land_use_opinion_overdue"} <= set(waits)
        assert "appraise_design_overdue" not in waits  # cancelled with its task
        for task in open_now:
            inbox = {a.username for a in (BUILDER, LAND) if a.may_work_on(
                department=task.department, candidate_groups=task.candidate_groups,
                candidate_users=task.candidate_users, assignee=task.assignee)}
            assert inbox == {"chuyenvien" if task.department == "SXD" else "tainguyen"}, task.element_id

        by_element = {t.element_id: t for t in open_now}
        rt.complete_task(by_element["land_use_opinion"].id,
                         {"land_use_compliance": "agree", "land_use_note": "Đất ở đô thị, phù hợp"}, LAND)
        s.commit()
        # the join waits for the site inspection: nothing after it has started
        assert [t.element_id for t in rt.open_tasks(iid)] == ["site_inspection"]
        assert "opinion_join" not in [e.element_id for e in rt.events(iid) if e.kind == "step_completed"]
        assert "consolidate_proposal" not in [t.element_id for t in all_tasks(s, iid)]

        rt.complete_task(by_element["site_inspection"].id,
                         {"inspection_date": "2026-03-12", "site_matches_dossier": True}, BUILDER)
        s.commit()
        assert "opinion_join" in [e.element_id for e in rt.events(iid) if e.kind == "step_completed"]
        complete(rt, iid, "consolidate_proposal", {"proposal": "grant", "proposal_note": "Đủ điều kiện cấp phép"},
                 BUILDER)
        s.commit()
        complete(rt, iid, "leader_approval",
                 {"leader_decision": "approve", "permit_number": "125/GPXD-SXD"}, LEADER)
        s.commit()

        inst = rt.get_instance(iid)
        assert inst.status == "waiting"
        assert inst.data["fee_amount"] == 75000
        assert rt.open_tasks(iid) == []  # waiting for the payment, not for a person
        [reached] = rt.correlate_message("payment_confirmed", business_key="H15.01-260310-0001",
                                         payload={"amount": 75000, "transaction_id": "VNPAY-88120", "channel": "online"},
                                         actor=SYSTEM)
        s.commit()
        assert reached.id == iid

        ret = only_task(rt, iid, "return_to_citizen")
        assert ret.candidate_groups == ["MOTCUA"]  # shared subprocess: no lane of ours, the desk's group
        assert ret.lane is None, ret.lane
        rt.complete_task(ret.id, {"result_channel": "in_person", "returned_on": "2026-03-31",
                                  "receiver_name": "Nguyễn Văn An"}, CLERK)
        s.commit()

        inst = rt.get_instance(iid)
        assert inst.status == "completed"
        rows = all_tasks(s, iid)
        assert sorted(r.element_id for r in rows) == sorted(
            ["receive_dossier", "appraise_design", "site_inspection", "land_use_opinion", "consolidate_proposal",
             "leader_approval", "return_to_citizen"])
        assert_lanes_map_to_departments(rows, LANE_DEPARTMENTS, budgeted=BUDGETED)
        assert {r.department for r in rows if r.lane} == {"MOTCUA", "SXD", "STNMT", "LD_SXD"}
        assert markers(rt, iid) == ["dossier_accepted", "result_issued", "payment_requested", "wait_payment",
                                    "return_to_citizen"]
        assert waits_by_element(s, iid, "timer") == {}


def test_supplement_loop_returns_to_reception(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.01-260310-0002")
        complete(rt, iid, "receive_dossier",
                 {**RECEPTION, "design_drawings": None, "reception_outcome": "supplement",
                  "missing_documents": "Bản vẽ mặt bằng, mặt cắt công trình"}, CLERK)
        s.commit()
        assert rt.open_tasks(iid) == []
        assert s.scalars(select(Wait.name).where(Wait.instance_id == iid, Wait.kind == "message")).all() == [
            "supplement_received"]
        rt.correlate_message("supplement_received", business_key="H15.01-260310-0002",
                             payload={"documents": ["ban_ve_mat_bang.pdf"], "note": "Bổ sung bản vẽ"}, actor=SYSTEM)
        s.commit()
        assert rt.get_instance(iid).data["supplement"]["documents"] == ["ban_ve_mat_bang.pdf"]
        # the reception budget is armed again on the loop
        assert "receive_dossier_overdue" in waits_by_element(s, iid, "timer")
        complete(rt, iid, "receive_dossier", RECEPTION, CLERK)
        s.commit()
        only_task(rt, iid, "appraise_design")
        assert markers(rt, iid) == ["supplement_requested", "wait_supplement", "dossier_accepted"]


def test_refusal_at_reception_ends_the_dossier(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.01-260310-0003")
        complete(rt, iid, "receive_dossier",
                 {**RECEPTION, "reception_outcome": "refuse",
                  "refusal_reason": "Thửa đất nằm trong hành lang bảo vệ công trình giao thông"}, CLERK)
        s.commit()
        inst = rt.get_instance(iid)
        assert inst.status == "completed"
        assert markers(rt, iid) == ["reception_refused"]
        assert rt.open_tasks(iid) == [] and waits_by_element(s, iid, "timer") == {}


def test_leader_reject_returns_without_issuing_or_charging(sessions, deployed):
    with sessions() as s:
        rt, iid = start(s, "H15.01-260310-0004")
        complete(rt, iid, "receive_dossier", RECEPTION, CLERK)
        complete(rt, iid, "appraise_design", {"design_compliance": "non_compliant",
                                              "appraisal_note": "Vượt chiều cao tối đa"}, BUILDER)
        for task in rt.open_tasks(iid):
            if task.element_id == "site_inspection":
                rt.complete_task(task.id, {"inspection_date": "12/03/2026", "site_matches_dossier": False}, BUILDER)
            else:
                rt.complete_task(task.id, {"land_use_compliance": "disagree"}, LAND)
        complete(rt, iid, "consolidate_proposal", {"proposal": "refuse"}, BUILDER)
        complete(rt, iid, "leader_approval",
                 {"leader_decision": "reject", "leader_note": "Không đủ điều kiện cấp phép"}, LEADER)
        s.commit()
        ret = only_task(rt, iid, "return_to_citizen")
        rt.complete_task(ret.id, {"result_channel": "postal", "returned_on": "2026-03-30"}, CLERK)
        s.commit()
        assert rt.get_instance(iid).status == "completed"
        assert markers(rt, iid) == ["dossier_accepted", "return_to_citizen"]
        assert "fee_amount" not in rt.get_instance(iid).data
