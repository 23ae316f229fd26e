"""The dossier page through the real sign-in form: diagram data, control sheet, documents, apology, assets."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from dossiers import lateness
from dossiers.models import Apology, Dossier
from engine.calendar import VN_TZ
from engine.db import utcnow
from engine.deadlines import current_calendar
from engine.deployments import deploy
from engine.models import HumanTask
from tests.dossiers.conftest import APPLICANT, DESK, SPECIALIST, complete, submit, vn
from tests.ui.helpers import csrf, sign_in

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "ui" / "static" / "vendor" / "bpmn-js"
VIEWER = VENDOR / "bpmn-navigated-viewer.production.min.js"

# A procedure whose process calls the shared return_result subprocess (its task is not in this XML).
CALLER_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Defs_caller" targetNamespace="http://motcua.vn/tests">
  <bpmn:process id="onestop_caller" name="Thu tuc goi quy trinh con" isExecutable="true">
    <bpmn:extensionElements>
      <camunda:properties>
        <camunda:property name="procedure_code" value="9.999002" />
        <camunda:property name="name_vi" value="Thủ tục thử nghiệm gọi quy trình con" />
        <camunda:property name="name_en" value="Test procedure with a call activity" />
        <camunda:property name="department" value="SXD" />
        <camunda:property name="desk" value="MOTCUA" />
        <camunda:property name="agency_code" value="H15.98" />
        <camunda:property name="processing_time" value="3" />
        <camunda:property name="processing_unit" value="working_days" />
        <camunda:property name="fee" value="0" />
        <camunda:property name="online" value="false" />
      </camunda:properties>
    </bpmn:extensionElements>
    <bpmn:startEvent id="Start"><bpmn:outgoing>c1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:callActivity id="call_return_result" name="Trả kết quả" calledElement="return_result">
      <bpmn:incoming>c1</bpmn:incoming><bpmn:outgoing>c2</bpmn:outgoing>
    </bpmn:callActivity>
    <bpmn:endEvent id="finished"><bpmn:incoming>c2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="c1" sourceRef="Start" targetRef="call_return_result" />
    <bpmn:sequenceFlow id="c2" sourceRef="call_return_result" targetRef="finished" />
  </bpmn:process>
</bpmn:definitions>
""".encode()




def diagram(client, code: str) -> dict:
    r = client.get(f"/dossiers/{code}/diagram.json")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    assert r.mimetype == "application/json"
    return r.get_json()


def overdue_dossier(session) -> Dossier:
    """Received Mon 02/11/2026, 3 working days → due Thu 05/11/2026 17:00: long past (the clock says 2026-11-23+)."""
    dossier = submit(session, received_at=vn(2026, 11, 2, 9, 0))
    complete(session, dossier, "reception", {"reception_outcome": "accept"}, DESK)
    session.refresh(dossier)
    assert dossier.appointment_at == vn(2026, 11, 5, 17, 0)
    lateness.check_deadlines(session)
    session.commit()
    return dossier


def test_diagram_json_follows_the_dossier(app, onestop):
    with onestop() as s:
        dossier = submit(s)
        code = dossier.code
    desk = sign_in(app, "tiepnhan")
    state = diagram(desk, code)
    assert set(state) == {"xml", "active", "completed", "overdue"}
    assert '<bpmn:process id="onestop_fixture"' in state["xml"]
    assert state["active"] == ["reception"] and state["overdue"] == []
    assert "start" in state["completed"] and "reception" not in state["completed"]

    with onestop() as s:
        complete(s, s.get(Dossier, dossier.id), "reception", {"reception_outcome": "accept"}, DESK)
    state = diagram(desk, code)
    assert state["active"] == ["review"]
    assert {"start", "reception", "gw_reception", "accepted"} <= set(state["completed"])
    assert "review" not in state["completed"] and state["overdue"] == []

    with onestop() as s:  # the review's budget ran out
        review = s.scalar(select(HumanTask).where(HumanTask.instance_id == dossier.id, HumanTask.element_id == "review"))
        review.due_at = utcnow() - timedelta(hours=1)
        s.commit()
    specialist = sign_in(app, "chuyenvien")
    state = diagram(specialist, code)
    assert state["active"] == ["review"] and state["overdue"] == ["review"]

    with onestop() as s:
        complete(s, s.get(Dossier, dossier.id), "review", {"review_outcome": "ok"}, SPECIALIST)
    state = diagram(specialist, code)
    assert state["active"] == ["approve"] and state["overdue"] == []
    assert {"review", "gw_review"} <= set(state["completed"])

    page = specialist.get(f"/dossiers/{code}").get_data(as_text=True)
    steps = re.search(r'<ol class="steps">(.*?)</ol>', page, re.S).group(1)
    assert 'class="step step-done" data-element="review"' in steps
    assert 'class="step step-current" data-element="approve"' in steps
    assert 'data-element="gw_review"' not in steps  # gateways are not steps in the text list


