"""What civil servants see in the web app, driven through Debian's Chromium (Playwright, sync API).

Each test signs people in through the login form of a live gunicorn server and asserts what is
on the screen: the inbox, the generated task forms, flashes, the dossier page and its diagram.
"""

from __future__ import annotations

import json
import re
import time
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import APPLICANT, CHROMIUM, screenshot
from tests.ui.helpers import PASSWORD

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium"
)


def fill_login(page: Page, username: str, password: str = PASSWORD) -> None:
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu", exact=True).fill(password)
    page.get_by_role("button", name="Đăng nhập").click()


def sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    fill_login(page, username, password)
    expect(page).to_have_url(re.compile(r"/inbox$"))
    expect(page.locator("header .user")).to_have_attribute("title", username)


def inbox_row(page: Page, code: str):
    return page.locator("#inbox-table tbody tr", has_text=code)


def expect_flash(page: Page, category: str, text: str) -> None:
    """A flash message of that category saying exactly that (other flashes may stand beside it)."""
    expect(page.locator(f"main > .flash.{category}", has_text=text)).to_have_text(text)


def open_task(page: Page, code: str, step: str) -> str:
    """Click "Xử lý" on the dossier's row in the inbox list shown; returns the task page's path."""
    row = inbox_row(page, code)
    expect(row).to_contain_text(step)
    row.get_by_role("link", name="Xử lý").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(step)
    expect(page.get_by_role("heading", level=1)).to_contain_text(code)
    return urlsplit(page.url).path


def complete_button(page: Page):
    return page.get_by_role("button", name="Hoàn thành và chuyển tiếp")


