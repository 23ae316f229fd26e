"""GET /api/v1/indicators and the /dashboard pages on the hand-made month (figures: test_formulas.py)."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from dossiers import indicators as ind
from engine.calendar import VN_TZ
from tests.conftest import auth
from tests.indicators.test_formulas import WHOLE
from tests.ui.helpers import new_client, sign_in

ROOT = Path(__file__).resolve().parents[2]
CHART_JS = ROOT / "ui" / "static" / "vendor" / "chart.js" / "chart.umd.js"
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
MARCH_VN = "from=01/03/2026&to=31/03/2026"
SXD_ONLY = {
    "received": 10, "resolved": 4, "on_time_rate": 75.0, "avg_processing_days": 3.61, "overdue_open": 1,
    "online_rate": 30.0, "online_payment_rate": 66.67, "digitization_rate": 50.0, "e_result_rate": 75.0,
    "satisfaction_rate": 25.0,
    "points": {"transparency": 18.0, "progress": 15.0, "online": 13.93, "digitization": 15.13, "satisfaction": 4.5,
               "total": 66.56},
}


# ----------------------------------------------------------------- the API
def test_api_returns_exactly_the_766_keys(client, people, march):
    r = client.get("/api/v1/indicators", query_string=MARCH, headers=auth(people["admin"]))
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert set(body) == {*ind.KEYS, "from", "to"}
    assert body == {**WHOLE, "from": "2026-03-01", "to": "2026-03-31"}
    assert set(body["points"]) == {"transparency", "progress", "online", "digitization", "satisfaction", "total"}


def test_api_filters_by_department_and_procedure(client, people, march):
    r = client.get("/api/v1/indicators", query_string={**MARCH, "department": "SXD"}, headers=auth(people["admin"]))
    assert {k: v for k, v in r.get_json().items() if k not in ("from", "to")} == SXD_ONLY
    r = client.get("/api/v1/indicators", query_string={**MARCH, "procedure_code": "9.999002"},
                   headers=auth(people["congdvc"]))
    body = r.get_json()
    assert r.status_code == 200 and body["received"] == 1 and body["on_time_rate"] == 0.0
    assert body["online_payment_rate"] is None and body["points"]["online"] == 22.0


@pytest.mark.parametrize(("user", "status"), [
    ("tiepnhan", 403), ("chuyenvien", 403), ("thietke", 403), ("tainguyen", 403),
    ("lanhdao", 200), ("lanhdaotrungtam", 200), ("congdvc", 200), ("admin", 200),
])
def test_api_permissions(client, people, march, user, status):
    r = client.get("/api/v1/indicators", query_string=MARCH, headers=auth(people[user]))
    assert r.status_code == status, r.get_data(as_text=True)
    if status == 403:
        assert r.content_type == "application/problem+json"
        assert "received" not in r.get_json()


def test_api_without_a_token_is_401(client, people):
    assert client.get("/api/v1/indicators", query_string=MARCH).status_code == 401


def test_a_department_leader_reads_their_own_departments(client, people, march):
    token = people["lanhdao"]  # SXD, LD_SXD
    r = client.get("/api/v1/indicators", query_string=MARCH, headers=auth(token))
    assert {k: v for k, v in r.get_json().items() if k not in ("from", "to")} == SXD_ONLY
    r = client.get("/api/v1/indicators", query_string={**MARCH, "department": "SXD"}, headers=auth(token))
    assert r.status_code == 200 and r.get_json()["received"] == 10
    r = client.get("/api/v1/indicators", query_string={**MARCH, "department": "STNMT"}, headers=auth(token))
    assert r.status_code == 403
    # the center leader sees every department
    r = client.get("/api/v1/indicators", query_string={**MARCH, "department": "STNMT"},
                   headers=auth(people["lanhdaotrungtam"]))
    assert r.status_code == 200 and r.get_json()["received"] == 1


@pytest.mark.parametrize("query", [
    {"from": "2026-03-31", "to": "2026-03-01"},
    {"from": "31/03/2026", "to": "2026-04-01"},
    {"from": "2026-02-30", "to": "2026-03-01"},
    {"from": "2024-01-01", "to": "2026-03-01"},
    {"from": "", "to": "2026-03-01"},
])
def test_api_refuses_bad_periods(client, people, query):
    r = client.get("/api/v1/indicators", query_string=query, headers=auth(people["admin"]))
    assert r.status_code == 422, r.get_data(as_text=True)
    assert r.content_type == "application/problem+json"


def test_api_default_period_is_the_current_month(client, people):
    r = client.get("/api/v1/indicators", headers=auth(people["admin"]))
    today = datetime.now(VN_TZ).date()
    body = r.get_json()
    assert r.status_code == 200
    assert (body["from"], body["to"]) == (today.replace(day=1).isoformat(), today.isoformat())
    assert body["received"] == 0 and body["on_time_rate"] is None and body["points"]["total"] == 100.0


def test_the_openapi_document_describes_the_indicators(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/indicators"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"from", "to", "department", "procedure_code"}


# ----------------------------------------------------------------- the dashboard
def embedded(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', page, re.S)
    assert match, "the chart data is embedded"
    return json.loads(match.group(1))


def codes_listed(page: str) -> set[str]:
    table = re.search(r'<table class="list" id="drill-list">(.*?)</table>', page, re.S).group(1)
    return set(re.findall(r'href="/dossiers/([^"]+)"', table))


def test_dashboard_renders_the_figures_and_the_chart_data(app, people, march):
    admin = sign_in(app, "admin")
    r = admin.get(f"/dashboard?{MARCH_VN}")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    data = embedded(page)
    assert data["onTime"]["labels"] == ["Sở Tài nguyên và Môi trường", "Sở Xây dựng"]
    assert data["onTime"]["values"] == [0.0, 75.0]
    assert data["channels"]["values"] == [4, 5, 2]  # online, in person, postal
    assert data["points"]["values"] == [9.0, 12.0, 15.33, 12.1, 3.6]
    assert data["points"]["max"] == [18, 20, 22, 22, 18]
    # no executable inline script: every <script> has a src, or is the JSON data block
    for tag in re.findall(r"<script\b[^>]*>", page):
        assert 'src="' in tag or 'type="application/json"' in tag, tag
    assert 'src="/static/vendor/chart.js/chart.umd.js"' in page and 'src="/static/js/dashboard.js"' in page
    text = html.unescape(page)
    assert "52,03" in text and "36,36 %" in text and "3,94" in text  # Vietnamese decimals
    assert 'href="/dashboard/dossiers?indicator=overdue_open&amp;from=01/03/2026&amp;to=31/03/2026"' in page
    assert "Chỉ số 766" in text and 'href="/dashboard" aria-current="page"' in page  # the nav link
    assert "/dashboard/export.csv?from=01/03/2026&amp;to=31/03/2026" in page
    assert "/dashboard/export.xlsx?from=01/03/2026&amp;to=31/03/2026" in page


def test_dashboard_in_english(app, people, march):
    from tests.ui.helpers import csrf

    admin = sign_in(app, "admin")
    r = admin.post("/language/en", data={"csrf_token": csrf(admin, "/dashboard"), "next": "/dashboard"})
    assert r.status_code == 302
    text = html.unescape(admin.get(f"/dashboard?{MARCH_VN}").get_data(as_text=True))
    assert "766 indicators" in text and "On-time rate" in text and "52.03" in text
    assert embedded(admin.get(f"/dashboard?{MARCH_VN}").get_data(as_text=True))["channels"]["labels"] == [
        "Submitted online", "Submitted in person", "Submitted by post"]


def test_a_department_leader_sees_their_departments_by_default(app, people, march):
    leader = sign_in(app, "lanhdao")
    page = leader.get(f"/dashboard?{MARCH_VN}").get_data(as_text=True)
    assert embedded(page)["onTime"]["labels"] == ["Sở Xây dựng"]
    assert embedded(page)["channels"]["values"] == [3, 5, 2]
    assert "Sở Tài nguyên và Môi trường" not in html.unescape(page)
    assert leader.get(f"/dashboard?{MARCH_VN}&department=STNMT").status_code == 403
    assert leader.get(f"/dashboard/dossiers?indicator=late&{MARCH_VN}&department=STNMT").status_code == 403
    assert leader.get(f"/dashboard/export.csv?{MARCH_VN}&department=STNMT").status_code == 403
    late = leader.get(f"/dashboard/dossiers?indicator=late&{MARCH_VN}").get_data(as_text=True)
    assert codes_listed(late) == {march["B"], march["D"]}


@pytest.mark.parametrize("user", ["tiepnhan", "chuyenvien", "thietke", "congdvc"])
def test_others_may_not_see_the_dashboard(app, people, user):
    browser = sign_in(app, user)
    for path in ("/dashboard", "/dashboard/dossiers?indicator=received", "/dashboard/export.csv",
                 "/dashboard/export.xlsx"):
        assert browser.get(path).status_code == 403, path
    assert 'href="/dashboard"' not in browser.get("/dossiers").get_data(as_text=True)


def test_signed_out_visitors_are_sent_to_sign_in(app):
    r = new_client(app).get("/dashboard")
    assert r.status_code == 302 and "/login" in r.location


def test_the_center_leader_sees_the_dashboard(app, people, march):
    page = sign_in(app, "lanhdaotrungtam").get(f"/dashboard?{MARCH_VN}").get_data(as_text=True)
    assert embedded(page)["points"]["values"] == [9.0, 12.0, 15.33, 12.1, 3.6]


def test_bad_dates_are_shown_next_to_the_fields(app, people):
    admin = sign_in(app, "admin")
    r = admin.get("/dashboard?from=31/02/2026&to=01/03/2026")
    assert r.status_code == 422
    assert '<div class="error" id="e-from">Nhập ngày theo dạng dd/mm/yyyy.</div>' in r.get_data(as_text=True)
    r = admin.get("/dashboard?from=31/03/2026&to=01/03/2026")
    assert r.status_code == 422 and "Ngày cuối phải sau hoặc bằng ngày đầu." in r.get_data(as_text=True)
    assert 'id="dashboard-data"' not in r.get_data(as_text=True)
    assert admin.get("/dashboard/export.csv?from=31/03/2026&to=01/03/2026").status_code == 422
    assert admin.get("/dashboard/dossiers?indicator=late&from=x&to=01/03/2026").status_code == 422


def test_drill_down_lists_the_dossiers_behind_each_number(app, people, march):
    admin = sign_in(app, "admin")
    expected = {"late": "BDIM", "overdue_open": "DM", "received_online": "AFIN", "digitized": "AJ", "paid": "ABO",
                "negative_rating": "BC", "on_time": "ACEHJN"}
    for indicator, letters in expected.items():
        r = admin.get(f"/dashboard/dossiers?indicator={indicator}&{MARCH_VN}")
        assert r.status_code == 200
        page = html.unescape(r.get_data(as_text=True))
        assert codes_listed(page) == {march[x] for x in letters}, indicator
        assert f"{len(letters)} hồ sơ" in page
    r = admin.get(f"/dashboard/dossiers?indicator=received&{MARCH_VN}&department=SXD&procedure_code=9.999001")
    assert codes_listed(r.get_data(as_text=True)) == {march[x] for x in "ABCDEFGHLN"}
    assert admin.get(f"/dashboard/dossiers?indicator=nothing&{MARCH_VN}").status_code == 404


def test_every_number_of_the_dashboard_links_to_as_many_dossiers(app, people, march):
    """Follow each drill-down link of the page: the list holds as many dossiers as the link's number says."""
    admin = sign_in(app, "admin")
    page = admin.get(f"/dashboard?{MARCH_VN}").get_data(as_text=True)
    links = re.findall(r'<a href="(/dashboard/dossiers\?[^"]+)" data-indicator="[^"]+">([\d.,]+)</a>', page)
    assert len(links) == 28  # 16 figures on the cards, 3 per row of the two tables (2 departments, 2 procedures)
    for href, number in set(links):
        listed = codes_listed(admin.get(html.unescape(href)).get_data(as_text=True))
        assert len(listed) == int(number.replace(".", "").replace(",", "")), href


