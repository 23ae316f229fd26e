#!/usr/bin/env python3
"""History length: does a step cost more when the instance has a long past?

    .venv/bin/python bench/history.py [--rounds 200] [--instances 5] [--database-url URL]

Each instance of ``bench_loop_flow`` loops ``--rounds`` times through one user task (``review``, with form
data) and a script task; the instances advance round-robin, so round k of every instance runs under
the same machine load. For rounds 1, 50, 100, 200 it prints the median server time of the persisted step
(``Runtime.complete_task`` + commit on the database, no HTTP), the SQL statements issued and the size of the
stored instance state, and the ratio of the last round to the first (target ≤ 1.5×).
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import DEFAULT_URL, LOOP, print_machine, progress, reset_database, seed_people, sessions_for, summary, table
from sqlalchemy import event


def main() -> None:
    parser = argparse.ArgumentParser(description="history-length benchmark")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--instances", type=int, default=5)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()

    from engine.actors import Actor
    from engine.models import Instance, InstanceState
    from engine.runtime import Runtime

    info = print_machine(args.database_url)
    reset_database(args.database_url)
    engine, sessions = sessions_for(args.database_url)
    seed_people(sessions, files=[LOOP])
    actor = Actor("tiepnhan", frozenset({"clerk"}), frozenset({"MOTCUA"}))
    statements = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*_args) -> None:
        statements[0] += 1

    ids = []
    for _ in range(args.instances):
        with sessions() as s:
            ids.append(Runtime(s).start("bench_loop_flow", data={"limit": args.rounds}, actor=actor).id)
            s.commit()
    marks = sorted({1, 50, 100, args.rounds} & set(range(1, args.rounds + 1)))
    times: dict[int, list[float]] = {k: [] for k in range(1, args.rounds + 1)}
    stmts: dict[int, int] = {}
    sizes: dict[int, int] = {}
    for round_no in range(1, args.rounds + 1):
        for iid in ids:
            statements[0] = 0
            t0 = time.perf_counter()
            with sessions() as s:
                rt = Runtime(s)
                [task] = rt.open_tasks(iid)
                rt.complete_task(task.id, {"note": f"vòng {round_no}", "amount": round_no}, actor)
                s.commit()
            times[round_no].append((time.perf_counter() - t0) * 1000)
            stmts[round_no] = statements[0]
        if round_no in marks:
            with sessions() as s:
                sizes[round_no] = len(s.get(InstanceState, ids[0]).state)
        progress(round_no, args.rounds, "rounds")
    with sessions() as s:
        statuses = {s.get(Instance, iid).status for iid in ids}
    assert statuses == {"completed"}, f"instances ended {statuses}"
    engine.dispose()

    def median(k: int) -> float:
        # a few rounds around the mark smooth out a noisy machine
        window = [v for r in range(max(1, k - 2), min(args.rounds, k + 2) + 1) for v in times[r]]
        return statistics.median(window)

    print(f"\n{args.instances} instances × {args.rounds} rounds of a user task + script task, "
          f"server time per persisted step (no HTTP), {info['database']}")
    rows = [[f"round {k}", round(median(k), 2), stmts[k], f"{sizes[k] / 1024:.1f}"] for k in marks]
    table(["step", "median ms", "statements", "state KB"], rows)
    ratio = median(args.rounds) / median(1)
    print(f"round {args.rounds} / round 1 = {ratio:.2f}x (target ≤ 1.5x)")
    summary("history", {"machine": info, "rounds": args.rounds, "instances": args.instances,
                        "median_ms": {k: round(median(k), 2) for k in marks},
                        "statements": {k: stmts[k] for k in marks},
                        "state_kb": {k: round(sizes[k] / 1024, 1) for k in marks}, "ratio": round(ratio, 2)})


if __name__ == "__main__":
    main()