@pytest.mark.browser
def test_two_departments_pass_a_dossier_along(contexts, submit_dossier):
    code = submit_dossier("Trần Thị Thu Hà")

    # --- the one-stop desk clerk receives the dossier
    desk = contexts.new_page()
    sign_in(desk, "tiepnhan")
    department_tab = desk.get_by_role("link", name=re.compile(r"^Việc của phòng chưa nhận"))
    expect(department_tab).to_have_attribute("aria-current", "page")
    expect(department_tab).to_have_text("Việc của phòng chưa nhận (1)")
    row = inbox_row(desk, code)
    expect(row).to_contain_text("Tiếp nhận hồ sơ")
    expect(row).to_contain_text("Trần Thị Thu Hà")
    expect(row).to_contain_text("Thủ tục thử nghiệm một cửa")
    screenshot(desk, "inbox.png")

    row.get_by_role("checkbox").check()
    desk.get_by_role("button", name="Nhận các việc đã chọn").click()
    expect_flash(desk, "success", "Đã nhận 1 việc.")
    expect(desk.get_by_role("link", name=re.compile(r"^Việc của tôi"))).to_have_attribute("aria-current", "page")
    reception_path = open_task(desk, code, "Tiếp nhận hồ sơ")
    expect(desk.locator("main p.muted").first).to_contain_text("Người xử lý: tiepnhan")

    # a required field left empty: the error sits next to it, the other values stay
    outcome = desk.get_by_label("Kết quả tiếp nhận")
    reason = desk.get_by_label("Lý do từ chối")
    reason.fill("Thiếu bản sao CCCD có chứng thực")
    complete_button(desk).click()
    expect_flash(desk, "error", "Vui lòng sửa các trường được đánh dấu.")
    outcome_field = desk.locator(".field", has=outcome)
    expect(outcome_field).to_have_class(re.compile(r"\binvalid\b"))
    expect(outcome_field.locator(".error")).to_be_visible()
    expect(outcome_field.locator(".error")).not_to_be_empty()
    expect(outcome).to_have_attribute("aria-invalid", "true")
    expect(outcome).to_have_attribute("aria-describedby", "e-reception_outcome")
    expect(desk.locator(".field", has=reason)).not_to_have_class(re.compile(r"\binvalid\b"))
    expect(reason).to_have_value("Thiếu bản sao CCCD có chứng thực")
    assert desk.url.endswith(reception_path)
    screenshot(desk, "task-form-errors.png")

    outcome.select_option(label="Tiếp nhận")
    reason.fill("")
    expect(outcome).to_have_value("accept")
    complete_button(desk).click()
    expect(desk).to_have_url(re.compile(r"/inbox$"))
    expect_flash(desk, "success", f"Đã chuyển hồ sơ {code} đến: Sở Xây dựng.")
    expect(inbox_row(desk, code)).to_have_count(0)

    # --- the specialist of the Department of Construction, in a second browser context
    specialist = contexts.new_page()
    sign_in(specialist, "chuyenvien")
    expect(specialist.get_by_role("link", name=re.compile(r"^Việc của phòng chưa nhận"))).to_have_attribute(
        "aria-current", "page")
    review_path = open_task(specialist, code, "Thẩm định")

    # the desk does not see the specialist's task, neither unclaimed nor as theirs
    desk.goto("/inbox?view=department")
    expect(desk.locator("#inbox-table tbody tr").first).to_be_visible()
    expect(inbox_row(desk, code)).to_have_count(0)
    desk.goto("/inbox?view=mine")
    expect(inbox_row(desk, code)).to_have_count(0)

    specialist.get_by_label("Kết quả").select_option(label="Đạt")
    screenshot(specialist, "task-form.png")
    complete_button(specialist).click()
    expect_flash(specialist, "success", f"Đã chuyển hồ sơ {code} đến: Lãnh đạo Sở Xây dựng.")

    # the desk's completed task is not the specialist's business: not even its existence
    response = specialist.goto(reception_path)
    assert response.status == 404
    expect(specialist.get_by_role("heading", level=1)).to_have_text("404")
    expect(specialist.get_by_text("Không tìm thấy trang hoặc hồ sơ này.")).to_be_visible()
    expect(specialist.get_by_label("Kết quả tiếp nhận")).to_have_count(0)
    # their own completed step still opens, read-only
    specialist.goto(review_path)
    expect(specialist.get_by_text(re.compile(r"Việc này đã được xử lý lúc .* bởi chuyenvien"))).to_be_visible()
    expect(complete_button(specialist)).to_have_count(0)

    # --- the leader approves
    leader = contexts.new_page()
    sign_in(leader, "lanhdao")
    open_task(leader, code, "Phê duyệt")
    expect(leader.get_by_text("Bước này không có biểu mẫu: xác nhận để chuyển tiếp.")).to_be_visible()
    complete_button(leader).click()
    expect_flash(leader, "success", f"Đã chuyển hồ sơ {code} đến: Bộ phận Một cửa.")

    # --- the desk returns the result
    desk.goto("/inbox")
    open_task(desk, code, "Trả kết quả")
    desk.get_by_label("Hình thức").select_option(label="Trực tiếp")
    complete_button(desk).click()
    expect_flash(desk, "success", f"Đã hoàn thành bước xử lý hồ sơ {code}.")

    desk.get_by_role("navigation", name="Chính").get_by_role("link", name="Hồ sơ", exact=True).click()
    desk.get_by_role("link", name=code, exact=True).click()
    expect(desk.get_by_role("heading", level=1)).to_contain_text(code)
    status = desk.locator("#dossier-status dt", has_text="Trạng thái").locator("xpath=following-sibling::dd[1]")
    expect(status).to_have_text("10 · Đã trả kết quả")
    expect(desk.get_by_text("Không có", exact=True)).to_be_visible()  # no open task left


