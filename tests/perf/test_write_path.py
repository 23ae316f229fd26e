"""The write path: statements per request, per fired timer, and a flat cost for long instances.

Counts, not timings (they do not depend on the machine's load). The ceilings are the measured figures
(bench/README.md, "Write side: before and after") with no slack on PostgreSQL; SQLite adds the
``BEGIN IMMEDIATE`` of every transaction as a statement of its own.
"""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import func, select

from engine.db import utcnow
from engine.deployments import deploy
from engine.models import EventLogEntry, HumanTask, Instance, InstanceState, Wait
from engine.runtime import Runtime
from engine.worker import fire_due_timers
from tests.conftest import auth
from tests.perf.conftest import BENCH, CLERK, complete_next


def _limits(is_postgres: bool, pg: int) -> int:
    return pg if is_postgres else pg + 4  # BEGIN IMMEDIATE per transaction and savepoints on SQLite


def test_start_and_complete_over_http_issue_few_statements(app, client, people, sessions, counter, is_postgres):
    with sessions() as s:
        deploy(s, [("standard_flow.bpmn", (BENCH / "standard_flow.bpmn").read_bytes())], "test")
        s.commit()
    headers = auth(people["tiepnhan"])
    # warm up: the token's last_used_at is written once a minute, the calendar and the parsed spec are
    # read once per process; what follows is the steady state of every later request
    r = client.post("/api/v1/processes/bench_standard_flow/instances", json={"data": {}}, headers=headers)
    assert r.status_code == 201, r.get_json()
    counter.reset()
    r = client.post("/api/v1/processes/bench_standard_flow/instances", json={"data": {}}, headers=headers)
    assert r.status_code == 201, r.get_json()
    start = counter.n
    iid = r.get_json()["id"]
    completes, lists = [], []
    answered: list[str] = []
    for n in range(1, 6):
        counter.reset()
        [task] = client.get(f"/api/v1/tasks?instance_id={iid}", headers=headers).get_json()["items"]
        lists.append(counter.n)
        assert [task["id"]] == answered or n == 1  # the open tasks the last answer named, without a SELECT
        counter.reset()
        r = client.post(f"/api/v1/tasks/{task['id']}/complete",
                        json={"data": {f"u{n}_note": "đủ", f"u{n}_amount": 1, f"u{n}_ok": True}}, headers=headers)
        assert r.status_code == 200, r.get_json()
        completes.append(counter.n)
        answered = [t["id"] for t in r.get_json()["tasks"]]
        assert [t["state"] for t in r.get_json()["tasks"]] == ["ready"] * len(answered)
    body = r.get_json()
    assert body["status"] == "completed" and answered == []
    assert 0 < len(body["events"]) <= 20  # bounded: the last events, not the whole log
    assert set(body) >= {"id", "status", "tasks", "events"}
    # measured on PostgreSQL (bench/README.md, "Write side"). Start 10: token with user and departments
    # (1), latest version, INSERT instance + state, the dossier lookup (1, shared by both step listeners),
    # event-log INSERT (batched), task + task_candidates INSERT, UPDATE instance + state. Complete 11: token,
    # task with instance and state (1), dossier, event log, task UPDATE, new task + candidates INSERT,
    # UPDATE instance + state, audit INSERT, the latest events; the open tasks of the answer come from the
    # step. Before this round: start 13, complete 18, list 4.
    assert start <= _limits(is_postgres, 10), (start, counter.statements)
    assert max(completes) <= _limits(is_postgres, 11), (completes, counter.statements)
    assert max(lists) <= (3 if is_postgres else 4), lists  # token with departments, count, page


