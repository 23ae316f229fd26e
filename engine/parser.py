"""Reading BPMN/DMN files safely and turning them into SpiffWorkflow specs.

We use the Camunda flavour (forms, properties, DMN via decisionRef) and extend it
with what SpiffWorkflow leaves out: ``camunda:candidateGroups``,
``camunda:candidateUsers``, ``camunda:assignee`` and ``camunda:dueDate`` on user
tasks, bare ISO-8601 timer literals as Camunda Modeler writes them, and element
ids that collide with SpiffWorkflow's own task names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.parser.event_parsers import ReceiveTaskParser, SendTaskParser
from SpiffWorkflow.bpmn.parser.node_parser import DEFAULT_NSMAP
from SpiffWorkflow.bpmn.parser.util import one
from SpiffWorkflow.bpmn.specs.defaults import (
    BoundaryEvent,
    EndEvent,
    IntermediateCatchEvent,
    IntermediateThrowEvent,
    ReceiveTask,
    SendTask,
    StartEvent,
)
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.camunda.parser.event_parsers import (
    CamundaBoundaryEventParser,
    CamundaEndEventParser,
    CamundaEventDefinitionParser,
    CamundaIntermediateCatchEventParser,
    CamundaIntermediateThrowEventParser,
    CamundaStartEventParser,
)
from SpiffWorkflow.camunda.parser.task_spec import UserTaskParser
from SpiffWorkflow.camunda.specs.user_task import UserTask

from engine.messages import MotcuaMessageEventDefinition

BPMN_NS = DEFAULT_NSMAP["bpmn"]
DMN_NAMESPACES = (
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "https://www.omg.org/spec/DMN/20180521/MODEL/",
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
)
MAX_FILE_BYTES = 5 * 1024 * 1024

# SpiffWorkflow names internal specs "Start" and "End"; a BPMN element with one
# of those ids silently breaks the spec, so such ids are renamed on the way in.
RESERVED_IDS = {"Start", "End", "Root"}
RENAME_SUFFIX = "__el"

# Keys under which our Camunda attributes travel in ``task_spec.extensions``
# (extensions are serialized with the spec, so nothing else needs converting).
EXT_CANDIDATE_GROUPS = "camunda:candidateGroups"
EXT_CANDIDATE_USERS = "camunda:candidateUsers"
EXT_ASSIGNEE = "camunda:assignee"
EXT_DUE_DATE = "camunda:dueDate"

ISO_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")
ISO_REPEAT = re.compile(r"^R\d*/")
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")


class XmlRejected(Exception):
    """The file is not acceptable XML (syntax error, DTD/entities, too large)."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


def is_iso_literal(expression: str) -> bool:
    """True for a bare ISO-8601 duration, date-time or repeating interval."""
    text = expression.strip()
    return bool(ISO_DURATION.match(text) or ISO_REPEAT.match(text) or ISO_DATETIME.match(text))


def normalize_timer_expression(expression: str | None) -> str | None:
    """Quote a bare ISO literal (``P3D``) so the engine evaluates it as a string."""
    if expression is None:
        return None
    text = expression.strip()
    if is_iso_literal(text):
        return repr(text)
    return text


def public_id(bpmn_id: str | None) -> str | None:
    """The element id as the designer wrote it (undo the reserved-id rename)."""
    if bpmn_id and bpmn_id.endswith(RENAME_SUFFIX) and bpmn_id[: -len(RENAME_SUFFIX)] in RESERVED_IDS:
        return bpmn_id[: -len(RENAME_SUFFIX)]
    return bpmn_id


_SAFE_PARSER_OPTIONS = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=False,
)


