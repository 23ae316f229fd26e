"""The public lookup (/lookup?code=…, where the receipt's QR code points): what it shows, what it never shows."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from dossiers import lateness
from dossiers.models import Dossier
from dossiers.public import mask_name, survey_url
from tests.dossiers.conftest import APPLICANT, DESK, SPECIALIST
from tests.public.conftest import accepted, client_of_own_address, complete, done, submitted
from tests.ui.helpers import csrf

STAFF = ("tiepnhan", "chuyenvien", "lanhdao", "congdvc", "Nguyễn Thị Lan", "Trần Văn Minh", "Lê Quốc Hùng")


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def assert_nothing_personal(page: str, dossier: Dossier) -> None:
    for secret in (APPLICANT["id_number"], APPLICANT["phone"], APPLICANT["email"], APPLICANT["address"],
                   "Hòa Bình", APPLICANT["name"], "Văn Bình", dossier.id, *STAFF):
        assert secret not in page, secret
    assert not re.search(r"\bSXD\b", re.sub(r"<[^>]+>", " ", page)), "department codes are not for citizens"


def test_mask_name():
    assert mask_name("Nguyễn Văn Bình") == "Nguyễn V*** B***"
    assert mask_name("  Lê   Thị Thu ") == "Lê T*** T***"
    assert mask_name("Bình") == "B***"
    assert mask_name("") == "—"


def test_an_accepted_dossier_shows_status_appointment_and_department_by_name(app, procedures):
    with procedures() as s:
        dossier = accepted(s)
        appointment = dossier.appointment_at
    r = client_of_own_address(app).get(f"/lookup?code={dossier.code}")
    page = text_of(r)
    assert r.status_code == 200
    assert "Hồ sơ số " + dossier.code in page
    assert "Đang xử lý" in page and "Hồ sơ đang được giải quyết." in page
    assert "Nguyễn V*** B***" in page
    assert "Thủ tục thử nghiệm một cửa" in page
    from dossiers.notifications import vn_date
    assert re.search(rf'id="public-appointment">{re.escape(vn_date(appointment))}<', page)
    assert re.search(r'id="public-department">Sở Xây dựng<', page)
    assert "public-survey" not in page and 'id="survey-link"' not in page  # not done yet
    assert_nothing_personal(page, dossier)
    assert r.headers["Cache-Control"] == "no-store"


def test_the_code_is_read_as_people_type_it(app, procedures):
    with procedures() as s:
        dossier = submitted(s)
    r = client_of_own_address(app).get("/lookup", query_string={"code": f"  {dossier.code.lower()} "})
    assert r.status_code == 200
    page = text_of(r)
    assert "Mới tiếp nhận" in page and "Chưa có (hồ sơ chưa được tiếp nhận)" in page
    assert re.search(r'id="public-department">Bộ phận Một cửa<', page)
    assert_nothing_personal(page, dossier)


def test_a_supplement_request_lists_what_is_missing(app, procedures):
    with procedures() as s:
        dossier = accepted(s)
        complete(s, dossier.id, "review", {"review_outcome": "supplement",
                                           "missing_documents": "Bản sao sổ đỏ\n- Bản vẽ thiết kế"}, SPECIALIST)
    page = text_of(client_of_own_address(app).get(f"/lookup?code={dossier.code}"))
    assert "Yêu cầu bổ sung" in page and "Giấy tờ cần bổ sung" in page
    missing = page[page.index('id="public-missing"'):]
    assert "<li>Bản sao sổ đỏ</li>" in missing and "<li>Bản vẽ thiết kế</li>" in missing
    assert_nothing_personal(page, dossier)


def test_an_issued_apology_shows_the_new_date_but_not_who_issued_it(app, procedures):
    from dossiers.notifications import vn_date

    with procedures() as s:
        dossier = accepted(s)
        new_date = dossier.appointment_at + timedelta(days=7)
        lateness.issue_apology(s, dossier, new_date, "Chờ ý kiến của Sở Tài nguyên", DESK)
        s.commit()
    page = text_of(client_of_own_address(app).get(f"/lookup?code={dossier.code}"))
    apologies = page[page.index('id="public-apologies"'):]
    assert "thư xin lỗi" in apologies and f"ngày hẹn trả mới: {vn_date(new_date)}" in apologies
    assert re.search(rf'id="public-appointment">{re.escape(vn_date(new_date))}<', page)
    assert_nothing_personal(page, dossier)


def test_result_ready_then_returned_with_the_survey_link(app, procedures):
    with procedures() as s:
        ready = done(s)
        returned = done(s, returned=True)
    client = client_of_own_address(app)
    page = text_of(client.get(f"/lookup?code={ready.code}"))
    assert "Đã có kết quả" in page and "Kết quả đã sẵn sàng từ ngày" in page
    with app.test_request_context():
        link = survey_url(ready.code)
    assert f'href="{link}"' in page
    assert_nothing_personal(page, ready)

    page = text_of(client.get(f"/lookup?code={returned.code}"))
    assert "Đã trả kết quả ngày" in page and "(kết quả điện tử)" in page
    assert 'id="survey-link"' in page
    assert 'id="public-department"' not in page  # returned: no department holds it any more
    assert_nothing_personal(page, returned)


def test_an_unknown_code_is_a_friendly_404(app, procedures):
    client = client_of_own_address(app)
    r = client.get("/lookup?code=H15.99-991231-9999")
    assert r.status_code == 404
    page = text_of(r)
    assert "Không tìm thấy hồ sơ có mã H15.99-991231-9999" in page and 'name="code"' in page
    r = client.get("/lookup?code=<script>alert(1)</script>")
    assert r.status_code == 404 and "<script>alert" not in r.get_data(as_text=True)
    r = client.get("/lookup")  # the empty form
    assert r.status_code == 200 and "Tra cứu hồ sơ" in text_of(r) and "Không tìm thấy" not in text_of(r)


def test_lookups_are_rate_limited_per_address(app, procedures):
    with procedures() as s:
        dossier = submitted(s)
    guesser, neighbour = client_of_own_address(app), client_of_own_address(app)
    for n in range(30):
        code = dossier.code if n == 0 else f"H15.99-260101-{n:04d}"
        assert guesser.get(f"/lookup?code={code}").status_code in (200, 404)
    r = guesser.get(f"/lookup?code={dossier.code}")
    assert r.status_code == 429
    page = text_of(r)
    assert "Quá nhiều lần tra cứu" in page and "Nguyễn V*** B***" not in page
    assert guesser.get(f"/kiosk/lookup?code={dossier.code}").status_code == 429  # the kiosk shares the limit
    assert guesser.get("/lookup").status_code == 200  # the empty form is not a guess
    assert neighbour.get(f"/lookup?code={dossier.code}").status_code == 200


def test_the_lookup_in_english(app, procedures):
    with procedures() as s:
        dossier = accepted(s)
    client = client_of_own_address(app)
    path = f"/lookup?code={dossier.code}"
    r = client.post("/language/en", data={"csrf_token": csrf(client, path), "next": path})
    assert r.status_code == 302
    page = text_of(client.get(path))
    for text in ("Dossier lookup", "Processing", "Return date", "Department of Construction", "One-stop test procedure",
                 "The dossier is being processed."):
        assert text in page, text
    assert "Đang xử lý" not in page and "Sở Xây dựng" not in page
    assert_nothing_personal(page, dossier)