def test_a_fired_timer_issues_few_statements(app, sessions, counter, is_postgres):
    with sessions() as s:
        deploy(s, [("timer_flow.bpmn", (BENCH / "timer_flow.bpmn").read_bytes())], "test")
        due = (utcnow() + timedelta(seconds=1)).isoformat()
        ids = [Runtime(s).start("bench_timer_flow", data={"fire_at": due}, actor=CLERK).id for _ in range(10)]
        s.commit()
    time.sleep(1.2)
    counter.reset()
    assert fire_due_timers(sessions, limit=100) == 10
    per_timer = counter.n / 10
    with sessions() as s:
        assert {s.get(Instance, i).status for i in ids} == {"completed"}
        assert s.scalar(select(func.count()).select_from(Wait)) == 0
        fired = s.scalar(select(func.count()).select_from(EventLogEntry).where(EventLogEntry.kind == "timer_fired"))
        assert fired == 10
    # one claim per batch, then the step inside a SAVEPOINT (2 statements) in the batch's transaction;
    # before: a scan, a per-instance lock, a still-due check and a transaction per instance
    # (9.2 on PostgreSQL: the claim and its still-due re-check are shared by the 10; instance with state in
    # one SELECT, no open-task SELECT when the stored state has no open task)
    # (SQLite: batches of 10 under one BEGIN IMMEDIATE, so the database-wide write lock is let go between them)
    assert per_timer <= (9.2 if is_postgres else 13.2), (per_timer, counter.statements)


def test_a_long_loop_keeps_its_stored_state_flat_and_completes(app, sessions):
    rounds = 200
    with sessions() as s:
        deploy(s, [("loop_flow.bpmn", (BENCH / "loop_flow.bpmn").read_bytes())], "test")
        iid = Runtime(s).start("bench_loop_flow", data={"limit": rounds}, actor=CLERK).id
        s.commit()
    sizes = {}
    for n in range(1, rounds + 1):
        complete_next(sessions, iid, {"note": f"vòng {n}", "amount": n})
        if n in (1, 2, 50, 199):
            with sessions() as s:
                sizes[n] = len(s.get(InstanceState, iid).state)
    with sessions() as s:
        instance = s.get(Instance, iid)
        assert instance.status == "completed"
        assert instance.data["rounds"] == rounds and instance.data["amount"] == rounds
        done = s.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.instance_id == iid, HumanTask.state == "completed"))
        assert done == rounds  # no task lost or cancelled by the pruning
        cancelled = s.scalar(select(func.count()).select_from(EventLogEntry).where(
            EventLogEntry.instance_id == iid, EventLogEntry.kind == "task_cancelled"))
        assert cancelled == 0
    # the whole history stays in the event log; the stored tree does not grow with it
    assert sizes[199] <= sizes[2] * 1.1, sizes


