"""The clerk's working day through the web pages (Flask test client, real database)."""

from __future__ import annotations

from sqlalchemy import select

from dossiers.models import Dossier
from engine.models import HumanTask
from tests.ui.helpers import csrf, sign_in


def test_desk_receives_dossier_and_hands_it_to_the_department(app, people, onestop, sessions):
    desk = sign_in(app, "tiepnhan")
    token = csrf(desk, "/reception/new")
    # missing name and a bad phone: errors shown next to the fields, nothing created
    r = desk.post("/reception/new", data={"csrf_token": token, "procedure_code": "9.999001", "channel": "in_person",
                                          "applicant_name": "", "applicant_phone": "123"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'id="e-applicant_name"' in html and 'id="e-applicant_phone"' in html
    with sessions() as s:
        assert s.scalar(select(Dossier)) is None

    r = desk.post("/reception/new", data={"csrf_token": token, "procedure_code": "9.999001", "channel": "in_person",
                                          "applicant_name": "Lê Thị Thu", "applicant_phone": "0912345678",
                                          "applicant_id_number": "092085001234"})
    assert r.status_code == 302 and "/tasks/" in r.location
    task_url = r.location
    with sessions() as s:
        dossier = s.scalar(select(Dossier))
        assert dossier.applicant_name == "Lê Thị Thu" and dossier.status_code == 1

    page = desk.get(task_url).get_data(as_text=True)
    assert "Kết quả tiếp nhận" in page and dossier.code in page
    token = csrf(desk, task_url)
    # required field missing: 422, the error next to the field
    r = desk.post(task_url, data={"csrf_token": token, "action": "complete", "reception_outcome": ""})
    assert r.status_code == 422 and 'id="e-reception_outcome"' in r.get_data(as_text=True)
    # a draft keeps values without completing
    r = desk.post(task_url, data={"csrf_token": token, "action": "draft", "refusal_reason": "đang xem xét"})
    assert r.status_code == 302
    assert "đang xem xét" in desk.get(task_url).get_data(as_text=True)
    r = desk.post(task_url, data={"csrf_token": token, "action": "complete", "reception_outcome": "accept"},
                  follow_redirects=True)
    html = r.get_data(as_text=True)
    assert "Đã chuyển hồ sơ" in html and "Sở Xây dựng" in html
    assert f"/api/v1/dossiers/{dossier.code}/slips/receipt?format=pdf" in html  # print the receipt

    specialist = sign_in(app, "chuyenvien")
    inbox = specialist.get("/inbox").get_data(as_text=True)
    assert dossier.code in inbox and "Thẩm định" in inbox
    assert dossier.code not in desk.get("/inbox").get_data(as_text=True)  # gone from the desk
    with sessions() as s:
        review = s.scalar(select(HumanTask).where(HumanTask.element_id == "review"))
    assert desk.get(f"/tasks/{review.id}").status_code == 404  # another department's task

    # claim from the department view, then it is in "my tasks"
    token = csrf(specialist, "/inbox")
    r = specialist.post("/inbox/claim", data={"csrf_token": token, "task_id": [review.id]})
    assert r.status_code == 302
    assert dossier.code in specialist.get("/inbox?view=mine").get_data(as_text=True)
    counts = specialist.get("/inbox/count").get_json()
    assert counts["mine"] == 1 and counts["department"] == 0

    r = specialist.post(f"/tasks/{review.id}", data={"csrf_token": token, "action": "complete",
                                                      "review_outcome": "ok"}, follow_redirects=True)
    assert "Lãnh đạo Sở Xây dựng" in r.get_data(as_text=True)
    done = specialist.get("/inbox?view=done").get_data(as_text=True)
    assert dossier.code in done


def test_inbox_filters_and_search(app, people, onestop, sessions):
    from dossiers import service
    from tests.dossiers.conftest import APPLICANT, PORTAL

    with sessions() as s:
        a = service.submit(s, procedure_code="9.999001", channel="in_person", applicant=APPLICANT, actor=PORTAL)
        b = service.submit(s, procedure_code="9.999001", channel="postal",
                           applicant={**APPLICANT, "name": "Trần Quốc Toản"}, actor=PORTAL)
        s.commit()
    desk = sign_in(app, "tiepnhan")
    html = desk.get("/inbox?channel=postal").get_data(as_text=True)
    assert b.code in html and a.code not in html
    html = desk.get("/inbox?q=Toản").get_data(as_text=True)
    assert b.code in html and a.code not in html
    html = desk.get(f"/inbox?q={a.code}").get_data(as_text=True)
    assert a.code in html and b.code not in html
    assert desk.get("/inbox?due=overdue").status_code == 200
    other = sign_in(app, "giaothong")
    assert a.code not in other.get("/inbox").get_data(as_text=True)


def test_leader_assigns_within_the_department(app, people, onestop, sessions):
    from dossiers import service
    from tests.dossiers.conftest import APPLICANT, DESK, PORTAL, complete

    with sessions() as s:
        d = service.submit(s, procedure_code="9.999001", channel="in_person", applicant=APPLICANT, actor=PORTAL)
        s.commit()
        complete(s, d, "reception", {"reception_outcome": "accept"}, DESK)
        review = s.scalar(select(HumanTask).where(HumanTask.element_id == "review"))
    leader = sign_in(app, "lanhdao")
    token = csrf(leader, f"/tasks/{review.id}")
    r = leader.post(f"/tasks/{review.id}/assign", data={"csrf_token": token, "assignee": "giaothong"})
    assert r.status_code == 302
    with sessions() as s:
        assert s.get(HumanTask, review.id).assignee is None  # not of this department
    leader.post(f"/tasks/{review.id}/assign", data={"csrf_token": token, "assignee": "chuyenvien"})
    with sessions() as s:
        assert s.get(HumanTask, review.id).assignee == "chuyenvien"
    specialist = sign_in(app, "chuyenvien")
    token = csrf(specialist, "/inbox")
    r = specialist.post(f"/tasks/{review.id}/assign", data={"csrf_token": token, "assignee": "lanhdao"})
    assert r.status_code == 403  # only leaders assign
