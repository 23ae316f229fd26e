"""The runtime on a real database: timers, messages, errors and retry, suspend, terminate, versions."""

from __future__ import annotations

import time

import pytest

from engine.actors import SYSTEM, Actor
from engine.deployments import deploy
from engine.errors import Conflict, DeploymentInvalid, InvalidState, NotFound
from engine.models import Wait
from engine.runtime import Runtime
from engine.worker import fire_due_timers
from tests.conftest import fixture_bytes

CLERK = Actor("clerk", frozenset({"clerk"}), frozenset({"MOTCUA"}))


@pytest.fixture
def deployed(sessions):
    with sessions() as s:
        deploy(s, [(n, fixture_bytes(n)) for n in ("sample_dossier.bpmn", "timer_and_error.bpmn", "message_start.bpmn")],
               "tests")
        s.commit()


def test_timer_fires_once_then_script_error_then_retry(sessions, deployed):
    with sessions() as s:
        instance = Runtime(s).start("reminder", data={"wait_for": "PT1S", "total": 100, "parts": 0}, actor=SYSTEM)
        s.commit()
        iid = instance.id
        assert instance.status == "waiting"
        [wait] = s.query(Wait).filter_by(instance_id=iid).all()
        assert wait.kind == "timer" and wait.element_id == "wait_a_moment"

    assert fire_due_timers(sessions) == 0  # not due yet
    time.sleep(1.1)
    assert fire_due_timers(sessions) == 1
    assert fire_due_timers(sessions) == 0  # never twice

    with sessions() as s:
        rt = Runtime(s)
        instance = rt.get_instance(iid)
        assert instance.status == "error"  # total / parts with parts == 0
        assert instance.error["element_id"] == "divide"
        assert "ZeroDivisionError" in instance.error["message"] or "division" in instance.error["message"]
        kinds = [e.kind for e in rt.events(iid)]
        assert kinds.count("timer_fired") == 1 and kinds[-1] == "error"
        assert s.query(Wait).filter_by(instance_id=iid).count() == 0

        with pytest.raises(InvalidState):
            rt.suspend(iid, SYSTEM) and rt.retry(iid, SYSTEM)
        s.rollback()

    with sessions() as s:
        rt = Runtime(s)
        rt.update_data(iid, SYSTEM, {"parts": 4})
        instance = rt.retry(iid, SYSTEM)
        s.commit()
        assert instance.status == "waiting"
        assert instance.data["share"] == 25
        [task] = rt.open_tasks(iid)
        assert task.element_id == "confirm"


def test_message_start_and_result_variable(sessions, deployed):
    with sessions() as s:
        rt = Runtime(s)
        [instance] = rt.correlate_message("dossier_submitted", business_key="BK-1",
                                          payload={"applicant": "Trần Thị B"}, actor=SYSTEM)
        s.commit()
        iid = instance.id
        assert instance.process_id == "portal_intake" and instance.business_key == "BK-1"
        assert instance.data["applicant"] == "Trần Thị B"
        [task] = rt.open_tasks(iid)
        rt.complete_task(task.id, {}, CLERK)
        s.commit()

        with pytest.raises(NotFound):
            rt.correlate_message("supplement_received", business_key="OTHER", payload={}, actor=SYSTEM)
        [again] = rt.correlate_message("supplement_received", business_key="BK-1",
                                       payload={"documents": ["giay_to.pdf"]}, actor=SYSTEM)
        s.commit()
        assert again.id == iid and again.status == "completed"
        assert again.data["supplement"] == {"documents": ["giay_to.pdf"]}


def test_correlation_by_process_variables(sessions, deployed):
    with sessions() as s:
        rt = Runtime(s)
        a = rt.correlate_message("dossier_submitted", business_key="A", payload={"case": "A1"}, actor=SYSTEM)[0]
        b = rt.correlate_message("dossier_submitted", business_key="B", payload={"case": "B1"}, actor=SYSTEM)[0]
        for inst in (a, b):
            rt.complete_task(rt.open_tasks(inst.id)[0].id, {}, CLERK)
        s.commit()
        [reached] = rt.correlate_message("supplement_received", correlation={"case": "B1"}, payload=1, actor=SYSTEM)
        s.commit()
        assert reached.id == b.id
        assert rt.get_instance(a.id).status == "waiting"


def test_suspend_blocks_work_until_resume_and_terminate_cancels(sessions, deployed):
    with sessions() as s:
        rt = Runtime(s)
        inst = rt.start("sample_dossier", actor=SYSTEM)
        s.commit()
        [task] = rt.open_tasks(inst.id)
        rt.suspend(inst.id, SYSTEM)
        s.commit()
        with pytest.raises(InvalidState):
            rt.complete_task(task.id, {"applicant_name": "A", "complete": True}, CLERK)
        s.rollback()
        rt.resume(inst.id, SYSTEM)
        s.commit()
        assert rt.get_instance(inst.id).status == "waiting"
        rt.terminate(inst.id, SYSTEM, reason="citizen withdrew")
        s.commit()
        assert rt.get_instance(inst.id).status == "terminated"
        assert rt.open_tasks(inst.id) == []
        assert rt.get_task(task.id).state == "cancelled"


def test_instances_keep_their_version(sessions, deployed):
    with sessions() as s:
        rt = Runtime(s)
        old = rt.start("sample_dossier", actor=SYSTEM)
        s.commit()
        changed = fixture_bytes("sample_dossier.bpmn").replace("Thẩm định hồ sơ".encode(), "Thẩm định hồ sơ (v2)".encode())
        result = deploy(s, [("sample_dossier.bpmn", changed)], "tests", note="rename review")
        s.commit()
        assert [(p.process_id, p.version, p.changed) for p in result.processes] == [("sample_dossier", 2, True)]
        new = rt.start("sample_dossier", actor=SYSTEM)
        s.commit()
        assert (old.version.version, new.version.version) == (1, 2)
        for inst in (old, new):
            [t] = rt.open_tasks(inst.id)
            rt.complete_task(t.id, {"applicant_name": "A", "complete": True}, CLERK)
        s.commit()
        assert rt.open_tasks(old.id)[0].name == "Thẩm định hồ sơ"
        assert rt.open_tasks(new.id)[0].name == "Thẩm định hồ sơ (v2)"


def test_invalid_deploy_stores_nothing(sessions):
    with sessions() as s:
        with pytest.raises(DeploymentInvalid) as info:
            deploy(s, [("x.bpmn", b"<not-xml")], "tests")
        assert info.value.lines()[0].startswith("x.bpmn:1: -: malformed XML")
        s.rollback()
        with pytest.raises(NotFound):
            Runtime(s).latest_version("sample_dossier")


def test_stale_writer_gets_conflict(sessions, deployed):
    """Two sessions load the same instance; the second write loses with a Conflict."""
    with sessions() as s:
        inst = Runtime(s).start("sample_dossier", actor=SYSTEM)
        s.commit()
        task_id = Runtime(s).open_tasks(inst.id)[0].id
    s1, s2 = sessions(), sessions()
    try:
        r1, r2 = Runtime(s1), Runtime(s2)
        r2.get_instance(inst.id), r2.get_task(task_id)  # s2 has seen the instance at this version
        s2.commit()  # end s2's read transaction but keep its (now stale) objects
        r1.claim(task_id, CLERK)
        s1.commit()
        with pytest.raises(Conflict):
            r2.claim(task_id, Actor("other", frozenset({"clerk"}), frozenset({"MOTCUA"})))
        s2.rollback()
    finally:
        s1.close()
        s2.close()
