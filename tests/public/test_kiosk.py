"""The kiosk (/kiosk): large touch pages to look up a dossier, browse procedures and submit online."""

from __future__ import annotations

import html
import re
from pathlib import Path

from sqlalchemy import func, select

from dossiers.models import Dossier
from engine.models import EventLogEntry
from tests.dossiers.conftest import APPLICANT
from tests.public.conftest import COUNTER_CODE, ONLINE_CODE, accepted, client_of_own_address
from tests.ui.helpers import csrf

KIOSK_CSS = Path(__file__).resolve().parents[2] / "ui" / "static" / "css" / "kiosk.css"
FORM = {"applicant_name": "Trần Thị Hoa", "applicant_id_number": "092190004321", "applicant_phone": "0987654321",
        "applicant_email": "hoa@example.vn", "applicant_address": "5 Trần Phú, Ninh Kiều, Cần Thơ"}


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def count_dossiers(sessions) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(Dossier))


def post_form(client, code: str, data: dict):
    path = f"/kiosk/submit/{code}"
    return client.post(path, data={"csrf_token": csrf(client, "/kiosk"), **data})


def test_the_kiosk_home_needs_no_sign_in_and_uses_the_kiosk_stylesheet(app, procedures):
    r = client_of_own_address(app).get("/kiosk")
    page = text_of(r)
    assert r.status_code == 200
    assert "css/kiosk.css" in page and "css/app.css" not in page
    for text in ("Tra cứu hồ sơ", "Thủ tục hành chính", "Nộp hồ sơ trực tuyến", "English"):
        assert text in page, text
    assert 'href="/kiosk/lookup"' in page and 'href="/kiosk/procedures"' in page
    assert "<script" not in page


def test_the_kiosk_stylesheet_has_large_touch_targets_and_nothing_behind_hover():
    css = KIOSK_CSS.read_text()
    assert ":hover" not in css
    button = re.search(r"\.kiosk-button \{([^}]*)\}", css).group(1)
    assert int(re.search(r"min-height: (\d+)px", button).group(1)) >= 48
    assert int(re.search(r"font-size: (\d+)px", button).group(1)) >= 20
    body = re.search(r"body\.kiosk \{([^}]*)\}", css).group(1)
    assert "color: #000" in body and "background: #fff" in body  # black on white


def test_the_procedure_list_shows_documents_fees_times_and_offers_only_online_ones(app, procedures):
    client = client_of_own_address(app)
    page = text_of(client.get("/kiosk/procedures"))
    counter = page[page.index(f'id="procedure-{COUNTER_CODE}"'):page.index(f'id="procedure-{ONLINE_CODE}"')]
    online = page[page.index(f'id="procedure-{ONLINE_CODE}"'):]
    online = online[:online.index("</li>\n")]
    for block in (counter, online):
        assert "<li>Đơn đề nghị</li>" in block and "<li>Bản sao CCCD</li>" in block
        assert "3 ngày làm việc" in block and "Không thu phí" in block and "Sở Xây dựng" in block
    assert f'href="/kiosk/submit/{ONLINE_CODE}"' in online
    assert "/kiosk/submit/" not in counter and "nộp trực tiếp tại quầy" in counter

    only_online = text_of(client.get("/kiosk/procedures?online=1"))
    assert f'id="procedure-{ONLINE_CODE}"' in only_online and f'id="procedure-{COUNTER_CODE}"' not in only_online


def test_the_kiosk_shows_fees_in_dong(app, people, sessions):
    from engine.deployments import deploy
    from tests.public.conftest import variant

    xml = variant("onestop_fee", "9.999103", "Thủ tục có lệ phí", "Fee-bearing procedure", online=True)
    with sessions() as s:
        deploy(s, [("onestop_fee.bpmn", xml.replace(b'name="fee" value="0"', b'name="fee" value="135000"'))], "t")
        s.commit()
    page = text_of(client_of_own_address(app).get("/kiosk/procedures"))
    assert "135.000 đồng" in page


def test_a_procedure_not_offered_online_cannot_be_submitted(app, procedures):
    client = client_of_own_address(app)
    assert client.get(f"/kiosk/submit/{COUNTER_CODE}").status_code == 404
    assert post_form(client, COUNTER_CODE, FORM).status_code == 404
    assert post_form(client, "9.000000", FORM).status_code == 404
    assert count_dossiers(procedures) == 0
    page = text_of(client.get(f"/kiosk/submit/{COUNTER_CODE}"))
    assert "Về trang đầu" in page and "css/kiosk.css" in page  # the kiosk's own error page


