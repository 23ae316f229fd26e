"""Lint rules for the designer studio, on top of the deploy-time validation.

``lint`` returns the validation problems (severity "error": they block every
deploy) plus findings about how a diagram fits the one-stop rules. Which
findings block a deploy from the browser is decided here, and documented in
bpmn/README.md ("Lint rules"):

- error   a flow node that is not an end event and has no outgoing flow (a dead
          end: the branch ends silently and the dossier never reaches its result)
- warning a lane that maps to no department (an administrator fixes it with the
          lane mapping, no redeploy needed)
- warning a user task without a ``time_budget`` (no due date, never late)
- warning a form field without a label (the clerk sees only its id)
- warning a diverging exclusive/inclusive gateway without a default flow (when no
          condition holds the dossier stops in error)
- warning a flow node nothing leads to (unreachable)
- warning a process without a diagram (bpmndi): bpmn-js cannot draw it
"""

from __future__ import annotations

from lxml import etree
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.models import Department, LaneMapping
from engine.parser import BPMN_NS, SourceFile, load_source, public_id
from engine.validation import Problem

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"

# Flow nodes (BPMN local names) that take part in the sequence-flow graph.
_FLOW_NODES = {
    "task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask", "businessRuleTask",
    "callActivity", "subProcess", "exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway",
    "complexGateway", "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
}
_NO_INCOMING_OK = {"startEvent", "boundaryEvent"}
_NO_OUTGOING_OK = {"endEvent"}


def lint(session: Session | None, files: list[tuple[str, bytes]]) -> list[Problem]:
    """Validation problems (errors) plus lint findings for ``files``, each naming its element.

    ``session`` resolves already-deployed called processes / DMN tables and the lane → department
    mapping; with ``None`` the files are checked on their own and lanes are not checked.
    Findings are sorted by file and line. Never raises for bad input: it is reported.
    """
    from engine.deployments import validate
    from engine.validation import validate_files

    problems = list(validate(session, files) if session is not None else validate_files(files).problems)
    known_lanes = _lane_resolver(session)
    for name, content in files:
        try:
            source = load_source(name, content)
        except Exception:  # noqa: BLE001, S112 - bad XML or not BPMN/DMN: validation reported it with its line
            continue
        if source.kind == "bpmn":
            problems.extend(lint_source(source, known_lanes))
    seen: set[tuple] = set()
    unique = []
    for p in problems:
        key = (p.file, p.line, p.element, p.message, p.severity)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return sorted(unique, key=lambda p: (p.file, p.line or 0, p.severity != "error"))


def blocking(problems: list[Problem]) -> list[Problem]:
    """The problems that must stop a deploy (severity "error")."""
    return [p for p in problems if p.severity == "error"]


def _lane_resolver(session: Session | None):
    if session is None:
        return None
    cache: dict[str, bool] = {}

    def known(lane: str) -> bool:
        if lane not in cache:
            mapped = session.scalar(select(LaneMapping.department_code).where(LaneMapping.lane == lane))
            if mapped is None:
                mapped = session.scalar(
                    select(Department.code).where(
                        or_(Department.code == lane, Department.name_vi == lane, Department.name_en == lane)
                    )
                )
            cache[lane] = mapped is not None
        return cache[lane]

    return known


def _local(el) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def lint_source(source: SourceFile, lane_known=None) -> list[Problem]:
    """Lint findings of one parsed BPMN file (no validation, no database)."""
    problems: list[Problem] = []

    def add(el, message: str, severity: str = "warning", at=None) -> None:
        line = (at if at is not None else el).sourceline
        problems.append(Problem(source.name, line, public_id(el.get("id")), message, severity))

    root = source.root
    drawn = {el.get("bpmnElement") for el in root.iter(f"{{{BPMNDI_NS}}}BPMNShape", f"{{{BPMNDI_NS}}}BPMNEdge")}
    plane_refs = {el.get("bpmnElement") for el in root.iter(f"{{{BPMNDI_NS}}}BPMNPlane")}
    participants = {
        p.get("processRef"): p.get("id") for p in root.iter(f"{{{BPMN_NS}}}participant") if p.get("processRef")
    }
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        pid = process.get("id")
        if process.get("isExecutable", "true").lower() == "false":
            continue
        if pid not in plane_refs and participants.get(pid) not in drawn | plane_refs and not _any_drawn(process, drawn):
            add(process, "the process has no diagram (bpmndi): the browser modeler cannot draw it; "
                         "open and save it in a modeler to add one")
        _lint_container(process, add, lane_known)
    return problems


