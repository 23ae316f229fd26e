"""Moving running birth-registration dossiers to a version with a parallel opinion step, on a real database."""

from __future__ import annotations

from sqlalchemy import select

from engine import migration
from engine.models import EventLogEntry, HumanTask, Instance, Wait
from engine.runtime import Runtime
from engine.versions import deploy_edited
from tests.designer.conftest import (
    CHAIRMAN,
    DESIGNER,
    OFFICER,
    OPINION,
    POLICE,
    PROCESS,
    RECEPTION,
    RECORD,
    RETURN,
    SIGN,
    START_DATA,
    V1_FILE,
    WARD_CLERK,
    opinion_xml,
    v1_xml,
)


def _open(rt: Runtime, iid: str) -> dict[str, HumanTask]:
    return {t.element_id: t for t in rt.open_tasks(iid)}


def _complete(s, rt: Runtime, iid: str, element: str, data: dict, actor) -> None:
    rt.complete_task(_open(rt, iid)[element].id, data, actor)
    s.commit()


def _dossiers(s) -> dict[str, str]:
    """Three dossiers on version 1: at reception, at the officer's recording, at the chairman's signature."""
    rt = Runtime(s)
    ids = {}
    for key, stop in (("at_reception", None), ("at_record", "record_birth"), ("at_sign", "sign_birth_certificate")):
        instance = rt.start(PROCESS, business_key=f"H15.50.05.13-251008-{key}", data=dict(START_DATA),
                            actor=WARD_CLERK)
        s.commit()
        ids[key] = instance.id
        if stop:
            _complete(s, rt, instance.id, "receive_dossier", RECEPTION, WARD_CLERK)
        if stop == "sign_birth_certificate":
            _complete(s, rt, instance.id, "record_birth", RECORD, OFFICER)
    return ids


def _deploy_v2(s) -> None:
    result = deploy_edited(s, V1_FILE, opinion_xml(), DESIGNER, "Xin ý kiến Công an phường song song", 1)
    s.commit()
    assert [(p.process_id, p.version) for p in result.processes if p.changed] == [(PROCESS, 2)]


def test_dry_run_lists_who_can_move_and_why_not_and_writes_nothing(library):
    with library() as s:
        ids = _dossiers(s)
        _deploy_v2(s)
        locks = {i: s.get(Instance, i).lock_version for i in ids.values()}
        plan = {p["instance_id"]: p for p in migration.plan_migration(s, PROCESS, 2)}
        s.rollback()
        assert set(plan) == set(ids.values())
        assert plan[ids["at_reception"]]["can_move"] and plan[ids["at_sign"]]["can_move"]
        stuck = plan[ids["at_record"]]
        assert not stuck["can_move"]
        assert "opinion_join" in stuck["reason"] and "ask_police_opinion" in stuck["reason"]
        assert "wait there forever" in stuck["reason"]
        assert stuck["business_key"] == "H15.50.05.13-251008-at_record" and stuck["from_version"] == 1
        # nothing written
        for iid in ids.values():
            row = s.get(Instance, iid)
            assert row.version.version == 1 and row.lock_version == locks[iid]
        assert not s.scalars(select(EventLogEntry).where(EventLogEntry.kind == "migrated")).all()


