"""The designer studio in Debian's Chromium: the bpmn-js Modeler with the Camunda properties panel.

A process designer edits a deployed procedure in the browser only — a task's name and a form
field's label typed into the properties panel, validation shown against the element as they type —
deploys it with a change note, and the next dossier's task shows the change. Then the issue's
"done when": an opinion step added in parallel, deployed as version 2, the visual diff, the dry run
and the move of the running dossiers that can move, and new dossiers following the new route.

The structural change (gateways, a task, flows) is made with bpmn-js's own modeling API in
``page.evaluate`` — the same commands the palette and the context pad run — because dragging
shapes with exact drops is brittle; the new task's name is still typed into the properties panel.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import CHROMIUM, screenshot
from tests.browser.test_web_app import sign_in

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium"
)

PROCESS = "birth_registration"
APPLICANT = {"kind": "person", "name": "Nguyễn Thị Thu", "id_number": "092190001234", "phone": "0907123456"}
RECEPTION = {"applicant_name": "Nguyễn Thị Thu", "applicant_id_number": "092190001234",
             "applicant_relationship": "mother", "reception_outcome": "accept"}


def ward_desk():
    from engine.actors import Actor

    return Actor("motcuaphuong", frozenset({"clerk"}), frozenset({"MOTCUA_PHUONG"}))


def submit(sessions, accept: bool = False) -> tuple[str, str]:
    """A birth registration dossier received at the ward's desk (accepted if asked); (code, instance id)."""
    from dossiers import service
    from engine.runtime import Runtime

    with sessions() as s:
        dossier = service.submit(s, procedure_code="1.001193", channel="in_person", applicant=APPLICANT,
                                 actor=ward_desk())
        s.commit()
        if accept:
            rt = Runtime(s)
            [task] = rt.open_tasks(dossier.id)
            rt.complete_task(task.id, RECEPTION, ward_desk())
            s.commit()
        return dossier.code, dossier.id


def open_modeler(page: Page) -> None:
    page.goto("/designer")
    page.locator("#designer-processes").get_by_role("link", name="Đăng ký khai sinh").click()
    expect(page).to_have_url(re.compile(r"/designer/birth_registration$"))
    expect(page.locator("#designer-root")).to_have_attribute("data-ready", "1", timeout=20_000)
    expect(page.locator("#lint-summary")).to_have_text("Không có lỗi hay cảnh báo.", timeout=15_000)


def select_element(page: Page, element_id: str) -> None:
    page.locator(f'#designer-canvas g.djs-element[data-element-id="{element_id}"]').click()
    expect(page.locator("#designer-panel .bio-properties-panel-header-label")).to_be_visible()


def open_group(page: Page, group_id: str) -> None:
    header = page.locator(f'#designer-panel [data-group-id="{group_id}"] .bio-properties-panel-group-header')
    if "open" not in (header.get_attribute("class") or ""):
        header.click()


def deploy(page: Page, note: str) -> None:
    page.get_by_role("button", name="Triển khai", exact=True).click()
    dialog = page.locator("#deploy-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Ghi chú thay đổi").fill(note)
    dialog.get_by_role("button", name="Triển khai", exact=True).click()


@pytest.mark.browser
def test_a_designer_renames_a_step_and_a_form_field_in_the_panel_and_the_next_dossier_shows_it(
        contexts, library):
    page = contexts.new_page()
    sign_in(page, "thietke")
    open_modeler(page)

    select_element(page, "receive_dossier")
    open_group(page, "group-general")
    name = page.locator("#bio-properties-panel-name")
    expect(name).to_have_value("Tiếp nhận, kiểm tra hồ sơ")
    name.fill("Tiếp nhận hồ sơ khai sinh")

    open_group(page, "group-CamundaPlatform__FormData")
    phone = page.locator('#designer-panel [data-entry-id="receive_dossier-formField-3"]')
    phone.locator(".bio-properties-panel-collapsible-entry-header").click()
    label = page.locator("#bio-properties-panel-receive_dossier-formField-3-formFieldLabel")
    expect(label).to_have_value("Số điện thoại / Phone number")

    # validate as you edit: a field without a label is named, and marked on the diagram
    label.fill("")
    warning = page.locator("#lint-list li.lint-warning", has_text="form field 'applicant_phone' has no label")
    expect(warning).to_have_count(1, timeout=15_000)
    expect(warning).to_contain_text("ward_birth_registration.bpmn:")
    expect(warning).to_contain_text(": receive_dossier: ")
    expect(page.locator('#designer-canvas g.djs-element.lint-marker-warning[data-element-id="receive_dossier"]')
           ).to_have_count(1)
    expect(page.locator("#lint-summary")).to_have_text("0 lỗi, 1 cảnh báo")
    label.fill("Số điện thoại liên hệ / Contact phone")
    expect(page.locator("#lint-summary")).to_have_text("Không có lỗi hay cảnh báo.", timeout=15_000)
    expect(page.locator("#designer-canvas g.lint-marker-warning")).to_have_count(0)
    screenshot(page, "designer.png")

    # a deploy without a note is refused in the dialog; with one, version 2
    page.get_by_role("button", name="Triển khai", exact=True).click()
    page.locator("#deploy-dialog").get_by_role("button", name="Triển khai", exact=True).click()
    expect(page.locator("#deploy-result")).to_have_text(
        "Ghi chú thay đổi là bắt buộc: ai đọc lịch sử phiên bản cần biết vì sao.")
    page.locator("#deploy-cancel").click()
    deploy(page, "Đổi tên bước tiếp nhận và nhãn số điện thoại")
    expect(page.locator("#designer-status")).to_have_text("Đã triển khai phiên bản 2 của birth_registration.")
    expect(page.locator("#designer-version [data-current-version]")).to_have_text("2")

    # the version history says who, when, why
    page.get_by_role("link", name="Lịch sử phiên bản").first.click()
    row = page.locator('#version-history tr[data-version="2"]')
    expect(row).to_contain_text("Đổi tên bước tiếp nhận và nhãn số điện thoại")
    expect(row).to_contain_text("thietke")
    expect(row).to_contain_text("trình duyệt")

    # a new dossier: the ward's desk sees the new step name and the new label
    code, _ = submit(library)
    desk = contexts.new_page()
    sign_in(desk, "motcuaphuong")
    row = desk.locator("#inbox-table tbody tr", has_text=code)
    expect(row).to_contain_text("Tiếp nhận hồ sơ khai sinh")
    row.get_by_role("link", name="Xử lý").click()
    expect(desk.get_by_role("heading", level=1)).to_contain_text("Tiếp nhận hồ sơ khai sinh")
    expect(desk.get_by_label("Số điện thoại liên hệ")).to_be_visible()


