"""The designer studio's pages with the Flask test client, on a real database.

Signed in through the real form; JSON posts carry the page's CSRF token in X-CSRFToken as the
modeler's script does. What the browser draws is tested in tests/browser/test_designer.py.
"""

from __future__ import annotations

import html as html_module
import re

import pytest
from lxml import etree
from sqlalchemy import select

from engine.actors import Actor
from engine.deployments import deploy
from engine.lint import lint
from engine.models import ProcessVersion
from tests.conftest import LIBRARY, fixture_bytes
from tests.ui.helpers import csrf, new_client, sign_in
from ui.designer import new_procedure_xml

CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BIRTH = "birth_registration"
WARD_DESK = Actor("motcuaphuong", frozenset({"clerk"}), frozenset({"MOTCUA_PHUONG"}))
RECEPTION = {"applicant_name": "Nguyễn Thị Thu", "applicant_id_number": "092190001234",
             "applicant_relationship": "mother", "reception_outcome": "accept"}


def library() -> list[tuple[str, bytes]]:
    common = [*sorted((LIBRARY / "common").glob("*.bpmn")), LIBRARY / "common" / "fee_schedule.dmn"]
    return [(p.name, p.read_bytes()) for p in common]


@pytest.fixture
def birth(sessions, people):
    """Birth registration (bpmn/) version 1 with its shared subprocesses and fee table."""
    with sessions() as s:
        deploy(s, [*library(), ("ward_birth_registration.bpmn", fixture_bytes("ward_birth_registration.bpmn"))],
               "tests", note="first version", source="disk")
        s.commit()
    return sessions


@pytest.fixture
def designer(app, people):
    client = sign_in(app, "thietke")
    client.token = csrf(client, "/designer")
    return client


def post_json(client, url: str, body: dict, token: str | None = None):
    return client.post(url, json=body, headers={"X-CSRFToken": token or client.token})


def latest_xml(sessions, process_id: str) -> str:
    with sessions() as s:
        row = s.scalars(select(ProcessVersion).where(ProcessVersion.process_id == process_id)
                        .order_by(ProcessVersion.version.desc())).first()
        return row.file.content


def rename_task(xml: str, element_id: str, name: str, field_id: str | None = None, label: str | None = None) -> str:
    root = etree.fromstring(xml.encode())
    [task] = root.xpath("//*[@id=$id]", id=element_id)
    task.set("name", name)
    if field_id:
        [ff] = task.xpath(".//c:formField[@id=$f]", f=field_id, namespaces={"c": CAMUNDA})
        ff.set("label", label)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode()


# ----------------------------------------------------------------- who may
@pytest.mark.parametrize("username", ["tiepnhan", "chuyenvien", "lanhdao", "lanhdaotrungtam", "congdvc"])
def test_only_designers_and_administrators_reach_the_studio(app, birth, username):
    client = sign_in(app, username)
    token = csrf(client, "/inbox")
    for path in ("/designer", f"/designer/{BIRTH}", f"/designer/{BIRTH}/versions", f"/designer/{BIRTH}/diff",
                 f"/designer/{BIRTH}/migrate", f"/designer/{BIRTH}/xml", "/designer/new", "/designer/decisions"):
        assert client.get(path).status_code == 403, path
    r = client.post("/designer/lint", json={"xml": "<x/>"}, headers={"X-CSRFToken": token})
    assert r.status_code == 403
    r = client.post("/designer/deploy", json={"xml": latest_xml(birth, BIRTH), "note": "x", "base_version": 1},
                    headers={"X-CSRFToken": token})
    assert r.status_code == 403
    assert "Thiết kế quy trình" not in client.get("/inbox").get_data(as_text=True)  # no menu entry either


def test_signed_out_visitors_go_to_the_sign_in_page(app, birth):
    client = new_client(app)
    r = client.get(f"/designer/{BIRTH}")
    assert r.status_code == 302 and r.location.endswith("/login?next=%2Fdesigner%2Fbirth_registration")


