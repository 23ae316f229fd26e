"""What citizens and leaders see, driven through Debian's Chromium (Playwright, sync API) against a live gunicorn.

Citizens never sign in: the receipt's QR link to the public lookup, the kiosk at the center (a touch screen),
the satisfaction survey link. Leaders sign in: the department leader follows up the complaint, the center's
leader reads the 766 indicators (figures, charts, the dossiers behind a number, the CSV export) and the
bottlenecks of a procedure on its diagram.
"""

from __future__ import annotations

import csv
import io
import os
import re
from datetime import datetime

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import APPLICANT, CHROMIUM, SCREENSHOTS, screenshot
from tests.ui.helpers import PASSWORD

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium"
)

BOTTLENECK_PROCEDURE = "Đăng ký khai sinh"  # a narrow diagram: its overlays stay readable when fitted
KIOSK_PROCEDURE = "1.002809"  # Cấp đổi giấy phép lái xe: offered online, 5 working days, 135.000 đồng
CSV_HEADER = [
    "Phạm vi", "Mã", "Tên", "Từ ngày", "Đến ngày", "Hồ sơ tiếp nhận", "Hồ sơ đã giải quyết", "Tỷ lệ đúng hạn (%)",
    "Thời gian giải quyết trung bình (ngày làm việc)", "Hồ sơ quá hạn đang xử lý", "Tỷ lệ nộp trực tuyến (%)",
    "Tỷ lệ thanh toán trực tuyến (%)", "Tỷ lệ số hóa hồ sơ (%)", "Tỷ lệ kết quả điện tử (%)", "Tỷ lệ hài lòng (%)",
    "Điểm công khai, minh bạch (18)", "Điểm tiến độ, kết quả giải quyết (20)", "Điểm dịch vụ trực tuyến (22)",
    "Điểm số hóa (22)", "Điểm mức độ hài lòng (18)", "Tổng điểm (100)",
]


def sign_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page).to_have_url(re.compile(r"/inbox$"))
    expect(page.locator("header .user")).to_have_attribute("title", username)


def main_nav(page: Page, name: str):
    return page.get_by_role("navigation", name="Chính").get_by_role("link", name=name, exact=True)


def dossier_row(sessions, code: str):
    from dossiers.service import get_dossier

    with sessions() as s:
        dossier = get_dossier(s, code)
        s.expunge(dossier)
        return dossier


def vn_day(moment: datetime) -> str:
    from engine.calendar import VN_TZ

    return moment.astimezone(VN_TZ).strftime("%d/%m/%Y")


