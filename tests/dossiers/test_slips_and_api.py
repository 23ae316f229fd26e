"""Slips (HTML and PDF with Vietnamese text), the control sheet, the register, and the dossier API."""

from __future__ import annotations

import io

import pypdf
import pytest

from tests.conftest import auth
from tests.dossiers.conftest import APPLICANT, DESK, LEADER, SPECIALIST, complete


@pytest.fixture
def api_dossier(client, people, onestop):
    r = client.post("/api/v1/dossiers", headers=auth(people["congdvc"]), json={
        "procedure_code": "9.999001", "channel": "in_person", "applicant": APPLICANT,
        "data": {"ghi_chu": "nộp tại quầy"}, "received_at": "2026-03-02T09:00:00+07:00"})
    assert r.status_code == 201, r.json
    return r.json


def pdf_text(data: bytes) -> str:
    """The PDF's text with line breaks (table cells wrap) folded into spaces."""
    return " ".join(" ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages).split())


def test_submit_over_api(api_dossier, client, people):
    d = api_dossier
    assert d["code"] == "H15.99-260302-0001" and d["status_code"] == 1 and d["channel_code"] == 1
    assert d["current_department"] == "MOTCUA" and d["appointment_date"] is None
    assert d["applicant"]["name"] == "Nguyễn Văn Bình"
    r = client.get(f"/api/v1/dossiers/{d['code']}", headers=auth(people["tiepnhan"]))
    assert r.status_code == 200 and r.json["status_name"] == "Mới tiếp nhận"
    # another department does not see it, not even that it exists
    assert client.get(f"/api/v1/dossiers/{d['code']}", headers=auth(people["giaothong"])).status_code == 404
    listing = client.get("/api/v1/dossiers?status_code=1&procedure_code=9.999001", headers=auth(people["tiepnhan"]))
    assert listing.json["total"] == 1
    assert client.get("/api/v1/dossiers?q=Nguyễn", headers=auth(people["tiepnhan"])).json["total"] == 1
    assert client.get("/api/v1/dossiers", headers=auth(people["giaothong"])).json["total"] == 0


def test_submit_validation_errors(client, people, onestop):
    r = client.post("/api/v1/dossiers", headers=auth(people["congdvc"]), json={
        "procedure_code": "9.999001", "channel": "fax", "applicant": {"name": "", "phone": "12345"}})
    assert r.status_code == 422
    assert {"channel", "applicant"} <= set(r.json["errors"])
    r = client.post("/api/v1/dossiers", headers=auth(people["congdvc"]), json={
        "procedure_code": "9.999001", "channel": "online", "applicant": APPLICANT})
    assert r.status_code == 400 and "online" in r.json["detail"]
    r = client.post("/api/v1/dossiers", headers=auth(people["chuyenvien"]), json={
        "procedure_code": "9.999001", "channel": "in_person", "applicant": APPLICANT})
    assert r.status_code == 403  # a specialist does not receive dossiers


def test_procedures_endpoint(client, people, onestop):
    r = client.get("/api/v1/procedures", headers=auth(people["congdvc"]))
    [p] = [p for p in r.json["items"] if p["code"] == "9.999001"]
    assert p["processing_time"] == {"value": 3.0, "unit": "working_days"}
    assert p["department"] == "SXD" and p["process_id"] == "onestop_fixture" and p["online"] is False
    assert p["required_documents"] == ["Đơn đề nghị", "Bản sao CCCD"]


def test_slips_html_and_pdf(api_dossier, client, people, onestop):
    code = api_dossier["code"]
    token = auth(people["tiepnhan"])
    r = client.get(f"/api/v1/dossiers/{code}/slips/receipt", headers=token)
    assert r.status_code == 409  # not accepted yet: no receipt
    with onestop() as s:
        from dossiers.service import get_dossier

        d = get_dossier(s, code)
        complete(s, d, "reception", {"reception_outcome": "accept"}, DESK)
        complete(s, d, "review", {"review_outcome": "ok"}, SPECIALIST)
        complete(s, d, "approve", {}, LEADER)

    r = client.get(f"/api/v1/dossiers/{code}/slips/receipt", headers=token)
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ".lower() in html.lower()
    assert "17 giờ 00 phút, ngày 05 tháng 03 năm 2026" in html  # 3 working days after Mon 02/03
    assert "<svg" in html and f"/lookup?code={code}" in html  # the QR code to the public lookup
    assert "Bản sao CCCD" in html

    r = client.get(f"/api/v1/dossiers/{code}/slips/receipt?format=pdf", headers=token)
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    text = pdf_text(r.data)
    assert "Nguyễn Văn Bình" in text and "GIẤY TIẾP NHẬN HỒ SƠ" in text and "Trang 1/1" in text  # one A5 page

    r = client.get(f"/api/v1/dossiers/{code}/slips/control-sheet?format=pdf", headers=token)
    assert r.status_code == 200
    text = pdf_text(r.data)
    assert "Sở Xây dựng" in text and "Lãnh đạo Sở Xây dựng" in text and "chuyenvien" in text

    assert client.get(f"/api/v1/dossiers/{code}/slips/refusal", headers=token).status_code == 409
    assert client.get(f"/api/v1/dossiers/{code}/slips/nonsense", headers=token).status_code == 404

    r = client.get("/api/v1/register?from=2026-03-01&to=2026-03-31&format=pdf", headers=token)
    assert r.status_code == 200 and code in pdf_text(r.data)
    r = client.get("/api/v1/register?from=2026-03-31&to=2026-03-01", headers=token)
    assert r.status_code == 422


def test_control_sheet_rows(api_dossier, onestop):
    from dossiers.control_sheet import control_sheet
    from dossiers.service import get_dossier

    with onestop() as s:
        d = get_dossier(s, api_dossier["code"])
        complete(s, d, "reception", {"reception_outcome": "accept"}, DESK)
        complete(s, d, "review", {"review_outcome": "ok"}, SPECIALIST)
        rows = control_sheet(s, d)
        assert [(r.step, r.from_department, r.to_department) for r in rows] == [
            ("Tiếp nhận hồ sơ", None, "Bộ phận Một cửa"),
            ("Thẩm định", "Bộ phận Một cửa", "Sở Xây dựng"),
            ("Phê duyệt", "Sở Xây dựng", "Lãnh đạo Sở Xây dựng"),
        ]
        assert rows[1].handed_over_by == "tiepnhan" and rows[1].received_by == "chuyenvien"
        assert rows[0].result in ("early", "on_time") and rows[2].result == "in_progress"
        assert rows[1].budget_hours == pytest.approx(16.0, abs=8.0)  # two working days (cutoff may shift)


def test_apology_over_api(api_dossier, client, people, onestop):
    code = api_dossier["code"]
    with onestop() as s:
        from dossiers.service import get_dossier

        complete(s, get_dossier(s, code), "reception", {"reception_outcome": "accept"}, DESK)
    body = {"new_appointment_at": "2026-03-12T17:00:00+07:00", "reason": "Chờ kết quả xác minh"}
    assert client.post(f"/api/v1/dossiers/{code}/apologies", json=body,
                       headers=auth(people["giaothong"])).status_code == 404
    r = client.post(f"/api/v1/dossiers/{code}/apologies", json=body, headers=auth(people["chuyenvien"]))
    assert r.status_code == 201 and r.json["state"] == "issued"
    r = client.get(f"/api/v1/dossiers/{code}", headers=auth(people["chuyenvien"]))
    assert r.json["appointment_date"].startswith("2026-03-12T10:00")  # 17:00 in Vietnam = 10:00 UTC
    html = client.get(f"/api/v1/dossiers/{code}/slips/apology", headers=auth(people["chuyenvien"])).get_data(True)
    assert "Chờ kết quả xác minh" in html and "12/03/2026" in html and "05/03/2026" in html


def test_calendar_overrides_change_deadlines(client, people, onestop):
    admin = auth(people["admin"])
    # an extra day off on Tue 03/03/2026 pushes a 3-working-day appointment by one day
    r = client.put("/api/v1/calendar/days", json={"day": "2026-03-03", "working": False, "note": "nghỉ đột xuất"},
                   headers=admin)
    assert r.status_code == 200
    assert client.put("/api/v1/calendar/days", json={"day": "2026-03-04", "working": False},
                      headers=auth(people["tiepnhan"])).status_code == 403
    try:
        r = client.post("/api/v1/dossiers", headers=auth(people["congdvc"]), json={
            "procedure_code": "9.999001", "channel": "in_person", "applicant": APPLICANT,
            "received_at": "2026-03-02T09:00:00+07:00"})
        code = r.json["code"]
        with onestop() as s:
            from dossiers.service import get_dossier

            d = get_dossier(s, code)
            complete(s, d, "reception", {"reception_outcome": "accept"}, DESK)
            s.refresh(d)
            assert d.appointment_at.isoformat() == "2026-03-06T10:00:00+00:00"  # Fri 06/03 17:00 VN
    finally:
        assert client.delete("/api/v1/calendar/days/2026-03-03", headers=admin).status_code == 204
    assert client.get("/api/v1/calendar/days", headers=admin).json["items"] == []