def test_diagram_and_page_are_only_for_those_who_may_see_the_dossier(app, onestop):
    with onestop() as s:
        code = submit(s).code
    other = sign_in(app, "giaothong")  # Sở Giao thông vận tải: not this dossier's departments
    assert other.get(f"/dossiers/{code}/diagram.json").status_code == 404
    assert other.get(f"/dossiers/{code}").status_code == 404
    r = app.test_client().get(f"/dossiers/{code}/diagram.json")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    leader = sign_in(app, "lanhdaotrungtam")  # the center's leaders see every dossier
    assert diagram(leader, code)["active"] == ["reception"]


def test_tasks_inside_a_called_subprocess_mark_the_call_activity(app, onestop):
    common = ROOT / "bpmn" / "common" / "return_result.bpmn"
    with onestop() as s:
        deploy(s, [("return_result.bpmn", common.read_bytes()), ("onestop_caller.bpmn", CALLER_BPMN)], "tests")
        s.commit()
        dossier = submit(s, procedure_code="9.999002")
        [task] = s.scalars(select(HumanTask).where(HumanTask.instance_id == dossier.id))
        assert task.element_id == "return_to_citizen"  # a task of the subprocess
        code = dossier.code
    state = diagram(sign_in(app, "tiepnhan"), code)
    assert 'id="call_return_result"' in state["xml"] and "return_to_citizen" not in state["xml"]
    assert state["active"] == ["call_return_result"]
    assert "Start" in state["completed"]  # the reserved id renamed by the engine comes back as drawn
    assert "call_return_result" not in state["completed"] and "ret_start" not in state["completed"]
    with onestop() as s:
        complete(s, s.get(Dossier, task.instance_id), "return_to_citizen",
                 {"result_channel": "in_person", "returned_on": "2026-11-23"}, DESK)
    state = diagram(sign_in(app, "tiepnhan"), code)
    assert state["active"] == [] and {"call_return_result", "finished"} <= set(state["completed"])


def test_page_shows_control_sheet_and_documents(app, onestop):
    scan = b"%PDF-1.4 ban sao can cuoc cong dan"
    digest = hashlib.sha256(scan).hexdigest()
    uploads = Path(app.config["INSTANCE_DIR"]) / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / digest).write_bytes(scan)
    attachments = [{"name": "ban_sao_cccd.pdf", "sha256": digest, "size": len(scan), "content_type": "application/pdf"},
                   {"name": "don_de_nghi_ban_giay.pdf"}]
    with onestop() as s:
        dossier = submit(s, attachments=attachments)
        complete(s, dossier, "reception", {"reception_outcome": "accept"}, DESK)
        code = dossier.code
    client = sign_in(app, "chuyenvien")
    r = client.get(f"/dossiers/{code}")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    # what the page already showed
    assert APPLICANT["name"] in page and 'id="dossier-status"' in page and 'id="history"' in page
    assert re.search(r'id="open-tasks">.*Thẩm định', page, re.S)
    # the control sheet (Form 05): reception done in time, review in progress
    sheet = re.search(r'<table class="list control-sheet" id="control-sheet">(.*?)</table>', page, re.S).group(1)
    rows = re.findall(r'<tr class="control-row" data-element="([^"]+)" data-result="([^"]+)">', sheet)
    assert rows[0][0] == "reception" and rows[0][1] in ("early", "on_time")
    assert rows[1] == ("review", "in_progress")
    assert "Tiếp nhận hồ sơ" in sheet and "Sở Xây dựng" in sheet
    assert '<span class="result result-in_progress">Đang xử lý</span>' in sheet
    # the documents, linking to the stored file
    documents = re.search(r'<ul id="documents".*?</ul>', page, re.S).group(0)
    assert f'href="/dossiers/{code}/files/{digest}">ban_sao_cccd.pdf</a>' in documents
    assert "don_de_nghi_ban_giay.pdf" in documents and documents.count("<a ") == 1
    f = client.get(f"/dossiers/{code}/files/{digest}")
    assert f.status_code == 200 and f.data == scan
    # the diagram container, its data URL and scripts from this site only (CSP: script-src 'self')
    assert re.search(rf'<div id="diagram" class="diagram" hidden\s+data-url="/dossiers/{code}/diagram.json"', page)
    assert '/static/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js' in page
    assert '/static/js/dossier.js' in page
    assert not re.search(r"<script(?![^>]*\bsrc=)", page), "no inline scripts"
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    # the result labels follow the language
    client.post("/language/en", data={"csrf_token": csrf(client, f"/dossiers/{code}"), "next": f"/dossiers/{code}"})
    english = client.get(f"/dossiers/{code}").get_data(as_text=True)
    assert '<span class="result result-in_progress">In progress</span>' in english


