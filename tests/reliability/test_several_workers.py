"""Several workers: four ``flask --app wsgi worker`` processes on one PostgreSQL database, with
200 timers falling due at the same moment and 200 webhook deliveries pending to one receiver.
Every timer fires exactly once and every delivery is POSTed exactly once.

The second case makes the receiver slow and the lease shorter than a batch of sends: a worker's
lease runs out while it is still sending its batch and other workers claim those deliveries; still
none is POSTed twice (the sender renews the lease it saw before each POST).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.actors import SYSTEM, Actor
from engine.db import utcnow
from engine.deployments import deploy
from engine.models import EventLogEntry, Instance, Wait
from engine.runtime import Runtime
from integrations import events, webhooks
from integrations.models import Delivery, DeliveryAttempt
from tests.live import ROOT, Platform, wait_until
from tests.reliability.receiver import HookReceiver

TIMERS = 200
DELIVERIES = 200
WORKERS = 4
LEAD = 12.0  # seconds from the first instance to the due moment: the workers boot meanwhile


@pytest.mark.parametrize("case", ["prompt receiver", "slow receiver, short lease"])
def test_four_workers_never_fire_a_timer_or_send_a_webhook_twice(case, database_url, is_postgres, tmp_path,
                                                                  people, sessions):
    if not is_postgres:
        pytest.skip("several workers on one database is the PostgreSQL setup (FOR UPDATE SKIP LOCKED); "
                    "SQLite serializes writers — set TEST_DATABASE_URL to a PostgreSQL database")
    slow = case.startswith("slow")
    receiver = HookReceiver(delay=0.05 if slow else 0.0).start()
    env = {"MOTCUA_WEBHOOK_TIMEOUT_SECONDS": "2"}
    if slow:  # a batch of 20 × 50 ms outlives a 0.5 s lease
        env["MOTCUA_WEBHOOK_LEASE_SECONDS"] = "0.5"
    live = Platform(database_url, tmp_path, env_extra=env)
    try:
        with sessions() as s:
            deploy(s, [("timer_flow.bpmn", (ROOT / "bench" / "bpmn" / "timer_flow.bpmn").read_bytes())], "tests")
            sub = webhooks.create_subscription(s, url=receiver.url, event_types=["*"],
                                               owner=Actor("congdvc", frozenset({"integrator"})))
            receiver.secret = sub.secret
            s.commit()
        due = utcnow() + timedelta(seconds=LEAD)
        started = time.monotonic()
        with sessions() as s:
            runtime = Runtime(s)
            timers = [runtime.start("bench_timer_flow", data={"fire_at": due.isoformat()}, actor=SYSTEM).id
                      for _ in range(TIMERS)]
            s.commit()
        made_in = time.monotonic() - started
        for _ in range(WORKERS):
            live.start_worker()
        # every worker is up before anything falls due (else the first one would do it all)
        wait_until(lambda: all("worker started" in live.log(f"worker{n}").read_text() for n in range(WORKERS)),
                   LEAD, 0.2, "the four workers to start")
        assert utcnow() < due, f"starting {TIMERS} instances took {made_in:.1f} s; raise LEAD"
        time.sleep(max(0.0, (due - utcnow()).total_seconds()))
        with sessions() as s:  # the deliveries fall due as the timers do
            for n in range(DELIVERIES):
                events.emit(s, events.INSTANCE_ERROR, data={"message": f"several workers {n}"})
            s.commit()
        went = time.monotonic()

        def done() -> bool:
            with sessions() as s:
                waits = s.scalar(select(func.count()).select_from(Wait).where(Wait.kind == "timer"))
                open_deliveries = s.scalar(select(func.count()).select_from(Delivery)
                                           .where(Delivery.status != "delivered"))
            return waits == 0 and open_deliveries == 0

        wait_until(done, 45, 0.2, "every timer fired and every delivery delivered")
        elapsed = time.monotonic() - went
        time.sleep(1.5)  # a late duplicate (a second worker still sending) would arrive now
    finally:
        live.stop()
        receiver.stop()

    with sessions() as s:
        fired = Counter(s.scalars(select(EventLogEntry.instance_id).where(EventLogEntry.kind == "timer_fired")))
        statuses = Counter(s.scalars(select(Instance.status).where(Instance.id.in_(timers))))
        delivery_ids = {d.id: d.event_id for d in s.scalars(select(Delivery))}
        attempts = Counter(s.scalars(select(DeliveryAttempt.delivery_id)))
    assert {i: fired[i] for i in timers} == dict.fromkeys(timers, 1), [i for i in timers if fired[i] != 1][:5]
    assert statuses == {"completed": TIMERS}, statuses
    counts = receiver.counts()
    assert len(delivery_ids) == DELIVERIES
    assert {delivery_ids[d]: counts[delivery_ids[d]] for d in delivery_ids} == {e: 1 for e in delivery_ids.values()}, \
        counts.most_common(3)
    assert all(attempts[d] == 1 for d in delivery_ids), attempts.most_common(3)
    assert not receiver.refused, receiver.refused
    logs = [live.log(f"worker{n}").read_text() for n in range(WORKERS)]
    sent = [sum(int(x) for x in re.findall(r"'delivered': (\d+)", text)) for text in logs]
    assert sum(sent) == DELIVERIES, sent
    assert sum(1 for n in sent if n) >= 2, f"only one worker sent anything: {sent}"
    print(f"\nseveral workers ({case}): {TIMERS} timers + {DELIVERIES} deliveries done in {elapsed:.1f} s "
          f"by {WORKERS} workers; deliveries per worker {sent}; POSTs {sum(counts.values())}")