@pytest.mark.parametrize("username", ["thietke", "admin"])
def test_designers_and_administrators_see_the_list_and_the_modeler(app, birth, username):
    client = sign_in(app, username)
    page = client.get("/designer").get_data(as_text=True)
    assert 'href="/designer/birth_registration"' in page and "Thiết kế quy trình" in page
    assert "first version" not in page  # the note is on the history page
    r = client.get(f"/designer/{BIRTH}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert 'id="designer-root"' in html and 'data-base-version="1"' in html
    assert 'data-xml-url="/designer/birth_registration/xml"' in html
    assert "vendor/designer/designer.bundle.js" in html and "vendor/designer/properties-panel.css" in html
    assert client.get(f"/designer/{BIRTH}/xml").get_data(as_text=True) == latest_xml(birth, BIRTH)
    assert client.get("/designer/khong_co_quy_trinh").status_code == 404
    assert client.get(f"/designer/{BIRTH}/xml?version=9").status_code == 404


def test_the_bundle_and_its_style_sheets_are_served(client):
    for path in ("vendor/designer/designer.bundle.js", "vendor/designer/properties-panel.css",
                 "vendor/bpmn-js/assets/bpmn-js.css"):
        r = client.get(f"/static/{path}")
        assert r.status_code == 200, f"{path}: run scripts/assets.sh"
        assert len(r.data) > 10_000 or path.endswith(".css")
        r.close()


# ----------------------------------------------------------------- new procedure
def test_the_template_lints_clean_with_the_demo_departments(session, people):
    xml = new_procedure_xml("city_signboard_permit", "Cấp giấy phép biển hiệu", "Signboard permit", "1.009999",
                            {"desk": ("MOTCUA", "Bộ phận Một cửa"), "department": ("SXD", "Sở Xây dựng"),
                             "leader": ("LD_SXD", "Lãnh đạo Sở Xây dựng")})
    problems = lint(session, [("city_signboard_permit.bpmn", xml)])
    assert [str(p) for p in problems] == []
    root = etree.fromstring(xml)
    [process] = root.iter(f"{{{BPMN}}}process")
    assert process.get("id") == "city_signboard_permit"
    tasks = {t.get("id"): t.get(f"{{{CAMUNDA}}}candidateGroups") for t in process.iter(f"{{{BPMN}}}userTask")}
    assert tasks == {"receive_dossier": "MOTCUA", "review_dossier": "SXD", "approve_result": "LD_SXD",
                     "return_result": "MOTCUA"}
    for task in process.iter(f"{{{BPMN}}}userTask"):  # each step: a form and a time budget
        assert task.xpath(".//c:formField", namespaces={"c": CAMUNDA})
        assert task.xpath(".//c:property[@name='time_budget']/@value", namespaces={"c": CAMUNDA})
    shapes = {s.get("bpmnElement") for s in root.iter("{http://www.omg.org/spec/BPMN/20100524/DI}BPMNShape")}
    assert set(tasks) <= shapes  # drawn


def test_the_new_procedure_form_checks_its_fields(designer, birth):
    r = designer.get("/designer/new?process_id=1bad&name_vi=&desk=MOTCUA&department=SXD&leader=KHONG_CO")
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "Mã quy trình bắt đầu bằng chữ cái" in html and "Nhập tên thủ tục." in html
    assert "Chọn một phòng ban trong danh sách." in html
    r = designer.get(f"/designer/new?process_id={BIRTH}&name_vi=X&desk=MOTCUA&department=SXD&leader=LD_SXD")
    assert r.status_code == 422 and "Đã có quy trình với mã này" in r.get_data(as_text=True)
    assert designer.get("/designer/template.bpmn?process_id=1bad").status_code == 422


def test_a_new_procedure_from_the_template_deploys_as_version_1_and_runs(designer, sessions):
    args = "process_id=city_signboard_permit&name_vi=C%E1%BA%A5p+ph%C3%A9p&procedure_code=1.009999" \
           "&desk=MOTCUA&department=SKHDT&leader=LD_SKHDT"
    page = designer.get(f"/designer/new?{args}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    xml_url = re.search(r'data-xml-url="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert 'data-base-version=""' in html
    xml = designer.get(xml_url).get_data(as_text=True)
    assert 'candidateGroups="SKHDT"' in xml and 'name="Sở Kế hoạch và Đầu tư"' in xml
    r = post_json(designer, "/designer/deploy", {"xml": xml, "filename": "city_signboard_permit.bpmn",
                                                "note": "thủ tục mới", "base_version": None})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["version"] == 1 and r.get_json()["process_id"] == "city_signboard_permit"
    # a second "new" procedure with the same id is a conflict, not a silent version 2
    r = post_json(designer, "/designer/deploy", {"xml": xml, "filename": "city_signboard_permit.bpmn",
                                                "note": "lần nữa", "base_version": None})
    assert r.status_code == 409 and "Đã có quy trình với mã này" in r.get_json()["error"]
    from engine.runtime import Runtime

    with sessions() as s:
        instance = Runtime(s).start("city_signboard_permit", business_key="T-1", data={},
                                    actor=Actor("tiepnhan", frozenset({"clerk"}), frozenset({"MOTCUA"})))
        s.commit()
        [task] = Runtime(s).open_tasks(instance.id)
        assert (task.element_id, task.candidate_groups, task.due_at is not None) == (
            "receive_dossier", ["MOTCUA"], True)


# ----------------------------------------------------------------- validate, deploy
def test_validate_returns_problems_naming_their_elements(designer, birth):
    xml = latest_xml(birth, BIRTH)
    root = etree.fromstring(xml.encode())
    # cut the flow out of record_birth: a dead end (error); and a form field without a label (warning)
    [flow] = root.xpath("//b:sequenceFlow[@sourceRef='record_birth']", namespaces={"b": BPMN})
    flow.getparent().remove(flow)
    [outgoing] = root.xpath("//b:userTask[@id='record_birth']/b:outgoing[text()=$f]", f=flow.get("id"),
                            namespaces={"b": BPMN})
    outgoing.getparent().remove(outgoing)
    [field] = root.xpath("//b:userTask[@id='receive_dossier']//c:formField[@id='applicant_phone']",
                         namespaces={"b": BPMN, "c": CAMUNDA})
    del field.attrib["label"]
    r = post_json(designer, "/designer/lint", {"xml": etree.tostring(root).decode(),
                                              "filename": "ward_birth_registration.bpmn"})
    assert r.status_code == 200
    problems = r.get_json()["problems"]
    by_element = {(p["element"], p["severity"]) for p in problems}
    assert ("record_birth", "error") in by_element
    assert ("receive_dossier", "warning") in by_element
    assert all(p["file"] == "ward_birth_registration.bpmn" and p["line"] for p in problems)
    # the unchanged file is clean
    r = post_json(designer, "/designer/lint", {"xml": xml, "filename": "ward_birth_registration.bpmn"})
    assert [p for p in r.get_json()["problems"] if p["severity"] == "error"] == []
    # broken XML is a problem with a line, never a stack trace
    r = post_json(designer, "/designer/lint", {"xml": "<bpmn:definitions", "filename": "x.bpmn"})
    assert r.status_code == 200 and r.get_json()["problems"][0]["severity"] == "error"
    assert post_json(designer, "/designer/lint", {"xml": ""}).status_code == 400
    assert designer.post("/designer/lint", data={"xml": xml}, headers={"X-CSRFToken": designer.token}).status_code == 400


def test_json_posts_without_the_csrf_token_are_refused(designer, birth):
    r = designer.post("/designer/lint", json={"xml": latest_xml(birth, BIRTH)})
    assert r.status_code == 400
    r = designer.post("/designer/deploy", json={"xml": latest_xml(birth, BIRTH), "note": "x", "base_version": 1},
                      headers={"X-CSRFToken": "gia-mao"})
    assert r.status_code == 400
    with birth() as s:
        assert len(s.scalars(select(ProcessVersion).where(ProcessVersion.process_id == BIRTH)).all()) == 1


def test_deploy_with_a_note_makes_version_2_recorded_and_audited(designer, birth):
    from accounts import audit

    xml = rename_task(latest_xml(birth, BIRTH), "record_birth", "Kiểm tra và ghi sổ khai sinh",
                      "register_number", "Số đăng ký trong sổ / Register number")
    r = post_json(designer, "/designer/deploy", {"xml": xml, "filename": "ward_birth_registration.bpmn",
                                                "note": "", "base_version": 1})
    assert r.status_code == 422 and "Ghi chú thay đổi là bắt buộc" in r.get_json()["error"]
    r = post_json(designer, "/designer/deploy", {"xml": xml, "filename": "ward_birth_registration.bpmn",
                                                "note": "đổi tên bước ghi sổ", "base_version": 1})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["version"] == 2 and "phiên bản 2" in r.get_json()["message"]
    history = designer.get(f"/designer/{BIRTH}/versions").get_data(as_text=True)
    assert "đổi tên bước ghi sổ" in history and "thietke" in history and "trình duyệt" in history
    assert re.search(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", history)
    with birth() as s:
        rows = audit.recent(s, actor="thietke")
        assert any("deploy" in row.action for row in rows), [row.action for row in rows]
    # the same XML again changes nothing
    r = post_json(designer, "/designer/deploy", {"xml": xml, "filename": "ward_birth_registration.bpmn",
                                                "note": "lần nữa", "base_version": 2})
    assert r.status_code == 200 and r.get_json()["changed"] is False


def test_a_deploy_based_on_an_old_version_is_a_conflict_said_clearly(designer, birth, app):
    xml = latest_xml(birth, BIRTH)
    first = post_json(designer, "/designer/deploy", {"xml": rename_task(xml, "record_birth", "Ghi sổ A"),
                                                    "filename": "ward_birth_registration.bpmn", "note": "A",
                                                    "base_version": 1})
    assert first.status_code == 201
    admin = sign_in(app, "admin")
    r = post_json(admin, "/designer/deploy", {"xml": rename_task(xml, "record_birth", "Ghi sổ B"),
                                             "filename": "ward_birth_registration.bpmn", "note": "B",
                                             "base_version": 1}, token=csrf(admin, "/designer"))
    assert r.status_code == 409
    body = r.get_json()
    assert body["latest_version"] == 2
    assert "Có người đã triển khai phiên bản 2" in body["error"] and "thietke" in body["detail"]


def test_an_invalid_diagram_is_not_deployed(designer, birth):
    xml = latest_xml(birth, BIRTH).replace('camunda:property name="time_budget" value="PT4H"',
                                           'camunda:property name="time_budget" value="bốn giờ"', 1)
    xml = xml.replace("<bpmn:timeDate xsi:type=\"bpmn:tFormalExpression\">working_deadline(&quot;PT4H&quot;)",
                      "<bpmn:timeDate xsi:type=\"bpmn:tFormalExpression\">working_deadline(", 1)
    r = post_json(designer, "/designer/deploy", {"xml": xml, "filename": "ward_birth_registration.bpmn",
                                                "note": "hỏng", "base_version": 1})
    assert r.status_code == 422
    assert r.get_json()["problems"] and all(p["severity"] == "error" for p in r.get_json()["problems"])
    assert r.get_json()["problems"][0]["element"]


# ----------------------------------------------------------------- history, diff, rollback
def _two_versions(designer, birth) -> None:
    xml = rename_task(latest_xml(birth, BIRTH), "record_birth", "Kiểm tra, ghi sổ",
                      "register_number", "Số sổ / Book number")
    assert post_json(designer, "/designer/deploy", {"xml": xml, "filename": "ward_birth_registration.bpmn",
                                                   "note": "v2", "base_version": 1}).status_code == 201


def test_the_diff_page_lists_and_marks_the_changes(designer, birth):
    _two_versions(designer, birth)
    r = designer.get(f"/designer/{BIRTH}/diff?from=1&to=2")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert 'data-changed="[&#34;record_birth&#34;]"' in html
    assert 'class="change-changed" data-element="record_birth"' in html
    assert "Số sổ / Book number" in html  # the form field's new label, in the list and the XML diff
    assert '<span class="add">+' in html and '<span class="del">-' in html
    # the default compares the two latest; one version only says so
    assert 'data-changed="[&#34;record_birth&#34;]"' in designer.get(f"/designer/{BIRTH}/diff").get_data(as_text=True)
    assert designer.get(f"/designer/{BIRTH}/diff?from=1&to=7").status_code == 404
    same = designer.get(f"/designer/{BIRTH}/diff?from=2&to=2").get_data(as_text=True)
    assert 'id="diff-none"' in same


def test_the_opinion_step_added_in_parallel_shows_as_added(designer, birth):
    xml = fixture_bytes("ward_birth_registration_opinion.bpmn").decode()
    r = post_json(designer, "/designer/deploy", {"xml": xml, "filename": "ward_birth_registration.bpmn",
                                                "note": "thêm ý kiến Công an phường", "base_version": 1})
    assert r.status_code == 201, r.get_json()
    html = designer.get(f"/designer/{BIRTH}/diff?from=1&to=2").get_data(as_text=True)
    added = re.search(r'data-added="([^"]*)"', html).group(1)
    for element in ("opinion_split", "ask_police_opinion", "opinion_join", "Lane_police"):
        assert f"&#34;{element}&#34;" in added


def test_rollback_deploys_the_old_version_again(designer, birth):
    _two_versions(designer, birth)
    token = csrf(designer, f"/designer/{BIRTH}/versions")
    r = designer.post(f"/designer/{BIRTH}/rollback", data={"csrf_token": token, "version": "1", "note": ""})
    assert r.status_code == 302
    assert "Ghi chú thay đổi là bắt buộc" in designer.get(r.location).get_data(as_text=True)
    r = designer.post(f"/designer/{BIRTH}/rollback", data={"csrf_token": token, "version": "1",
                                                          "note": "tên cũ rõ hơn", "confirm": "on"})
    assert r.status_code == 302
    page = designer.get(r.location).get_data(as_text=True)
    assert "thành phiên bản 3" in page and "quay lại phiên bản 1" in page
    assert latest_xml(birth, BIRTH) == fixture_bytes("ward_birth_registration.bpmn").decode()
    assert designer.post(f"/designer/{BIRTH}/rollback", data={"csrf_token": token, "version": "99",
                                                             "note": "x"}).status_code == 404


# ----------------------------------------------------------------- migration
def _dossier(session, n: int, accept: bool) -> str:
    from dossiers import service
    from engine.runtime import Runtime

    d = service.submit(session, procedure_code="1.001193", channel="in_person",
                       applicant={"kind": "person", "name": f"Người nộp {n}", "id_number": "092190001234"},
                       actor=WARD_DESK)
    session.commit()
    if accept:
        rt = Runtime(session)
        [task] = rt.open_tasks(d.id)
        rt.complete_task(task.id, RECEPTION, WARD_DESK)
        session.commit()
    return d.code


def test_the_migration_page_dry_runs_then_moves_the_dossiers_that_can(designer, birth):
    with birth() as s:
        waiting = _dossier(s, 1, accept=False)   # at reception: can move to the parallel opinion version
        in_review = _dossier(s, 2, accept=True)  # at record_birth: the new join would wait for the opinion
    xml = fixture_bytes("ward_birth_registration_opinion.bpmn").decode()
    assert post_json(designer, "/designer/deploy", {"xml": xml, "filename": "ward_birth_registration.bpmn",
                                                   "note": "ý kiến song song", "base_version": 1}).status_code == 201
    page = designer.get(f"/designer/{BIRTH}/migrate")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    rows = dict(re.findall(r'<tr data-instance="([^"]+)" class="(can-move|cannot-move)"', html))
    assert sorted(rows.values()) == ["can-move", "cannot-move"]
    assert waiting in html and in_review in html
    # the reasons in the user's language: Vietnamese here, English after switching
    assert "Có thể chuyển" in html and "cổng song song" in html and "chờ mãi" in html
    designer.post("/language/en", data={"csrf_token": csrf(designer, f"/designer/{BIRTH}/migrate"),
                                        "next": f"/designer/{BIRTH}/migrate"})
    english = designer.get(f"/designer/{BIRTH}/migrate").get_data(as_text=True)
    assert "Can move" in english and "wait there forever" in english
    designer.post("/language/vi", data={"csrf_token": csrf(designer, f"/designer/{BIRTH}/migrate"),
                                        "next": f"/designer/{BIRTH}/migrate"})
    movable = [i for i, kind in rows.items() if kind == "can-move"]
    token = csrf(designer, f"/designer/{BIRTH}/migrate")
    r = designer.post(f"/designer/{BIRTH}/migrate?to=2", data={"csrf_token": token})
    assert r.status_code == 302 and "Chọn ít nhất một hồ sơ" in designer.get(r.location).get_data(as_text=True)
    r = designer.post(f"/designer/{BIRTH}/migrate?to=2", data={"csrf_token": token, "instance_id": movable})
    assert r.status_code == 302
    after = designer.get(r.location).get_data(as_text=True)
    assert "Đã chuyển 1 hồ sơ sang phiên bản 2" in after
    with birth() as s:
        from engine.models import Instance

        moved = s.get(Instance, movable[0])
        assert moved.version.version == 2
    # the dossier that moved now follows the new route: accepted, it gets the parallel opinion step
    from engine.runtime import Runtime

    with birth() as s:
        rt = Runtime(s)
        [task] = rt.open_tasks(movable[0])
        rt.complete_task(task.id, RECEPTION, WARD_DESK)
        s.commit()
        assert sorted(t.element_id for t in rt.open_tasks(movable[0])) == ["ask_police_opinion", "record_birth"]


# ----------------------------------------------------------------- upload, DMN
def test_upload_checks_type_note_and_validity_then_deploys(designer, sessions, people):
    import io

    token = designer.token

    def upload(*files, note="tải lên"):
        data = {"csrf_token": token, "note": note,
                "files": [(io.BytesIO(content), name) for name, content in files]}
        return designer.post("/designer/upload", data=data, content_type="multipart/form-data")

    r = upload(("notes.txt", b"hello"))
    assert r.status_code == 415 and "notes.txt: chỉ nhận tệp .bpmn và .dmn." in r.get_data(as_text=True)
    r = upload(("ward_birth_registration.bpmn", fixture_bytes("ward_birth_registration.bpmn")), note="")
    assert r.status_code == 422 and "Ghi chú thay đổi là bắt buộc" in r.get_data(as_text=True)
    r = upload(("broken.bpmn", b"<bpmn:definitions"))
    assert r.status_code == 422 and "broken.bpmn:1:" in r.get_data(as_text=True)
    r = upload(*library(), ("ward_birth_registration.bpmn", fixture_bytes("ward_birth_registration.bpmn")))
    assert r.status_code == 302
    page = designer.get(r.location).get_data(as_text=True)
    assert "Đã triển khai: " in page and "birth_registration v1" in page and "fee_schedule" in page
    with sessions() as s:
        row = s.scalars(select(ProcessVersion).where(ProcessVersion.process_id == BIRTH)).one()
        assert (row.deployment.source, row.deployment.deployed_by, row.deployment.note) == ("ui", "thietke", "tải lên")
    # the DMN tables: listed, downloadable as deployed
    html = designer.get("/designer/decisions").get_data(as_text=True)
    assert "<code>fee_schedule</code>" in html and "fee_schedule.dmn" in html
    r = designer.get("/designer/decisions?download=fee_schedule")
    assert r.status_code == 200 and 'filename="fee_schedule.dmn"' in r.headers["Content-Disposition"]
    assert r.data == (LIBRARY / "common" / "fee_schedule.dmn").read_bytes()
    assert designer.get("/designer/decisions?download=khong_co").status_code == 404
    # a new fee table uploaded alone: the page says the procedures take it only when deployed again
    r = upload(("fee_schedule.dmn", (LIBRARY / "common" / "fee_schedule.dmn").read_bytes().replace(
        b"<text>15000</text>", b"<text>20000</text>")), note="lệ phí mới")
    assert r.status_code == 302
    page = html_module.unescape(designer.get(r.location).get_data(as_text=True))
    assert "Bảng fee_schedule đã lưu. Các quy trình dùng bảng này chỉ áp dụng bảng mới khi được triển khai lại" in page
    r = designer.get(f"/designer/{BIRTH}/xml?version=1&download=1")
    assert 'filename="ward_birth_registration.v1.bpmn"' in r.headers["Content-Disposition"]


def test_the_pages_speak_english_too(designer, birth):
    token = csrf(designer, "/designer")
    designer.post("/language/en", data={"csrf_token": token, "next": "/designer"})
    html = designer.get(f"/designer/{BIRTH}").get_data(as_text=True)
    assert "Validate" in html and "Deploy" in html and 'data-label-count="%e errors, %w warnings"' in html
    assert "Version history" in designer.get(f"/designer/{BIRTH}/versions").get_data(as_text=True)