def _any_drawn(process, drawn: set) -> bool:
    return any(el.get("id") in drawn for el in process if isinstance(el.tag, str) and _local(el) in _FLOW_NODES)


def _lint_container(container, add, lane_known) -> None:
    """Rules over one process or embedded subprocess (their own sequence-flow graph)."""
    nodes = {el.get("id"): el for el in container if _local(el) in _FLOW_NODES and el.get("id")}
    flows = [el for el in container if _local(el) == "sequenceFlow"]
    outgoing: dict[str, list] = {nid: [] for nid in nodes}
    incoming: dict[str, list] = {nid: [] for nid in nodes}
    for flow in flows:
        outgoing.setdefault(flow.get("sourceRef"), []).append(flow)
        incoming.setdefault(flow.get("targetRef"), []).append(flow)

    for lane in container.iter(f"{{{BPMN_NS}}}lane"):
        if lane.getparent().getparent() is not container:
            continue  # lanes of a nested subprocess are checked with it
        name = (lane.get("name") or "").strip()
        has_tasks = any((ref.text or "").strip() in nodes and _local(nodes[(ref.text or "").strip()]) == "userTask"
                        for ref in lane.iter(f"{{{BPMN_NS}}}flowNodeRef"))
        if not name:
            if has_tasks:
                add(lane, "the lane has no name: name it after the department that does its tasks")
        elif lane_known is not None and has_tasks and not lane_known(name):
            add(lane, f"lane {name!r} maps to no department: its tasks reach nobody's inbox "
                      "(an administrator can map it under Administration → lanes)")

    for nid, el in nodes.items():
        kind = _local(el)
        if kind == "subProcess":
            _lint_container(el, add, lane_known)
            if el.get("triggeredByEvent") == "true":
                continue
        if kind == "userTask":
            _lint_user_task(el, add)
        if el.get("triggeredByEvent") == "true":
            continue
        if not outgoing.get(nid) and kind not in _NO_OUTGOING_OK and not _is_event_subprocess_member(el):
            add(el, "dead end: the element has no outgoing flow, so the dossier stops here without "
                    "reaching an end event; connect it or end it with an end event", "error")
        if not incoming.get(nid) and kind not in _NO_INCOMING_OK:
            add(el, "nothing leads to this element: it can never run")
        diverging = len(outgoing.get(nid, [])) > 1
        if kind in ("exclusiveGateway", "inclusiveGateway") and diverging and not el.get("default"):
            add(el, "the gateway has no default flow: when no condition holds, the dossier stops in error; "
                    "mark one outgoing flow as the default")


def _is_event_subprocess_member(el) -> bool:
    parent = el.getparent()
    return parent is not None and parent.get("triggeredByEvent") == "true" and _local(el) == "endEvent"


def _lint_user_task(el, add) -> None:
    budget = el.xpath(
        "./bpmn:extensionElements/camunda:properties/camunda:property[@name='time_budget']/@value",
        namespaces={"bpmn": BPMN_NS, "camunda": CAMUNDA_NS},
    )
    if not budget or not str(budget[0]).strip():
        add(el, "the user task has no time budget: add camunda:property time_budget (e.g. P2D = two working "
                "days) so the step gets a due date and the control sheet can say early / on time / late")
    for ff in el.iter(f"{{{CAMUNDA_NS}}}formField"):
        if not (ff.get("label") or "").strip():
            add(el, f"form field {ff.get('id')!r} has no label: the civil servant would see only its id", at=ff)
