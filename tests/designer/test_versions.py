"""Version history, diff, browser deploys with their conflict rule, rollback, and a Camunda Modeler round trip."""

from __future__ import annotations

import pytest
from lxml import etree

from engine.errors import Conflict, DeploymentInvalid, FormInvalid, InvalidState, NotFound
from engine.models import ProcessVersion
from engine.runtime import Runtime
from engine.versions import deploy_edited, diff_versions, diff_xml, rollback, version_history, version_xml
from tests.designer.conftest import (
    DESIGNER,
    FIXTURES,
    PROCESS,
    START_DATA,
    V1_FILE,
    WARD_CLERK,
    opinion_xml,
    v1_xml,
)


def _v2(s):
    result = deploy_edited(s, V1_FILE, opinion_xml(), DESIGNER, "Xin ý kiến Công an phường", 1)
    s.commit()
    return result


def test_history_newest_first_with_who_note_source_base_and_running_instances(library):
    with library() as s:
        Runtime(s).start(PROCESS, business_key="K-1", data=dict(START_DATA), actor=WARD_CLERK)
        s.commit()
        _v2(s)
        history = version_history(s, PROCESS)
        assert [h["version"] for h in history] == [2, 1]
        new, old = history
        assert (new["source"], new["deployed_by"], new["note"], new["base_version"]) == (
            "ui", DESIGNER, "Xin ý kiến Công an phường", 1)
        assert (old["source"], old["deployed_by"], old["note"], old["base_version"]) == (
            "disk", "cli", "thư viện thủ tục", None)
        assert (new["running_instances"], old["running_instances"]) == (0, 1)
        assert new["latest"] and not old["latest"] and new["file_name"] == V1_FILE
        assert new["content_hash"] != old["content_hash"] and new["created_at"] is not None
        assert version_xml(s, PROCESS, 1) == (V1_FILE, v1_xml().decode("utf-8"))
        assert version_xml(s, PROCESS, 2)[1] == opinion_xml().decode("utf-8")
        with pytest.raises(NotFound, match="no version 7"):
            version_xml(s, PROCESS, 7)
        with pytest.raises(NotFound, match="not deployed"):
            version_history(s, "khong_co")


def test_diff_of_the_parallel_opinion_step(library):
    with library() as s:
        _v2(s)
        diff = diff_versions(s, PROCESS, 1, 2)
    added = {e["id"]: e["type"] for e in diff["added"]}
    assert added == {
        "Lane_police": "lane", "opinion_split": "parallelGateway", "ask_police_opinion": "userTask",
        "opinion_join": "parallelGateway", "flow_to_split": "sequenceFlow", "flow_to_opinion": "sequenceFlow",
        "flow_opinion_done": "sequenceFlow", "flow_recorded": "sequenceFlow",
    }
    assert diff["removed"] == []
    changed = {e["id"]: e["changes"] for e in diff["changed"]}
    assert changed["flow_to_record"] == ["from: 'accept_dossier' → 'opinion_split'"]
    assert changed["flow_to_leader"] == ["from: 'record_birth' → 'opinion_join'"]
    assert "record_birth" not in changed  # its own content did not change; its flows did
    assert '+    <bpmn:parallelGateway id="opinion_split" name="Xin ý kiến song song">' in diff["xml_diff"]
    assert diff["xml_diff"].startswith(f"--- {V1_FILE} (version 1)\n+++ {V1_FILE} (version 2)\n")
    assert (diff["from_version"], diff["to_version"]) == (1, 2)
    # the other way round: the same elements removed
    with library() as s:
        back = diff_versions(s, PROCESS, 2, 1)
    assert {e["id"] for e in back["removed"]} == set(added) and back["added"] == []


