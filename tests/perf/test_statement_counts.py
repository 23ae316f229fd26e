"""Statement counts of the hot paths (counts, not timings: they do not depend on the machine's load).

The benchmarks (bench/README.md) explain the figures; these guard against a change that quietly adds
round trips to every step or lets a step's cost grow with the instance's history."""

from __future__ import annotations

from engine.deployments import deploy
from engine.models import Instance
from engine.runtime import Runtime
from tests.perf.conftest import BENCH, CLERK, complete_next


def test_a_persisted_step_issues_a_bounded_number_of_statements(sessions, counter, is_postgres):
    with sessions() as s:
        deploy(s, [("standard_flow.bpmn", (BENCH / "standard_flow.bpmn").read_bytes())], "test")
        iid = Runtime(s).start("bench_standard_flow", actor=CLERK).id
        s.commit()
    per_step = []
    for n in range(1, 6):
        counter.reset()
        complete_next(sessions, iid, {f"u{n}_note": "đủ", f"u{n}_amount": 1, f"u{n}_ok": True})
        per_step.append(counter.n)
    with sessions() as s:
        assert s.get(Instance, iid).status == "completed"
    # measured: 11-12 on PostgreSQL; 15-16 on SQLite, where BEGIN IMMEDIATE is a statement too
    assert max(per_step) <= (13 if is_postgres else 16), per_step


def test_statements_per_step_do_not_grow_with_history(sessions, counter):
    with sessions() as s:
        deploy(s, [("loop_flow.bpmn", (BENCH / "loop_flow.bpmn").read_bytes())], "test")
        iid = Runtime(s).start("bench_loop_flow", data={"limit": 30}, actor=CLERK).id
        s.commit()
    per_round = {}
    for n in range(1, 31):
        counter.reset()
        complete_next(sessions, iid, {"note": "vòng", "amount": n})
        per_round[n] = counter.n
    with sessions() as s:
        assert s.get(Instance, iid).status == "completed"
    assert per_round[29] <= per_round[1], per_round