def parse_xml(content: bytes, filename: str) -> etree._ElementTree:
    """Parse untrusted XML: no DTD, no entities, no network, bounded size."""
    if len(content) > MAX_FILE_BYTES:
        raise XmlRejected(f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
        line = content[: content.find(b"<!")].count(b"\n") + 1
        raise XmlRejected("DOCTYPE and entity declarations are not allowed in BPMN/DMN files", line)
    parser = etree.XMLParser(**_SAFE_PARSER_OPTIONS)
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        raise XmlRejected(f"malformed XML: {exc.msg}", exc.lineno) from None
    return root.getroottree()


def rename_reserved_ids(root: etree._Element) -> None:
    """Rename elements whose id collides with SpiffWorkflow's internal names.

    Every reference (attributes and ``incoming``/``outgoing``/``flowNodeRef``
    text) to the id is rewritten too, so the diagram stays consistent.
    """
    clashing = {el.get("id") for el in root.iter() if el.get("id") in RESERVED_IDS}
    if not clashing:
        return
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        for attr, value in el.attrib.items():
            if value in clashing:
                el.set(attr, value + RENAME_SUFFIX)
        if el.text and el.text.strip() in clashing and len(el) == 0:
            el.text = el.text.strip() + RENAME_SUFFIX


def document_kind(root: etree._Element) -> str:
    """'bpmn' or 'dmn' from the root element's namespace."""
    ns = etree.QName(root).namespace
    if ns == BPMN_NS:
        return "bpmn"
    if ns in DMN_NAMESPACES:
        return "dmn"
    raise XmlRejected(f"root element {etree.QName(root).localname!r} in namespace {ns!r} is neither BPMN 2.0 nor DMN")


class MotcuaUserTaskParser(UserTaskParser):
    """Camunda user tasks plus assignment and due-date attributes."""

    def parse_extensions(self, node=None):
        extensions = super().parse_extensions(node)
        for attr, key in (
            ("candidateGroups", EXT_CANDIDATE_GROUPS),
            ("candidateUsers", EXT_CANDIDATE_USERS),
            ("assignee", EXT_ASSIGNEE),
            ("dueDate", EXT_DUE_DATE),
        ):
            value = self.attribute(attr, "camunda")
            if value:
                extensions[key] = value.strip()
        return extensions


class _TimerNormalizingMixin:
    """Accept bare ISO-8601 literals in timers; build our message definition; read camunda:properties
    (SpiffWorkflow reads them on tasks only, but markers such as dossier_action sit on events too)."""

    def parse_extensions(self, node=None):
        extensions = super().parse_extensions(node)
        for prop in self.xpath("./bpmn:extensionElements/camunda:properties/camunda:property"):
            if prop.get("name"):
                extensions[prop.get("name")] = prop.get("value")
        return extensions

    def parse_timer_event(self, event):
        definition = super().parse_timer_event(event)
        definition.expression = normalize_timer_expression(definition.expression)
        return definition

    def parse_message_event(self, message_event):
        message_ref = message_event.get("messageRef")
        if message_ref:
            message = one(self.doc_xpath(f'.//bpmn:message[@id="{message_ref}"]'))
            name = message.get("name") or message_ref
            correlations = self.get_message_correlations(message_ref)
        else:
            name = message_event.getparent().get("name")
            correlations = {}
        expression = self.attribute("expression", "camunda", message_event)
        result_var = self.attribute("resultVariable", "camunda", message_event) or self.attribute(
            "resultVariable", "camunda", self.node
        )
        return MotcuaMessageEventDefinition(name, correlations, expression, result_var)


class StartEventParser_(_TimerNormalizingMixin, CamundaStartEventParser):
    pass


class EndEventParser_(_TimerNormalizingMixin, CamundaEndEventParser):
    pass


class IntermediateCatchEventParser_(_TimerNormalizingMixin, CamundaIntermediateCatchEventParser):
    pass


class IntermediateThrowEventParser_(_TimerNormalizingMixin, CamundaIntermediateThrowEventParser):
    pass


class BoundaryEventParser_(_TimerNormalizingMixin, CamundaBoundaryEventParser):
    pass


class ReceiveTaskParser_(_TimerNormalizingMixin, CamundaEventDefinitionParser, ReceiveTaskParser):
    def create_task(self):
        return ReceiveTaskParser.create_task(self)


class SendTaskParser_(_TimerNormalizingMixin, CamundaEventDefinitionParser, SendTaskParser):
    def create_task(self):
        return SendTaskParser.create_task(self)


class MotcuaParser(CamundaParser):
    """CamundaParser with our user-task, event and timer extensions."""

    OVERRIDE_PARSER_CLASSES = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("userTask"): (MotcuaUserTaskParser, UserTask),
        full_tag("startEvent"): (StartEventParser_, StartEvent),
        full_tag("endEvent"): (EndEventParser_, EndEvent),
        full_tag("intermediateCatchEvent"): (IntermediateCatchEventParser_, IntermediateCatchEvent),
        full_tag("intermediateThrowEvent"): (IntermediateThrowEventParser_, IntermediateThrowEvent),
        full_tag("boundaryEvent"): (BoundaryEventParser_, BoundaryEvent),
        full_tag("receiveTask"): (ReceiveTaskParser_, ReceiveTask),
        full_tag("sendTask"): (SendTaskParser_, SendTask),
    }


@dataclass
class SourceFile:
    """One uploaded or on-disk file, already parsed safely."""

    name: str
    content: bytes
    tree: etree._ElementTree
    kind: str  # 'bpmn' | 'dmn'

    @property
    def root(self) -> etree._Element:
        return self.tree.getroot()

    def line_of(self, element_id: str | None) -> int | None:
        """Line of the element with this id (renamed ids included)."""
        if not element_id:
            return None
        for candidate in (element_id, element_id + RENAME_SUFFIX):
            found = self.root.xpath("//*[@id=$id]", id=candidate)
            if found:
                return found[0].sourceline
        return None

    def process_ids(self) -> list[str]:
        return [p.get("id") for p in self.root.iter(full_tag("process")) if p.get("id")]

    def executable_process_ids(self) -> list[str]:
        return [
            p.get("id")
            for p in self.root.iter(full_tag("process"))
            if p.get("id") and p.get("isExecutable", "true").lower() != "false"
        ]

    def decision_ids(self) -> list[str]:
        if self.kind != "dmn":
            return []
        return [el.get("id") for el in self.root.iter() if etree.QName(el).localname == "decision" and el.get("id")]


def load_source(name: str, content: bytes) -> SourceFile:
    """Safely parse a BPMN or DMN file; raises XmlRejected with a line."""
    tree = parse_xml(content, name)
    kind = document_kind(tree.getroot())
    if kind == "bpmn":
        rename_reserved_ids(tree.getroot())
    return SourceFile(name=name, content=content, tree=tree, kind=kind)


def new_parser(validator=None) -> MotcuaParser:
    return MotcuaParser(validator=validator)


def add_source(parser: MotcuaParser, source: SourceFile) -> None:
    if source.kind == "dmn":
        parser.add_dmn_xml(source.root, filename=source.name)
    else:
        parser.add_bpmn_xml(source.tree, filename=source.name)
