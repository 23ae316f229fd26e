#!/usr/bin/env python3
"""Engine ceiling: the standard flow in memory, with serialization only, and through our runtime.

    .venv/bin/python bench/engine_ceiling.py [--instances 200] [--database-url URL]

The standard flow is start + 5 user tasks with form data + 2 script tasks + end
(bench/bpmn/standard_flow.bpmn). Three ways to run the same workload:

1. SpiffWorkflow alone, in memory (the ceiling);
2. SpiffWorkflow + serialize/deserialize after every user task, as a persistent
   engine must (stock serializer, spec embedded in every instance);
3. motcua's Runtime on a real database: one transaction per step with the state,
   open tasks, waits, status and event log (no HTTP).

It prints instances/s and the cost per persisted step, and the ratio of (3) to (1).
Default database: a fresh SQLite file in a temporary folder; pass a PostgreSQL URL to
measure there (its tables are dropped and recreated: use a scratch database).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer  # noqa: E402
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402

from engine.sandbox import MotcuaScriptEngine  # noqa: E402
from engine.serialization import _registry  # noqa: E402
from engine.validation import validate_files  # noqa: E402

FLOW = ROOT / "bench" / "bpmn" / "standard_flow.bpmn"
USER_TASKS = 5


def form(task_name: str) -> dict:
    return {f"{task_name}_note": "Hồ sơ đầy đủ", f"{task_name}_amount": 150000, f"{task_name}_ok": True}


def progress(done: int, total: int, label: str) -> None:
    width = 30
    filled = int(width * done / total)
    print(f"\r  {label:<34} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", file=sys.stderr)
    if done == total:
        print(file=sys.stderr)


def parsed_flow():
    result = validate_files([(FLOW.name, FLOW.read_bytes())])
    assert result.ok, [str(p) for p in result.problems]
    return result.processes[0]


def run_in_memory(n: int, persist: bool) -> float:
    parsed = parsed_flow()
    engine = MotcuaScriptEngine()
    serializer = BpmnWorkflowSerializer(_registry)
    started = time.perf_counter()
    for i in range(n):
        wf = BpmnWorkflow(parsed.spec, parsed.subprocess_specs, script_engine=engine)
        wf.do_engine_steps()
        while not wf.is_completed():
            task = wf.get_next_task(state=TaskState.READY, manual=True)
            task.set_data(**form(task.task_spec.name))
            task.run()
            wf.do_engine_steps()
            if persist:
                wf = serializer.deserialize_json(serializer.serialize_json(wf))
                wf.script_engine = engine
        progress(i + 1, n, "in memory" + (" + serialize" if persist else ""))
    return time.perf_counter() - started


def run_runtime(n: int, url: str) -> float:
    from common import ensure_database, reset_database

    import accounts.models  # noqa: F401
    import dossiers.models  # noqa: F401
    from engine.actors import SYSTEM
    from engine.db import make_engine, make_session_factory
    from engine.deployments import deploy
    from engine.runtime import Runtime
    from server.migrate import upgrade

    if url.startswith("postgresql"):
        ensure_database(url)
        reset_database(url)  # a scratch database: the schema is dropped and migrated again
    else:
        upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions() as s:
        deploy(s, [(FLOW.name, FLOW.read_bytes())], "bench")
        s.commit()
    started = time.perf_counter()
    for i in range(n):
        with sessions() as s:
            instance = Runtime(s).start("bench_standard_flow", actor=SYSTEM)
            s.commit()
            iid = instance.id
        for _ in range(USER_TASKS):
            with sessions() as s:
                rt = Runtime(s)
                [task] = rt.open_tasks(iid)
                rt.complete_task(task.id, form(task.element_id), SYSTEM)
                s.commit()
        progress(i + 1, n, f"motcua runtime ({engine.dialect.name})")
    elapsed = time.perf_counter() - started
    with sessions() as s:
        from sqlalchemy import func, select

        from engine.models import Instance

        done = s.scalar(select(func.count()).select_from(Instance).where(Instance.status == "completed"))
        assert done == n, f"only {done} of {n} instances completed"
    engine.dispose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description="engine ceiling benchmark")
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    n = args.instances
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='motcua-bench-')}/bench.sqlite3"

    memory = run_in_memory(n, persist=False)
    serialized = run_in_memory(n, persist=True)
    runtime = run_runtime(n, url)

    steps = n * (USER_TASKS + 1)  # start + each completion is one persisted step
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; {n} instances of the standard flow "
          f"(start + {USER_TASKS} user tasks with form data + 2 script tasks)")
    print(f"{'mode':<40}{'instances/s':>12}{'ms per step':>13}{'ratio':>8}")
    for label, seconds in (
        ("SpiffWorkflow in memory (ceiling)", memory),
        ("SpiffWorkflow + serialize/deserialize", serialized),
        (f"motcua runtime, {url.split(':', 1)[0]}", runtime),
    ):
        print(f"{label:<40}{n / seconds:>12.1f}{1000 * seconds / steps:>13.2f}{seconds / memory:>7.1f}x")
    print(f"our persisted step costs {runtime / memory:.1f}x the in-memory step, {runtime / serialized:.1f}x the "
          f"serializing engine (target <= 4x the in-memory step)")
    print("SUMMARY " + json.dumps({
        "bench": "engine_ceiling", "instances": n, "database": url.split(":", 1)[0],
        "ms_per_step": {"memory": round(1000 * memory / steps, 3), "serialize": round(1000 * serialized / steps, 3),
                        "runtime": round(1000 * runtime / steps, 3)},
        "ratio_to_memory": round(runtime / memory, 1), "ratio_to_serialize": round(runtime / serialized, 1)}))


if __name__ == "__main__":
    main()