@pytest.mark.browser
def test_diagram_highlights_open_and_completed_steps(page, submit_dossier, complete_step):
    code = submit_dossier("Lê Minh Châu")
    complete_step(code, "reception", {"reception_outcome": "accept"}, "tiepnhan")  # the review is open now

    sign_in(page, "chuyenvien")
    page.goto(f"/dossiers/{code}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(code)
    expect(page.locator("#diagram svg").first).to_be_visible(timeout=15_000)
    element = '#diagram g.djs-element[data-element-id="{}"]'.format
    expect(page.locator(element("review"))).to_have_class(re.compile(r"\bhighlight-current\b"))
    expect(page.locator(element("review"))).not_to_have_class(re.compile(r"\bhighlight-done\b"))
    expect(page.locator(element("reception"))).to_have_class(re.compile(r"\bhighlight-done\b"))
    expect(page.locator(element("reception"))).not_to_have_class(re.compile(r"\bhighlight-current\b"))
    expect(page.locator(element("approve"))).not_to_have_class(re.compile(r"\bhighlight-(current|done)\b"))
    expect(page.locator("#diagram-error")).to_be_hidden()
    screenshot(page, "dossier.png")


@pytest.mark.browser
def test_sign_in_protection(page):
    page.goto("/inbox")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Finbox$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Đăng nhập")
    screenshot(page, "login.png")

    fill_login(page, "tiepnhan", "wrong-horse-battery")
    expect_flash(page, "error", "Tên đăng nhập hoặc mật khẩu không đúng.")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Finbox$"))
    expect(page.get_by_label("Tên đăng nhập")).to_have_value("tiepnhan")
    expect(page.get_by_label("Mật khẩu", exact=True)).to_have_value("")
    expect(page.locator("#inbox-count")).to_have_count(0)  # no navigation for strangers

    # the administrator signs in (back to where they were going) and sees the people
    fill_login(page, "admin")
    expect(page).to_have_url(re.compile(r"/inbox$"))
    page.get_by_role("navigation", name="Chính").get_by_role("link", name="Quản trị", exact=True).click()
    expect(page.get_by_role("heading", name="Người dùng", exact=True)).to_be_visible()
    clerk = page.locator("table.list tbody tr", has=page.get_by_role("cell", name="tiepnhan", exact=True))
    expect(clerk).to_contain_text("Nguyễn Thị Lan (Một cửa)")
    expect(clerk).to_contain_text("MOTCUA")
    screenshot(page, "admin-users.png")

    page.get_by_role("button", name="Đăng xuất").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect_flash(page, "info", "Đã đăng xuất.")
    page.goto("/inbox")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Finbox$"))
    expect(page.get_by_role("button", name="Đăng nhập")).to_be_visible()

    # a clerk is signed in but is no administrator
    sign_in(page, "tiepnhan")
    expect(page.get_by_role("navigation", name="Chính").get_by_role("link", name="Quản trị", exact=True)).to_have_count(0)
    assert page.goto("/admin/users").status == 403
    expect(page.get_by_text("Bạn không có quyền truy cập trang này.")).to_be_visible()


@pytest.mark.browser
def test_language_switch(page):
    sign_in(page, "tiepnhan")
    html = page.locator("html")
    switch = page.locator("header .right button[lang]")
    expect(html).to_have_attribute("lang", "vi")
    expect(switch).to_have_text("English")

    switch.click()
    expect(html).to_have_attribute("lang", "en")
    expect(switch).to_have_text("Tiếng Việt")
    expect(page).to_have_url(re.compile(r"/inbox$"))  # stays on the page it was on

    page.goto("/dossiers")  # the choice holds across pages ...
    expect(html).to_have_attribute("lang", "en")
    switch.click()
    expect(html).to_have_attribute("lang", "vi")
    expect(switch).to_have_text("English")
    expect(page).to_have_url(re.compile(r"/dossiers$"))


@pytest.mark.browser
def test_new_work_appears_without_reload(page, live_server, submit_dossier):
    first = submit_dossier("Phạm Văn Đức")
    sign_in(page, "tiepnhan")
    badge = page.locator("#inbox-count")
    expect(badge).to_have_text("1")  # the first poll runs when the page loads
    expect(inbox_row(page, first)).to_be_visible()
    banner = page.locator("#new-work")
    expect(banner).to_be_hidden()
    page.evaluate("window.__sameDocument = true")

    body = {"procedure_code": "9.999001", "channel": "in_person", "applicant": {**APPLICANT, "name": "Võ Thị Ánh"}}
    request = Request(live_server.url + "/api/v1/dossiers", data=json.dumps(body).encode(), method="POST",
                      headers={"Authorization": f"Bearer {live_server.tokens['congdvc']}",
                               "Content-Type": "application/json"})
    with urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        assert response.status == 201
        second = json.load(response)["code"]

    started = time.monotonic()
    expect(badge).to_have_text("2", timeout=20_000)
    assert time.monotonic() - started < 20
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Có việc mới.")
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
    expect(inbox_row(page, second)).to_have_count(0)  # the list itself waits for the person

    banner.get_by_role("link", name="Tải lại danh sách").click()
    expect(inbox_row(page, second)).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"^Việc của phòng chưa nhận"))).to_have_text(
        "Việc của phòng chưa nhận (2)")
