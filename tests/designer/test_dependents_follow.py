"""A shared part changed on its own (a fee table, a shared subprocess) reaches the procedures that use it:
they get new versions in the same deployment, so new dossiers use the new part."""

from __future__ import annotations

from sqlalchemy import select

from engine.deployments import deploy, latest_version
from engine.models import ProcessVersion
from tests.designer.conftest import LIBRARY, common_files

MARITAL = "ward_marital_status_confirmation.bpmn"


def _library(session) -> dict[str, int]:
    deploy(session, [*common_files(), (MARITAL, (LIBRARY / MARITAL).read_bytes())], "tests")
    session.commit()
    return {v.process_id: v.version for v in session.scalars(select(ProcessVersion))}


def test_a_new_fee_table_reaches_the_subprocess_and_its_callers(sessions):
    with sessions() as s:
        before = _library(s)
        caller = next(pid for pid in before if pid not in ("collect_fee", "return_result"))
        dmn = (LIBRARY / "common" / "fee_schedule.dmn").read_bytes().replace(b"<text>15000</text>",
                                                                            b"<text>20000</text>")
        result = deploy(s, [("fee_schedule.dmn", dmn)], "thietke", note="lệ phí mới")
        s.commit()
        followed = {p.process_id: p.version for p in result.processes if p.changed}
        assert followed == {"collect_fee": before["collect_fee"] + 1, caller: before[caller] + 1}
        assert result.decisions == ["fee_schedule"]
        assert latest_version(s, "return_result").version == before["return_result"]  # uses no fee table
        assert b"20000" in latest_version(s, caller).spec_json.encode()
        assert result.followers == ["collect_fee", caller] and result.not_followed == {}


def test_a_shared_subprocess_changed_alone_reaches_its_callers_and_a_second_deploy_changes_nothing(sessions):
    with sessions() as s:
        before = _library(s)
        shared = (LIBRARY / "common" / "collect_fee.bpmn").read_bytes().replace(
            'name="Tra biểu phí"'.encode(), 'name="Tra biểu phí mới"'.encode())
        result = deploy(s, [("collect_fee.bpmn", shared)], "thietke", note="đổi tên bước")
        s.commit()
        assert result.followers == ["marital_status_confirmation"]
        assert latest_version(s, "marital_status_confirmation").version == before["marital_status_confirmation"] + 1
        again = deploy(s, [("collect_fee.bpmn", shared)], "thietke", note="lần nữa")
        assert not again.changed and again.followers == []


def test_a_dependent_whose_file_name_is_taken_is_reported_not_dropped(sessions):
    with sessions() as s:
        _library(s)
        # a new file called like the caller's file, defining another process that also uses the fee table
        other = (LIBRARY / MARITAL).read_bytes().replace(b'id="marital_status_confirmation"', b'id="other_marital"')
        dmn = (LIBRARY / "common" / "fee_schedule.dmn").read_bytes().replace(b"<text>15000</text>",
                                                                            b"<text>20000</text>")
        result = deploy(s, [("fee_schedule.dmn", dmn), (MARITAL, other)], "thietke", note="tên trùng")
        assert "marital_status_confirmation" in result.not_followed
        assert MARITAL in result.not_followed["marital_status_confirmation"]
        assert "collect_fee" in result.followers
        s.rollback()


def test_following_a_disk_deploy_keeps_a_browser_made_procedure_protected(sessions):
    from engine.versions import plan_disk_deploy

    disk_file = (LIBRARY / MARITAL).read_bytes()
    with sessions() as s:
        deploy(s, [*common_files(), (MARITAL, disk_file)], "tests", source="disk")
        browser_edit = disk_file.replace('name="Cấp Giấy xác nhận'.encode(),
                                         'name="(sửa trên web) Cấp Giấy xác nhận'.encode(), 1)
        assert browser_edit != disk_file
        deploy(s, [(MARITAL, browser_edit)], "thietke", note="sửa trên web", source="ui")
        dmn = (LIBRARY / "common" / "fee_schedule.dmn").read_bytes().replace(b"<text>15000</text>",
                                                                            b"<text>20000</text>")
        result = deploy(s, [("fee_schedule.dmn", dmn)], "cli", note="lệ phí mới", source="disk")
        s.commit()
        assert "marital_status_confirmation" in result.followers
        follower = latest_version(s, "marital_status_confirmation")
        assert follower.deployment.source == "ui"
        assert "(sửa trên web)" in follower.file.content
        # the disk still holds the older file: deploying it would overwrite the browser's work, so it is kept
        plan = plan_disk_deploy(s, [(MARITAL, disk_file)])
        assert plan.deploy == [] and "kept version" in plan.skipped[0]
