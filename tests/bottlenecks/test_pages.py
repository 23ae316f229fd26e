"""The bottlenecks pages and their JSON: who may see them, what they show, how they refuse bad input."""

from __future__ import annotations

import html
import re

import pytest

from tests.bottlenecks.conftest import PROCESS, instance, task, vn
from tests.bottlenecks.test_figures import _history, _second_version
from tests.ui.helpers import sign_in


@pytest.mark.parametrize("username", ["lanhdao", "lanhdaotrungtam", "thietke", "admin"])
def test_leaders_designers_and_administrators_see_the_pages(app, onestop, sessions, username):
    with sessions() as s:
        _history(s)
        s.commit()
    browser = sign_in(app, username)
    listing = browser.get("/bottlenecks")
    assert listing.status_code == 200
    text = html.unescape(listing.get_data(as_text=True))
    assert "Thủ tục thử nghiệm một cửa" in text and f'href="/bottlenecks/{PROCESS}"' in text
    assert 'href="/bottlenecks"' in text and "Điểm nghẽn" in text  # the navigation link
    page = browser.get(f"/bottlenecks/{PROCESS}")
    assert page.status_code == 200
    assert browser.get(f"/bottlenecks/{PROCESS}/data.json").status_code == 200


@pytest.mark.parametrize("username", ["tiepnhan", "chuyenvien", "congdvc"])
def test_clerks_specialists_and_integrators_are_refused(app, onestop, username):
    browser = sign_in(app, username)
    for path in ("/bottlenecks", f"/bottlenecks/{PROCESS}", f"/bottlenecks/{PROCESS}/data.json"):
        assert browser.get(path).status_code == 403, path
    assert 'href="/bottlenecks"' not in browser.get("/inbox").get_data(as_text=True)


def test_signed_out_visitors_go_to_the_sign_in_page(app, onestop):
    client = app.test_client()
    for path in ("/bottlenecks", f"/bottlenecks/{PROCESS}", f"/bottlenecks/{PROCESS}/data.json"):
        r = client.get(path)
        assert r.status_code == 302 and "/login" in r.location


def test_page_shows_the_diagram_viewer_and_the_figures_table(app, onestop, sessions):
    with sessions() as s:
        _history(s)
        s.commit()
    browser = sign_in(app, "lanhdaotrungtam")
    r = browser.get(f"/bottlenecks/{PROCESS}")
    body = r.get_data(as_text=True)
    assert "/static/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js" in body
    assert "/static/js/bottlenecks.js" in body
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body), "no inline script (CSP script-src 'self')"
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert f'data-url="/bottlenecks/{PROCESS}/data.json"' in body
    text = html.unescape(body)
    row = re.search(r'<tr data-element="review" data-level-avg="(\w+)" data-level-p90="(\w+)">(.*?)</tr>', text, re.S)
    assert row.groups()[:2] == ("ok", "bad")
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(3), re.S)]
    assert cells[:9] == ["Thẩm định", "Sở Xây dựng", "16.0", "5", "11.6", "27.5", "20.0 %", "0", "0"]
    approve = re.search(r'<tr data-element="approve"[^>]*>(.*?)</tr>', text, re.S).group(1)
    assert "Chưa có số liệu" in approve
    waits = re.search(r'<table class="list" id="bn-waits">(.*?)</table>', text, re.S).group(1)
    assert "Chờ bổ sung" in waits and "supplement_received" in waits and ">2<" in waits


def test_json_gives_the_diagram_and_the_figures(app, onestop, sessions):
    with sessions() as s:
        _history(s)
        s.commit()
    browser = sign_in(app, "admin")
    data = browser.get(f"/bottlenecks/{PROCESS}/data.json?from=09/03/2026&to=2026-03-10").get_json()
    assert data["process_id"] == PROCESS and data["comparison"] is None
    [view] = data["views"]
    assert view["xml"].lstrip().startswith("<?xml") and 'id="review"' in view["xml"]
    analysis = view["analysis"]
    assert analysis["from"] == "2026-03-09" and analysis["to"] == "2026-03-10"
    review = next(step for step in analysis["steps"] if step["element_id"] == "review")
    assert (review["completed"], review["avg_hours"], review["late_share"]) == (2, 6.75, 0.0)
    assert review["diagram_element"] == "review" and review["budget_hours"] == 16.0
    assert data["thresholds"] == {"green": 0.75, "amber": 1.0}


