import json
import unicodedata

import pytest
from lxml import etree
from SpiffWorkflow.camunda.parser import CamundaParser

from engine.forms import (
    CAMUNDA_NS,
    FieldDef,
    check_form_definition,
    fields_from_spec,
    parse_form_fields,
    validate_form,
)

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"

FORM_DATA = """
  <bpmn:extensionElements>
    <camunda:formData>
      <camunda:formField id="amount" label="Số tiền / Amount" type="long" defaultValue="0">
        <camunda:validation>
          <camunda:constraint name="required"/>
          <camunda:constraint name="min" config="0"/>
          <camunda:constraint name="max" config="1000000"/>
        </camunda:validation>
        <camunda:properties>
          <camunda:property id="unit" value="VND"/>
        </camunda:properties>
      </camunda:formField>
      <camunda:formField id="decision" label="Quyết định / Decision" type="enum">
        <camunda:value id="approve" name="Duyệt / Approve"/>
        <camunda:value id="reject" name="Từ chối / Reject"/>
        <camunda:validation><camunda:constraint name="required"/></camunda:validation>
      </camunda:formField>
      <camunda:formField id="note" label="Ghi chú" type="textarea">
        <camunda:validation>
          <camunda:constraint name="minlength" config="3"/>
          <camunda:constraint name="maxlength" config="500"/>
        </camunda:validation>
      </camunda:formField>
      <camunda:formField id="case_no" label="Mã hồ sơ / Case number" type="string">
        <camunda:validation>
          <camunda:constraint name="readonly"/>
          <camunda:constraint name="pattern" config="HS-[0-9]{4}"/>
        </camunda:validation>
      </camunda:formField>
      <camunda:formField id="due" label="Hạn / Due" type="date">
        <camunda:validation><camunda:constraint name="min" config="01/01/2026"/></camunda:validation>
      </camunda:formField>
    </camunda:formData>
  </bpmn:extensionElements>
"""


def user_task_xml(form_key: bool) -> str:
    key = ' camunda:formKey="review"' if form_key else ""
    return f'<bpmn:userTask id="review" name="Review"{key}>{FORM_DATA}</bpmn:userTask>'