def test_slips_open_for_the_signed_in_user(app, onestop):
    with onestop() as s:
        dossier = submit(s)
        complete(s, dossier, "reception", {"reception_outcome": "accept"}, DESK)
        code = dossier.code
    client = sign_in(app, "tiepnhan")
    r = client.get(f"/dossiers/{code}/slips/control-sheet")
    assert r.status_code == 200 and r.mimetype == "text/html" and code in r.get_data(as_text=True)
    assert client.get(f"/dossiers/{code}/slips/receipt").status_code == 200
    assert client.get(f"/dossiers/{code}/slips/apology").status_code == 404  # none issued
    assert client.get(f"/dossiers/{code}/slips/nonsense").status_code == 404
    assert sign_in(app, "giaothong").get(f"/dossiers/{code}/slips/receipt").status_code == 404


def test_apology_issued_from_the_page(app, onestop):
    with onestop() as s:
        dossier = overdue_dossier(s)
        code, dossier_id = dossier.code, dossier.id
        assert [a.state for a in dossier.apologies] == ["draft"]
    desk = sign_in(app, "tiepnhan")  # the dossier's one-stop desk
    page = desk.get(f"/dossiers/{code}").get_data(as_text=True)
    assert 'id="apology-form"' in page and f'action="/dossiers/{code}/apology"' in page
    assert re.search(r'id="new_appointment" name="new_appointment"[^>]*value="\d{2}/\d{2}/\d{4}"', page, re.S)
    # the new appointment: a working day comfortably after today, so the dossier is no longer late
    new_day = current_calendar().next_working_day(datetime.now(VN_TZ).date() + timedelta(days=14))
    shown = new_day.strftime("%d/%m/%Y")
    token = csrf(desk, f"/dossiers/{code}")
    r = desk.post(f"/dossiers/{code}/apology",
                  data={"csrf_token": token, "new_appointment": shown, "reason": "Chờ ý kiến của Sở Tài nguyên"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/dossiers/{code}#apology")
    with onestop() as s:
        dossier = s.get(Dossier, dossier_id)
        assert dossier.appointment_at == vn(new_day.year, new_day.month, new_day.day, 17, 0)
        [apology] = s.scalars(select(Apology).where(Apology.dossier_id == dossier_id))
        assert apology.state == "issued" and apology.issued_by == "tiepnhan"
        assert apology.reason == "Chờ ý kiến của Sở Tài nguyên"
    page = desk.get(f"/dossiers/{code}").get_data(as_text=True)
    assert shown in page and 'class="flash success"' in page
    assert f'id="apology-slip" href="/dossiers/{code}/slips/apology"' in page
    assert 'id="apology-form"' not in page  # no longer late: nothing to apologise for
    slip = desk.get(f"/dossiers/{code}/slips/apology")
    assert slip.status_code == 200 and shown in slip.get_data(as_text=True)


def test_apology_only_by_the_departments_handling_the_dossier(app, onestop):
    with onestop() as s:
        dossier = overdue_dossier(s)
        code, dossier_id = dossier.code, dossier.id
        # the review was assigned to someone of Sở Giao thông: he sees the dossier, but his department does not handle it
        review = s.scalar(select(HumanTask).where(HumanTask.instance_id == dossier_id, HumanTask.element_id == "review"))
        review.assignee = "giaothong"
        s.commit()
    consulted = sign_in(app, "giaothong")
    page = consulted.get(f"/dossiers/{code}")
    assert page.status_code == 200 and 'id="apology-form"' not in page.get_data(as_text=True)
    token = csrf(consulted, f"/dossiers/{code}")
    r = consulted.post(f"/dossiers/{code}/apology",
                       data={"csrf_token": token, "new_appointment": "27/11/2026", "reason": "lý do"})
    assert r.status_code == 403
    stranger = sign_in(app, "thue")  # cannot even see it
    assert stranger.post(f"/dossiers/{code}/apology", data={"csrf_token": csrf(stranger, "/dossiers"),
                         "new_appointment": "27/11/2026", "reason": "lý do"}).status_code == 404
    leader = sign_in(app, "lanhdaotrungtam")  # the center's leaders may
    r = leader.post(f"/dossiers/{code}/apology", data={"csrf_token": csrf(leader, f"/dossiers/{code}"),
                    "new_appointment": "30/11/2026", "reason": "Thẩm định kéo dài"})
    assert r.status_code == 302
    with onestop() as s:
        assert s.get(Dossier, dossier_id).appointment_at == vn(2026, 11, 30, 17, 0)


@pytest.mark.parametrize(("value", "message"), [
    ("31/02/2026", "Nhập ngày hẹn mới theo dạng dd/mm/yyyy."),
    ("2026-11-27", "Nhập ngày hẹn mới theo dạng dd/mm/yyyy."),
    ("28/11/2026", "Ngày hẹn mới phải là ngày làm việc."),  # a Saturday
    ("04/11/2026", "Ngày hẹn mới phải sau ngày hẹn hiện tại."),  # before the current 05/11/2026
])
def test_apology_with_a_bad_date_is_refused_next_to_the_field(app, onestop, value, message):
    with onestop() as s:
        dossier = overdue_dossier(s)
        code, dossier_id = dossier.code, dossier.id
    specialist = sign_in(app, "chuyenvien")  # Sở Xây dựng: the responsible (and current) department
    r = specialist.post(f"/dossiers/{code}/apology",
                        data={"csrf_token": csrf(specialist, f"/dossiers/{code}"), "new_appointment": value,
                              "reason": "Chờ kết quả đo đạc"})
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert f'<div class="error" id="e-new_appointment">{message}</div>' in page
    assert f'value="{value}"' in page and "Chờ kết quả đo đạc</textarea>" in page  # what was typed is kept
    assert 'aria-invalid="true"' in page
    with onestop() as s:
        dossier = s.get(Dossier, dossier_id)
        assert dossier.appointment_at == vn(2026, 11, 5, 17, 0)
        assert [a.state for a in dossier.apologies] == ["draft"]


def test_apology_needs_a_reason(app, onestop):
    with onestop() as s:
        code = overdue_dossier(s).code
    desk = sign_in(app, "tiepnhan")
    r = desk.post(f"/dossiers/{code}/apology",
                  data={"csrf_token": csrf(desk, f"/dossiers/{code}"), "new_appointment": "27/11/2026", "reason": "  "})
    assert r.status_code == 422
    assert '<div class="error" id="e-reason">Nêu lý do chậm trễ.</div>' in r.get_data(as_text=True)


def test_viewer_assets_are_installed_and_served(app):
    if not VIEWER.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed, so scripts/assets.sh cannot install the bpmn-js viewer")
        done = subprocess.run([str(ROOT / "scripts" / "assets.sh")], cwd=ROOT, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr
    assert VIEWER.exists()
    client = app.test_client()
    for name in ("bpmn-navigated-viewer.production.min.js", "assets/diagram-js.css", "assets/bpmn-js.css",
                 "assets/bpmn-font/css/bpmn.css", "assets/bpmn-font/font/bpmn.woff2"):
        r = client.get(f"/static/vendor/bpmn-js/{name}")
        assert r.status_code == 200, name
        assert r.data == (VENDOR / name).read_bytes()
    r = client.get("/static/js/dossier.js")
    assert r.status_code == 200 and b"highlight-current" in r.data and b"diagram.json" in r.data