def test_diff_names_what_changed_inside_elements():
    old = v1_xml().decode("utf-8")
    new = (old.replace('name="Ký Giấy khai sinh"', 'name="Ký, đóng dấu Giấy khai sinh"')
              .replace('<camunda:formField id="signed_on"', '<camunda:formField id="seal_number" '
                       'label="Số dấu" type="string" />\n<camunda:formField id="signed_on"')
              .replace('working_deadline(&quot;PT2H&quot;)', 'working_deadline(&quot;PT3H&quot;)')
              .replace('<camunda:property name="time_budget" value="PT2H" />',
                       '<camunda:property name="time_budget" value="PT3H" />')
              .replace('<bpmn:userTask id="record_birth" name', '<bpmn:userTask id="record_birth" '
                       'camunda:candidateGroups="TUPHAP_HOTICH" name'))
    diff = diff_xml(PROCESS, old, new)
    changed = {e["id"]: e["changes"] for e in diff["changed"]}
    assert changed["sign_birth_certificate"] == [
        "name: 'Ký Giấy khai sinh' → 'Ký, đóng dấu Giấy khai sinh'",
        "form field 'seal_number' added",
        "property 'time_budget': 'PT2H' → 'PT3H'",
    ]
    assert changed["sign_birth_certificate_timer"] == [
        "timer timeDate: 'working_deadline(\"PT2H\")' → 'working_deadline(\"PT3H\")'"
    ]
    assert changed["record_birth"] == ["camunda:candidateGroups added: 'TUPHAP_HOTICH'"]
    with_condition = old.replace("decision == 'approve'", "decision == 'approve' and signed_on")
    assert with_condition != old
    [flow] = diff_xml(PROCESS, old, with_condition)["changed"]
    assert flow["id"] == "flow_approved" and flow["changes"][0].startswith("condition: ")
    moved = old.replace('<dc:Bounds x="960" y="620"', '<dc:Bounds x="990" y="620"')
    only_moved = diff_xml(PROCESS, old, moved)
    assert only_moved["changed"] == [] and only_moved["moved"] == ["sign_birth_certificate"]


def test_browser_deploy_needs_a_note_and_the_latest_version_as_its_base(library):
    with library() as s:
        with pytest.raises(FormInvalid, match="change note"):
            deploy_edited(s, V1_FILE, opinion_xml(), DESIGNER, "  ", 1)
        with pytest.raises(Conflict, match="already exists"):
            deploy_edited(s, V1_FILE, opinion_xml(), DESIGNER, "ghi chú", None)
        _v2(s)
        # another designer still had version 1 open
        with pytest.raises(Conflict) as caught:
            deploy_edited(s, V1_FILE, v1_xml().decode().replace("Nộp hồ sơ", "Nộp hồ sơ trực tuyến").encode(), "admin",
                          "sửa tên", 1)
        message = caught.value.message
        assert "version 2 was deployed from the browser by thietke at" in message
        assert "after you opened version 1" in message and "reload" in message
        assert caught.value.status == 409
        assert [v["version"] for v in version_history(s, PROCESS)] == [2, 1]
        # a dead end blocks a browser deploy; warnings do not
        dead_end = opinion_xml().replace(b'<bpmn:outgoing>flow_opinion_done</bpmn:outgoing>', b"")
        dead_end = dead_end.replace(b'<bpmn:sequenceFlow id="flow_opinion_done" sourceRef="ask_police_opinion" '
                                    b'targetRef="opinion_join" />', b"")
        dead_end = dead_end.replace(b"<bpmn:incoming>flow_opinion_done</bpmn:incoming>", b"")
        with pytest.raises(DeploymentInvalid) as invalid:
            deploy_edited(s, V1_FILE, dead_end, DESIGNER, "thử", 2)
        assert [p.element for p in invalid.value.problems] == ["ask_police_opinion"]
        # the same content again creates no version
        same = deploy_edited(s, V1_FILE, opinion_xml(), DESIGNER, "không đổi", 2)
        assert not same.changed
        with pytest.raises(FormInvalid):
            deploy_edited(s, "../../etc/passwd", opinion_xml(), DESIGNER, "x", 2)