def process_xml(form_key: bool) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN_NS}" xmlns:camunda="{CAMUNDA_NS}" id="defs" targetNamespace="http://x">
  <bpmn:process id="proc" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    {user_task_xml(form_key)}
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>""".encode()


def user_task_element(form_key: bool = False):
    root = etree.fromstring(process_xml(form_key))
    return root.find(f".//{{{BPMN_NS}}}userTask")


def one(type_: str, **kw) -> list[FieldDef]:
    return [FieldDef(id="x", type=type_, **kw)]


def clean_one(type_: str, value, **kw):
    clean, errors = validate_form(one(type_, **kw), {"x": value})
    return clean.get("x"), errors.get("x")


# ------------------------------------------------------------------ parsing


def test_parse_form_fields_without_form_key():
    fields = {f.id: f for f in parse_form_fields(user_task_element(form_key=False))}
    assert list(fields) == ["amount", "decision", "note", "case_no", "due"]
    amount = fields["amount"]
    assert (amount.type, amount.required, amount.default) == ("long", True, "0")
    assert (amount.min, amount.max) == (0, 1000000)
    assert amount.properties == {"unit": "VND"}
    assert amount.label_vi == "Số tiền" and amount.label_en == "Amount"
    assert fields["decision"].options == [("approve", "Duyệt / Approve"), ("reject", "Từ chối / Reject")]
    assert (fields["note"].minlength, fields["note"].maxlength) == (3, 500)
    assert fields["case_no"].readonly and fields["case_no"].pattern == "HS-[0-9]{4}"
    assert fields["due"].min == "2026-01-01"
    assert check_form_definition(list(fields.values())) == []


def test_form_without_form_key_parses_the_same_both_ways():
    # parse_form_fields must not depend on formKey; with SpiffWorkflow 3.2 the spec path agrees.
    parser = CamundaParser()
    parser.add_bpmn_str(process_xml(form_key=False))
    spec = parser.get_spec("proc").task_specs["review"]
    assert spec.form.key is None
    direct = parse_form_fields(user_task_element(form_key=False))
    assert len(direct) == 5
    assert fields_from_spec(spec) == direct


def test_fields_from_spec_matches_direct_parse():
    parser = CamundaParser()
    parser.add_bpmn_str(process_xml(form_key=True))
    spec = parser.get_spec("proc").task_specs["review"]
    from_spec = fields_from_spec(spec)
    assert [f.id for f in from_spec] == ["amount", "decision", "note", "case_no", "due"]
    assert from_spec == parse_form_fields(user_task_element(form_key=True))
    assert from_spec[1].options[0] == ("approve", "Duyệt / Approve")
    assert fields_from_spec(object()) == []


def test_to_dict_is_json_serializable():
    fields = parse_form_fields(user_task_element())
    d = json.loads(json.dumps([f.to_dict() for f in fields]))
    assert d[0]["id"] == "amount" and d[0]["min"] == 0 and d[0]["required"] is True
    assert d[0]["label_en"] == "Amount" and d[0]["properties"] == {"unit": "VND"}
    assert d[1]["options"] == [{"id": "approve", "label": "Duyệt / Approve"},
                               {"id": "reject", "label": "Từ chối / Reject"}]
    assert "problems" not in d[0]


def test_label_without_separator_falls_back_to_whole_label():
    f = FieldDef(id="x", label="Ghi chú")
    assert f.label_vi == "Ghi chú" and f.label_en == "Ghi chú"


def test_full_form_submission():
    fields = parse_form_fields(user_task_element())
    clean, errors = validate_form(
        fields, {"amount": "1500", "decision": "approve", "note": "  ok!  ", "due": "15/03/2026",
                 "case_no": "HACKED"},
        current={"case_no": "HS-0001"},
    )
    assert errors == {}
    assert clean == {"amount": 1500, "decision": "approve", "note": "ok!", "due": "2026-03-15",
                     "case_no": "HS-0001"}


# ------------------------------------------------------------------ types


@pytest.mark.parametrize(("raw", "expected"), [("12", 12), (" -7 ", -7), (12, 12), (12.0, 12), ("+3", 3)])
def test_long_accepts(raw, expected):
    value, error = clean_one("long", raw)
    assert error is None and value == expected and type(value) is int


@pytest.mark.parametrize("raw", ["12.5", "abc", 12.5, True, False, "1e3", {"a": 1}, [1], "9" * 40, 2**63])
def test_long_rejects(raw):
    value, error = clean_one("long", raw)
    assert value is None and error in ("must be a whole number", "is out of range")


@pytest.mark.parametrize("type_", ["number", "decimal"])
@pytest.mark.parametrize(
    ("raw", "expected"), [("12.5", 12.5), ("3", 3.0), (7, 7.0), (0.25, 0.25), (".5", 0.5), ("1e3", 1000.0)]
)
def test_number_accepts(type_, raw, expected):
    value, error = clean_one(type_, raw)
    assert error is None and value == expected and type(value) is float


@pytest.mark.parametrize("raw", ["nan", "inf", "1_000", "12,5", "abc", True, float("nan"), 10**400, {}])
def test_number_rejects(raw):
    value, error = clean_one("number", raw)
    assert value is None and error is not None


@pytest.mark.parametrize(("raw", "expected"), [
    (True, True), (False, False), ("true", True), ("FALSE", False), ("on", True), ("1", True), ("0", False),
    (1, True), (0, False),
])
def test_boolean_accepts(raw, expected):
    assert clean_one("boolean", raw) == (expected, None)


@pytest.mark.parametrize("raw", ["maybe", 2, "2", [True], {"v": True}])
def test_boolean_rejects(raw):
    assert clean_one("boolean", raw) == (None, "must be true or false")


@pytest.mark.parametrize(("raw", "expected"), [
    ("2026-03-15", "2026-03-15"), ("15/03/2026", "2026-03-15"), ("5/3/2026", "2026-03-05"),
    ("29/02/2024", "2024-02-29"),
])
def test_date_accepts_iso_and_vietnamese(raw, expected):
    assert clean_one("date", raw) == (expected, None)


@pytest.mark.parametrize(
    "raw", ["31/02/2026", "2026-02-30", "29/02/2026", "03/15/2026", "20260315", "tomorrow", 5]
)
def test_date_rejects(raw):
    value, error = clean_one("date", raw)
    assert value is None and error == "must be a valid date (YYYY-MM-DD or dd/mm/yyyy)"


def test_enum():
    opts = [("approve", "Duyệt"), ("reject", "Từ chối"), ("1", "One")]
    assert clean_one("enum", "reject", options=opts) == ("reject", None)
    assert clean_one("enum", 1, options=opts) == ("1", None)
    assert clean_one("enum", "Duyệt", options=opts) == (None, "must be one of: approve, reject, 1")
    assert clean_one("enum", ["approve"], options=opts)[1] == "must be one of: approve, reject, 1"


@pytest.mark.parametrize("type_", ["string", "textarea"])
def test_text_strips_and_rejects_non_strings(type_):
    assert clean_one(type_, "  Nguyễn Văn A \n") == ("Nguyễn Văn A", None)
    for bad in ({"$ne": 1}, ["a"], 5, True):
        assert clean_one(type_, bad) == (None, "must be text")


def test_huge_strings_are_capped_by_default():
    assert clean_one("string", "a" * 10_000) == ("a" * 10_000, None)
    assert clean_one("string", "a" * 10_001) == (None, "must be at most 10000 characters")
    assert clean_one("textarea", "a" * 100_000)[1] is None
    assert clean_one("textarea", "a" * 100_001) == (None, "must be at most 100000 characters")
    # an explicit maxlength replaces the default cap
    assert clean_one("string", "a" * 20_000, maxlength=50_000)[1] is None


@pytest.mark.parametrize(("raw", "expected"), [
    ("0912345678", "0912345678"), ("0912 345 678", "0912345678"), ("+84912345678", "+84912345678"),
    ("+84 91-234.5678", "+84912345678"), ("0292 3812 345", "02923812345"), ("+84 292 3812 345", "+842923812345"),
])
def test_phone_accepts(raw, expected):
    assert clean_one("phone", raw) == (expected, None)


@pytest.mark.parametrize(
    "raw", ["912345678", "09123456789", "+8409123456", "84912345678", "+84 91234567", "0912abc678", "0112345678"]
)
def test_phone_rejects(raw):
    value, error = clean_one("phone", raw)
    assert value is None and error.startswith("must be a Vietnamese phone number")


def test_email():
    assert clean_one("email", " an@example.vn ") == ("an@example.vn", None)
    for bad in ("an@", "an.example.vn", "a n@x.vn", "an@localhost"):
        assert clean_one("email", bad) == (None, "must be a valid email address")


def test_file_references():
    doc = {"name": "cccd.pdf", "id": 12}
    assert clean_one("file", doc) == (doc, None)
    assert clean_one("file", [doc, {"name": "b.jpg"}]) == ([doc, {"name": "b.jpg"}], None)
    msg = "must be a file reference (an object with a name) or a list of them"
    for bad in ("cccd.pdf", {"id": 12}, {"name": ""}, {"name": 5}, [doc, "x"], 7):
        assert clean_one("file", bad) == (None, msg)


# ------------------------------------------------------------------ constraints


def test_min_max_numbers():
    assert clean_one("long", "-1", min=0) == (None, "must be at least 0")
    assert clean_one("long", "0", min=0) == (0, None)
    assert clean_one("number", "10.5", max=10) == (None, "must be at most 10")
    assert clean_one("number", "2.5", min=0.5, max=10)[1] is None


def test_min_max_dates():
    fields = parse_form_fields(user_task_element())
    due = [f for f in fields if f.id == "due"]
    assert validate_form(due, {"due": "31/12/2025"})[1] == {"due": "must be on or after 2026-01-01"}
    assert validate_form(due, {"due": "2026-01-01"}) == ({"due": "2026-01-01"}, {})
    assert clean_one("date", "2027-01-01", max="2026-12-31") == (None, "must be on or before 2026-12-31")


def test_length_and_pattern():
    assert clean_one("string", "ab", minlength=3) == (None, "must be at least 3 characters")
    assert clean_one("string", "abcd", maxlength=3) == (None, "must be at most 3 characters")
    assert clean_one("string", "HS-1234", pattern=r"HS-[0-9]{4}") == ("HS-1234", None)
    # full match, not search
    mismatch = (None, "does not match the required format")
    assert clean_one("string", "xHS-12345", pattern=r"HS-[0-9]{4}") == mismatch
    assert clean_one("string", "abc", pattern="(") == (None, "does not match the required format")


def test_required_and_blank_values():
    fields = [FieldDef(id="name", required=True), FieldDef(id="age", type="long")]
    assert validate_form(fields, {}) == ({}, {"name": "is required"})
    assert validate_form(fields, {"name": "   ", "age": ""}) == ({"age": None}, {"name": "is required"})
    assert validate_form(fields, {"name": "An", "age": None}) == ({"name": "An", "age": None}, {})


def test_defaults_fill_missing_fields_only():
    fields = [
        FieldDef(id="n", type="long", default="5"),
        FieldDef(id="opt"),
        FieldDef(id="flag", type="boolean", default="true"),
    ]
    assert validate_form(fields, {}) == ({"n": 5, "flag": True}, {})
    assert validate_form(fields, {"n": "7", "flag": "off"}) == ({"n": 7, "flag": False}, {})
    # a required field with a default is satisfied by the default
    assert validate_form([FieldDef(id="n", type="long", default="1", required=True)], {}) == ({"n": 1}, {})


def test_unknown_keys_are_errors_and_not_copied():
    fields = [FieldDef(id="name")]
    clean, errors = validate_form(fields, {"name": "An", "approved": True, "__class__": "x"})
    assert clean == {"name": "An"}
    assert errors == {"approved": "is not a field of this form", "__class__": "is not a field of this form"}


def test_non_mapping_data():
    assert validate_form([FieldDef(id="a")], ["a"]) == ({}, {"_form": "form data must be an object"})


def test_readonly_ignores_input():
    fields = [FieldDef(id="fee", type="long", default="50000", readonly=True)]
    assert validate_form(fields, {"fee": "0"}) == ({"fee": 50000}, {})
    assert validate_form(fields, {"fee": "0"}, current={"fee": 70000}) == ({"fee": 70000}, {})
    # `current` only feeds readonly fields; an editable field left out stays out
    editable = [FieldDef(id="note")]
    assert validate_form(editable, {}, current={"note": "old"}) == ({}, {})
    # readonly + required without any value is not the user's fault
    assert validate_form([FieldDef(id="r", readonly=True, required=True)], {"r": "x"}) == ({}, {})


def test_partial_draft_skips_required_but_type_checks():
    fields = [FieldDef(id="name", required=True), FieldDef(id="age", type="long", required=True)]
    assert validate_form(fields, {"age": "3"}, partial=True) == ({"age": 3}, {})
    assert validate_form(fields, {"age": "x"}, partial=True) == ({}, {"age": "must be a whole number"})
    assert validate_form(fields, {"name": "", "bogus": 1}, partial=True) == (
        {"name": ""}, {"bogus": "is not a field of this form"})
    assert validate_form(fields, {"age": "3"})[1] == {"name": "is required"}


def test_unknown_type_is_refused_at_runtime():
    assert clean_one("money", "5") == (None, "has an unsupported type 'money'")


# ------------------------------------------------------------------ deploy-time checks


def problems(fields):
    return check_form_definition(fields)


def test_check_valid_fields():
    assert problems([
        FieldDef(id="a", type="long", min=0, max=9),
        FieldDef(id="b", type="enum", options=[("y", "Y")]),
        FieldDef(id="c", type="date", min="2026-01-01", default="02/01/2026"),
    ]) == []


def test_check_unknown_type_enum_and_duplicates():
    out = problems([FieldDef(id="a", type="money"), FieldDef(id="b", type="enum"), FieldDef(id="a"),
                    FieldDef(id="c", type="enum", options=[("x", "X"), ("x", "Y")])])
    assert out[0][0] == "a" and out[0][1].startswith("unknown field type 'money'")
    assert ("b", "enum field has no options") in out
    assert ("a", "duplicate field id") in out
    assert ("c", "enum field has duplicate option ids") in out
    assert len(out) == 4


@pytest.mark.parametrize("fid", ["so-tien", "1st", "class", "", "has space"])
def test_check_field_id_must_be_identifier(fid):
    assert problems([FieldDef(id=fid)]) == [
        (fid, "field id must be a valid Python identifier (it becomes a process variable)")]


def test_check_bounds_patterns_and_defaults():
    out = dict(problems([FieldDef(id="a", type="long", min=10, max=1)]))
    assert out == {"a": "min is greater than max"}
    (pid, msg), = problems([FieldDef(id="p", pattern="([a-z")])
    assert pid == "p" and msg.startswith("pattern is not a valid regular expression")
    assert problems([FieldDef(id="d", type="long", default="abc")]) == [
        ("d", "default value 'abc' must be a whole number")]
    assert problems([FieldDef(id="d", type="date", min="15/01/2026")]) == [
        ("d", "min is not a valid bound for a date field")]
    assert problems([FieldDef(id="s", minlength=5, maxlength=2)]) == [
        ("s", "minlength is greater than maxlength")]


def test_check_bad_constraint_configs_from_xml():
    xml = f"""<bpmn:userTask xmlns:bpmn="{BPMN_NS}" xmlns:camunda="{CAMUNDA_NS}" id="t">
      <bpmn:extensionElements><camunda:formData>
        <camunda:formField id="n" type="long">
          <camunda:validation>
            <camunda:constraint name="min" config="zero"/>
            <camunda:constraint name="maxlength" config="-3"/>
            <camunda:constraint name="validator" config="com.example.Check"/>
            <camunda:constraint name="pattern"/>
          </camunda:validation>
        </camunda:formField>
        <camunda:formField id="s" type="string">
          <camunda:validation><camunda:constraint name="min" config="1"/></camunda:validation>
        </camunda:formField>
        <camunda:formField id="e" type="enum"/>
      </camunda:formData></bpmn:extensionElements>
    </bpmn:userTask>"""
    fields = parse_form_fields(etree.fromstring(xml))
    assert fields[0].min is None and fields[0].maxlength is None
    assert problems(fields) == [
        ("n", "constraint 'min' has an invalid value 'zero'"),
        ("n", "constraint 'maxlength' has an invalid value '-3'"),
        ("n", "unsupported constraint 'validator'"),
        ("n", "constraint 'pattern' has no regular expression"),
        ("s", "constraint 'min' does not apply to string fields"),
        ("e", "enum field has no options"),
    ]


def test_required_constraint_with_false_config():
    xml = f"""<bpmn:userTask xmlns:bpmn="{BPMN_NS}" xmlns:camunda="{CAMUNDA_NS}" id="t">
      <bpmn:extensionElements><camunda:formData>
        <camunda:formField id="a" type="string">
          <camunda:validation><camunda:constraint name="required" config="false"/></camunda:validation>
        </camunda:formField>
      </camunda:formData></bpmn:extensionElements>
    </bpmn:userTask>"""
    (field,) = parse_form_fields(etree.fromstring(xml))
    assert field.required is False
    assert validate_form([field], {}) == ({}, {})


@pytest.mark.parametrize("text", ["Nguyễn\x00A", "A\u202eB", "x\x1by", "\u2066hidden\u2069"])
def test_text_with_control_or_direction_characters_is_refused(text):
    fields = [FieldDef(id="name", label="Họ tên", type="string")]
    values, errors = validate_form(fields, {"name": text})
    assert "control or text-direction" in errors["name"] and "name" not in values


def test_text_is_stored_composed_and_keeps_line_breaks():
    fields = [FieldDef(id="name", label="Họ tên", type="string"), FieldDef(id="note", label="Ghi chú", type="textarea")]
    decomposed = unicodedata.normalize("NFD", "Nguyễn Thị Ánh")
    values, errors = validate_form(fields, {"name": decomposed, "note": "dòng 1\r\n\tdòng 2"})
    assert errors == {}
    assert values["name"] == "Nguyễn Thị Ánh" and values["name"] != decomposed
    assert values["note"] == "dòng 1\r\n\tdòng 2"
