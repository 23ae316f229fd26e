"""Disk (bpmn/ through `flask bpmn deploy`) and browser versions in one history: no silent overwrite."""

from __future__ import annotations

import shutil

import pytest

from engine.versions import deploy_edited, version_history
from tests.designer.conftest import DESIGNER, LIBRARY, PROCESS, V1_FILE, opinion_xml


@pytest.fixture
def folder(tmp_path):
    """A designer's checkout of bpmn/: the shared files and the birth registration."""
    shutil.copytree(LIBRARY / "common", tmp_path / "common")
    shutil.copy(LIBRARY / V1_FILE, tmp_path / V1_FILE)
    return tmp_path


def cli(app, *args):
    """Run `flask --app wsgi ARGS` in the test app; click keeps stdout (output) and stderr apart."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def _versions(sessions) -> list[tuple[int, str]]:
    with sessions() as s:
        return [(v["version"], v["source"]) for v in version_history(s, PROCESS)]


def _browser_v2(sessions) -> None:
    with sessions() as s:
        deploy_edited(s, V1_FILE, opinion_xml(), DESIGNER, "Xin ý kiến Công an phường", 1)
        s.commit()


def test_disk_never_silently_overwrites_a_browser_version(app, sessions, people, folder):
    r = cli(app, "bpmn", "deploy", str(folder), "--note", "thư viện")
    assert r.exit_code == 0, r.output
    assert f"{PROCESS}: version 1 (new version)" in r.output
    _browser_v2(sessions)

    # the file on disk did not change since it was deployed: skipped, the browser version stays
    r = cli(app, "bpmn", "deploy", str(folder))
    assert r.exit_code == 0, r.output
    assert f"skipped: {V1_FILE}: {PROCESS}: kept version 2" in r.stderr
    assert "bpmn export" in r.stderr
    assert _versions(sessions) == [(2, "ui"), (1, "disk")]

    # the designer edits the file on disk anyway: refused, with what to do
    path = folder / V1_FILE
    path.write_text(path.read_text(encoding="utf-8").replace("Nộp hồ sơ", "Nộp hồ sơ tại quầy"), encoding="utf-8")
    r = cli(app, "bpmn", "deploy", str(folder))
    assert r.exit_code == 1
    assert f"{V1_FILE}: {PROCESS}: refused: version 2 was deployed from the browser by {DESIGNER}" in r.stderr
    assert f"flask --app wsgi bpmn export {PROCESS}" in r.stderr and "--force" in r.stderr
    assert "collect_fee: version 1 (unchanged)" in r.output  # the other files were deployed as usual
    assert _versions(sessions) == [(2, "ui"), (1, "disk")]

    # --force: the disk wins, explicitly
    r = cli(app, "bpmn", "deploy", str(folder), "--force", "--note", "bản trên đĩa")
    assert r.exit_code == 0, r.output
    assert _versions(sessions) == [(3, "disk"), (2, "ui"), (1, "disk")]


def test_export_writes_the_browser_version_then_disk_edits_deploy(app, sessions, people, folder):
    assert cli(app, "bpmn", "deploy", str(folder)).exit_code == 0
    _browser_v2(sessions)
    r = cli(app, "bpmn", "export", "--dir", str(folder))
    assert r.exit_code == 0, r.output
    assert f"{PROCESS}: version 2 -> {folder / V1_FILE}" in r.output
    assert (folder / V1_FILE).read_bytes() == opinion_xml()
    assert (folder / "common" / "collect_fee.bpmn").read_bytes() == (LIBRARY / "common" / "collect_fee.bpmn").read_bytes()

    r = cli(app, "bpmn", "deploy", str(folder))  # disk == latest: nothing new
    assert r.exit_code == 0 and f"{PROCESS}: version 2 (unchanged)" in r.output
    r = cli(app, "bpmn", "export", "--dir", str(folder))
    assert r.exit_code == 0 and "nothing to export" in r.stderr

    path = folder / V1_FILE  # the exported file is the designers' base now: their edits deploy
    path.write_text(path.read_text(encoding="utf-8").replace("Cho ý kiến", "Xác minh"), encoding="utf-8")
    r = cli(app, "bpmn", "deploy", str(folder), "--note", "đổi tên bước")
    assert r.exit_code == 0, r.stderr
    assert _versions(sessions) == [(3, "disk"), (2, "ui"), (1, "disk")]


def test_export_keeps_a_file_changed_on_disk(app, sessions, people, folder):
    assert cli(app, "bpmn", "deploy", str(folder)).exit_code == 0
    _browser_v2(sessions)
    path = folder / V1_FILE
    edited = path.read_text(encoding="utf-8").replace("Nộp hồ sơ", "Nộp hồ sơ tại quầy")
    path.write_text(edited, encoding="utf-8")
    r = cli(app, "bpmn", "export", PROCESS, "--dir", str(folder))
    assert r.exit_code == 1 and "changed on disk" in r.output + r.stderr
    assert path.read_text(encoding="utf-8") == edited
    r = cli(app, "bpmn", "export", "khong_co", "--dir", str(folder))
    assert r.exit_code == 1 and "not deployed" in r.output + r.stderr


def _browser_fee_table(sessions, old: bytes, new: bytes) -> bytes:
    from engine.deployments import deploy

    content = (LIBRARY / "common" / "fee_schedule.dmn").read_bytes().replace(old, new)
    with sessions() as s:
        deploy(s, [("fee_schedule.dmn", content)], DESIGNER, note="lệ phí mới", source="ui")
        s.commit()
    return content


def _fee_tables(sessions) -> int:
    from sqlalchemy import func, select

    from engine.models import DecisionVersion

    with sessions() as s:
        return s.scalar(select(func.count()).select_from(DecisionVersion))


def test_a_fee_table_from_the_browser_is_not_overwritten_by_the_disk(app, sessions, people, folder):
    assert cli(app, "bpmn", "deploy", str(folder)).exit_code == 0
    browser = _browser_fee_table(sessions, b"<text>15000</text>", b"<text>20000</text>")
    assert _fee_tables(sessions) == 2

    # bpmn/ still holds the older table: skipped, the browser's table stays
    r = cli(app, "bpmn", "deploy", str(folder))
    assert r.exit_code == 0, r.output
    assert "skipped: fee_schedule.dmn: fee_schedule: kept the table uploaded in the browser by thietke" in r.stderr
    assert _fee_tables(sessions) == 2

    # edited on disk as well: refused, with what to do; --force makes the disk win
    path = folder / "common" / "fee_schedule.dmn"
    path.write_bytes(path.read_bytes().replace(b"<text>15000</text>", b"<text>18000</text>"))
    r = cli(app, "bpmn", "deploy", str(folder))
    assert r.exit_code == 1 and "fee_schedule.dmn: fee_schedule: refused:" in r.stderr and "--force" in r.stderr
    assert _fee_tables(sessions) == 2
    assert cli(app, "bpmn", "deploy", str(folder), "--force", "--note", "bảng trên đĩa").exit_code == 0
    assert _fee_tables(sessions) == 3
    assert browser != path.read_bytes()


def test_export_writes_the_browser_fee_table_then_disk_edits_deploy(app, sessions, people, folder):
    assert cli(app, "bpmn", "deploy", str(folder)).exit_code == 0
    browser = _browser_fee_table(sessions, b"<text>15000</text>", b"<text>20000</text>")
    path = folder / "common" / "fee_schedule.dmn"
    r = cli(app, "bpmn", "export", "--dir", str(folder))
    assert r.exit_code == 0, r.output
    assert f"fee_schedule: version 2 -> {path}" in r.output and path.read_bytes() == browser
    assert "nothing to export" in cli(app, "bpmn", "export", "--dir", str(folder)).stderr

    path.write_bytes(browser.replace(b"<text>20000</text>", b"<text>25000</text>"))  # the base now: deploys
    r = cli(app, "bpmn", "deploy", str(folder), "--note", "lệ phí 25.000")
    assert r.exit_code == 0, r.stderr
    assert _fee_tables(sessions) == 3