ADD_PARALLEL_OPINION = """
() => {
  const modeler = window.MotcuaDesigner.modeler;
  const registry = modeler.get("elementRegistry");
  const modeling = modeler.get("modeling");
  const get = (id) => registry.get(id);
  const participant = get("Part_birth_registration");
  const split = modeling.createShape({ type: "bpmn:ParallelGateway" }, { x: 660, y: 440 }, participant);
  const join = modeling.createShape({ type: "bpmn:ParallelGateway" }, { x: 900, y: 650 }, participant);
  const opinion = modeling.createShape({ type: "bpmn:UserTask" }, { x: 770, y: 650 }, participant);
  modeling.updateProperties(split, { id: "opinion_split", name: "Xin ý kiến song song" });
  modeling.updateProperties(join, { id: "opinion_join" });
  modeling.updateProperties(opinion, { id: "leader_opinion" });
  modeling.reconnectEnd(get("flow_to_record"), split, { x: 635, y: 440 });
  modeling.connect(split, get("record_birth"));
  modeling.connect(split, opinion);
  modeling.reconnectEnd(get("flow_to_leader"), join, { x: 900, y: 625 });
  modeling.connect(opinion, join);
  modeling.connect(join, get("sign_birth_certificate"));
  return opinion.id;
}
"""

OPINION_DETAILS = """
() => {
  // what a designer fills in the panel's User assignment, Form fields and Extension properties groups
  const modeler = window.MotcuaDesigner.modeler;
  const moddle = modeler.get("moddle");
  const modeling = modeler.get("modeling");
  const task = modeler.get("elementRegistry").get("leader_opinion");
  const field = moddle.create("camunda:FormField", { id: "leader_opinion_note", label: "Ý kiến của lãnh đạo / Leader's opinion", type: "string" });
  const formData = moddle.create("camunda:FormData", { fields: [field] });
  const budget = moddle.create("camunda:Property", { name: "time_budget", value: "PT4H" });
  const properties = moddle.create("camunda:Properties", { values: [budget] });
  const extensions = moddle.create("bpmn:ExtensionElements", { values: [formData, properties] });
  modeling.updateProperties(task, { "camunda:candidateGroups": "LD_PHUONG", extensionElements: extensions });
}
"""


