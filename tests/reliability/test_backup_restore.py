"""Backup and restore with the documented commands (docs/operations.md): dossiers run halfway, a backup
is taken, restored into a FRESH database, the platform is started on it, and the running dossiers
continue to the end; the timers pending at backup time still fire, once."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from engine.actors import SYSTEM, Actor
from engine.db import make_engine, make_session_factory
from engine.deployments import deploy
from engine.models import EventLogEntry, Instance
from engine.runtime import Runtime
from tests.conftest import fixture_bytes
from tests.live import Platform, call, wait_until

DOSSIERS = 5
REMINDERS = 3


@pytest.fixture
def fresh_url(database_url, tmp_path):
    """An empty database beside the test database: a file on SQLite, `<db>_restore` on PostgreSQL."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    from sqlalchemy.engine import make_url

    base = make_url(database_url)
    name = f"{base.database}_restore"
    admin = make_engine(base.set(database="postgres").render_as_string(hide_password=False),
                        isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_restore_into_a_fresh_database_and_finish_the_running_dossiers(database_url, fresh_url, tmp_path, people,
                                                                      sessions):
    clerk = Actor("tiepnhan", frozenset({"clerk"}), frozenset({"MOTCUA"}))
    with sessions() as s:
        deploy(s, [("sample_dossier.bpmn", fixture_bytes("sample_dossier.bpmn")),
                   ("timer_and_error.bpmn", fixture_bytes("timer_and_error.bpmn"))], "tests")
        rt = Runtime(s)
        dossiers = []
        for n in range(DOSSIERS):  # halfway: received, waiting for the review in SXD
            instance = rt.start("sample_dossier", business_key=f"BK-{n}", actor=SYSTEM)
            [task] = rt.open_tasks(instance.id)
            rt.complete_task(task.id, {"applicant_name": "Lê Văn C", "fee": 0, "complete": True}, clerk)
            dossiers.append(instance.id)
        reminders = [rt.start("reminder", data={"wait_for": "PT4S", "total": 9, "parts": 3}, actor=SYSTEM).id
                     for _ in range(REMINDERS)]
        s.commit()

    source = Platform(database_url, tmp_path / "source")
    (tmp_path / "source").mkdir()
    backup_file = tmp_path / "motcua.backup"
    result = source.run_cli("db", "backup", str(backup_file))
    assert result.returncode == 0, result.stderr
    assert backup_file.stat().st_size > 0

    target = Platform(fresh_url, tmp_path / "target", web_workers=2)
    (tmp_path / "target").mkdir()
    result = target.run_cli("db", "restore", str(backup_file), "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert target.run_cli("db", "upgrade").returncode == 0  # idempotent: already the newest schema

    target.start_web()
    target.start_worker()
    try:
        url = target.url
        specialist, portal, desk = people["chuyenvien"], people["congdvc"], people["tiepnhan"]  # tokens restored
        for n, instance_id in enumerate(dossiers):
            [task] = call("GET", f"{url}/api/v1/tasks?instance_id={instance_id}", specialist).body["items"]
            assert task["element_id"] == "review"
            r = call("POST", f"{url}/api/v1/tasks/{task['id']}/complete", specialist, {"data": {"decision": "approve"}})
            assert r.status == 200, r.text
            r = call("POST", f"{url}/api/v1/messages", portal,
                     {"name": "payment_confirmed", "business_key": f"BK-{n}", "payload": {"amount": 0}})
            assert r.status == 200, r.text
            [task] = call("GET", f"{url}/api/v1/tasks?instance_id={instance_id}", desk).body["items"]
            r = call("POST", f"{url}/api/v1/tasks/{task['id']}/complete", desk, {"data": {"returned_on": "2026-03-03"}})
            assert r.status == 200 and r.body["status"] == "completed", r.text
        wait_until(lambda: all(call("GET", f"{url}/api/v1/tasks?instance_id={i}", desk).body["items"]
                               for i in reminders), 60, 0.5, "the restored timers to fire")
    finally:
        target.stop()

    engine = make_engine(fresh_url)
    with make_session_factory(engine)() as s:
        assert {s.get(Instance, i).status for i in dossiers} == {"completed"}
        for instance_id in reminders:
            fired = s.scalars(select(EventLogEntry.id).where(EventLogEntry.instance_id == instance_id,
                                                             EventLogEntry.kind == "timer_fired")).all()
            assert len(fired) == 1
        # the restored audit log is still append-only
        assert s.execute(text("SELECT count(*) FROM audit_log")).scalar() > 0
        with pytest.raises(DatabaseError, match="append-only"):
            s.execute(text("DELETE FROM audit_log"))
        s.rollback()
    engine.dispose()


def test_restore_refuses_a_file_that_is_not_a_backup(tmp_path):
    bogus = tmp_path / "not-a-backup"
    bogus.write_text("hello")
    live = Platform(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path)
    result = live.run_cli("db", "restore", str(bogus), "--yes")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "Error:" in result.stderr, result.stderr
