"""Validate BPMN/DMN files fully before anything is stored.

Every problem becomes one line ``FILE:LINE: ELEMENT_ID: message``. SpiffWorkflow
parses lazily and reports structural errors without a line number, so we
validate against the XSD ourselves (all errors, with lines), build the spec of
every executable process, and then check what SpiffWorkflow never checks at
parse time: scripts, conditions, timers, message expressions, due dates,
forms and DMN cells, all with the sandbox's compiler.
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.inclusive_gateway import InclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.parallel_gateway import ParallelGateway
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.camunda.specs.user_task import UserTask
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS as DMN_SCHEMAS
from SpiffWorkflow.dmn.specs.business_rule_task_mixin import BusinessRuleTaskMixin
from SpiffWorkflow.specs.MultiChoice import MultiChoice

from engine import forms, sandbox
from engine.calendar import parse_budget
from engine.messages import MotcuaMessageEventDefinition
from engine.parser import (
    EXT_DUE_DATE,
    SourceFile,
    XmlRejected,
    add_source,
    is_iso_literal,
    load_source,
    new_parser,
    public_id,
)


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    element: str | None
    message: str
    severity: str = "error"  # "warning": shown to the designer, does not block a deploy (engine.lint)

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.file}:{self.line or 0}: {self.element or '-'}: {prefix}{self.message}"

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "element": self.element, "message": self.message,
                "severity": self.severity}


@dataclass
class ParsedProcess:
    process_id: str
    name: str | None
    source: SourceFile
    spec: object
    subprocess_specs: dict
    dependency_files: list[SourceFile]
    properties: dict[str, str]
    start_messages: list[str]
    lanes: list[str]


@dataclass
class ValidationResult:
    sources: list[SourceFile] = field(default_factory=list)
    processes: list[ParsedProcess] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# resolver(missing_process_ids, missing_decision_ids) -> already deployed files defining them
Resolver = Callable[[set[str], set[str]], list[SourceFile]]

_bpmn_xsd: etree.XMLSchema | None = None
_dmn_xsd: dict[str, etree.XMLSchema] = {}


def _bpmn_schema() -> etree.XMLSchema:
    global _bpmn_xsd
    if _bpmn_xsd is None:
        _bpmn_xsd = BpmnValidator().validator
    return _bpmn_xsd


def _dmn_schema(namespace: str) -> etree.XMLSchema | None:
    if namespace not in _dmn_xsd and namespace in DMN_SCHEMAS:
        _dmn_xsd[namespace] = BpmnValidator(DMN_SCHEMAS[namespace]).validator
    return _dmn_xsd.get(namespace)


def _schema_problems(source: SourceFile) -> list[Problem]:
    if source.kind == "bpmn":
        schema = _bpmn_schema()
        doc = copy.deepcopy(source.tree)
        BpmnValidator.preprocess(None, doc)  # bpmn-js writes correlation expressions the XSD rejects
    else:
        schema = _dmn_schema(etree.QName(source.root).namespace)
        doc = source.tree
    if schema is None or schema.validate(doc):
        return []
    problems = []
    for err in schema.error_log:
        element = _element_at_line(source, err.line)
        problems.append(Problem(source.name, err.line, element, _clean_xsd_message(err.message)))
    return problems


def _clean_xsd_message(message: str) -> str:
    return message.replace("{http://www.omg.org/spec/BPMN/20100524/MODEL}", "bpmn:")


def _element_at_line(source: SourceFile, line: int | None) -> str | None:
    for el in source.root.iter():
        if isinstance(el.tag, str) and el.sourceline == line and el.get("id"):
            return public_id(el.get("id"))
    return None


def validate_files(files: Iterable[tuple[str, bytes]], resolver: Resolver | None = None) -> ValidationResult:
    """Parse and validate uploaded files; build specs for their executable processes.

    A file that cannot be read (XML, schema, parser) is reported and left out, and the others are still
    checked, so one pass names every problem of a folder; any problem makes the result not ``ok``."""
    result = ValidationResult()
    for name, content in files:
        try:
            result.sources.append(load_source(name, content))
        except XmlRejected as exc:
            result.problems.append(Problem(name, exc.line, None, str(exc)))
    names = [s.name for s in result.sources]
    for dup in {n for n in names if names.count(n) > 1}:
        result.problems.append(Problem(dup, None, None, "the same file name is given twice"))
    for source in result.sources:
        result.problems.extend(_schema_problems(source))

    unreadable = {problem.file for problem in result.problems}
    parser = new_parser()
    by_file: dict[str, SourceFile] = {}
    for source in result.sources:
        if source.name not in unreadable and _add(parser, source, result.problems):
            by_file[source.name] = source
    readable = [source for source in result.sources if source.name in by_file]
    # what the left-out files define is not looked up among deployed versions: an older copy would be
    # checked in place of the one uploaded now
    left_out = {pid: s.name for s in result.sources if s.name not in by_file for pid in s.process_ids()}
    left_out_decisions = {d for s in result.sources if s.name not in by_file for d in s.decision_ids()}
    by_file.update({s.name: s for s in _resolve_dependencies(parser, resolver, result.problems,
                                                              set(left_out), left_out_decisions)})

    declared = [pid for s in readable if s.kind == "bpmn" for pid in s.executable_process_ids()]
    if not declared and not any(s.kind == "dmn" for s in result.sources) and not result.problems:
        result.problems.append(
            Problem(result.sources[0].name if result.sources else "-", None, None, "no executable process")
        )
    for source in readable:
        if source.kind != "bpmn":
            continue
        for process_id in source.executable_process_ids():
            parsed = _build_process(parser, source, process_id, by_file, result.problems)
            if parsed is not None:
                result.processes.append(parsed)
    result.problems = [_blame_left_out(problem, left_out) for problem in result.problems]
    return result


def _blame_left_out(problem: Problem, left_out: dict[str, str]) -> Problem:
    """'called process X is not deployed' when X is in an uploaded file with errors: say so instead."""
    called = problem.message.split("'")[1] if problem.message.startswith("called process '") else None
    if called not in left_out:
        return problem
    return replace(problem, message=f"called process {called!r} is defined in {left_out[called]}, which has errors")


def _add(parser, source: SourceFile, problems: list[Problem]) -> bool:
    try:
        add_source(parser, source)
        return True
    except ValidationException as exc:
        problems.append(_from_validation_exception(exc, source))
    except Exception as exc:  # noqa: BLE001 - any parser failure is reported, never raised
        problems.append(Problem(source.name, None, None, f"cannot read file: {exc}"))
    return False


def _resolve_dependencies(parser, resolver, problems, skip_processes: set[str],
                          skip_decisions: set[str]) -> list[SourceFile]:
    """Pull already-deployed files for called processes and decisions not uploaded now (not the skipped)."""
    extra: list[SourceFile] = []
    if resolver is None:
        return extra
    tried_p: set[str] = set(skip_processes)
    tried_d: set[str] = set(skip_decisions)
    while True:
        missing_p = {p for p in parser.get_process_dependencies() if p and p not in parser.process_parsers} - tried_p
        missing_d = {d for d in parser.get_dmn_dependencies() if d and d not in parser.dmn_parsers} - tried_d
        if not missing_p and not missing_d:
            return extra
        tried_p |= missing_p
        tried_d |= missing_d
        for source in resolver(missing_p, missing_d):
            if _add(parser, source, problems):
                extra.append(source)


def _build_process(parser, source, process_id, by_file, problems) -> ParsedProcess | None:
    try:
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except ValidationException as exc:
        problems.append(_from_validation_exception(exc, source, by_file))
        return None
    except Exception as exc:  # noqa: BLE001
        problems.append(Problem(source.name, source.line_of(process_id), process_id, f"cannot build process: {exc}"))
        return None

    before = len(problems)
    dependency_files: dict[str, SourceFile] = {}
    for name, sub_spec in [(process_id, spec), *subprocess_specs.items()]:
        sub_source = _file_of_process(parser, name, by_file) or source
        if name != process_id:
            dependency_files[sub_source.name] = sub_source
        problems.extend(check_spec(sub_spec, sub_source))
        for dmn_file in _dmn_files(parser, sub_spec, by_file):
            dependency_files[dmn_file.name] = dmn_file
    if len(problems) > before:
        return None
    dependency_files.pop(source.name, None)
    process_el = source.root.xpath("//*[local-name()='process'][@id=$id]", id=process_id)[0]
    return ParsedProcess(
        process_id=process_id,
        name=process_el.get("name"),
        source=source,
        spec=spec,
        subprocess_specs=subprocess_specs,
        dependency_files=list(dependency_files.values()),
        properties=_process_properties(process_el),
        start_messages=_start_messages(spec),
        lanes=sorted({ts.lane for ts in spec.task_specs.values() if getattr(ts, "lane", None)}),
    )


def _file_of_process(parser, process_id, by_file) -> SourceFile | None:
    process_parser = parser.get_process_parser(process_id)
    return by_file.get(process_parser.filename) if process_parser is not None else None


def _dmn_files(parser, spec, by_file) -> list[SourceFile]:
    out = []
    for ts in spec.task_specs.values():
        if isinstance(ts, BusinessRuleTaskMixin):
            table_id = ts.dmnEngine.decision_table.id
            for dmn_parser in parser.dmn_parsers.values():
                # a DMN parser that was never parsed (another file's table) has no decision yet
                tables = [t.id for t in dmn_parser.decision.decisionTables] if dmn_parser.decision else []
                if table_id in tables and dmn_parser.filename in by_file:
                    out.append(by_file[dmn_parser.filename])
    return out


def _process_properties(process_el) -> dict[str, str]:
    props = {}
    for prop in process_el.xpath(
        "./*[local-name()='extensionElements']/*[local-name()='properties']/*[local-name()='property']"
    ):
        if prop.get("name"):
            props[prop.get("name")] = prop.get("value", "")
    return props


def _start_messages(spec) -> list[str]:
    names = []
    for ts in spec.task_specs.values():
        definition = getattr(ts, "event_definition", None)
        if isinstance(definition, MotcuaMessageEventDefinition) and type(ts).__name__ == "StartEvent":
            names.append(definition.name)
    return names


def _from_validation_exception(exc: ValidationException, source: SourceFile, by_file=None) -> Problem:
    file_name = exc.file_name or source.name
    target = (by_file or {}).get(file_name, source)
    element = public_id(exc.id) if getattr(exc, "id", "") else None
    line = exc.line_number or target.line_of(exc.id if element else None)
    message = str(exc.args[0]) if exc.args else str(exc)
    if not element and "was not found" in message:
        # a callActivity to a process that is neither uploaded nor deployed
        called = message.split("'")[1] if "'" in message else ""
        for el in source.root.xpath("//*[local-name()='callActivity'][@calledElement=$c]", c=called):
            message = f"called process {called!r} is not deployed"
            return Problem(source.name, el.sourceline, public_id(el.get("id")), message)
    return Problem(file_name, line or None, element, message)


def check_spec(spec, source: SourceFile) -> list[Problem]:
    """Check scripts, conditions, timers, messages, due dates, forms and DMN cells."""
    problems: list[Problem] = []

    def add(element_id: str, line_offset: int | None, message: str, child_tag: str | None = None) -> None:
        base = source.line_of(element_id)
        if child_tag and base is not None:
            child = _first_child_line(source, element_id, child_tag)
            base = child if child is not None else base
        line = base + line_offset - 1 if base is not None and line_offset else base
        problems.append(Problem(source.name, line, public_id(element_id), message))

    for ts in spec.task_specs.values():
        element_id = getattr(ts, "bpmn_id", None) or ts.name
        script = getattr(ts, "script", None)
        if script is not None and hasattr(ts, "script"):
            for line, msg in sandbox.check_script(script) or _forbidden_names(script):
                add(element_id, line, f"script: {msg}", "script")
        if isinstance(ts, MultiChoice):
            for condition, target in ts.cond_task_specs:
                condition = getattr(condition, "args", [condition])[0] if condition is not None else None
                if not isinstance(condition, str):
                    continue
                for _line, msg in sandbox.check_expression(condition) or _forbidden_names(condition):
                    flow = _flow_between(source, element_id, target)
                    add(flow or element_id, None, f"condition {condition!r}: {msg}")
        definition = getattr(ts, "event_definition", None)
        if isinstance(definition, TimerEventDefinition):
            problems.extend(_check_timer(definition, element_id, source))
        if isinstance(definition, MotcuaMessageEventDefinition) and definition.expression:
            for _line, msg in sandbox.check_expression(definition.expression):
                add(element_id, None, f"message payload expression: {msg}")
        if isinstance(ts, UserTask):
            due = (ts.extensions or {}).get(EXT_DUE_DATE)
            if due and not is_iso_literal(due):
                for _line, msg in sandbox.check_expression(due):
                    add(element_id, None, f"camunda:dueDate {due!r}: {msg}")
            budget = (ts.extensions or {}).get("time_budget")
            if budget:
                try:
                    parse_budget(budget)
                except ValueError as exc:
                    add(element_id, None, f"time_budget {budget!r}: {exc}")
            for field_id, msg in forms.check_form_definition(forms.fields_from_spec(ts)):
                add(element_id, None, f"form field {field_id!r}: {msg}")
        if isinstance(ts, BusinessRuleTaskMixin):
            problems.extend(_check_decision_table(ts.dmnEngine.decision_table, element_id, source))
        if isinstance(ts, SubWorkflowTask) and not ts.spec:
            add(element_id, None, "call activity has no calledElement")
        if isinstance(ts, ParallelGateway | InclusiveGateway) and len(ts.inputs) > 1 and _on_a_cycle(ts):
            add(element_id, None, "a joining gateway inside a loop: SpiffWorkflow counts the branches of an earlier "
                "round as arrived and goes on too early; move the parallel part into a subprocess "
                "(embedded or called: each round then gets fresh joins) or end the loop before the split")
    return problems


def _on_a_cycle(task_spec) -> bool:
    """Whether the flow from ``task_spec`` can come back to it (boundary events included)."""
    seen, stack = set(), list(task_spec.outputs)
    while stack:
        spec = stack.pop()
        if spec is task_spec:
            return True
        if id(spec) not in seen:
            seen.add(id(spec))
            stack.extend(spec.outputs)
    return False


def _check_timer(definition, element_id, source) -> list[Problem]:
    expression = (definition.expression or "").strip()

    def problem(message: str) -> list[Problem]:
        return [Problem(source.name, source.line_of(element_id), public_id(element_id), message)]

    if len(expression) >= 2 and expression[0] == expression[-1] and expression[0] in "'\"":
        literal = expression[1:-1]  # a bare ISO literal, quoted by the parser
        try:
            if literal.upper().startswith("R"):
                TimerEventDefinition.parse_iso_recurring_interval(literal)
            else:
                TimerEventDefinition.parse_time_or_duration(literal)
        except Exception:  # noqa: BLE001
            return problem(f"timer {literal!r} is not a valid ISO-8601 value")
        return []
    if not expression:
        return problem("timer has no expression")
    if _LOOKS_ISO.match(expression):
        return problem(f"timer {expression!r} is not a valid ISO-8601 value")
    messages = [msg for _l, msg in sandbox.check_expression(expression)]
    return [p for msg in messages for p in problem(f"timer expression {expression!r}: {msg}")]


_LOOKS_ISO = re.compile(r"^(P\d|PT\d|R\d*/|\d{4}-\d{2})", re.IGNORECASE)
# Builtins a script cannot use: refused at deploy so the designer hears it then, not at 2 a.m.
_FORBIDDEN_NAMES = {
    "open", "eval", "exec", "compile", "__import__", "globals", "locals", "vars", "input", "breakpoint",
    "setattr", "delattr", "memoryview", "help", "exit", "quit",
}


def _forbidden_names(source: str) -> list[tuple[int, str]]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []  # the compiler check reports it
    return [
        (node.lineno, f"{node.id!r} is not available in scripts")
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and node.id in _FORBIDDEN_NAMES
    ]


def _check_decision_table(table, element_id, source) -> list[Problem]:
    problems: list[Problem] = []

    def add(message: str) -> None:
        problems.append(Problem(source.name, source.line_of(element_id), public_id(element_id), message))

    for inp in table.inputs:
        for _l, msg in sandbox.check_expression(inp.expression) if inp.expression else []:
            add(f"DMN input {inp.expression!r}: {msg}")
    for rule in table.rules:
        for entry in rule.inputEntries:
            for lhs in entry.lhs:
                # a cell is an expression ("'A'") or a comparison to complete ("> 100")
                if lhs and sandbox.check_expression(lhs) and sandbox.check_expression(f"v {lhs}".replace("?", "v")):
                    add(f"DMN rule {rule.row_number} cell {lhs!r}: {sandbox.check_expression(lhs)[0][1]}")
        for out in rule.outputEntries:
            for _l, msg in sandbox.check_expression(out.text) if out.text else []:
                add(f"DMN rule {rule.row_number} output {out.text!r}: {msg}")
    return problems


def _first_child_line(source: SourceFile, element_id: str, local_name: str) -> int | None:
    for candidate in (element_id,):
        found = source.root.xpath("//*[@id=$id]/*[local-name()=$n]", id=candidate, n=local_name)
        if found:
            return found[0].sourceline
    return None


def _flow_between(source: SourceFile, source_id: str, target_id: str) -> str | None:
    found = source.root.xpath(
        "//*[local-name()='sequenceFlow'][@sourceRef=$s][@targetRef=$t]", s=source_id, t=target_id
    )
    return found[0].get("id") if found else None