# A loop with a user task carrying a boundary timer and an intermediate timer, after an embedded
# subprocess and a parallel fork/join (SpiffWorkflow 3.2 itself breaks on parallel gateways and
# embedded subprocesses *inside* loops, with or without pruning).
LOOP_MIX = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Defs_mix" targetNamespace="http://motcua.vn/test">
<bpmn:process id="loop_mix" name="Loop mix" isExecutable="true">
<bpmn:startEvent id="start"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
<bpmn:scriptTask id="init"><bpmn:incoming>f0</bpmn:incoming><bpmn:outgoing>f1s</bpmn:outgoing><bpmn:script>rounds = 0
seen = []</bpmn:script></bpmn:scriptTask>
<bpmn:exclusiveGateway id="join"><bpmn:incoming>f3</bpmn:incoming><bpmn:incoming>f_again</bpmn:incoming><bpmn:outgoing>fb</bpmn:outgoing></bpmn:exclusiveGateway>
<bpmn:parallelGateway id="fork"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>fa</bpmn:outgoing><bpmn:outgoing>fx</bpmn:outgoing></bpmn:parallelGateway>
<bpmn:userTask id="x" name="X" camunda:candidateGroups="MOTCUA"><bpmn:incoming>fx</bpmn:incoming><bpmn:outgoing>fx2</bpmn:outgoing></bpmn:userTask>
<bpmn:userTask id="a" name="A" camunda:candidateGroups="MOTCUA"><bpmn:incoming>fa</bpmn:incoming><bpmn:outgoing>fa2</bpmn:outgoing></bpmn:userTask>
<bpmn:userTask id="b" name="B" camunda:candidateGroups="MOTCUA"><bpmn:incoming>fb</bpmn:incoming><bpmn:outgoing>fb2</bpmn:outgoing></bpmn:userTask>
<bpmn:boundaryEvent id="b_late" attachedToRef="b"><bpmn:outgoing>f_late</bpmn:outgoing><bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"PT1H"</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>
<bpmn:endEvent id="late_end"><bpmn:incoming>f_late</bpmn:incoming></bpmn:endEvent>
<bpmn:parallelGateway id="merge"><bpmn:incoming>fa2</bpmn:incoming><bpmn:incoming>fx2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:parallelGateway>
<bpmn:subProcess id="sub"><bpmn:incoming>f1s</bpmn:incoming><bpmn:outgoing>f1</bpmn:outgoing>
  <bpmn:startEvent id="s_start"><bpmn:outgoing>s1</bpmn:outgoing></bpmn:startEvent>
  <bpmn:intermediateCatchEvent id="s_wait"><bpmn:incoming>s1</bpmn:incoming><bpmn:outgoing>s2</bpmn:outgoing><bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"PT0S"</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
  <bpmn:userTask id="s_task" name="S" camunda:candidateGroups="MOTCUA"><bpmn:incoming>s2</bpmn:incoming><bpmn:outgoing>s3</bpmn:outgoing></bpmn:userTask>
  <bpmn:endEvent id="s_end"><bpmn:incoming>s3</bpmn:incoming></bpmn:endEvent>
  <bpmn:sequenceFlow id="s1" sourceRef="s_start" targetRef="s_wait" />
  <bpmn:sequenceFlow id="s2" sourceRef="s_wait" targetRef="s_task" />
  <bpmn:sequenceFlow id="s3" sourceRef="s_task" targetRef="s_end" />