def test_rollback_deploys_the_old_content_as_a_new_version(library):
    with library() as s:
        Runtime(s).start(PROCESS, business_key="K-2", data=dict(START_DATA), actor=WARD_CLERK)
        s.commit()
        _v2(s)
        result = rollback(s, PROCESS, 1, "admin", "Công an phường chưa sẵn sàng")
        s.commit()
        [deployed] = [p for p in result.processes if p.process_id == PROCESS]
        assert deployed.version == 3 and deployed.changed
        v1, v3 = (s.query(ProcessVersion).filter_by(process_id=PROCESS, version=n).one() for n in (1, 3))
        assert v3.content_hash == v1.content_hash and v3.file_id == v1.file_id
        [latest, *_] = version_history(s, PROCESS)
        assert (latest["rollback_of"], latest["base_version"], latest["deployed_by"]) == (1, 2, "admin")
        assert latest["note"] == "rollback to version 1: Công an phường chưa sẵn sàng"
        assert diff_versions(s, PROCESS, 1, 3)["changed"] == [] and diff_versions(s, PROCESS, 1, 3)["added"] == []
        # rolling back to version 1 again is still explicit: another new version
        with pytest.raises(InvalidState, match="already the latest"):
            rollback(s, PROCESS, 3, "admin", None)
        rollback(s, PROCESS, 2, "admin", None)
        s.commit()
        assert [v["version"] for v in version_history(s, PROCESS)] == [4, 3, 2, 1]
        # new dossiers follow the latest; the running one keeps version 1
        instance = Runtime(s).start(PROCESS, business_key="K-3", data=dict(START_DATA), actor=WARD_CLERK)
        assert instance.version.version == 4
        with pytest.raises(NotFound):
            rollback(s, PROCESS, 42, "admin", None)


def test_round_trip_of_a_camunda_modeler_file(library):
    name = "camunda_modeler_residence.bpmn"
    content = (FIXTURES / name).read_bytes()
    with library() as s:
        result = deploy_edited(s, name, content, DESIGNER, "Tệp từ Camunda Modeler", None, source="api")
        s.commit()
        [p] = result.processes
        assert (p.process_id, p.version) == ("residence_confirmation_cm", 1)
        file_name, xml = version_xml(s, "residence_confirmation_cm", 1)
    assert file_name == name and xml.encode("utf-8") == content  # byte for byte
    root = etree.fromstring(xml.encode("utf-8"))
    assert root.get("{http://camunda.org/schema/modeler/1.0}executionPlatform") == "Camunda Platform"
    assert root.get("exporter") == "Camunda Modeler"
    assert len(root.findall(".//{http://camunda.org/schema/1.0/bpmn}formField")) == 3
    assert root.find(".//{http://camunda.org/schema/1.0/bpmn}taskListener") is not None
    assert root.find(".//{http://www.omg.org/spec/BPMN/20100524/DI}BPMNDiagram") is not None
    assert diff_xml("residence_confirmation_cm", content, xml)["xml_diff"] == ""


def _two_processes(label: str) -> bytes:
    def process(pid: str) -> str:
        return (f'<bpmn:process id="{pid}" isExecutable="true">'
                f'<bpmn:startEvent id="{pid}_s"><bpmn:outgoing>{pid}_f1</bpmn:outgoing></bpmn:startEvent>'
                f'<bpmn:userTask id="{pid}_t" name="{label}"><bpmn:incoming>{pid}_f1</bpmn:incoming>'
                f'<bpmn:outgoing>{pid}_f2</bpmn:outgoing></bpmn:userTask>'
                f'<bpmn:endEvent id="{pid}_e"><bpmn:incoming>{pid}_f2</bpmn:incoming></bpmn:endEvent>'
                f'<bpmn:sequenceFlow id="{pid}_f1" sourceRef="{pid}_s" targetRef="{pid}_t"/>'
                f'<bpmn:sequenceFlow id="{pid}_f2" sourceRef="{pid}_t" targetRef="{pid}_e"/></bpmn:process>')
    return ('<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions '
            'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="http://motcua.vn/t">'
            + process("pair_a") + process("pair_b") + '</bpmn:definitions>').encode()


def test_a_rollback_never_reverts_another_process_of_the_same_file(library):
    from engine.deployments import deploy

    with library() as s:
        deploy(s, [("pair.bpmn", _two_processes("một"))], "designer", note="v1")
        deploy(s, [("pair.bpmn", _two_processes("hai"))], "designer", note="v2")
        s.commit()
        with pytest.raises(InvalidState, match="also declares pair_b"):
            rollback(s, "pair_a", 1, "admin", None)
        assert [v["version"] for v in version_history(s, "pair_b")] == [2, 1]