def screenshot_of_screen(page: Page, name: str) -> None:
    """What the screen shows (not the whole long page), for docs/screenshots/; only with MOTCUA_SCREENSHOTS=1."""
    if os.environ.get("MOTCUA_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / name), animations="disabled", caret="hide")


def expect_large(locator, minimum: float = 48) -> None:
    """Every element of the locator is visible and at least `minimum` CSS pixels high (touch targets)."""
    assert locator.count() > 0
    for i in range(locator.count()):
        item = locator.nth(i)
        expect(item).to_be_visible()
        box = item.bounding_box()
        assert box is not None and box["height"] >= minimum, f"{item.inner_text()!r} is {box} high"


# --------------------------------------------------------------------------------- citizens
@pytest.mark.browser
def test_citizen_follows_the_receipts_qr_link(contexts, onestop, submit_dossier, complete_step):
    code = submit_dossier()
    complete_step(code, "reception", {"reception_outcome": "accept"}, "tiepnhan")  # accepted at the desk
    dossier = dossier_row(onestop, code)
    assert dossier.appointment_at is not None

    citizen = contexts.new_page()  # nobody signed in: what the phone opens from the QR code
    response = citizen.goto(f"/lookup?code={code}")
    assert response.status == 200
    status = citizen.locator("#public-status")
    expect(status.get_by_role("heading", level=2)).to_have_text(f"Hồ sơ số {code}")
    assert dossier.status_code == 4  # accepted at the desk, then handed to the department
    expect(status.locator(".status-name")).to_have_text("Đang xử lý")
    expect(status.locator(".status-explain")).to_have_text("Hồ sơ đang được giải quyết.")
    expect(citizen.locator("#public-appointment")).to_have_text(re.compile(r"^\d{2}/\d{2}/\d{4}$"))
    expect(citizen.locator("#public-appointment")).to_have_text(vn_day(dossier.appointment_at))
    expect(citizen.locator("#public-department")).to_have_text("Sở Xây dựng")
    expect(status).to_contain_text("Thủ tục thử nghiệm một cửa")
    expect(status).to_contain_text("Nguyễn V*** B***")  # the name masked
    expect(citizen.locator("header .user")).to_have_count(0)

    shown, html = citizen.locator("body").inner_text(), citizen.content()
    for private in ("id_number", "phone", "email", "address"):
        assert APPLICANT[private] not in shown and APPLICANT[private] not in html, private
    assert APPLICANT["name"] not in shown and APPLICANT["name"] not in html
    screenshot(citizen, "lookup.png")


@pytest.mark.browser
def test_kiosk_lists_procedures_and_takes_an_online_submission(tablet, library):
    kiosk = tablet
    kiosk.goto("/kiosk")
    expect(kiosk.get_by_role("heading", level=1)).to_have_text("Xin chào! Ông/bà cần làm gì?")
    tiles = kiosk.get_by_role("navigation", name="Chức năng").get_by_role("link")
    expect(tiles).to_have_count(3)
    expect_large(tiles)
    expect_large(kiosk.locator(".kiosk-button"))
    screenshot(kiosk, "kiosk.png")

    # what to bring, the fee and the processing time of each procedure
    kiosk.get_by_role("link", name=re.compile(r"^Thủ tục hành chính")).tap()
    expect(kiosk).to_have_url(re.compile(r"/kiosk/procedures$"))
    expect(kiosk.get_by_role("heading", level=1)).to_have_text("Thủ tục hành chính")
    card = kiosk.locator(f'[id="procedure-{KIOSK_PROCEDURE}"]')
    expect(card.get_by_role("heading", level=2)).to_have_text("Cấp đổi giấy phép lái xe")
    expect(card.locator(".processing-time")).to_have_text("5 ngày làm việc")
    expect(card.locator(".fee")).to_have_text("135.000 đồng")
    expect(card.locator(".documents li")).to_contain_text(["Đơn đề nghị đổi giấy phép lái xe",
                                                           "Giấy khám sức khỏe của người lái xe"])
    expect(card).to_contain_text("Sở Giao thông vận tải")
    counter_only = kiosk.locator(".kiosk-card.procedure", has=kiosk.get_by_role("heading",
                                                                                name="Thủ tục thử nghiệm một cửa"))
    expect(counter_only.locator(".counter-only")).to_have_text("Thủ tục này nộp trực tiếp tại quầy hoặc qua bưu chính.")
    expect(counter_only.get_by_role("link", name="Nộp hồ sơ trực tuyến")).to_have_count(0)
    expect_large(kiosk.locator(".kiosk-button"))
    screenshot_of_screen(kiosk, "kiosk-procedures.png")  # the list is long: the first screen of it

    # back to the start, then "submit online": only the procedures offered online
    kiosk.get_by_role("link", name="Trang đầu").tap()
    expect(kiosk).to_have_url(re.compile(r"/kiosk$"))
    kiosk.get_by_role("link", name=re.compile(r"^Nộp hồ sơ trực tuyến")).tap()
    expect(kiosk).to_have_url(re.compile(r"/kiosk/procedures\?online=1$"))
    expect(counter_only).to_have_count(0)
    card.get_by_role("link", name="Nộp hồ sơ trực tuyến").tap()
    expect(kiosk).to_have_url(re.compile(rf"/kiosk/submit/{re.escape(KIOSK_PROCEDURE)}$"))
    expect(kiosk.locator("main")).to_contain_text("Cấp đổi giấy phép lái xe")

    # an ID number one digit short: the error sits next to the field, what was typed stays
    kiosk.get_by_label("Họ và tên").fill("Đặng Thị Hồng Nhung")
    id_number = kiosk.get_by_label("Số định danh cá nhân (CCCD, 12 số)")
    id_number.fill("09219000412")
    kiosk.get_by_label("Số điện thoại").fill("0987654321")
    submit = kiosk.get_by_role("button", name="Nộp hồ sơ")
    expect_large(submit)
    submit.tap()
    expect(kiosk.locator("#form-errors")).to_have_text("Vui lòng sửa các ô được đánh dấu.")
    field = kiosk.locator(".kiosk-field", has=id_number)
    expect(field).to_have_class(re.compile(r"\binvalid\b"))
    expect(field.locator(".error")).to_have_text("Số định danh cá nhân gồm đúng 12 chữ số.")
    expect(id_number).to_have_attribute("aria-invalid", "true")
    expect(id_number).to_have_attribute("aria-describedby", "e-applicant_id_number")
    expect(kiosk.get_by_label("Họ và tên")).to_have_value("Đặng Thị Hồng Nhung")
    expect(kiosk.locator(".kiosk-field.invalid")).to_have_count(1)

    id_number.fill("092190004123")
    kiosk.get_by_role("button", name="Nộp hồ sơ").tap()
    expect(kiosk).to_have_url(re.compile(r"/kiosk/submitted$"))
    expect(kiosk.get_by_role("heading", level=1)).to_have_text("Đã nộp hồ sơ")
    tracking = kiosk.locator("#tracking-code")
    expect(tracking).to_have_text(re.compile(r"^[A-Z0-9.]+-\d{6}-\d{4}$"))
    code = tracking.inner_text()
    expect(kiosk.locator("#lookup-link")).to_have_text(re.compile(rf"/lookup\?code={re.escape(code)}$"))
    expect(kiosk.locator("#confirmation .qr svg")).to_be_visible()
    expect(kiosk.locator("#confirmation")).not_to_contain_text("092190004123")

    # the next person's turn: look the code up on the kiosk
    kiosk.get_by_role("link", name="Xong").tap()
    expect(kiosk).to_have_url(re.compile(r"/kiosk$"))
    kiosk.get_by_role("link", name=re.compile(r"^Tra cứu hồ sơ")).tap()
    kiosk.get_by_label(re.compile(r"^Mã hồ sơ")).fill(code.lower())  # as people type it
    kiosk.get_by_role("button", name="Tra cứu").tap()
    expect(kiosk.locator("#public-status .status-name")).to_have_text("Mới tiếp nhận")
    expect(kiosk.locator("#public-status")).to_contain_text("Cấp đổi giấy phép lái xe")
    expect(kiosk.locator("#public-status")).to_contain_text("Đặng T*** H*** N***")
    expect(kiosk.locator("#public-appointment")).to_have_text("Chưa có (hồ sơ chưa được tiếp nhận)")
    expect_large(kiosk.get_by_role("button", name="Tra cứu"))


@pytest.mark.browser
def test_survey_complaint_reaches_the_leader(contexts, onestop, server_secret, submit_dossier, complete_step):
    from dossiers.public import survey_url

    code = submit_dossier("Hoàng Văn Thái")
    complete_step(code, "reception", {"reception_outcome": "accept"}, "tiepnhan")
    complete_step(code, "review", {"review_outcome": "ok"}, "chuyenvien")
    complete_step(code, "approve", {}, "lanhdao")
    complete_step(code, "return_step", {"result_channel": "electronic"}, "tiepnhan")
    assert dossier_row(onestop, code).status_code == 10
    link = survey_url(code, secret=server_secret)

    citizen = contexts.new_page()
    # the lookup page offers the same link the notification carries
    citizen.goto(f"/lookup?code={code}")
    expect(citizen.locator("#public-status .status-name")).to_have_text("Đã trả kết quả")
    expect(citizen.locator("#survey-link")).to_have_attribute("href", link)

    citizen.goto(link)
    expect(citizen.get_by_role("heading", level=1)).to_have_text("Đánh giá mức độ hài lòng")
    expect(citizen.locator("main")).to_contain_text(f"Hồ sơ số {code}")
    citizen.get_by_role("radio", name="2 Không hài lòng").check()
    comment = "Phải đi lại ba lần mới nhận được kết quả, cán bộ không hướng dẫn rõ."
    citizen.get_by_label("Ý kiến của ông/bà (không bắt buộc)").fill(comment)
    citizen.get_by_label("Đây là phản ánh, kiến nghị (cơ quan sẽ xem xét và trả lời)").check()
    screenshot(citizen, "survey.png")
    citizen.get_by_role("button", name="Gửi đánh giá").click()
    expect(citizen.locator("main > .flash.success")).to_have_text(
        "Cảm ơn ông/bà đã đánh giá. Ý kiến đã được chuyển đến lãnh đạo cơ quan.")
    expect(citizen.locator("#survey-form")).to_have_count(0)

    # the same link again: one rating per dossier
    citizen.goto(link)
    expect(citizen.locator("#survey-state")).to_have_text(
        "Hồ sơ này đã được đánh giá. Mỗi hồ sơ chỉ đánh giá một lần. Xin cảm ơn ông/bà.")
    expect(citizen.locator("main > .flash")).to_have_count(0)
    expect(citizen.get_by_role("button", name="Gửi đánh giá")).to_have_count(0)
    # a link the system did not issue confirms nothing
    assert citizen.goto(f"/survey/{code}?t={'0' * 24}").status == 404

    # the leader of the Department of Construction follows it up
    leader = contexts.new_page()
    sign_in(leader, "lanhdao")
    main_nav(leader, "Phản ánh").click()
    expect(leader.get_by_role("heading", level=1)).to_have_text("Phản ánh và đánh giá chưa hài lòng")
    row = leader.locator("#feedback tbody tr", has=leader.get_by_role("link", name=code, exact=True))
    expect(row).to_have_count(1)
    expect(row).to_contain_text("2/5")
    expect(row.locator(".due.overdue")).to_have_text("Phản ánh")
    expect(row).to_contain_text(comment)
    note = "Đã gọi điện xin lỗi ông Thái và nhắc nhở bộ phận một cửa hướng dẫn đầy đủ."
    row.get_by_label("Việc đã làm").fill(note)
    row.get_by_role("button", name="Ghi nhận xử lý").click()
    expect(leader.locator("main > .flash.success")).to_have_text("Đã ghi nhận việc xử lý phản ánh.")
    expect(row.locator(".follow-up")).to_have_text(note)
    expect(row.locator(".follow-up + p.muted")).to_have_text(
        re.compile(r"^lanhdao ghi nhận lúc \d{2}:\d{2} \d{2}/\d{2}/\d{4}$"))
    leader.get_by_role("link", name="Chưa xử lý").click()
    expect(leader.locator("#feedback tbody tr", has=leader.get_by_role("link", name=code))).to_have_count(0)


# ---------------------------------------------------------------------------------- leaders
@pytest.fixture
def year_of_data(library):
    """A small generated year of dossiers of the library procedures (300, a few still open)."""
    from dossiers.demo_data import Options, generate
    from engine.calendar import VN_TZ

    today = datetime.now(VN_TZ).date()
    year = today.year if today.month > 1 else today.year - 1  # a January has too few working days yet
    with library() as s:
        summary = generate(s, Options(dossiers=300, year=year, seed=11, open=5 if year == today.year else 0))
        s.commit()
    assert summary.dossiers == 300
    return year, summary


@pytest.mark.browser
def test_center_leader_reads_the_766_dashboard(contexts, year_of_data):
    year, summary = year_of_data
    leader = contexts.new_page()
    console_errors: list[str] = []

    def console(message) -> None:  # script errors and failed loads; the missing favicon is no matter
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            console_errors.append(f"{message.text} ({message.location})")

    leader.on("console", console)
    sign_in(leader, "lanhdaotrungtam")
    main_nav(leader, "Chỉ số 766").click()
    expect(leader.get_by_role("heading", level=1)).to_have_text("Chỉ số 766")

    # the whole year
    leader.get_by_label("Từ ngày").fill(f"01/01/{year}")
    leader.get_by_label("Đến ngày").fill(f"31/12/{year}")
    leader.get_by_role("button", name="Xem").click()
    expect(leader.get_by_role("heading", level=2, name=f"Từ 01/01/{year} đến 31/12/{year}")).to_be_visible()
    received = leader.locator("#figure-received .value a")
    expect(received).to_have_text(re.compile(r"^\d[\d.,]*$"))
    assert int(re.sub(r"\D", "", received.inner_text())) == summary.dossiers
    expect(leader.locator("#figure-total .value")).to_have_text(re.compile(r"^\d[\d.,]*/100$"))
    expect(leader.locator("#figure-on-time .value")).to_have_text(re.compile(r"^\d[\d.,]* %$"))
    expect(leader.locator("#figure-online .value")).to_have_text(re.compile(r"^\d[\d.,]* %$"))
    expect(leader.locator("#by-department tbody tr").first).to_contain_text(re.compile(r"Sở|Cục|Phòng|UBND"))

    for canvas_id in ("chart-on-time", "chart-channels", "chart-points"):
        canvas = leader.locator(f"#{canvas_id}")
        expect(canvas).to_be_visible()
        box = canvas.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 100, (canvas_id, box)
        # Chart.js owns the canvas, has finished animating the first drawing, and the canvas is painted
        leader.wait_for_function("""id => {
            const canvas = document.getElementById(id);
            const chart = window.Chart && window.Chart.getChart(canvas);
            if (!chart || window.Chart.animator.running(chart)) return false;
            const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return true;
            return false;
        }""", arg=canvas_id, timeout=10_000)
    screenshot(leader, "dashboard.png")

    # the CSV export
    with leader.expect_download() as download_info:
        leader.get_by_role("link", name="Tải về CSV").click()
    download = download_info.value
    assert download.suggested_filename == f"chi-so-766_{year}-01-01_{year}-12-31.csv"
    raw = download.path().read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the byte order mark Excel needs for the Vietnamese letters
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0] == CSV_HEADER
    assert table[1][:5] == ["Toàn bộ", "", "Tất cả hồ sơ trong phạm vi đã chọn", f"01/01/{year}", f"31/12/{year}"]
    assert table[1][5] == str(summary.dossiers)
    assert {row[0] for row in table[2:]} == {"Sở, ngành", "Thủ tục"}

    # the dossiers behind a number
    received.click()
    expect(leader.get_by_role("heading", level=1)).to_have_text("Hồ sơ tiếp nhận")
    expect(leader.locator("#drill-total")).to_have_text(f"{summary.dossiers} hồ sơ")
    rows = leader.locator("#drill-list tbody tr")
    expect(rows).to_have_count(50)  # one page
    expect(rows.first.get_by_role("link")).to_have_text(re.compile(r"^[A-Z0-9.]+-\d{6}-\d{4}$"))
    expect(rows.first.locator("td").nth(3)).to_have_text(re.compile(rf"^\d{{2}}/\d{{2}}/{year}$"))
    expect(leader.get_by_role("link", name="Sau »")).to_be_visible()

    # the bottlenecks of one procedure, on its diagram
    main_nav(leader, "Điểm nghẽn").click()
    expect(leader.get_by_role("heading", level=1)).to_have_text("Điểm nghẽn của quy trình")
    leader.locator("#bn-procedures").get_by_role("link", name=BOTTLENECK_PROCEDURE).click()
    expect(leader.get_by_role("heading", level=1)).to_have_text(f"Điểm nghẽn: {BOTTLENECK_PROCEDURE}")
    expect(leader.locator("#bn-diagram-0 svg").first).to_be_visible(timeout=15_000)
    expect(leader.locator("#bn-diagram-0 g.djs-element.djs-shape").first).to_be_attached()
    badges = leader.locator("#bn-diagram-0 .djs-overlay .bn-badge")
    expect(badges.first).to_be_visible()
    assert badges.count() >= 1
    expect(badges.first).to_contain_text(re.compile(r"TB [\d,.—]+ · P90 [\d,.—]+ giờ"))
    expect(leader.locator("#bn-diagram-0 g.djs-element.bn-ok, #bn-diagram-0 g.djs-element.bn-warn, "
                          "#bn-diagram-0 g.djs-element.bn-bad").first).to_be_attached()
    expect(leader.locator("#bn-legend")).to_be_visible()
    expect(leader.locator("#bn-error")).to_be_hidden()
    expect(leader.locator("#bn-table tbody tr").first).to_be_visible()
    screenshot(leader, "bottlenecks.png")

    assert not console_errors, console_errors
