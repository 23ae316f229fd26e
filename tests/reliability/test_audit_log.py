"""The append-only audit log: every sign-in, deploy, claim, completion and permission change, in the
same transaction as the change; the database itself refuses to change or delete an entry."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from accounts.audit import AuditEntry
from tests.api.test_lifecycle import deploy
from tests.conftest import auth, fixture_bytes
from tests.ui.helpers import csrf, new_client, post_login, sign_in

FORM = {"applicant_name": "Nguyễn Văn A", "fee": 0, "complete": True}


def _actions(sessions) -> list[tuple[str, str, str]]:
    with sessions() as s:
        return [(e.actor, e.action, e.target) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_every_kind_of_change_leaves_one_entry(app, sessions, people):
    client = app.test_client()
    # sign-in: a failure, a success, a sign-out
    browser = new_client(app)
    assert post_login(browser, "tiepnhan", "wrong-password").status_code == 401
    assert post_login(browser, "tiepnhan").status_code == 302
    assert browser.post("/logout", data={"csrf_token": csrf(browser, "/inbox")}).status_code == 302

    # deploy, start, claim, complete (the API), a calendar change
    assert deploy(client, people["thietke"], ("sample_dossier.bpmn", fixture_bytes("sample_dossier.bpmn"))).status_code == 201
    instance = client.post("/api/v1/processes/sample_dossier/instances", json={}, headers=auth(people["admin"])).json
    task = client.get(f"/api/v1/tasks?instance_id={instance['id']}", headers=auth(people["tiepnhan"])).json["items"][0]
    assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=auth(people["tiepnhan"])).status_code == 200
    r = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": FORM}, headers=auth(people["tiepnhan"]))
    assert r.status_code == 200, r.json
    r = client.put("/api/v1/calendar/days", json={"day": "2091-01-02", "working": False, "note": "kiểm thử"},
                   headers=auth(people["admin"]))
    assert r.status_code in (200, 201), r.json

    # a role change through the administration pages, a token revoked
    admin = sign_in(app, "admin")
    with sessions() as s:
        from accounts.models import ApiToken, User
        from accounts.service import revoke_token

        user = s.scalar(select(User).where(User.username == "chuyenvien"))
        token_id = s.scalar(select(ApiToken.id).where(ApiToken.user_id == user.id))
        user_id = user.id
        revoke_token(s, token_id)
        s.commit()
    form = admin.get(f"/admin/users/{user_id}").get_data(as_text=True)
    r = admin.post(f"/admin/users/{user_id}", data={
        "csrf_token": csrf(admin, f"/admin/users/{user_id}"), "full_name": "Chuyên viên", "roles": ["specialist", "leader"],
        "departments": ["SXD"], "is_active": "1"})
    assert r.status_code == 303, r.get_data(as_text=True)[:500]
    assert form

    rows = _actions(sessions)
    actions = [a for _, a, _ in rows]
    for expected in ("token.create", "user.create", "auth.sign_in_failed", "auth.sign_in", "auth.sign_out", "deploy",
                     "task.claim", "task.complete", "calendar.set", "token.revoke", "user.update"):
        assert expected in actions, (expected, actions)
    assert ("anonymous", "auth.sign_in_failed", "user:tiepnhan") in rows
    assert ("tiepnhan", "task.complete", f"instance:{instance['id']}") in rows
    assert ("thietke", "deploy") in {(a, b) for a, b, _ in rows}
    assert ("admin", "user.update", "user:chuyenvien") in rows
    assert actions.count("task.complete") == 1
    with sessions() as s:
        update = s.scalar(select(AuditEntry).where(AuditEntry.action == "user.update"))
        assert update.details["roles"]["to"] == ["specialist", "leader"]
        assert update.ip == "10.80.0.2" or update.ip.startswith("10.80.")
        # nothing secret in the details
        for entry in s.scalars(select(AuditEntry)):
            assert "correct-horse" not in str(entry.details) and "wrong-password" not in str(entry.details)

    # the page lists them, for administrators only
    page = admin.get("/admin/audit?action=task.").get_data(as_text=True)
    assert "task.complete" in page and "auth.sign_in" not in page
    assert sign_in(app, "tiepnhan").get("/admin/audit").status_code == 403


def test_a_rolled_back_change_leaves_no_entry(sessions, people):
    from datetime import date

    from engine.calendar_days import set_day

    before = len(_actions(sessions))
    with sessions() as s:
        set_day(s, date(2091, 3, 3), False, "bỏ", "admin")
        s.flush()
        s.rollback()
    assert len(_actions(sessions)) == before


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET actor = 'someone-else'", "DELETE FROM audit_log"])
def test_the_database_refuses_to_change_or_delete_entries(sessions, people, statement):
    assert _actions(sessions), "the people fixture creates users and tokens: there are entries"
    before = _actions(sessions)
    with sessions() as s:
        with pytest.raises(DatabaseError, match="append-only"):
            s.execute(text(statement))
            s.flush()
        s.rollback()
    assert _actions(sessions) == before
