"""Validation on deploy: one clear line per problem, FILE:LINE: ELEMENT: message."""

from __future__ import annotations

import re

import pytest

from engine.validation import validate_files
from tests.conftest import fixture_bytes

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">\n'
)


def process(body: str, pid: str = "p") -> bytes:
    return (HEAD + f'<bpmn:process id="{pid}" isExecutable="true">\n' + body + "</bpmn:process>\n</bpmn:definitions>\n").encode()


LINEAR = """<bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
<bpmn:scriptTask id="script1" name="Tính"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
<bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
<bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="script1"/>
<bpmn:sequenceFlow id="f2" sourceRef="script1" targetRef="e"/>
"""


def lines(files) -> list[str]:
    return [str(p) for p in validate_files(files).problems]


def test_sample_is_valid():
    result = validate_files([("sample_dossier.bpmn", fixture_bytes("sample_dossier.bpmn"))])
    assert result.ok, [str(p) for p in result.problems]
    assert [p.process_id for p in result.processes] == ["sample_dossier"]


def test_malformed_xml_names_file_and_line():
    bad = process(LINEAR.format(script="x = 1")).replace(b"</bpmn:scriptTask>", b"</bpmn:scriptTsk>")
    [line] = lines([("bad.bpmn", bad)])
    assert re.match(r"bad\.bpmn:\d+: -: malformed XML: ", line), line
    assert int(line.split(":")[1]) == 6


def test_an_unreadable_file_does_not_hide_the_problems_of_the_others():
    bad_xml = process(LINEAR.format(script="x = 1")).replace(b"</bpmn:scriptTask>", b"</bpmn:scriptTsk>")
    bad_script = process(LINEAR.format(script="b = = 2"), pid="q")
    good = process(LINEAR.format(script="x = 1"), pid="r")
    result = validate_files([("bad.bpmn", bad_xml), ("script.bpmn", bad_script), ("good.bpmn", good)])
    assert sorted({p.file for p in result.problems}) == ["bad.bpmn", "script.bpmn"], result.problems
    assert not result.ok  # a deploy of these files is still refused as a whole


def test_script_syntax_error_points_at_script_line():
    content = process(LINEAR.format(script="a = 1\nb = = 2"))
    [line] = lines([("s.bpmn", content)])
    assert line.startswith("s.bpmn:7: script1: script:"), line


@pytest.mark.parametrize("script", ["__import__('os').system('id')", "x = ().__class__", "open('/etc/passwd')"])
def test_hostile_scripts_are_rejected_at_deploy(script):
    problems = lines([("h.bpmn", process(LINEAR.format(script=script.replace("'", "&apos;"))))])
    assert problems and all(": script1: script:" in p for p in problems), problems


def test_flow_to_missing_node():
    body = LINEAR.format(script="x = 1").replace('targetRef="e"', 'targetRef="nowhere"')
    problems = lines([("m.bpmn", process(body))])
    assert any("nowhere" in p for p in problems), problems
    assert all(re.match(r"m\.bpmn:\d+: ", p) for p in problems)


def test_unknown_element_is_reported_with_line():
    body = LINEAR.format(script="x = 1").replace("<bpmn:endEvent", "<bpmn:bogusThing id=\"z\"/><bpmn:endEvent")
    problems = lines([("u.bpmn", process(body))])
    assert any("bogusThing" in p and p.startswith("u.bpmn:7:") for p in problems), problems


def test_missing_called_process():
    body = """<bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
<bpmn:callActivity id="call_fee" calledElement="collect_fee"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:callActivity>
<bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="call_fee"/>
<bpmn:sequenceFlow id="f2" sourceRef="call_fee" targetRef="e"/>
"""
    [line] = lines([("c.bpmn", process(body))])
    assert line == "c.bpmn:5: call_fee: called process 'collect_fee' is not deployed", line


def test_a_called_process_in_a_file_with_errors_is_blamed_on_that_file(sessions):
    from engine.deployments import deploy, validate

    caller = process("""<bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
<bpmn:callActivity id="call_fee" calledElement="collect_fee"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:callActivity>
<bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="call_fee"/>
<bpmn:sequenceFlow id="f2" sourceRef="call_fee" targetRef="e"/>
""", pid="pay")
    good_fee = process(LINEAR.format(script="x = 1"), pid="collect_fee")
    broken_fee = process(LINEAR.format(script="x = 1").replace("<bpmn:endEvent", '<bpmn:bogusThing id="z"/><bpmn:endEvent'),
                         pid="collect_fee")
    with sessions() as s:
        deploy(s, [("fee.bpmn", good_fee)], "tests")  # an older, good copy is deployed
        s.commit()
        problems = [str(p) for p in validate(s, [("pay.bpmn", caller), ("fee.bpmn", broken_fee)])]
    assert any(p.startswith("fee.bpmn:") and "bogusThing" in p for p in problems), problems
    # the caller is not checked against the deployed copy of what is being replaced, and says why it fails
    assert "pay.bpmn:5: call_fee: called process 'collect_fee' is defined in fee.bpmn, which has errors" in problems


