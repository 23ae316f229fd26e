"""The figures per step, on hand-built task histories whose working times are known.

Office hours are 07:30-11:30 and 13:00-17:00 (Vietnam time); March 2026 has no holiday.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from dossiers import bottlenecks
from engine.deployments import deploy
from engine.errors import NotFound
from tests.bottlenecks.conftest import PROCESS, instance, task, vn, wait
from tests.conftest import fixture_bytes

LIBRARY = Path(__file__).resolve().parents[2] / "bpmn"
NOW = vn(2026, 3, 16, 10, 0)  # Monday


def _history(session) -> dict[str, str]:
    """Five reviews of version 1 (2, 3, 9.5, 39.5 and 4 working hours; the fourth late), two receptions,
    two open approvals (one past due), waits of open instances."""
    done = instance(session)
    task(session, done, "review", vn(2026, 3, 2, 8, 0), vn(2026, 3, 2, 10, 0), vn(2026, 3, 4, 17))  # 2 h
    task(session, done, "review", vn(2026, 3, 2, 16, 0), vn(2026, 3, 3, 9, 30), vn(2026, 3, 5, 17))  # 1 + 2 h
    task(session, done, "review", vn(2026, 3, 6, 11, 0), vn(2026, 3, 9, 14, 0), vn(2026, 3, 10, 17))  # 4.5 + 5 h
    task(session, done, "review", vn(2026, 3, 9, 8, 0), vn(2026, 3, 13, 17, 0), vn(2026, 3, 11, 17))  # 7.5+24+8, late
    task(session, done, "review", vn(2026, 3, 10, 7, 0), vn(2026, 3, 10, 11, 30), vn(2026, 3, 12, 17))  # 4 h
    cancelled = task(session, done, "review", vn(2026, 3, 2, 8, 0), None, vn(2026, 3, 4, 17))
    cancelled.state, cancelled.completed_at = "cancelled", vn(2026, 3, 20, 8)  # withdrawn: not a handoff
    desk = {"lane": "Bộ phận Một cửa", "department": "MOTCUA"}
    task(session, done, "reception", vn(2026, 3, 2, 7, 45), vn(2026, 3, 2, 8, 15), vn(2026, 3, 2, 13, 15), **desk)
    task(session, done, "reception", vn(2026, 3, 2, 14, 0), vn(2026, 3, 2, 16, 30), None, **desk)  # no due time
    waiting = instance(session, status="waiting")
    lead = {"lane": "Lãnh đạo Sở Xây dựng", "department": "LD_SXD"}
    task(session, waiting, "approve", vn(2026, 3, 12, 9, 0), None, vn(2026, 3, 13, 17), **lead)  # overdue at NOW
    second = instance(session, status="waiting")
    task(session, second, "approve", vn(2026, 3, 16, 8, 0), None, vn(2026, 3, 17, 17), **lead)
    third = instance(session, status="waiting")
    for iid in (waiting, third):
        wait(session, iid, "wait_supplement", name="supplement_received")
    wait(session, third, "ghost_timer", kind="timer")  # not an element of the diagram: left out
    wait(session, done, "wait_supplement", name="supplement_received")  # a finished instance waits for nothing
    session.flush()
    return {"done": done, "waiting": waiting}


def test_each_step_gets_count_average_p90_late_share_and_open_work(onestop, sessions):
    with sessions() as s:
        _history(s)
        s.commit()
        analysis = bottlenecks.analyse(s, PROCESS, now=NOW)
    assert [f.element_id for f in analysis.steps] == ["reception", "review", "approve", "return_step"]
    review = analysis.step("review")
    assert (review.completed, review.with_due, review.late) == (5, 5, 1)
    assert review.late_share == pytest.approx(0.2)
    assert review.avg_hours == pytest.approx((2 + 3 + 9.5 + 39.5 + 4) / 5)  # 11.6
    # percentile_cont(0.9) over 2, 3, 4, 9.5, 39.5: position 3.6 -> 9.5 + 0.6 * 30
    assert review.p90_hours == pytest.approx(27.5)
    assert review.measured == 5 and review.open == 0
    assert review.budget == "P2D" and review.budget_hours == 16
    assert review.level("avg") == "ok" and review.level("p90") == "bad"  # 0.725 and 1.72 of the budget
    assert review.department == "SXD" and review.diagram_element == "review"

    reception = analysis.step("reception")
    assert (reception.completed, reception.with_due, reception.late) == (2, 1, 0)
    assert reception.late_share == 0
    assert reception.avg_hours == pytest.approx(1.5)
    assert reception.p90_hours == pytest.approx(0.5 + 0.9 * 2.0)

    approve = analysis.step("approve")
    assert (approve.completed, approve.open, approve.open_overdue) == (0, 2, 1)
    assert approve.avg_hours is None and approve.late_share is None and approve.level("avg") == "none"
    # Thu 09:00 -> Mon 10:00 = 2.5 + 4 + 8 + 2.5 = 17 h; Mon 08:00 -> 10:00 = 2 h
    assert approve.open_avg_age_hours == pytest.approx((17 + 2) / 2)
    assert analysis.step("return_step").budget_hours is None  # no budget on the diagram

    assert [(w.element_id, w.kind, w.message, w.instances, w.diagram_element) for w in analysis.waits] == [
        ("wait_supplement", "message", "supplement_received", 2, "wait_supplement")]
    assert (analysis.open_instances, analysis.completed_instances) == (3, 1)
    data = analysis.to_dict()
    review_json = next(step for step in data["steps"] if step["element_id"] == "review")
    assert review_json["avg_hours"] == 11.6 and review_json["p90_hours"] == 27.5
    assert review_json["late_share"] == 0.2 and review_json["level"] == {"avg": "ok", "p90": "bad"}


def test_the_period_counts_tasks_completed_in_it(onestop, sessions):
    with sessions() as s:
        _history(s)
        s.commit()
        analysis = bottlenecks.analyse(s, PROCESS, start=date(2026, 3, 9), end=date(2026, 3, 10), now=NOW)
        empty = bottlenecks.analyse(s, PROCESS, start=date(2026, 4, 1), end=date(2026, 4, 30), now=NOW)
    review = analysis.step("review")
    assert (review.completed, review.late) == (2, 0)  # 09/03 14:00 and 10/03 11:30; 13/03 is outside
    assert review.avg_hours == pytest.approx((9.5 + 4) / 2)
    assert review.p90_hours == pytest.approx(4 + 0.9 * 5.5)
    assert analysis.step("reception").completed == 0
    assert analysis.step("approve").open == 2  # where dossiers wait now does not depend on the period
    assert empty.step("review").completed == 0 and empty.step("review").avg_hours is None


def _second_version(sessions) -> None:
    xml = fixture_bytes("onestop_fixture.bpmn").decode()
    assert '<bpmn:userTask id="review" name="Thẩm định">' in xml
    xml = xml.replace('<bpmn:userTask id="review" name="Thẩm định">', '<bpmn:userTask id="review" name="Thẩm định rút gọn">')
    xml = xml.replace('<camunda:property name="time_budget" value="P2D" />', '<camunda:property name="time_budget" value="P1D" />')
    with sessions() as s:
        result = deploy(s, [("onestop_fixture.bpmn", xml.encode())], "tests")
        s.commit()
    assert [(p.process_id, p.version) for p in result.processes] == [(PROCESS, 2)]


def test_two_versions_side_by_side(onestop, sessions):
    _second_version(sessions)
    with sessions() as s:
        _history(s)
        redesigned = instance(s, number=2)
        task(s, redesigned, "review", vn(2026, 3, 17, 8, 0), vn(2026, 3, 17, 9, 0), vn(2026, 3, 18, 17))  # 1 h
        task(s, redesigned, "review", vn(2026, 3, 17, 13, 0), vn(2026, 3, 17, 15, 0), vn(2026, 3, 18, 17))  # 2 h
        s.commit()
        first = bottlenecks.analyse(s, PROCESS, version=1, now=NOW)
        everything = bottlenecks.analyse(s, PROCESS, now=NOW)
        comparison = bottlenecks.compare(s, PROCESS, 1, 2, now=NOW)
        second = bottlenecks.analyse(s, PROCESS, version=2, now=NOW)
        with pytest.raises(NotFound):
            bottlenecks.analyse(s, PROCESS, version=3)
        with pytest.raises(NotFound):
            bottlenecks.analyse(s, "khong_co")
    assert first.step("review").completed == 5 and first.diagram_version == 1
    assert first.step("approve").open == 2  # the open approvals are tasks of version 1 instances
    assert second.step("approve").open == 0 and second.waits == [] and second.open_instances == 0
    assert everything.version is None and everything.diagram_version == 2 and everything.versions == [1, 2]
    assert everything.step("review").completed == 7
    assert everything.step("review").avg_hours == pytest.approx((58 + 3) / 7)

    a, b = comparison.a, comparison.b
    assert (a.version, b.version) == (1, 2)
    assert b.step("review").name == "Thẩm định rút gọn" and b.step("review").budget_hours == 8
    assert b.step("review").avg_hours == pytest.approx(1.5) and b.step("review").p90_hours == pytest.approx(1.9)
    row = next(r for r in comparison.rows if r.element_id == "review")
    assert row.delta("avg") == pytest.approx(1.5 - 11.6)
    assert row.delta("p90") == pytest.approx(1.9 - 27.5)
    assert row.late_share_delta == pytest.approx(0 - 0.2)
    assert [r.element_id for r in comparison.rows] == ["reception", "review", "approve", "return_step"]
    assert comparison.to_dict()["rows"][1]["delta"] == {"avg": -10.1, "p90": -25.6}


def test_percentile_is_percentile_cont():
    assert bottlenecks.percentile([]) is None
    assert bottlenecks.percentile([5.0]) == 5.0
    assert bottlenecks.percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) == pytest.approx(9.1)
    assert bottlenecks.percentile([10, 0]) == pytest.approx(9.0)


def test_the_map_of_a_library_procedure(people, sessions):
    files = [(p.name, p.read_bytes()) for p in sorted(LIBRARY.rglob("*")) if p.suffix in (".bpmn", ".dmn")]
    with sessions() as s:
        deploy(s, files, "tests")
        s.commit()
        [version] = bottlenecks.versions_of(s, "construction_permit_house")
        pmap = bottlenecks.process_map(version)
    assert [step.element_id for step in pmap.steps] == [
        "receive_dossier", "appraise_design", "site_inspection", "land_use_opinion", "consolidate_proposal",
        "leader_approval", "return_to_citizen"]
    parallel = [item for item in pmap.path if isinstance(item, bottlenecks.Parallel)]
    assert [[e.element_id for e in branch if e.user_task] for branch in parallel[0].branches] == [
        ["site_inspection"], ["land_use_opinion"]]
    ret = pmap.step("return_to_citizen")
    assert ret.diagram_element == "call_return_result" and ret.lane is None and ret.candidate_groups == "${desk}"
    assert pmap.step("appraise_design").budget_hours == 24 and pmap.step("receive_dossier").budget_hours == 4
    assert pmap.step("land_use_opinion").lane == "Sở Tài nguyên và Môi trường"
    # the happy path: accepted, the result issued, the fee asked and paid, the result returned
    markers = [e.marker for e in bottlenecks.flatten(pmap.path) if e.marker]
    assert markers == ["accept", "result_issued", "payment_requested", "paid", "result_returned"]
    assert [e.element_id for e in pmap.route("receive_dossier", lambda e: e.marker == "refuse")] == [
        "reception_gateway", "reception_refused"]
    assert pmap.elements["wait_payment"].diagram_element == "call_collect_fee"