def test_csv_export_opens_with_vietnamese_headers(app, people, march):
    admin = sign_in(app, "admin")
    r = admin.get(f"/dashboard/export.csv?{MARCH_VN}")
    assert r.status_code == 200
    assert r.mimetype == "text/csv" and "charset=utf-8" in r.headers["Content-Type"]
    assert 'filename="chi-so-766_2026-03-01_2026-03-31.csv"' in r.headers["Content-Disposition"]
    assert r.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
    header = rows[0]
    assert header[:5] == ["Phạm vi", "Mã", "Tên", "Từ ngày", "Đến ngày"]
    assert "Tỷ lệ đúng hạn (%)" in header and "Tổng điểm (100)" in header
    table = [dict(zip(header, row, strict=True)) for row in rows[1:]]
    assert [(t["Phạm vi"], t["Mã"]) for t in table] == [
        ("Toàn bộ", ""), ("Sở, ngành", "STNMT"), ("Sở, ngành", "SXD"), ("Thủ tục", "9.999001"),
        ("Thủ tục", "9.999002")]
    whole = table[0]
    assert (whole["Từ ngày"], whole["Đến ngày"]) == ("01/03/2026", "31/03/2026")
    assert whole["Hồ sơ tiếp nhận"] == "11" and whole["Hồ sơ đã giải quyết"] == "5"
    assert whole["Tỷ lệ đúng hạn (%)"] == "60.0" and whole["Tỷ lệ nộp trực tuyến (%)"] == "36.36"
    assert whole["Thời gian giải quyết trung bình (ngày làm việc)"] == "3.94"
    assert whole["Tổng điểm (100)"] == "52.03"
    assert table[1]["Tên"] == "Sở Tài nguyên và Môi trường" and table[1]["Tỷ lệ thanh toán trực tuyến (%)"] == ""
    assert table[2]["Tổng điểm (100)"] == "66.56"