def test_bad_condition_and_timer():
    body = """<bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
<bpmn:exclusiveGateway id="gw" default="f3"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing><bpmn:outgoing>f3</bpmn:outgoing></bpmn:exclusiveGateway>
<bpmn:intermediateCatchEvent id="wait"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
<bpmn:timerEventDefinition><bpmn:timeDuration>P3X</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
<bpmn:endEvent id="e"><bpmn:incoming>f3</bpmn:incoming><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="gw"/>
<bpmn:sequenceFlow id="f2" sourceRef="gw" targetRef="wait"><bpmn:conditionExpression>amount &gt;&gt;&gt; 3</bpmn:conditionExpression></bpmn:sequenceFlow>
<bpmn:sequenceFlow id="f3" sourceRef="gw" targetRef="e"/>
<bpmn:sequenceFlow id="f4" sourceRef="wait" targetRef="e"/>
"""
    problems = lines([("g.bpmn", process(body))])
    assert any(": f2: condition 'amount >>> 3'" in p for p in problems), problems
    assert "g.bpmn:6: wait: timer 'P3X' is not a valid ISO-8601 value" in problems, problems


def test_bare_iso_timer_literals_are_accepted():
    for literal in ("P3D", "PT2H", "2026-12-01T08:00:00+07:00"):
        kind = "timeDate" if literal.startswith("2026") else "timeDuration"
        body = f"""<bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
<bpmn:intermediateCatchEvent id="wait"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
<bpmn:timerEventDefinition><bpmn:{kind}>{literal}</bpmn:{kind}></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
<bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="wait"/>
<bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="e"/>
"""
        assert lines([("t.bpmn", process(body))]) == []


def test_entities_and_doctype_are_refused():
    bomb = (
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>\n'
        + process(LINEAR.format(script="x = '&lol2;'")).split(b"\n", 1)[1]
    )
    [line] = lines([("bomb.bpmn", bomb)])
    assert line == "bomb.bpmn:2: -: DOCTYPE and entity declarations are not allowed in BPMN/DMN files"


def test_wrong_namespace():
    content = process(LINEAR.format(script="x = 1")).replace(
        b"http://www.omg.org/spec/BPMN/20100524/MODEL", b"http://example.com/not-bpmn"
    )
    [line] = lines([("ns.bpmn", content)])
    assert "neither BPMN 2.0 nor DMN" in line


def test_reserved_start_and_end_ids_run():
    """Camunda files often use id="Start"/"End": SpiffWorkflow would break; we rename them."""
    body = LINEAR.format(script="x = 1").replace('"s"', '"Start"').replace('"e"', '"End"')
    result = validate_files([("r.bpmn", process(body))])
    assert result.ok, [str(p) for p in result.problems]
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow

    from engine.sandbox import MotcuaScriptEngine

    parsed = result.processes[0]
    wf = BpmnWorkflow(parsed.spec, parsed.subprocess_specs, script_engine=MotcuaScriptEngine())
    wf.do_engine_steps()
    assert wf.is_completed()


def test_form_definition_problems_are_reported():
    body = """<bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
<bpmn:userTask id="u"><bpmn:extensionElements><camunda:formData>
<camunda:formField id="x" label="X" type="colour"/></camunda:formData></bpmn:extensionElements>
<bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
<bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="u"/>
<bpmn:sequenceFlow id="f2" sourceRef="u" targetRef="e"/>
"""
    [line] = lines([("f.bpmn", process(body))])
    assert line.startswith("f.bpmn:5: u: form field 'x':"), line


def test_a_parallel_join_inside_a_loop_is_refused():
    """SpiffWorkflow 3.2 counts an earlier round's branch as arrived at such a join (checked in
    memory: a round went on with one branch still open), so the diagram cannot be deployed."""
    problems = validate_files([("loop.bpmn", fixture_bytes("parallel_join_in_loop.bpmn"))]).problems
    assert [(p.line, p.element) for p in problems] == [(15, "join")]
    assert "joining gateway inside a loop" in problems[0].message


def test_a_parallel_split_and_join_outside_loops_is_valid():
    """The construction permit's parallel opinion, and the studio's opinion step, are not in a loop."""
    files = [("city_construction_permit.bpmn", fixture_bytes("city_construction_permit.bpmn")),
             ("ward_birth_registration_opinion.bpmn", fixture_bytes("ward_birth_registration_opinion.bpmn"))]
    for name, content in files:
        assert not [p for p in validate_files([(name, content)]).problems if "inside a loop" in p.message]
