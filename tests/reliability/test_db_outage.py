"""Database outage during load: PostgreSQL (a throwaway cluster of this test's own) is stopped while
clients keep writing. While it is down the app answers 503 with Retry-After (problem+json for the
API, a page for people) — never a stack trace; when it is back the app reconnects by itself, and
every write it acknowledged is there exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.db import make_engine, make_session_factory
from tests.conftest import fixture_bytes
from tests.live import Platform, call, wait_until
from tests.reliability import pgcluster

pytestmark = pytest.mark.skipif(pgcluster.missing_reason() is not None, reason=pgcluster.missing_reason() or "")


def seed(url: str, instance_dir: Path) -> dict[str, str]:
    """Migrate, deploy the sample procedure, create the demo people; returns {username: token}."""
    from accounts.service import create_token, get_user
    from engine.deployments import deploy
    from server.demo import USERS
    from server.demo import seed as seed_people
    from server.migrate import upgrade

    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    tokens = {}
    with sessions() as s:
        seed_people(s, instance_dir, "correct-horse-battery")
        deploy(s, [("sample_dossier.bpmn", fixture_bytes("sample_dossier.bpmn"))], "tests")
        for username, *_ in USERS:
            tokens[username] = create_token(s, get_user(s, username), "tests")
        s.commit()
    engine.dispose()
    return tokens


@pytest.fixture
def cluster():
    pg = pgcluster.Cluster()
    pg.init()
    pg.start()
    yield pg
    pg.destroy()


def test_the_app_answers_503_while_postgresql_is_down_and_loses_nothing(cluster, tmp_path):
    url = cluster.create_database("motcua_outage")
    tokens = seed(url, tmp_path)
    live = Platform(url, tmp_path, web_workers=2)
    live.start_web()
    acknowledged: list[tuple[str, str]] = []
    statuses: Counter = Counter()
    stop = threading.Event()
    bad: list[str] = []

    def load(worker: int) -> None:
        n = 0
        while not stop.is_set() and n < 2000:  # bounded in count and (by `stop`) in time
            key = f"OUTAGE-{worker}-{n}"
            r = call("POST", f"{live.url}/api/v1/processes/sample_dossier/instances", tokens["admin"],
                     {"business_key": key}, timeout=30)
            statuses[r.status] += 1
            if r.status == 201:
                acknowledged.append((key, r.body["id"]))
            elif r.status == 503:
                if r.headers.get("Content-Type") != "application/problem+json" or "Retry-After" not in r.headers:
                    bad.append(f"503 without problem+json/Retry-After: {r.headers}")
                time.sleep(0.05)
            else:
                bad.append(f"{r.status}: {r.text[:300]}")
            n += 1

    threads = [threading.Thread(target=load, args=(i,)) for i in range(4)]
    try:
        for t in threads:
            t.start()
        wait_until(lambda: len(acknowledged) >= 20, 60, 0.05, "load before the outage")
        before = len(acknowledged)
        cluster.stop("fast")  # the outage
        down_at = time.monotonic()
        wait_until(lambda: statuses[503] >= 10, 30, 0.05, "503 answers while the database is down")
        health = call("GET", f"{live.url}/healthz")
        page = call("GET", f"{live.url}/lookup?code=H15-000000-0001")
        time.sleep(2)
        cluster.start()
        outage = time.monotonic() - down_at
        back = len(acknowledged)
        wait_until(lambda: len(acknowledged) >= back + 20, 60, 0.1, "the app to reconnect by itself")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
        live.stop()

    assert not bad, bad[:5]
    assert health.status == 503 and health.headers.get("Retry-After"), health
    assert page.status == 503 and page.headers.get("Content-Type", "").startswith("text/html"), (page.status, page.text)
    assert "Traceback" not in page.text and "psycopg" not in page.text
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        from engine.models import Instance

        stored = Counter(s.scalars(select(Instance.business_key)))
        ids = set(s.scalars(select(Instance.id)))
    engine.dispose()
    for key, instance_id in acknowledged:
        assert stored[key] == 1 and instance_id in ids, f"acknowledged {key} lost or duplicated"
    assert all(count == 1 for count in stored.values())
    print(f"\noutage figures: {before} acknowledged before, outage {outage:.1f} s, statuses {dict(statuses)}, "
          f"{len(acknowledged)} acknowledged in all, all stored once")
