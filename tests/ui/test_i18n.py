"""English and Vietnamese UI (Flask-Babel): the catalogue is complete and the pages switch language.

The English catalogue is compiled here with babel's Python API when the .mo is missing or older than
the .po, so the tests do not depend on `make`. A fresh extraction (same settings as babel.cfg) must find
no message without an English translation: a new UI string fails this file until it is translated.
"""

from __future__ import annotations

import html
import os
import re
from datetime import datetime
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from engine.calendar import VN_TZ
from tests.ui.helpers import csrf, csrf_of, sign_in

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "ui" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
COMPILED = CATALOGUE.with_suffix(".mo")
# the keywords of `pybabel extract -k _ -k gettext -k ngettext:1,2 -k lazy_gettext`
KEYWORDS = {**DEFAULT_KEYWORDS, "_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None}
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
DATE = re.compile(r"\b\d{2}/\d{2}/\d{4}\b")


def _read_catalogue():
    with CATALOGUE.open("rb") as fh:
        return read_po(fh)


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogue():
    """ui/translations/en/.../messages.mo, (re)compiled when missing or older than the .po."""
    if not COMPILED.exists() or COMPILED.stat().st_mtime < CATALOGUE.stat().st_mtime:
        catalog = _read_catalogue()
        partial = COMPILED.with_name(f"{COMPILED.name}.{os.getpid()}.tmp")
        with partial.open("wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        os.replace(partial, COMPILED)  # atomic: a concurrent reader never sees half a file
    return COMPILED


def _ids(message) -> tuple[str, ...]:
    return (message.id,) if isinstance(message.id, str) else tuple(message.id)


def _strings(message) -> tuple[str, ...]:
    return (message.string,) if isinstance(message.string, str) else tuple(message.string)


def _extracted() -> dict[str, tuple[str, ...]]:
    """msgid -> (msgid, msgid_plural) of a fresh extraction from the sources, as babel.cfg maps them."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh, filename="babel.cfg")
    found: dict[str, tuple[str, ...]] = {}
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        ids = (message,) if isinstance(message, str) else tuple(message)
        found[ids[0]] = ids
    return found


# --- the catalogue -------------------------------------------------------------------------------


def test_catalogue_has_no_untranslated_or_fuzzy_entries():
    catalog = _read_catalogue()
    messages = [m for m in catalog if m.id]
    assert len(messages) > 100
    assert not catalog.fuzzy, "the catalogue header is marked fuzzy"
    fuzzy = [m.id for m in messages if m.fuzzy]
    untranslated = [m.id for m in messages if not all(s.strip() for s in _strings(m))]
    assert not fuzzy, f"fuzzy entries: {fuzzy}"
    assert not untranslated, f"untranslated entries: {untranslated}"
    for m in messages:
        expected = sorted(PLACEHOLDER.findall(_ids(m)[0]))
        if isinstance(m.id, str):
            assert not isinstance(m.string, tuple | list), f"{m.id!r}: a plural translation for a singular"
        else:
            assert len(_strings(m)) == catalog.num_plurals == 2, f"{m.id!r}: needs singular and plural"
        for s in _strings(m):
            assert sorted(PLACEHOLDER.findall(s)) == expected, f"{m.id!r}: placeholders differ in {s!r}"
    assert [(m.id, errors) for m, errors in catalog.check()] == []  # babel's own python-format checks


def test_every_extracted_message_has_an_english_translation():
    catalog = _read_catalogue()
    extracted = _extracted()
    assert "Hộp việc" in extracted and "Đã nhận %(num)d việc." in extracted  # templates and python found
    missing = []
    for msgid, ids in sorted(extracted.items()):
        entry = catalog.get(msgid)
        if entry is None or entry.fuzzy or not all(s.strip() for s in _strings(entry)):
            missing.append(msgid)
        elif _ids(entry) != ids:
            missing.append(f"{msgid} (plural form changed)")
    assert not missing, (
        "UI strings without an English translation (run pybabel extract/update, translate in "
        f"ui/translations/en/LC_MESSAGES/messages.po): {missing}"
    )


def test_compiled_catalogue_is_current(compiled_catalogue):
    assert compiled_catalogue.stat().st_mtime >= CATALOGUE.stat().st_mtime


# --- the pages -----------------------------------------------------------------------------------


def page(client, path: str) -> str:
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code)
    return html.unescape(r.get_data(as_text=True))


def switch_language(client, code: str, back_to: str) -> str:
    r = client.post(f"/language/{code}", data={"csrf_token": csrf(client, back_to), "next": back_to})
    assert r.status_code == 302 and r.location.endswith(back_to)
    return page(client, back_to)


def test_clerk_pages_in_english_and_back_in_vietnamese(app, people, onestop):
    desk = sign_in(app, "tiepnhan")
    inbox = page(desk, "/inbox")
    assert '<html lang="vi">' in inbox and "Hộp việc" in inbox and "Inbox" not in inbox

    inbox = switch_language(desk, "en", "/inbox")
    assert '<html lang="en">' in inbox
    for text in ("Inbox", "Unclaimed department tasks", "My tasks", "Handled", "Dossier code / applicant",
                 "Submission channel", "Filter", "Receive a dossier", "Sign out", "No tasks.", "Tiếng Việt"):
        assert text in inbox, text
    for text in ("Hộp việc", "Việc của phòng chưa nhận", "Đăng xuất", "Lọc"):
        assert text not in inbox, text

    reception = page(desk, "/reception/new")
    for text in ("Receive a new dossier", "Administrative procedure", "One-stop test procedure", "3 working days",
                 "Submission method", "In person at the desk", "By post", "Individual",
                 "Personal ID number / Tax code", "Create dossier and check"):
        assert text in reception, text
    assert "Tiếp nhận hồ sơ mới" not in reception and "ngày làm việc" not in reception

    # errors and flashes come from Python code in English too
    token = csrf_of(reception)
    r = desk.post("/reception/new", data={"csrf_token": token, "procedure_code": "nope", "channel": "by-pigeon",
                                          "applicant_name": "Lê Thị Thu"})
    invalid = html.unescape(r.get_data(as_text=True))
    assert r.status_code == 422
    assert "Select a procedure that your unit receives." in invalid
    r = desk.post("/reception/new", data={"csrf_token": token, "procedure_code": "9.999001", "channel": "in_person",
                                          "applicant_name": "Lê Thị Thu", "applicant_phone": "0912345678"},
                  follow_redirects=True)
    created = html.unescape(r.get_data(as_text=True))
    code = re.search(r"Dossier (\S+) created\. Check the dossier and choose the reception outcome\.", created).group(1)

    today = datetime.now(VN_TZ).strftime("%d/%m/%Y")
    dossiers = page(desk, "/dossiers")
    for text in ("Dossiers", "Dossier code", "Procedure", "Applicant", "Submitted", "Return date", "Status", "Search",
                 code, "Lê Thị Thu"):
        assert text in dossiers, text
    assert "Người nộp" not in dossiers and "Ngày nộp" not in dossiers
    assert today in dossiers  # dates stay dd/mm/yyyy in English
    assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", re.sub(r"<[^>]+>", " ", dossiers))

    detail = page(desk, f"/dossiers/{code}")
    for text in ("Progress", "Currently at", "Open tasks", "Printable forms", "Process control sheet (form 05)",
                 "Processing history"):
        assert text in detail, text
    assert re.search(rf"\d{{2}}:\d{{2}} {re.escape(today)}", detail)

    # the choice is kept for the next sign-in
    assert "Inbox" in page(sign_in(app, "tiepnhan"), "/inbox")

    inbox = switch_language(desk, "vi", "/inbox")
    assert '<html lang="vi">' in inbox
    for text in ("Hộp việc", "Việc của phòng chưa nhận", "Việc của tôi", "Tiếp nhận hồ sơ", "Đăng xuất", "English"):
        assert text in inbox, text
    for text in ("Inbox", "Unclaimed department tasks", "Sign out"):
        assert text not in inbox, text
    dossiers = page(desk, "/dossiers")
    assert "Người nộp" in dossiers and "Ngày hẹn trả" in dossiers and "Applicant" not in dossiers
    assert today in dossiers
    assert "Tiếp nhận hồ sơ mới" in page(desk, "/reception/new")


def test_admin_users_page_in_english(app, people):
    admin = sign_in(app, "admin")
    users = page(admin, "/admin/users")
    assert "Quản trị" in users and "Tên đăng nhập" in users

    users = switch_language(admin, "en", "/admin/users")
    for text in ("Administration", "Users", "Departments", "Lanes → departments", "Add user", "Username",
                 "Full name", "Roles", "Department", "Actions", "Edit", "Set password", "Deactivate",
                 "System administrator", "One-stop reception officer", "Specialist", "Center director"):
        assert text in users, text
    for text in ("Tên đăng nhập", "Họ tên", "Vai trò", "Thao tác", "Thêm người dùng", "Cán bộ tiếp nhận một cửa"):
        assert text not in users, text
    assert "Add department" in page(admin, "/admin/departments")
    assert "Unmapped lanes" in page(admin, "/admin/lanes")

    users = switch_language(admin, "vi", "/admin/users")
    assert "Tên đăng nhập" in users and "Cán bộ tiếp nhận một cửa" in users and "Username" not in users
