"""Administration pages: people, departments, lane → department mapping (Flask test client, real database)."""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import select

from accounts.models import User
from accounts.service import check_password
from engine.deployments import deploy
from engine.models import Department, LaneMapping
from engine.runtime import Runtime
from tests.conftest import auth, fixture_bytes
from tests.ui.helpers import PASSWORD, csrf, csrf_of, new_client, post_login, sign_in

NEW_PASSWORD = "mot-cua-2026-moi"

LANE_PROBE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="Defs_lanes" targetNamespace="http://motcua.vn/tests">
  <bpmn:process id="lane_probe" name="Quy trình thử làn" isExecutable="true">
    <bpmn:laneSet id="ls">
      <bpmn:lane id="lane_a" name="Phòng Quản lý đô thị"><bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>check</bpmn:flowNodeRef></bpmn:lane>
      <bpmn:lane id="lane_b" name="Sở Xây dựng"><bpmn:flowNodeRef>done</bpmn:flowNodeRef></bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="check" name="Kiểm tra"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="done"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="check" />
    <bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="done" />
  </bpmn:process>
</bpmn:definitions>
"""


def signed_in(client) -> bool:
    r = client.get("/inbox")
    return r.status_code == 200


def user(sessions, username: str) -> User:
    with sessions() as s:
        row = s.scalar(select(User).where(User.username == username))
        if row is not None:
            _ = row.departments
        return row


def audit_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "motcua.audit"]


@pytest.fixture
def admin(app, people):
    return sign_in(app, "admin")


# ------------------------------------------------------------------------ access
ADMIN_GETS = ["/admin/users", "/admin/users/new", "/admin/departments", "/admin/departments/new",
              "/admin/departments/SXD", "/admin/lanes"]


def test_signed_out_users_are_sent_to_sign_in(app, people):
    client = new_client(app)
    for path in ADMIN_GETS:
        r = client.get(path)
        assert r.status_code == 302 and r.location.startswith("/login"), path


def test_only_administrators_see_the_admin_pages(app, people, sessions):
    target = user(sessions, "chuyenvien")
    for username in ("tiepnhan", "chuyenvien", "lanhdao", "thietke", "congdvc", "lanhdaotrungtam"):
        client = sign_in(app, username)
        for path in [*ADMIN_GETS, f"/admin/users/{target.id}", f"/admin/users/{target.id}/password"]:
            assert client.get(path).status_code == 403, (username, path)
        token = csrf(client, "/inbox")
        for path, data in [
            ("/admin/users/new", {"username": "ke_gian", "full_name": "Kẻ gian", "roles": "admin",
                                  "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}),
            (f"/admin/users/{target.id}", {"full_name": "X", "roles": "admin", "is_active": "1"}),
            (f"/admin/users/{target.id}/password", {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}),
            (f"/admin/users/{target.id}/deactivate", {}),
            ("/admin/departments/new", {"code": "KEGIAN", "name_vi": "Kẻ gian"}),
            ("/admin/lanes", {"lane": "Làn lạ", "department": "SXD"}),
        ]:
            assert client.post(path, data={"csrf_token": token, **data}).status_code == 403, (username, path)
    after = user(sessions, "chuyenvien")
    assert after.password_hash == target.password_hash and after.roles == ["specialist"] and after.is_active
    assert user(sessions, "ke_gian") is None
    with sessions() as s:
        assert s.get(Department, "KEGIAN") is None and s.scalar(select(LaneMapping)) is None


def test_the_navigation_links_to_the_admin_pages_for_administrators_only(app, admin, people):
    assert 'href="/admin/users"' in admin.get("/inbox").get_data(as_text=True)
    assert 'href="/admin/users"' not in sign_in(app, "tiepnhan").get("/inbox").get_data(as_text=True)


# ------------------------------------------------------------------------ people
def test_the_user_list_shows_names_roles_departments_and_state(admin, sessions):
    html = admin.get("/admin/users").get_data(as_text=True)
    assert "lanhdao" in html and "Lê Quốc Hùng (Lãnh đạo Sở Xây dựng)" in html
    assert "Lãnh đạo phòng, sở" in html and "LD_SXD" in html
    with sessions() as s:
        assert html.count("✓") == len(list(s.scalars(select(User))))


def test_creating_a_user_validates_every_field(admin, sessions):
    token = csrf(admin, "/admin/users/new")
    r = admin.post("/admin/users/new", data={"csrf_token": token, "username": "Bad Name!", "full_name": "",
                                             "password": "ngan", "password_confirm": "ngan",
                                             "departments": "KHONG_CO"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    for field in ("username", "full_name", "roles", "departments", "password"):
        assert f'id="e-{field}"' in html, field
    assert "Vui lòng sửa các trường được đánh dấu." in html and 'aria-invalid="true"' in html

    r = admin.post("/admin/users/new", data={"csrf_token": token, "username": "nguyenvana", "full_name": "Nguyễn Văn A",
                                             "roles": ["clerk", "superuser"], "password": NEW_PASSWORD,
                                             "password_confirm": NEW_PASSWORD + "x"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'id="e-roles"' in html and 'id="e-password_confirm"' in html and 'id="e-password"' not in html
    assert 'value="Nguyễn Văn A"' in html  # what was typed is kept

    r = admin.post("/admin/users/new", data={"csrf_token": token, "username": "chuyenvien", "full_name": "Trùng tên",
                                             "roles": "clerk", "password": NEW_PASSWORD,
                                             "password_confirm": NEW_PASSWORD})
    assert r.status_code == 422 and "Tên đăng nhập này đã có." in r.get_data(as_text=True)
    assert user(sessions, "nguyenvana") is None


def test_an_administrator_creates_a_user_who_can_then_sign_in(app, admin, sessions, caplog):
    token = csrf(admin, "/admin/users/new")
    caplog.set_level(logging.INFO, logger="motcua.audit")
    r = admin.post("/admin/users/new", data={
        "csrf_token": token, "username": "NguyenVanA", "full_name": "Nguyễn Văn A (Một cửa)",
        "roles": ["clerk", "specialist"], "departments": ["MOTCUA", "SXD"],
        "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD,
    })
    assert r.status_code == 303 and r.location == "/admin/users"
    html = admin.get(r.location).get_data(as_text=True)
    assert "Đã tạo người dùng nguyenvana." in html and "Nguyễn Văn A (Một cửa)" in html

    created = user(sessions, "nguyenvana")
    assert created.roles == ["clerk", "specialist"] and {d.code for d in created.departments} == {"MOTCUA", "SXD"}
    assert created.is_active and created.password_hash.startswith("scrypt:")
    assert check_password(created, NEW_PASSWORD)
    assert signed_in(sign_in(app, "nguyenvana", NEW_PASSWORD))

    [line] = audit_lines(caplog)
    assert line.startswith("by=admin action=user.create target='user:nguyenvana'") and "MOTCUA" in line
    assert NEW_PASSWORD not in caplog.text


def test_editing_a_user_changes_name_roles_departments_and_state(app, admin, sessions, caplog):
    target = user(sessions, "chuyenvien")
    form = admin.get(f"/admin/users/{target.id}").get_data(as_text=True)
    assert 'value="Trần Văn Minh (Sở Xây dựng)"' in form and 'value="specialist" checked' in form
    token = csrf_of(form)
    r = admin.post(f"/admin/users/{target.id}", data={"csrf_token": token, "full_name": "", "roles": [],
                                                      "departments": ["SXD"], "is_active": "1"})
    assert r.status_code == 422
    assert 'id="e-full_name"' in r.get_data(as_text=True) and 'id="e-roles"' in r.get_data(as_text=True)

    caplog.set_level(logging.INFO, logger="motcua.audit")
    r = admin.post(f"/admin/users/{target.id}", data={
        "csrf_token": token, "full_name": "Trần Văn Minh", "roles": ["specialist", "leader"],
        "departments": ["SXD", "LD_SXD"], "is_active": "1"})
    assert r.status_code == 303
    assert "Đã lưu người dùng chuyenvien." in admin.get(r.location).get_data(as_text=True)
    edited = user(sessions, "chuyenvien")
    assert edited.full_name == "Trần Văn Minh" and edited.roles == ["specialist", "leader"]
    assert {d.code for d in edited.departments} == {"SXD", "LD_SXD"} and edited.is_active
    [line] = audit_lines(caplog)
    assert "by=admin action=user.update target='user:chuyenvien'" in line and "leader" in line

    # unticking "active" locks the account: the session and the API tokens stop working
    worker = sign_in(app, "chuyenvien")
    r = admin.post(f"/admin/users/{target.id}", data={"csrf_token": token, "full_name": "Trần Văn Minh",
                                                      "roles": "specialist", "departments": "SXD"})
    assert r.status_code == 303 and not user(sessions, "chuyenvien").is_active
    assert worker.get("/inbox").status_code == 302


def test_an_administrator_cannot_lock_themselves_out(admin, sessions):
    me = user(sessions, "admin")
    token = csrf(admin, f"/admin/users/{me.id}")
    r = admin.post(f"/admin/users/{me.id}", data={"csrf_token": token, "full_name": "Quản trị", "roles": "designer",
                                                  "is_active": "1"})
    assert r.status_code == 422 and 'id="e-roles"' in r.get_data(as_text=True)
    r = admin.post(f"/admin/users/{me.id}", data={"csrf_token": token, "full_name": "Quản trị", "roles": "admin"})
    assert r.status_code == 422 and 'id="e-is_active"' in r.get_data(as_text=True)
    r = admin.post(f"/admin/users/{me.id}/deactivate", data={"csrf_token": token})
    assert r.status_code == 422 and "Bạn không thể tự khóa tài khoản của mình." in r.get_data(as_text=True)
    me = user(sessions, "admin")
    assert me.roles == ["admin"] and me.is_active and me.full_name == "Quản trị hệ thống"
    assert signed_in(admin)
    assert f'action="/admin/users/{me.id}/deactivate"' not in admin.get("/admin/users").get_data(as_text=True)


def test_deactivating_a_user_ends_their_sessions_and_tokens(app, admin, people, sessions, caplog):
    target = user(sessions, "tiepnhan")
    clerk = sign_in(app, "tiepnhan")
    assert clerk.get("/api/v1/tasks", headers=auth(people["tiepnhan"])).status_code == 200
    caplog.set_level(logging.INFO, logger="motcua.audit")
    r = admin.post(f"/admin/users/{target.id}/deactivate", data={"csrf_token": csrf(admin, "/admin/users")})
    assert r.status_code == 303
    assert "Đã khóa tài khoản tiepnhan" in admin.get(r.location).get_data(as_text=True)
    assert not user(sessions, "tiepnhan").is_active
    r = clerk.get("/inbox")
    assert r.status_code == 302 and r.location.startswith("/login")
    assert clerk.get("/api/v1/tasks", headers=auth(people["tiepnhan"])).status_code == 401
    assert post_login(new_client(app), "tiepnhan").status_code == 401
    assert audit_lines(caplog) == ["by=admin action=user.deactivate target='user:tiepnhan'"]
    token = csrf(admin, "/admin/users")
    assert admin.post("/admin/users/987654321/deactivate", data={"csrf_token": token}).status_code == 404


def test_resetting_a_password_ends_the_users_existing_sessions(app, admin, sessions, caplog):
    target = user(sessions, "chuyenvien")
    worker = sign_in(app, "chuyenvien")
    remembered = sign_in(app, "chuyenvien", remember=True)
    remembered.delete_cookie("session")  # the browser was closed: only the remember-me cookie is left
    assert signed_in(worker) and signed_in(remembered)

    token = csrf(admin, f"/admin/users/{target.id}/password")
    r = admin.post(f"/admin/users/{target.id}/password",
                   data={"csrf_token": token, "password": "ngan", "password_confirm": "ngan"})
    assert r.status_code == 422 and 'id="e-password"' in r.get_data(as_text=True)
    r = admin.post(f"/admin/users/{target.id}/password",
                   data={"csrf_token": token, "password": NEW_PASSWORD, "password_confirm": "khac-hoan-toan-1"})
    assert r.status_code == 422 and 'id="e-password_confirm"' in r.get_data(as_text=True)
    assert user(sessions, "chuyenvien").password_hash == target.password_hash
    assert signed_in(worker)

    caplog.set_level(logging.INFO, logger="motcua.audit")
    r = admin.post(f"/admin/users/{target.id}/password",
                   data={"csrf_token": token, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert r.status_code == 303
    changed = user(sessions, "chuyenvien")
    assert changed.password_hash.startswith("scrypt:") and check_password(changed, NEW_PASSWORD)
    assert not check_password(changed, PASSWORD)

    # the session token embeds a fingerprint of the password hash: old sessions are over
    for client in (worker, remembered):
        r = client.get("/inbox")
        assert r.status_code == 302 and r.location.startswith("/login")
    assert signed_in(sign_in(app, "chuyenvien", NEW_PASSWORD))
    assert audit_lines(caplog) == ["by=admin action=user.password_reset target='user:chuyenvien'"]
    assert NEW_PASSWORD not in caplog.text and "scrypt" not in caplog.text


def test_an_administrator_changing_their_own_password_stays_signed_in(app, admin, sessions):
    me = user(sessions, "admin")
    elsewhere = sign_in(app, "admin")
    r = admin.post(f"/admin/users/{me.id}/password", data={
        "csrf_token": csrf(admin, "/admin/users"), "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert r.status_code == 303
    assert signed_in(admin)
    assert elsewhere.get("/inbox").status_code == 302


def test_unknown_users_are_404(admin):
    assert admin.get("/admin/users/987654321").status_code == 404
    assert admin.get("/admin/users/987654321/password").status_code == 404


# ------------------------------------------------------------------- departments
def test_departments_are_listed_created_and_renamed(admin, sessions, caplog):
    html = admin.get("/admin/departments").get_data(as_text=True)
    assert "SXD" in html and "Sở Xây dựng" in html and "Department of Construction" in html

    token = csrf(admin, "/admin/departments/new")
    for data, field in [
        ({"code": "qldt", "name_vi": "Phòng Quản lý đô thị"}, "code"),
        ({"code": "QL-DT", "name_vi": "Phòng Quản lý đô thị"}, "code"),
        ({"code": "SXD", "name_vi": "Trùng mã"}, "code"),
        ({"code": "QLDT", "name_vi": ""}, "name_vi"),
        ({"code": "", "name_vi": "Phòng Quản lý đô thị"}, "code"),
    ]:
        r = admin.post("/admin/departments/new", data={"csrf_token": token, **data})
        assert r.status_code == 422 and f'id="e-{field}"' in r.get_data(as_text=True), data
    with sessions() as s:
        assert s.get(Department, "QLDT") is None and s.get(Department, "SXD").name_vi == "Sở Xây dựng"

    caplog.set_level(logging.INFO, logger="motcua.audit")
    r = admin.post("/admin/departments/new", data={"csrf_token": token, "code": "QLDT_2",
                                                   "name_vi": "Phòng Quản lý đô thị", "name_en": "Urban Management"})
    assert r.status_code == 303 and r.location == "/admin/departments"
    assert "Đã tạo phòng QLDT_2." in admin.get(r.location).get_data(as_text=True)

    assert 'value="Phòng Quản lý đô thị"' in admin.get("/admin/departments/QLDT_2").get_data(as_text=True)
    r = admin.post("/admin/departments/QLDT_2", data={"csrf_token": token, "name_vi": "", "name_en": "x"})
    assert r.status_code == 422 and 'id="e-name_vi"' in r.get_data(as_text=True)
    r = admin.post("/admin/departments/QLDT_2", data={"csrf_token": token, "name_vi": "Phòng Quản lý đô thị quận",
                                                      "name_en": ""})
    assert r.status_code == 303
    with sessions() as s:
        dept = s.get(Department, "QLDT_2")
        assert (dept.name_vi, dept.name_en) == ("Phòng Quản lý đô thị quận", None)
    assert audit_lines(caplog) == [
        "by=admin action=department.create target='department:QLDT_2' name_vi='Phòng Quản lý đô thị' "
        "name_en='Urban Management'",
        "by=admin action=department.update target='department:QLDT_2' name_vi='Phòng Quản lý đô thị quận' "
        "name_en=None",
    ]
    assert admin.get("/admin/departments/KHONG_CO").status_code == 404
    assert admin.post("/admin/departments/KHONG_CO", data={"csrf_token": token, "name_vi": "X"}).status_code == 404


# ------------------------------------------------------------------------ lanes
@pytest.fixture
def lane_probe(sessions, people):
    with sessions() as s:
        deploy(s, [("lane_probe.bpmn", LANE_PROBE.encode()),
                   ("onestop_fixture.bpmn", fixture_bytes("onestop_fixture.bpmn"))], "tests")
        s.commit()


def unmapped_lanes(html: str) -> list[str]:
    """The lanes listed under "Làn chưa gắn phòng"."""
    section = html.split('id="unmapped"', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr><td>([^<]*)</td>", section)


def test_lanes_without_a_department_are_shown_and_can_be_mapped(admin, sessions, lane_probe, caplog):
    html = admin.get("/admin/lanes").get_data(as_text=True)
    assert "Làn chưa gắn phòng" in html
    # "Sở Xây dựng", "Bộ phận Một cửa"... are matched by the departments' names
    assert unmapped_lanes(html) == ["Phòng Quản lý đô thị"] and "lane_probe" in html

    token = csrf_of(html)
    for data, field in [({"lane": "", "department": "SXD"}, "lane"),
                        ({"lane": "Phòng Quản lý đô thị", "department": ""}, "department"),
                        ({"lane": "Phòng Quản lý đô thị", "department": "KHONG_CO"}, "department")]:
        r = admin.post("/admin/lanes", data={"csrf_token": token, **data})
        assert r.status_code == 422 and f'id="e-{field}"' in r.get_data(as_text=True), data
    with sessions() as s:
        assert s.scalar(select(LaneMapping)) is None

    caplog.set_level(logging.INFO, logger="motcua.audit")
    r = admin.post("/admin/lanes", data={"csrf_token": token, "lane": "  Phòng Quản lý đô thị ", "department": "SXD"})
    assert r.status_code == 303 and r.location == "/admin/lanes"
    html = admin.get(r.location).get_data(as_text=True)
    assert "Đã gắn làn “Phòng Quản lý đô thị” với phòng SXD." in html
    assert unmapped_lanes(html) == []
    with sessions() as s:
        assert s.get(LaneMapping, "Phòng Quản lý đô thị").department_code == "SXD"
        assert Runtime(s).department_for("Phòng Quản lý đô thị") == "SXD"  # new tasks go to SXD's inbox

    r = admin.post("/admin/lanes", data={"csrf_token": token, "lane": "Phòng Quản lý đô thị", "department": "SGTVT"})
    assert r.status_code == 422 and 'id="e-lane"' in r.get_data(as_text=True)

    r = admin.post("/admin/lanes/delete", data={"csrf_token": token, "lane": "Phòng Quản lý đô thị"})
    assert r.status_code == 303
    html = admin.get(r.location).get_data(as_text=True)
    assert unmapped_lanes(html) == ["Phòng Quản lý đô thị"]
    with sessions() as s:
        assert s.scalar(select(LaneMapping)) is None
    assert admin.post("/admin/lanes/delete", data={"csrf_token": token, "lane": "Không có"}).status_code == 404
    assert audit_lines(caplog) == [
        "by=admin action=lane.map target='lane:Phòng Quản lý đô thị' department='SXD'",
        "by=admin action=lane.unmap target='lane:Phòng Quản lý đô thị' department='SXD'",
    ]


def test_renaming_a_department_warns_about_lanes_it_no_longer_matches(admin, sessions, lane_probe):
    token = csrf(admin, "/admin/departments/SXD")
    r = admin.post("/admin/departments/SXD", data={"csrf_token": token, "name_vi": "Sở Xây dựng thành phố",
                                                   "name_en": "Department of Construction"},
                   follow_redirects=True)
    html = r.get_data(as_text=True)
    assert "Các làn sau được nhận theo tên cũ của phòng" in html and "Sở Xây dựng" in html
    assert unmapped_lanes(admin.get("/admin/lanes").get_data(as_text=True)) == ["Phòng Quản lý đô thị", "Sở Xây dựng"]


def test_forms_without_the_csrf_token_are_refused(admin, sessions):
    target = user(sessions, "chuyenvien")
    assert admin.post("/admin/users/new", data={"username": "khongtoken", "full_name": "X", "roles": "clerk",
                                                "password": NEW_PASSWORD,
                                                "password_confirm": NEW_PASSWORD}).status_code == 400
    assert admin.post(f"/admin/users/{target.id}/deactivate").status_code == 400
    assert admin.post("/admin/departments/new", data={"code": "KHONGTOKEN", "name_vi": "X"}).status_code == 400
    assert user(sessions, "khongtoken") is None and user(sessions, "chuyenvien").is_active
    with sessions() as s:
        assert s.get(Department, "KHONGTOKEN") is None
