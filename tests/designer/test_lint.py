"""Lint rules of the designer studio, each caught on a real BPMN file."""

from __future__ import annotations

from engine.lint import blocking, lint
from engine.models import LaneMapping
from tests.designer.conftest import FIXTURES, LIBRARY, common_files

FILE = "lint_findings.bpmn"


def _findings(session=None) -> dict[tuple[str, str], object]:
    problems = lint(session, [(FILE, (FIXTURES / FILE).read_bytes())])
    return {(p.element, p.message.split(":")[0]): p for p in problems}


def test_each_rule_names_its_element_line_and_severity(sessions, people):
    with sessions() as s:
        found = _findings(s)
    lane = found[("Lane_ghost", "lane 'Phòng Không Tồn Tại' maps to no department")]
    assert lane.severity == "warning" and lane.line == 11
    assert found[("check", "form field 'ghi_chu' has no label")].line == 23
    assert found[("ghost_review", "the user task has no time budget")].severity == "warning"
    dead = found[("ghost_review", "dead end")]
    assert dead.severity == "error" and dead.line == 40
    assert str(dead) == (f"{FILE}:40: ghost_review: dead end: the element has no outgoing flow, so the dossier stops "
                         "here without reaching an end event; connect it or end it with an end event")
    gateway = found[("route", "the gateway has no default flow")]
    assert str(gateway).startswith(f"{FILE}:32: route: warning: the gateway has no default flow")
    assert found[("forgotten", "nothing leads to this element")].severity == "warning"
    assert found[("lint_findings", "the process has no diagram (bpmndi)")].severity == "warning"
    assert ("Lane_desk", "lane 'Bộ phận Một cửa' maps to no department") not in found  # MOTCUA's name
    assert [p.element for p in blocking(list(found.values()))] == ["ghost_review"]
    assert found[("ghost_review", "dead end")].to_dict()["severity"] == "error"


def test_a_lane_mapping_silences_the_lane_warning(sessions, people):
    with sessions() as s:
        s.add(LaneMapping(lane="Phòng Không Tồn Tại", department_code="SXD"))
        s.commit()
        assert not [k for k in _findings(s) if k[0] == "Lane_ghost"]
    assert not [k for k in _findings(None) if k[0] == "Lane_ghost"]  # without a database lanes are not checked


def test_validation_errors_come_first_as_errors():
    bad = (FIXTURES / FILE).read_bytes().replace(b"ok == True", b"ok ==")
    problems = lint(None, [(FILE, bad)])
    errors = blocking(problems)
    assert any(p.element == "f3" and "condition" in p.message for p in errors)
    assert lint(None, [("x.bpmn", b"<bpmn:definitions")])[0].severity == "error"


def test_the_library_has_no_blocking_finding_and_its_lanes_map(sessions, people):
    files = common_files() + [(p.name, p.read_bytes()) for p in sorted(LIBRARY.glob("*.bpmn"))]
    with sessions() as s:
        problems = lint(s, files)
    assert blocking(problems) == []
    # the engine's sample (not a procedure of the catalogue) has a LANHDAO lane no demo department carries
    assert [(p.file, p.element) for p in problems if "maps to no department" in p.message] == [
        ("sample_dossier.bpmn", "Lane_lead")]
    assert not [p for p in problems if "no diagram" in p.message]
