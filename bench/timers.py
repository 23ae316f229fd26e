#!/usr/bin/env python3
"""Timers: 10,000 timers due at the same moment, two worker processes; how long until all fired, none twice.

    .venv/bin/python bench/timers.py [--timers 10000] [--workers 2] [--lead 30] [--database-url URL]

One instance of ``bench_timer_flow`` (start → timer catch at ``fire_at`` → script → end) is started
through the runtime with ``fire_at`` = now + ``--lead`` seconds; it is then copied ``--timers`` − 1 times
in bulk (instance row, serialized state, timer wait row: the flow has no user task, so the copies are
exactly what starting each one would have written, only faster). ``--workers`` processes of
``flask --app wsgi worker`` start before the moment; the benchmark measures from the due moment until
no timer wait is left, then checks every instance completed and that its event log holds exactly one
``timer_fired``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from common import (
    DEFAULT_URL,
    ROOT,
    TIMERS,
    print_machine,
    progress,
    reset_database,
    seed_people,
    sessions_for,
    summary,
    table,
)
from sqlalchemy import func, insert, select


def main() -> None:
    parser = argparse.ArgumentParser(description="timer benchmark")
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--lead", type=float, default=30.0, help="seconds from start to the due moment")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()

    from engine.actors import SYSTEM
    from engine.db import utcnow
    from engine.models import EventLogEntry, Instance, InstanceState, Wait
    from engine.runtime import Runtime

    info = print_machine(args.database_url)
    reset_database(args.database_url)
    engine, sessions = sessions_for(args.database_url)
    seed_people(sessions, files=[TIMERS])
    due = utcnow() + timedelta(seconds=args.lead)
    with sessions() as s:
        template = Runtime(s).start("bench_timer_flow", data={"fire_at": due.isoformat()}, actor=SYSTEM)
        s.commit()
        instance = s.get(Instance, template.id)
        state = s.get(InstanceState, template.id).state
        [wait] = s.scalars(select(Wait).where(Wait.instance_id == template.id))
        assert wait.kind == "timer" and wait.due_at is not None, "the template instance waits for no timer"
        base = {c.key: getattr(instance, c.key) for c in Instance.__table__.columns}
        wait_row = {c.key: getattr(wait, c.key) for c in Wait.__table__.columns if c.key != "id"}
    batch = 1000
    made = 1
    while made < args.timers:
        ids = [str(uuid.uuid4()) for _ in range(min(batch, args.timers - made))]
        with sessions() as s:
            s.execute(insert(Instance.__table__), [{**base, "id": i} for i in ids])
            s.execute(insert(InstanceState.__table__), [{"instance_id": i, "state": state} for i in ids])
            s.execute(insert(Wait.__table__), [{**wait_row, "instance_id": i} for i in ids])
            s.commit()
        made += len(ids)
        progress(made, args.timers, "timers written")
    if utcnow() >= due:
        raise SystemExit(f"writing {args.timers} timers took longer than --lead {args.lead} s; raise it")

    env = {**os.environ, "DATABASE_URL": args.database_url, "SECRET_KEY": "bench-" + "x" * 40,
           "MOTCUA_INSTANCE_DIR": tempfile.mkdtemp(prefix="motcua-bench-worker-")}
    logs = Path(env["MOTCUA_INSTANCE_DIR"])
    workers = [subprocess.Popen(  # noqa: S603 - our own worker command, fixed arguments
        [str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", "worker"], cwd=ROOT, env=env,
        stdout=(logs / f"worker{n}.log").open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        for n in range(args.workers)]
    try:
        time.sleep(max(0.0, (due - utcnow()).total_seconds()))
        started = time.monotonic()
        left = args.timers
        while left:
            with sessions() as s:
                left = s.scalar(select(func.count()).select_from(Wait).where(Wait.kind == "timer"))
            progress(args.timers - left, args.timers, "timers fired")
            if time.monotonic() - started > args.timeout:
                raise SystemExit(f"{left} timers still waiting after {args.timeout} s")
            if left:
                time.sleep(0.2)
        elapsed = time.monotonic() - started
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in workers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    with sessions() as s:
        completed = s.scalar(select(func.count()).select_from(Instance).where(Instance.status == "completed"))
        fired = select(EventLogEntry.instance_id, func.count().label("n")).where(
            EventLogEntry.kind == "timer_fired").group_by(EventLogEntry.instance_id).subquery()
        twice = s.scalar(select(func.count()).select_from(fired).where(fired.c.n > 1))
        once = s.scalar(select(func.count()).select_from(fired).where(fired.c.n == 1))
    engine.dispose()
    print(f"\n{args.timers} timers due at once, {args.workers} worker processes, {info['database']}")
    table(["figure", "value"], [
        ["seconds until all fired", round(elapsed, 2)],
        ["timers per second", round(args.timers / elapsed, 1)],
        ["instances completed", completed],
        ["fired exactly once", once],
        ["fired more than once", twice],
    ])
    ok = completed == args.timers and once == args.timers and twice == 0
    print(f"target: all fired within 30 s, none twice: {'met' if ok and elapsed <= 30 else 'NOT met'}")
    summary("timers", {"machine": info, "timers": args.timers, "workers": args.workers,
                       "seconds": round(elapsed, 2), "per_second": round(args.timers / elapsed, 1),
                       "completed": completed, "fired_once": once, "fired_twice": twice})
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
