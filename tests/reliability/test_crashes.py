"""Crashes in the middle of a load run: ``kill -9`` of a gunicorn worker and of a background worker.

Afterwards every acknowledged start and completion is stored exactly once, no instance is
half-written (the inbox rows agree with the serialized state; none is stuck ``running``), the
interrupted timer work is picked up by the restarted worker and every timer fired exactly once.

A webhook subscription points at a real receiver (signature checked, down for the first part of
the run). After the background worker is killed in the middle of sending and restarted, every
outbox event of the acknowledged dossiers arrived, each delivery row ends ``delivered`` with
exactly one successful attempt, and nothing was POSTed again once marked delivered. A POST in
flight when its worker died may arrive twice (same event id: receivers de-duplicate on it).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter

import pytest
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import func, select

from engine.deployments import deploy
from engine.models import EventLogEntry, HumanTask, Instance, Wait
from engine.runtime import Runtime
from integrations.models import Delivery, DeliveryAttempt, OutboxEvent
from tests.conftest import fixture_bytes
from tests.dossiers.conftest import APPLICANT
from tests.live import Platform, call, wait_until
from tests.reliability.receiver import HookReceiver, pid_of_connection

FORM = {"applicant_name": "Trần Thị B", "fee": 0, "complete": True}
ROUNDS = 60  # each round: a dossier started, its reception completed, a reminder with a timer due in 1-2 s
# every other round also a one-stop dossier (procedure 9.999001), accepted at the desk: 4 events each
ONESTOP = {"procedure_code": "9.999001", "channel": "in_person", "applicant": APPLICANT}
# short lease and backoff so the test sees the retries and the killed sender's lease run out
SENDER_ENV = {"MOTCUA_WEBHOOK_LEASE_SECONDS": "5", "MOTCUA_WEBHOOK_BACKOFF_BASE_SECONDS": "1",
              "MOTCUA_WEBHOOK_BACKOFF_CAP_SECONDS": "3", "MOTCUA_WEBHOOK_TIMEOUT_SECONDS": "2"}


@pytest.fixture
def receiver():
    hooks = HookReceiver(delay=0.02)  # not listening yet: the receiver is down when the run starts
    yield hooks
    hooks.stop()


@pytest.fixture
def platform(database_url, tmp_path, people, sessions, onestop, receiver):
    with sessions() as s:
        deploy(s, [("sample_dossier.bpmn", fixture_bytes("sample_dossier.bpmn")),
                   ("timer_and_error.bpmn", fixture_bytes("timer_and_error.bpmn"))], "tests")
        s.commit()
    live = Platform(database_url, tmp_path, web_workers=3, env_extra=SENDER_ENV)
    live.start_web()
    sub = call("POST", f"{live.url}/api/v1/webhooks", people["admin"], {"url": receiver.url, "event_types": ["*"]})
    assert sub.status == 201, sub.text
    receiver.secret = sub.body["secret"]
    live.start_worker()
    live.start_worker()
    yield live
    live.stop()


def test_kill_9_of_web_and_background_workers_loses_nothing(platform, people, sessions, receiver):
    url, admin, clerk = platform.url, people["admin"], people["tiepnhan"]
    acknowledged: dict[str, list] = {"dossier": [], "reminder": [], "completed": [], "onestop": []}
    failures = Counter()
    killed: list[str] = []

    def load(worker: int) -> None:
        for n in range(worker, ROUNDS, 3):
            r = call("POST", f"{url}/api/v1/processes/sample_dossier/instances", admin, {"business_key": f"CRASH-{n}"})
            if r.status != 201:
                failures[r.status] += 1
                continue
            acknowledged["dossier"].append(r.body["id"])
            tasks = call("GET", f"{url}/api/v1/tasks?instance_id={r.body['id']}", clerk)
            if tasks.status == 200 and tasks.body["items"]:
                task_id = tasks.body["items"][0]["id"]
                done = call("POST", f"{url}/api/v1/tasks/{task_id}/complete", clerk, {"data": FORM})
                if done.status == 200:
                    acknowledged["completed"].append(task_id)
                else:
                    failures[done.status] += 1
            r = call("POST", f"{url}/api/v1/processes/reminder/instances", admin,
                     {"business_key": f"TIMER-{n}", "data": {"wait_for": f"PT{1 + n % 2}S", "total": 10, "parts": 2}})
            if r.status == 201:
                acknowledged["reminder"].append(r.body["id"])
            else:
                failures[r.status] += 1
            if n % 2 == 0:
                onestop_dossier(n)

    def onestop_dossier(n: int) -> None:
        r = call("POST", f"{url}/api/v1/dossiers", clerk, {**ONESTOP, "data": {"round": n}})
        if r.status != 201:
            failures[r.status] += 1
            return
        tasks = call("GET", f"{url}/api/v1/tasks?instance_id={r.body['instance_id']}", clerk)
        if tasks.status == 200 and tasks.body["items"]:
            done = call("POST", f"{url}/api/v1/tasks/{tasks.body['items'][0]['id']}/complete", clerk,
                        {"data": {"reception_outcome": "accept"}})
            if done.status == 200:
                acknowledged["onestop"].append(r.body["instance_id"])
                return
            failures[done.status] += 1

    def chaos() -> None:
        wait_until(lambda: len(acknowledged["dossier"]) >= ROUNDS // 4, 120, 0.05, "load to get going")
        victim = platform.web_pids()[0]
        os.kill(victim, signal.SIGKILL)
        killed.append(f"gunicorn worker {victim}")
        wait_until(lambda: len(acknowledged["onestop"]) >= ROUNDS // 6, 120, 0.05, "events to pile up")
        receiver.start()  # the receiver comes back: the backlog and the failed attempts go out
        wait_until(lambda: len(acknowledged["reminder"]) >= ROUNDS // 3, 120, 0.05, "reminders due")
        # kill the background worker whose POST the receiver is holding: it dies mid-send
        receiver.catch_next()
        sender = pid_of_connection(receiver.wait_caught(60), [w.pid for w in platform.workers])
        background = next(w for w in platform.workers if w.pid == sender)
        os.kill(background.pid, signal.SIGKILL)
        killed.append(f"background worker {background.pid} (mid-send)")
        background.wait(timeout=10)
        receiver.release()  # the receiver took it; its answer goes nowhere
        time.sleep(1.5)  # timers fall due while only one worker runs
        platform.start_worker()  # restarted, as systemd would

    threads = [threading.Thread(target=load, args=(i,)) for i in range(3)] + [threading.Thread(target=chaos)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in threads), "the load run did not finish in time"
    assert len(killed) == 2, killed
    assert platform.web.poll() is None and len(platform.web_pids()) == 3  # gunicorn replaced its worker
    assert not [s for s in failures if s >= 500 and s != 502], failures  # a killed worker's request may drop

    def all_timers_fired() -> bool:
        with sessions() as s:
            return not s.scalars(select(Wait.id).where(Wait.kind == "timer", Wait.instance_id.in_(
                acknowledged["reminder"]))).first()

    wait_until(all_timers_fired, 60, 0.5, "every reminder's timer to fire")

    with sessions() as s:
        runtime = Runtime(s)
        keys = Counter(s.scalars(select(Instance.business_key)))
        assert all(count == 1 for count in keys.values()), [k for k, c in keys.items() if c > 1]  # no duplicate
        for instance_id in acknowledged["dossier"] + acknowledged["reminder"]:
            instance = s.get(Instance, instance_id)
            assert instance is not None, f"acknowledged instance {instance_id} lost"
        for instance in s.scalars(select(Instance)):
            assert instance.status not in ("running", "error"), (instance.id, instance.status, instance.error)
            # the inbox rows agree with the serialized state: not half-written
            workflow = runtime._restore(instance)
            ready = {str(t.id) for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.manual}
            rows = {t.id for t in s.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                                   HumanTask.state == "ready"))}
            assert ready == rows, (instance.id, ready, rows)
        for task_id in acknowledged["completed"]:
            row = s.get(HumanTask, task_id)
            assert row.state == "completed", task_id
            done = s.scalars(select(EventLogEntry.id).where(EventLogEntry.task_id == task_id,
                                                            EventLogEntry.kind == "task_completed")).all()
            assert len(done) == 1, (task_id, done)
        for instance_id in acknowledged["reminder"]:
            fired = s.scalars(select(EventLogEntry.id).where(EventLogEntry.instance_id == instance_id,
                                                             EventLogEntry.kind == "timer_fired")).all()
            assert len(fired) == 1, (instance_id, fired)
            assert [t.element_id for t in runtime.open_tasks(instance_id)] == ["confirm"]
    hooks = check_webhooks(sessions, receiver, acknowledged["onestop"])
    print(f"\ncrash figures: killed {killed}; acknowledged {({k: len(v) for k, v in acknowledged.items()})}; "
          f"failed requests {dict(failures)}; webhooks {hooks}")


def check_webhooks(sessions, receiver: HookReceiver, dossiers: list[str]) -> dict:
    """Every event of the acknowledged dossiers arrived; each delivery row ended delivered once."""
    def settled() -> bool:
        with sessions() as s:
            return not s.scalar(select(func.count()).select_from(Delivery).where(Delivery.status != "delivered"))

    wait_until(settled, 90, 0.5, "every webhook delivery to be delivered")
    with sessions() as s:
        events = {e.id: e for e in s.scalars(select(OutboxEvent).order_by(OutboxEvent.seq))}
        deliveries = {d.event_id: d for d in s.scalars(select(Delivery))}
        successes = Counter(s.scalars(select(DeliveryAttempt.delivery_id).where(DeliveryAttempt.status_code >= 200,
                                                                                 DeliveryAttempt.status_code < 300)))
        attempts = s.scalar(select(func.count()).select_from(DeliveryAttempt))
    mine = [e for e in events.values() if e.instance_id in set(dossiers)]
    assert len(mine) >= 4 * len(dossiers), (len(mine), len(dossiers))  # submitted, accepted, processing, handed off
    assert set(deliveries) == set(events)  # one delivery per event to the one subscription
    counts, first, last = receiver.counts(), receiver.first_arrivals(), receiver.last_arrivals()
    missing = [e.id for e in mine if counts[e.id] == 0]
    assert not missing, f"{len(missing)} event(s) of acknowledged dossiers never arrived: {missing[:5]}"
    assert set(counts) == set(events)  # nothing else arrived either
    for event_id, delivery in deliveries.items():
        assert delivery.status == "delivered" and successes[delivery.id] == 1, (delivery.id, successes[delivery.id])
        # sent again after being marked delivered? (the one successful POST arrives before delivered_at)
        assert last[event_id] <= delivery.delivered_at.timestamp(), (delivery.id, last[event_id])
    # per dossier, the first arrivals follow the outbox order
    by_dossier: dict[str, list] = {}
    for event in events.values():
        by_dossier.setdefault(event.instance_id, []).append(event.id)
    for instance_id, ids in by_dossier.items():
        assert sorted(ids, key=first.__getitem__) == ids, instance_id
    duplicates = sum(counts.values()) - len(counts)
    # the POST in flight when its sender was killed arrives twice (same event id); nothing else does
    assert duplicates == 1, counts.most_common(3)
    assert not receiver.refused, receiver.refused
    return {"events": len(events), "of acknowledged dossiers": len(mine), "POSTs accepted": sum(counts.values()),
            "duplicate POSTs by event id": duplicates, "attempts": attempts,
            "failed attempts": attempts - len(deliveries)}
