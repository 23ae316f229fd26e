"""Races over real HTTP: many clients completing, claiming and messaging the same tasks and
instances at once against gunicorn with several workers. Each task is completed exactly once,
each message delivered once, losers get 409 (or 404 once nothing waits), never a 5xx, and the
event log agrees with the final state."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from engine.deployments import deploy
from engine.models import EventLogEntry, HumanTask, Instance, Wait
from tests.conftest import fixture_bytes
from tests.live import Platform, call

INSTANCES = 20
ATTEMPTS = 10  # concurrent attempts on each task / message
FORM = {"applicant_name": "Nguyễn Văn A", "fee": 0, "complete": True}
FIGURES: dict[str, int] = {}  # printed at the end, copied into docs/reliability.md


@pytest.fixture
def platform(database_url, tmp_path, people, sessions):
    with sessions() as s:
        deploy(s, [("sample_dossier.bpmn", fixture_bytes("sample_dossier.bpmn"))], "tests")
        s.commit()
    live = Platform(database_url, tmp_path, web_workers=4)
    live.start_web()
    yield live
    live.stop()


def _storm(pool: ThreadPoolExecutor, attempts: list[tuple]) -> list[tuple]:
    """Run every (key, method, path, token, body) attempt; consecutive attempts on one key collide."""
    def one(attempt):
        key, method, url, token, body, *headers = attempt
        r = call(method, url, token, body, timeout=60, headers=headers[0] if headers else None)
        return key, r.status, r.body, token

    return list(pool.map(one, attempts))


def _open_task(url: str, token: str, instance_id: str) -> dict:
    items = call("GET", f"{url}/api/v1/tasks?instance_id={instance_id}", token).body["items"]
    assert len(items) == 1, items
    return items[0]


def _check_winners(results: list[tuple], allowed_losers: set[int]) -> dict:
    by_key: dict[str, Counter] = {}
    for key, status, _body, _token in results:
        assert status < 500 and status != 0, (key, status, _body)  # no 5xx, no dropped connection
        by_key.setdefault(key, Counter())[status] += 1
    for key, counts in by_key.items():
        assert counts[200] == 1, (key, counts)
        assert set(counts) - {200} <= allowed_losers, (key, counts)
    return by_key


def test_hundreds_of_concurrent_attempts_each_step_happens_once(platform, people, sessions):
    url, admin = platform.url, people["admin"]
    clerk, specialist, leader, portal = people["tiepnhan"], people["chuyenvien"], people["lanhdao"], people["congdvc"]
    ids = []
    for n in range(INSTANCES):
        r = call("POST", f"{url}/api/v1/processes/sample_dossier/instances", admin, {"business_key": f"RACE-{n}"})
        assert r.status == 201, r.text
        ids.append(r.body["id"])
    total = Counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        # 1. completions of the reception step: ATTEMPTS at once per task
        tasks = {i: _open_task(url, clerk, i)["id"] for i in ids}
        attempts = [(t, "POST", f"{url}/api/v1/tasks/{t}/complete", clerk, {"data": FORM})
                    for t in tasks.values() for _ in range(ATTEMPTS)]
        results = _storm(pool, attempts)
        _check_winners(results, {409})
        total.update(status for _, status, _, _ in results)

        # 2. two people of the department claim the review at once: one of them gets it
        reviews = {i: _open_task(url, specialist, i)["id"] for i in ids}
        attempts = [(t, "POST", f"{url}/api/v1/tasks/{t}/claim", who, {})
                    for t in reviews.values() for k in range(ATTEMPTS) for who in [(specialist, leader)[k % 2]]]
        results = _storm(pool, attempts)
        total.update(status for _, status, _, _ in results)
        winners: dict[str, str] = {}
        for key, status, body, token in results:
            # the colleague who lost sees 404: a task claimed by someone else is no longer theirs to see
            assert status in (200, 404, 409), (key, status, body)
            if status == 200:
                assert winners.setdefault(key, token) == token, "two different people both won the claim"
        assert set(winners) == set(reviews.values())
        claims_ok = Counter(key for key, status, _, _ in results if status == 200)

        # 3. the winner's review completed ATTEMPTS times at once; the colleague tries too (404)
        attempts = []
        for t in reviews.values():
            for k in range(ATTEMPTS):
                who = winners[t] if k % 3 else (leader if winners[t] == specialist else specialist)
                attempts.append((t, "POST", f"{url}/api/v1/tasks/{t}/complete", who, {"data": {"decision": "approve"}}))
        results = _storm(pool, attempts)
        _check_winners(results, {404, 409})
        total.update(status for _, status, _, _ in results)

        # 4. the payment platform retries its confirmation ATTEMPTS times at once, with its transaction
        #    id as Idempotency-Key: delivered once; the retries get the first answer (or 409 while it runs)
        attempts = [(f"RACE-{n}", "POST", f"{url}/api/v1/messages", portal,
                     {"name": "payment_confirmed", "business_key": f"RACE-{n}", "payload": {"amount": 0}},
                     {"Idempotency-Key": f"payment-RACE-{n}"})
                    for n in range(INSTANCES) for _ in range(ATTEMPTS)]
        results = _storm(pool, attempts)
        for key, status, body, _ in results:
            assert status in (200, 409), (key, status, body)
            if status == 200:
                assert len(body["instances"]) == 1, body
        assert {key for key, status, _, _ in results if status == 200} == {f"RACE-{n}" for n in range(INSTANCES)}
        total.update(status for _, status, _, _ in results)

        # 5. the return step, completed at once by several desk clerks' requests
        returns = {i: _open_task(url, clerk, i)["id"] for i in ids}
        attempts = [(t, "POST", f"{url}/api/v1/tasks/{t}/complete", clerk, {"data": {"returned_on": "2026-03-02"}})
                    for t in returns.values() for _ in range(ATTEMPTS)]
        results = _storm(pool, attempts)
        _check_winners(results, {409})
        total.update(status for _, status, _, _ in results)

    # the stored state agrees with what the clients were told
    with sessions() as s:
        for instance_id in ids:
            instance = s.get(Instance, instance_id)
            assert instance.status == "completed", (instance_id, instance.status, instance.error)
            events = Counter(s.scalars(select(EventLogEntry.kind).where(EventLogEntry.instance_id == instance_id)))
            assert events["task_completed"] == 3, events
            assert events["message_received"] == 1, events
            assert events["task_claimed"] == claims_ok[reviews[instance_id]], events
            rows = s.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)).all()
            assert sorted(r.element_id for r in rows) == ["receive", "return_result", "review"]
            assert all(r.state == "completed" and r.completed_by for r in rows)
            assert {r.completed_by for r in rows if r.element_id == "review"} == {
                "chuyenvien" if winners[reviews[instance_id]] == specialist else "lanhdao"}
        assert s.scalar(select(func.count()).select_from(Wait).where(Wait.instance_id.in_(ids))) == 0
    FIGURES.update(attempts=sum(total.values()), ok=total[200], conflicts=total[409], not_found=total[404])
    print(f"\nrace figures: {FIGURES}")
    assert FIGURES["attempts"] == INSTANCES * ATTEMPTS * 5