</bpmn:subProcess>
<bpmn:scriptTask id="count"><bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing><bpmn:script>rounds = rounds + 1
seen = seen + [b_val + c_val]</bpmn:script></bpmn:scriptTask>
<bpmn:exclusiveGateway id="more" default="f_done"><bpmn:incoming>f5</bpmn:incoming><bpmn:outgoing>f_again</bpmn:outgoing><bpmn:outgoing>f_done</bpmn:outgoing></bpmn:exclusiveGateway>
<bpmn:endEvent id="end"><bpmn:incoming>f_done</bpmn:incoming></bpmn:endEvent>
<bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="init" />
<bpmn:sequenceFlow id="f1s" sourceRef="init" targetRef="sub" />
<bpmn:intermediateCatchEvent id="pause"><bpmn:incoming>fb2</bpmn:incoming><bpmn:outgoing>f3b</bpmn:outgoing><bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"PT0S"</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
<bpmn:userTask id="c" name="C" camunda:candidateGroups="MOTCUA"><bpmn:incoming>f3b</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>
<bpmn:sequenceFlow id="f3b" sourceRef="pause" targetRef="c" />
<bpmn:sequenceFlow id="f1" sourceRef="sub" targetRef="fork" />
<bpmn:sequenceFlow id="fx" sourceRef="fork" targetRef="x" />
<bpmn:sequenceFlow id="fx2" sourceRef="x" targetRef="merge" />
<bpmn:sequenceFlow id="fa" sourceRef="fork" targetRef="a" />
<bpmn:sequenceFlow id="fb" sourceRef="join" targetRef="b" />
<bpmn:sequenceFlow id="fa2" sourceRef="a" targetRef="merge" />
<bpmn:sequenceFlow id="fb2" sourceRef="b" targetRef="pause" />
<bpmn:sequenceFlow id="f_late" sourceRef="b_late" targetRef="late_end" />
<bpmn:sequenceFlow id="f3" sourceRef="merge" targetRef="join" />
<bpmn:sequenceFlow id="f4" sourceRef="c" targetRef="count" />
<bpmn:sequenceFlow id="f5" sourceRef="count" targetRef="more" />
<bpmn:sequenceFlow id="f_again" sourceRef="more" targetRef="join"><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">rounds &lt; limit</bpmn:conditionExpression></bpmn:sequenceFlow>
<bpmn:sequenceFlow id="f_done" sourceRef="more" targetRef="end" />
</bpmn:process>
</bpmn:definitions>"""


def _run_in_memory(prune: bool, limit: int):
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.util.task import TaskState

    from engine.sandbox import MotcuaScriptEngine
    from engine.serialization import restore_instance, serialize_instance
    from engine.validation import validate_files

    parsed = validate_files([("loop_mix.bpmn", LOOP_MIX.encode())]).processes[0]
    engine = MotcuaScriptEngine()
    wf = BpmnWorkflow(parsed.spec, parsed.subprocess_specs, script_engine=engine)
    wf.get_tasks(state=TaskState.READY)[0].set_data(limit=limit)
    wf.do_engine_steps()
    order, sizes, n = [], [], 0
    while not wf.is_completed():
        wf.refresh_timers()
        wf.do_engine_steps()
        ready = sorted(wf.get_tasks(state=TaskState.READY, manual=True), key=lambda t: t.task_spec.bpmn_id)
        task = ready[n % len(ready)]  # alternate the parallel branches
        n += 1
        task.set_data(**{f"{task.task_spec.bpmn_id}_val": n})
        task.run()
        wf.do_engine_steps()
        order.append(task.task_spec.bpmn_id)
        text = serialize_instance(wf, prune=prune)
        sizes.append(len(text))
        wf = restore_instance(text, parsed.spec, parsed.subprocess_specs, engine)
    return wf.data, order, sizes


def test_pruning_changes_nothing_but_the_size_with_timers_boundary_events_subprocess_and_join():
    pruned, order, sizes = _run_in_memory(True, 40)
    full, full_order, full_sizes = _run_in_memory(False, 40)
    assert pruned == full and order == full_order  # same steps, same data, to the last variable
    assert pruned["rounds"] == 40 and len(pruned["seen"]) == 40
    assert order[:3] == ["s_task", "x", "a"] and order.count("b") == 40 and order.count("c") == 40
    assert max(sizes[-10:]) <= sizes[4] * 1.2, sizes  # flat
    assert full_sizes[-1] > 10 * sizes[-1]  # the unpruned tree grows with every round


def test_a_loop_with_a_boundary_timer_that_fires_still_completes(app, sessions):
    """Through the runtime and the worker: the boundary timer of the current round fires, older rounds pruned."""
    with sessions() as s:
        deploy(s, [("loop_mix.bpmn", LOOP_MIX.replace('"PT1H"', '"PT1S"').encode())], "test")
        iid = Runtime(s).start("loop_mix", data={"limit": 5, "b_val": 0, "c_val": 0}, actor=CLERK).id
        s.commit()
    for _ in range(3 + 4 * 2):  # the subprocess task, the two parallel ones, then four rounds of b and c
        if True:
            with sessions() as s:
                rt = Runtime(s)
                task = rt.open_tasks(iid)[0]
                rt.complete_task(task.id, {}, CLERK)
                s.commit()
    time.sleep(1.2)  # round 5's b is late: its interrupting boundary timer ends the instance
    assert fire_due_timers(sessions, limit=10) == 1
    with sessions() as s:
        instance = s.get(Instance, iid)
        assert instance.status == "completed", instance.error
        assert instance.data["rounds"] == 4
        log = [(e.kind, e.element_id) for e in s.scalars(select(EventLogEntry).where(EventLogEntry.instance_id == iid))]
        assert log.count(("timer_fired", "b_late")) == 1 and log.count(("timer_fired", "pause")) == 4
        assert [k for k, _ in log].count("task_cancelled") == 1  # round 5's b
