"""Several workers on the same database never fire one timer twice."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from sqlalchemy import func, select

from engine.actors import SYSTEM
from engine.deployments import deploy
from engine.models import EventLogEntry, Instance, Wait
from engine.runtime import Runtime
from engine.worker import fire_due_timers
from tests.conftest import fixture_bytes

INSTANCES = 24
WORKERS = 4


def test_four_workers_fire_each_timer_exactly_once(sessions):
    with sessions() as s:
        deploy(s, [("timer_and_error.bpmn", fixture_bytes("timer_and_error.bpmn"))], "tests")
        s.commit()
        rt = Runtime(s)
        for _ in range(INSTANCES):
            rt.start("reminder", data={"wait_for": "PT1S", "total": 10, "parts": 2}, actor=SYSTEM)
        s.commit()
    time.sleep(1.1)

    barrier = threading.Barrier(WORKERS)
    fired: list[int] = []

    def worker():
        barrier.wait()
        total = 0
        # passes as the real loop makes them, until nothing is due any more: a pass can find every due
        # row locked by the other workers (SKIP LOCKED) and fire nothing while work remains
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            total += fire_due_timers(sessions, limit=10)
            with sessions() as s:
                if not s.scalar(select(func.count()).select_from(Wait).where(
                        Wait.kind == "timer", Wait.due_at <= datetime.now(UTC))):
                    break
        fired.append(total)

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert sum(fired) == INSTANCES, fired
    with sessions() as s:
        timer_events = s.scalar(select(func.count()).select_from(EventLogEntry).where(EventLogEntry.kind == "timer_fired"))
        assert timer_events == INSTANCES
        statuses = set(s.scalars(select(Instance.status)))
        assert statuses == {"waiting"}  # all moved on to the 'confirm' user task


def test_timers_that_keep_failing_do_not_starve_the_others(sessions, monkeypatch, caplog):
    # more failing instances than one SQLite batch, all due before the healthy one
    with sessions() as s:
        deploy(s, [("timer_and_error.bpmn", fixture_bytes("timer_and_error.bpmn"))], "tests")
        s.commit()
        rt = Runtime(s)
        broken = {rt.start("reminder", data={"wait_for": "PT1S", "total": 10, "parts": 2}, actor=SYSTEM).id
                  for _ in range(12)}
        s.commit()
        healthy = rt.start("reminder", data={"wait_for": "PT1S", "total": 10, "parts": 2}, actor=SYSTEM).id
        s.commit()
    time.sleep(1.1)
    real = Runtime.fire_timers

    def fire_timers(self, instance_id):
        if instance_id in broken:
            raise RuntimeError("injected failure")  # a bug: the step rolls back, the timer stays due
        return real(self, instance_id)

    monkeypatch.setattr(Runtime, "fire_timers", fire_timers)
    assert fire_due_timers(sessions, limit=100) == 1
    with sessions() as s:
        fired_for = set(s.scalars(select(EventLogEntry.instance_id).where(EventLogEntry.kind == "timer_fired")))
    assert fired_for == {healthy}
    # each broken instance was tried once in the pass, not again and again
    assert len([r for r in caplog.records if "failed" in r.getMessage()]) == len(broken)