def test_xlsx_export_opens_in_openpyxl(app, people, march):
    admin = sign_in(app, "admin")
    r = admin.get(f"/dashboard/export.xlsx?{MARCH_VN}&department=SXD")
    assert r.status_code == 200
    assert r.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = load_workbook(io.BytesIO(r.data))
    sheet = book["Chỉ số 766"]
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert header[0] == "Phạm vi" and "Tỷ lệ số hóa hồ sơ (%)" in header
    table = [dict(zip(header, row, strict=True)) for row in rows[1:]]
    assert [t["Mã"] for t in table] == ["SXD", "SXD", "9.999001"]
    whole = table[0]
    assert whole["Hồ sơ tiếp nhận"] == 10 and whole["Tỷ lệ đúng hạn (%)"] == 75.0
    assert whole["Điểm số hóa (22)"] == 15.13 and whole["Tổng điểm (100)"] == 66.56
    assert whole["Tỷ lệ thanh toán trực tuyến (%)"] == 66.67


def test_chart_js_and_the_dashboard_script_are_served_locally(app):
    if not CHART_JS.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed, so scripts/assets.sh cannot install Chart.js")
        done = subprocess.run([str(ROOT / "scripts" / "assets.sh")], cwd=ROOT, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr
    client = app.test_client()
    r = client.get("/static/vendor/chart.js/chart.umd.js")
    assert r.status_code == 200 and r.data == CHART_JS.read_bytes() and b"Chart.js v4" in r.data[:200]
    r = client.get("/static/js/dashboard.js")
    assert r.status_code == 200 and b"dashboard-data" in r.data and b"window.Chart" in r.data
    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]["chart.js"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned)  # an exact version
    assert f"Chart.js v{pinned}".encode() in CHART_JS.read_bytes()[:200]  # the installed build is the pinned one
