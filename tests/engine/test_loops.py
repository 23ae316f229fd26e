"""Loops around parallel work, the way validation tells designers to draw them: the parallel
split/join inside a subprocess that the loop repeats. Every round must wait for both branches,
in any completion order, with the state stored (and pruned) between steps as the runtime does."""

from __future__ import annotations

import random

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.parser import MotcuaParser
from engine.serialization import restore_instance, serialize_instance
from tests.conftest import FIXTURES

ROUNDS = 5  # the diagram loops back while n < 5


def _run(seed: int, prune: bool) -> str:
    parser = MotcuaParser()
    parser.add_bpmn_file(str(FIXTURES / "bpmn" / "parallel_in_subprocess_loop.bpmn"))
    spec = parser.get_spec("parallel_in_subprocess_loop")
    subprocesses = parser.get_subprocess_specs("parallel_in_subprocess_loop")
    workflow = BpmnWorkflow(spec, subprocesses)
    workflow.data["n"] = 0
    workflow.do_engine_steps()
    choose, done = random.Random(seed), []
    for _ in range(4 * ROUNDS):
        workflow = restore_instance(serialize_instance(workflow, prune=prune), spec, subprocesses)
        ready = workflow.get_tasks(state=TaskState.READY, manual=True)
        if not ready:
            break
        task = choose.choice(ready)
        if task.task_spec.name == "a":
            task.data["n"] = task.data.get("n", 0) + 1
        done.append(task.task_spec.name)
        task.run()
        workflow.do_engine_steps()
    assert workflow.completed, done
    return "".join(done)


@pytest.mark.parametrize("prune", [False, True])
def test_each_round_waits_for_both_branches(prune):
    for seed in range(12):
        done = _run(seed, prune)
        rounds = [done[i:i + 3] for i in range(0, len(done), 3)]
        assert len(rounds) == ROUNDS and all(r[0] == "a" and sorted(r[1:]) == ["b", "c"] for r in rounds), done