def test_unknown_procedure_or_version_is_404_and_a_bad_date_is_shown(app, onestop, sessions):
    browser = sign_in(app, "admin")
    assert browser.get("/bottlenecks/khong_co_quy_trinh").status_code == 404
    assert browser.get("/bottlenecks/khong_co_quy_trinh/data.json").status_code == 404
    assert browser.get(f"/bottlenecks/{PROCESS}?version=9").status_code == 404
    assert browser.get(f"/bottlenecks/{PROCESS}?compare=abc").status_code == 404
    r = browser.get(f"/bottlenecks/{PROCESS}?from=31/02/2026&to=01/01/2026")
    assert r.status_code == 422
    text = html.unescape(r.get_data(as_text=True))
    assert 'id="e-from"' in text and "dd/mm/yyyy" in text and 'value="31/02/2026"' in text
    r = browser.get(f"/bottlenecks/{PROCESS}?from=05/03/2026&to=01/03/2026")
    assert r.status_code == 422 and 'id="e-to"' in r.get_data(as_text=True)
    r = browser.get(f"/bottlenecks/{PROCESS}/data.json?to=hôm qua")
    assert r.status_code == 422 and "to" in r.get_json()["errors"]


def test_comparison_of_two_versions_on_the_page_and_in_json(app, onestop, sessions):
    _second_version(sessions)
    with sessions() as s:
        _history(s)
        redesigned = instance(s, number=2)
        task(s, redesigned, "review", vn(2026, 3, 17, 8, 0), vn(2026, 3, 17, 9, 0), vn(2026, 3, 18, 17))
        task(s, redesigned, "review", vn(2026, 3, 17, 13, 0), vn(2026, 3, 17, 15, 0), vn(2026, 3, 18, 17))
        s.commit()
    browser = sign_in(app, "thietke")
    r = browser.get(f"/bottlenecks/{PROCESS}?version=1&compare=2")
    assert r.status_code == 200
    text = html.unescape(r.get_data(as_text=True))
    assert 'data-mode="compare"' in text and 'id="bn-diagram-0"' in text and 'id="bn-diagram-1"' in text
    row = re.search(r'<tr data-element="review">(.*?)</tr>', text, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells == ["Thẩm định rút gọn", "11.6", "27.5", "20.0 %", "0", "1.5", "1.9", "0.0 %", "0", "-10.1", "-25.6"]
    assert 'data-url="/bottlenecks/onestop_fixture/data.json?version=1&amp;compare=2"' in r.get_data(as_text=True)
    data = browser.get(f"/bottlenecks/{PROCESS}/data.json?version=1&compare=2").get_json()
    assert [v["version"] for v in data["views"]] == [1, 2]
    assert "Thẩm định rút gọn" in data["views"][1]["xml"] and "Thẩm định rút gọn" not in data["views"][0]["xml"]
    review = next(r for r in data["comparison"]["rows"] if r["element_id"] == "review")
    assert review["delta"] == {"avg": -10.1, "p90": -25.6}
    # the same version twice is no comparison
    single = browser.get(f"/bottlenecks/{PROCESS}?version=2&compare=2").get_data(as_text=True)
    assert 'data-mode="single"' in single


def test_the_page_in_english(app, onestop, sessions):
    from tests.ui.helpers import csrf

    with sessions() as s:
        _history(s)
        s.commit()
    browser = sign_in(app, "lanhdao")
    path = f"/bottlenecks/{PROCESS}"
    r = browser.post("/language/en", data={"csrf_token": csrf(browser, path), "next": path})
    assert r.status_code == 302
    text = html.unescape(browser.get(path).get_data(as_text=True))
    for words in ("Bottlenecks: ", "Figures per step", "Average (hours)", "Late share", "Within budget",
                  "Over budget", "Colour by", "Dossiers waiting for an event", "message supplement_received"):
        assert words in text, words
    for words in ("Số liệu theo bước", "Tỷ lệ trễ hạn", "Vượt định mức"):
        assert words not in text, words
    assert "Bottlenecks" in html.unescape(browser.get("/bottlenecks").get_data(as_text=True))