def test_the_form_is_validated_on_the_server(app, procedures):
    client = client_of_own_address(app)
    r = client.get(f"/kiosk/submit/{ONLINE_CODE}")
    assert r.status_code == 200 and 'autocomplete="off"' in r.get_data(as_text=True)
    r = post_form(client, ONLINE_CODE, {"applicant_name": "", "applicant_id_number": "12345",
                                        "applicant_phone": "12ab", "applicant_email": "not-an-email",
                                        "applicant_address": "x" * 501})
    assert r.status_code == 422
    page = text_of(r)
    for text in ("Nhập họ và tên người nộp.", "Số định danh cá nhân gồm đúng 12 chữ số.",
                 "Số điện thoại chưa đúng (ví dụ 0912345678).", "Địa chỉ email chưa đúng.",
                 "Địa chỉ dài tối đa 500 ký tự.", "Vui lòng sửa các ô được đánh dấu."):
        assert text in page, text
    assert 'value="not-an-email"' in page  # what was typed stays
    # a 9-digit old ID number is fine for the API, not for the kiosk (12-digit citizen ID)
    r = post_form(client, ONLINE_CODE, {**FORM, "applicant_id_number": "092190004"})
    assert r.status_code == 422 and "gồm đúng 12 chữ số" in text_of(r)
    r = post_form(client, ONLINE_CODE, {**FORM, "applicant_phone": ""})
    assert r.status_code == 422 and "Nhập số điện thoại để nhận thông báo." in text_of(r)
    assert count_dossiers(procedures) == 0


def test_a_submission_creates_an_online_dossier_and_shows_its_tracking_code(app, procedures):
    client = client_of_own_address(app)
    r = post_form(client, ONLINE_CODE, FORM)
    assert r.status_code == 303 and r.location.endswith("/kiosk/submitted")
    page = text_of(client.get("/kiosk/submitted"))
    code = re.search(r'id="tracking-code">([^<]+)<', page).group(1)
    with procedures() as s:
        dossier = s.scalar(select(Dossier).where(Dossier.code == code))
        assert dossier.channel == "online" and dossier.status_code == 1
        assert dossier.procedure_code == ONLINE_CODE
        assert (dossier.applicant_name, dossier.applicant_id_number, dossier.applicant_phone,
                dossier.applicant_email, dossier.applicant_address) == tuple(FORM.values())
        started = s.scalar(select(EventLogEntry).where(EventLogEntry.instance_id == dossier.id,
                                                       EventLogEntry.kind == "instance_started"))
        assert started.actor == "kiosk"
    assert f"http://localhost/lookup?code={code}" in page and "<svg" in page  # link and QR code to the lookup
    assert "<li>Đơn đề nghị</li>" in page
    assert FORM["applicant_id_number"] not in page and FORM["applicant_phone"] not in page
    assert 'http-equiv="refresh"' in page  # a shared screen goes back to the start
    # the public lookup knows it
    assert client.get(f"/kiosk/lookup?code={code}").status_code == 200
    # the next person at the kiosk starts from the home page and no longer sees it
    client.get("/kiosk")
    r = client.get("/kiosk/submitted")
    assert r.status_code == 302 and r.location.endswith("/kiosk")


def test_kiosk_forms_need_the_csrf_token(app, procedures):
    client = client_of_own_address(app)
    assert client.post(f"/kiosk/submit/{ONLINE_CODE}", data=FORM).status_code == 400
    assert client.post(f"/kiosk/submit/{ONLINE_CODE}", data={**FORM, "csrf_token": "gia-mao"}).status_code == 400
    assert count_dossiers(procedures) == 0


def test_submissions_are_rate_limited(app, procedures):
    client = client_of_own_address(app)
    token = csrf(client, "/kiosk")
    for _ in range(10):
        r = client.post(f"/kiosk/submit/{ONLINE_CODE}", data={"csrf_token": token, "applicant_name": ""})
        assert r.status_code == 422
    r = client.post(f"/kiosk/submit/{ONLINE_CODE}", data={"csrf_token": token, **FORM})
    assert r.status_code == 429 and "Vui lòng đợi một lát" in text_of(r)
    assert count_dossiers(procedures) == 0
    assert client.get(f"/kiosk/submit/{ONLINE_CODE}").status_code == 200  # reading the form is not limited
    assert post_form(client_of_own_address(app), ONLINE_CODE, FORM).status_code == 303  # another kiosk


def test_kiosk_lookup_follows_the_same_privacy_rules(app, procedures):
    with procedures() as s:
        dossier = accepted(s)
    client = client_of_own_address(app)
    r = client.get(f"/kiosk/lookup?code={dossier.code}")
    page = text_of(r)
    assert r.status_code == 200 and "css/kiosk.css" in page
    assert "Nguyễn V*** B***" in page and "Đang xử lý" in page and "Sở Xây dựng" in page
    for secret in (APPLICANT["id_number"], APPLICANT["phone"], APPLICANT["email"], APPLICANT["address"],
                   APPLICANT["name"], dossier.id, "tiepnhan", "chuyenvien"):
        assert secret not in page, secret
    assert 'http-equiv="refresh"' in page
    r = client.get("/kiosk/lookup?code=H15.99-991231-9999")
    assert r.status_code == 404 and "Không tìm thấy hồ sơ có mã" in text_of(r)
    r = client.get("/kiosk/lookup")
    assert r.status_code == 200 and 'http-equiv="refresh"' not in r.get_data(as_text=True)