def test_migrate_moves_the_safe_ones_and_they_follow_the_new_route(library):
    with library() as s:
        ids = _dossiers(s)
        _deploy_v2(s)
        record_lock = s.get(Instance, ids["at_record"]).lock_version
        sign_task = _open(Runtime(s), ids["at_sign"])["sign_birth_certificate"]
        sign_task_id, sign_due = sign_task.id, sign_task.due_at
        timer_due = s.scalars(select(Wait.due_at).where(Wait.instance_id == ids["at_sign"],
                                                        Wait.kind == "timer")).one()

        result = migration.migrate_instances(s, PROCESS, 2, None, DESIGNER)
        assert sorted(e["instance_id"] for e in result["moved"]) == sorted([ids["at_reception"], ids["at_sign"]])
        assert [e["instance_id"] for e in result["skipped"]] == [ids["at_record"]]

        s.expire_all()
        # the one that could not move is untouched
        stuck = s.get(Instance, ids["at_record"])
        assert stuck.version.version == 1 and stuck.lock_version == record_lock
        # the moved ones: new version, event log, the open task kept (same id, claim and due time), timer kept
        for key in ("at_reception", "at_sign"):
            row = s.get(Instance, ids[key])
            assert row.version.version == 2
            [entry] = s.scalars(select(EventLogEntry).where(EventLogEntry.instance_id == row.id,
                                                            EventLogEntry.kind == "migrated")).all()
            assert entry.detail == {"from_version": 1, "to_version": 2, "actor": DESIGNER}
            assert entry.actor == DESIGNER
        rt = Runtime(s)
        kept = _open(rt, ids["at_sign"])["sign_birth_certificate"]
        assert kept.id == sign_task_id and kept.due_at == sign_due
        assert s.scalars(select(Wait.due_at).where(Wait.instance_id == ids["at_sign"],
                                                   Wait.kind == "timer")).one() == timer_due

        # the dossier moved at reception now takes the new route: the police's opinion in parallel
        iid = ids["at_reception"]
        _complete(s, rt, iid, "receive_dossier", RECEPTION, WARD_CLERK)
        tasks = _open(rt, iid)
        assert set(tasks) == {"record_birth", "ask_police_opinion"}
        assert tasks["ask_police_opinion"].department == "CA_PHUONG"
        assert tasks["ask_police_opinion"].lane == "Công an phường"
        assert [f["id"] for f in tasks["ask_police_opinion"].form] == ["residence_confirmed", "police_note"]
        _complete(s, rt, iid, "ask_police_opinion", OPINION, POLICE)
        assert set(_open(rt, iid)) == {"record_birth"}  # the join waits for the officer
        _complete(s, rt, iid, "record_birth", RECORD, OFFICER)
        _complete(s, rt, iid, "sign_birth_certificate", SIGN, CHAIRMAN)
        _complete(s, rt, iid, "return_to_citizen", RETURN, WARD_CLERK)
        assert rt.get_instance(iid).status == "completed"

        # the one moved at the signature completes on version 2 as well; the stuck one on version 1
        _complete(s, rt, ids["at_sign"], "sign_birth_certificate", SIGN, CHAIRMAN)
        _complete(s, rt, ids["at_sign"], "return_to_citizen", RETURN, WARD_CLERK)
        _complete(s, rt, ids["at_record"], "record_birth", RECORD, OFFICER)
        _complete(s, rt, ids["at_record"], "sign_birth_certificate", SIGN, CHAIRMAN)
        _complete(s, rt, ids["at_record"], "return_to_citizen", RETURN, WARD_CLERK)
        assert {rt.get_instance(i).status for i in ids.values()} == {"completed"}

        # new dossiers start on version 2 and ask the police
        new = rt.start(PROCESS, business_key="H15.50.05.13-251009-0001", data=dict(START_DATA), actor=WARD_CLERK)
        s.commit()
        assert new.version.version == 2
        _complete(s, rt, new.id, "receive_dossier", RECEPTION, WARD_CLERK)
        assert set(_open(rt, new.id)) == {"record_birth", "ask_police_opinion"}


def test_an_instance_whose_current_step_was_removed_cannot_move(library):
    with library() as s:
        ids = _dossiers(s)
        renamed = v1_xml().replace(b"sign_birth_certificate", b"approve_birth_certificate")
        deploy_edited(s, V1_FILE, renamed, DESIGNER, "Đổi tên bước ký", 1)
        s.commit()
        plan = {p["instance_id"]: p for p in migration.plan_migration(s, PROCESS, 2)}
        s.rollback()
        at_sign = plan[ids["at_sign"]]
        assert not at_sign["can_move"]
        assert "'Ký Giấy khai sinh' (sign_birth_certificate)" in at_sign["reason"]
        assert "does not exist in version 2" in at_sign["reason"]
        assert plan[ids["at_record"]]["can_move"] and plan[ids["at_reception"]]["can_move"]

        result = migration.migrate_instances(s, PROCESS, 2, [ids["at_sign"], ids["at_record"]], DESIGNER)
        assert [e["instance_id"] for e in result["moved"]] == [ids["at_record"]]
        assert [e["instance_id"] for e in result["skipped"]] == [ids["at_sign"]]
        s.expire_all()
        assert s.get(Instance, ids["at_reception"]).version.version == 1  # not asked for
        rt = Runtime(s)
        _complete(s, rt, ids["at_record"], "record_birth", RECORD, OFFICER)
        assert set(_open(rt, ids["at_record"])) == {"approve_birth_certificate"}


def test_unknown_ids_and_versions(library):
    import pytest

    from engine.errors import NotFound

    with library() as s:
        with pytest.raises(NotFound, match="no version 9"):
            migration.plan_migration(s, PROCESS, 9)
        with pytest.raises(NotFound, match="not deployed"):
            migration.plan_migration(s, "khong_co", 1)
        plan = migration.plan_migration(s, PROCESS, 1, ["6d1f0b8e-0000-4000-8000-000000000000"])
        assert plan[0]["can_move"] is False and "no running instance" in plan[0]["reason"]