@pytest.mark.browser
def test_done_when_a_parallel_opinion_step_is_deployed_compared_and_running_dossiers_move(contexts, library):
    waiting_code, waiting_id = submit(library)                # at reception: can move
    busy_code, busy_id = submit(library, accept=True)          # at record_birth: the new join would wait forever

    page = contexts.new_page()
    sign_in(page, "thietke")
    open_modeler(page)
    assert page.evaluate(ADD_PARALLEL_OPINION) == "leader_opinion"
    # validation helps: the new task has no time budget yet, said against it and marked on the diagram
    warning = page.locator("#lint-list li.lint-warning", has_text="the user task has no time budget")
    expect(warning).to_have_count(1, timeout=15_000)
    expect(warning).to_contain_text(": leader_opinion: ")
    expect(page.locator('#designer-canvas g.lint-marker-warning[data-element-id="leader_opinion"]')).to_have_count(1)
    warning.get_by_role("button").click()  # focuses the element: the panel shows it
    open_group(page, "group-general")
    page.locator("#bio-properties-panel-name").fill("Cho ý kiến về hồ sơ")
    page.evaluate(OPINION_DETAILS)
    expect(page.locator("#lint-summary")).to_have_text("Không có lỗi hay cảnh báo.", timeout=15_000)
    deploy(page, "Thêm bước lãnh đạo cho ý kiến song song với ghi sổ")
    expect(page.locator("#designer-status")).to_have_text("Đã triển khai phiên bản 2 của birth_registration.")

    # the visual diff: the added elements green on the new diagram, listed, and the XML diff
    page.get_by_role("link", name="So sánh").click()
    expect(page.locator("#diff-root")).to_have_attribute("data-ready", "1", timeout=20_000)
    for element in ("opinion_split", "leader_opinion", "opinion_join"):
        expect(page.locator(f'#diff-new g.djs-element.diff-added[data-element-id="{element}"]')).to_have_count(1)
        expect(page.locator(f'#diff-changes li.change-added[data-element="{element}"]')).to_have_count(1)
    expect(page.locator('#diff-changes li.change-changed[data-element="flow_to_record"]')).to_contain_text(
        "to: 'record_birth' → 'opinion_split'")
    expect(page.locator("#xml-diff span.add", has_text='id="leader_opinion"').first).to_be_visible()
    screenshot(page, "designer-diff.png")

    # the dry run, then move the dossiers that can
    page.get_by_role("link", name="Chuyển hồ sơ đang chạy").click()
    expect(page.locator(f'#migration-plan tr[data-instance="{waiting_id}"]')).to_have_class("can-move")
    busy = page.locator(f'#migration-plan tr[data-instance="{busy_id}"]')
    expect(busy).to_have_class("cannot-move")
    expect(busy).to_contain_text(busy_code)
    expect(busy.get_by_role("checkbox")).to_have_count(0)
    screenshot(page, "designer-migrate.png")
    page.get_by_role("button", name="Chuyển các hồ sơ đã chọn").click()
    expect(page.locator("main > .flash.success")).to_have_text("Đã chuyển 1 hồ sơ sang phiên bản 2.")

    # the moved dossier and a new one follow the new route: accepted, the opinion runs beside the record
    from engine.runtime import Runtime

    new_code, new_id = submit(library)
    with library() as s:
        rt = Runtime(s)
        for instance_id in (waiting_id, new_id):
            [task] = rt.open_tasks(instance_id)
            rt.complete_task(task.id, RECEPTION, ward_desk())
            s.commit()
            assert sorted(t.element_id for t in rt.open_tasks(instance_id)) == ["leader_opinion", "record_birth"]
        assert [t.element_id for t in rt.open_tasks(busy_id)] == ["record_birth"]  # stayed on version 1
    chairman = contexts.new_page()
    sign_in(chairman, "chutich")
    expect(chairman.locator("#inbox-table tbody tr", has_text=new_code)).to_contain_text("Cho ý kiến về hồ sơ")


ROUND_TRIP = """
async (xml) => {
  const box = document.createElement("div");
  box.style.cssText = "width:800px;height:600px;position:absolute;left:-9999px";
  const panel = document.createElement("div");
  document.body.append(box, panel);
  const modeler = window.MotcuaDesigner.createModeler(box, panel);
  try {
    const { warnings } = await modeler.importXML(xml);
    const { xml: saved } = await modeler.saveXML({ format: true });
    return { saved, warnings: warnings.map((w) => w.message) };
  } finally {
    modeler.destroy();
    box.remove();
    panel.remove();
  }
}
"""


@pytest.mark.browser
def test_every_library_file_round_trips_through_the_modeler_without_losing_extensions(contexts, library):
    """What Camunda Modeler (or a text editor) wrote opens unchanged: import + export in the browser keeps
    every element, form field, candidate group, property, timer, message and condition (compared with
    engine.versions.diff_xml, which reads those facts), and the exported file still validates."""
    from lxml import etree

    from engine.lint import lint
    from engine.versions import diff_xml
    from tests.browser.conftest import LIBRARY

    page = contexts.new_page()
    sign_in(page, "thietke")
    open_modeler(page)
    files = sorted(LIBRARY.rglob("*.bpmn"))
    assert len(files) >= 9
    for path in files:
        original = path.read_text(encoding="utf-8")
        result = page.evaluate(ROUND_TRIP, original)
        assert result["warnings"] == [], f"{path.name}: {result['warnings']}"
        saved = result["saved"]
        root = etree.fromstring(original.encode())
        for process in root.iter("{http://www.omg.org/spec/BPMN/20100524/MODEL}process"):
            diff = diff_xml(process.get("id"), original, saved)
            assert (diff["added"], diff["removed"], diff["changed"]) == ([], [], []), f"{path.name}: {diff}"
        with library() as s:
            errors = [str(p) for p in lint(s, [(path.name, saved.encode())]) if p.severity == "error"]
        assert errors == [], path.name
