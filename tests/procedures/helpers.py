"""What the procedure tests share: the library files, the people, and the checks every procedure goes through.

Each test module names its procedure once (``PROCEDURE = Procedure(file, process_id)``); the ``deployed``
fixture in conftest.py deploys that procedure with the shared files of bpmn/common.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from lxml import etree
from sqlalchemy import select

from engine.actors import Actor
from engine.models import HumanTask, Wait
from engine.runtime import Runtime
from engine.validation import ParsedProcess, validate_files

LIBRARY = Path(__file__).resolve().parents[2] / "bpmn"
BPMN_NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "camunda": "http://camunda.org/schema/1.0/bpmn",
}
# the events through which an instance passes a marked element (throw/catch events, user tasks, end events)
MARKER_EVENT_KINDS = ("step_completed", "message_caught", "task_completed")
# the catalogue properties every procedure declares on its process
CATALOGUE_PROPERTIES = ("procedure_code", "department", "desk", "agency_code", "processing_time",
                        "processing_unit", "fee", "level", "online")

# The people of the `people` fixture (server/demo.py), each narrowed to the one role a step needs.
CITY_CLERK = Actor("tiepnhan", frozenset({"clerk"}), frozenset({"MOTCUA"}))
WARD_CLERK = Actor("motcuaphuong", frozenset({"clerk"}), frozenset({"MOTCUA_PHUONG"}))
CIVIL_STATUS_OFFICER = Actor("hotich", frozenset({"specialist"}), frozenset({"TUPHAP_HOTICH"}))
WARD_CHAIRMAN = Actor("chutich", frozenset({"leader"}), frozenset({"LD_PHUONG"}))
WARD_LANE_DEPARTMENTS = {
    "Bộ phận Một cửa UBND phường": "MOTCUA_PHUONG",
    "Công chức Tư pháp - Hộ tịch": "TUPHAP_HOTICH",
    "Lãnh đạo UBND phường": "LD_PHUONG",
}
# the city diagrams' elements that carry a dossier_action marker (throw/catch/end events, the desk's return task)
CITY_MARKERS = frozenset({"supplement_requested", "wait_supplement", "reception_refused", "dossier_accepted",
                          "result_issued", "payment_requested", "wait_payment", "return_to_citizen"})


@dataclass(frozen=True)
class Procedure:
    """One procedure of bpmn/: its file and executable process.

    ``marked``: the elements whose passing `markers` reports, by element id; without it, every element
    carrying a dossier_action marker (in the procedure or a shared subprocess), by the marker's value.
    """

    file: str
    process_id: str
    marked: frozenset[str] | None = None

    def library_files(self) -> list[tuple[str, bytes]]:
        """bpmn/common's subprocesses and fee table, then the procedure; named as `flask bpmn deploy` names them."""
        common = [*sorted((LIBRARY / "common").glob("*.bpmn")), LIBRARY / "common" / "fee_schedule.dmn"]
        return [(p.name, p.read_bytes()) for p in common] + [(self.file, (LIBRARY / self.file).read_bytes())]

    @cached_property
    def dossier_actions(self) -> dict[str, str]:
        """element id -> dossier_action marker, over the procedure and the subprocesses it calls."""
        found = {}
        for _name, content in self.library_files():
            root = etree.fromstring(content)
            for prop in root.iter(f"{{{BPMN_NS['camunda']}}}property"):
                if prop.get("name") == "dossier_action":
                    owner = prop.getparent().getparent().getparent()  # property < properties < extensionElements < node
                    found[owner.get("id")] = prop.get("value")
        return found

    @cached_property
    def _marker_names(self) -> Mapping[str, str]:
        return self.dossier_actions if self.marked is None else {element: element for element in self.marked}

    def markers(self, rt: Runtime, instance_id: str) -> list[str]:
        """The markers the instance passed, in order."""
        names = self._marker_names
        return [names[e.element_id] for e in rt.events(instance_id)
                if e.kind in MARKER_EVENT_KINDS and e.element_id in names]

    def validated(self) -> ParsedProcess:
        """The procedure validated with the shared files: no problems, and its process found exactly once."""
        result = validate_files(self.library_files())
        assert [str(p) for p in result.problems] == []
        [parsed] = [p for p in result.processes if p.process_id == self.process_id]
        return parsed


# --------------------------------------------------------------------------- the runtime's rows
def wait_names(session, instance_id: str, kind: str = "timer") -> set[str]:
    """What the instance waits for: timers by element id, messages by name."""
    column = Wait.element_id if kind == "timer" else Wait.name
    return set(session.scalars(select(column).where(Wait.instance_id == instance_id, Wait.kind == kind)))


def waits_by_element(session, instance_id: str, kind: str) -> dict[str, object]:
    """element id -> due time (timers) or message name (messages) of the instance's waits of that kind."""
    rows = session.scalars(select(Wait).where(Wait.instance_id == instance_id, Wait.kind == kind))
    return {w.element_id: (w.due_at if kind == "timer" else w.name) for w in rows}


def all_tasks(session, instance_id: str) -> list[HumanTask]:
    """Every human task of the instance, oldest first."""
    return list(session.scalars(
        select(HumanTask).where(HumanTask.instance_id == instance_id).order_by(HumanTask.created_at)
    ))


# --------------------------------------------------------------------------- working the tasks
def start_instance(session, process_id: str, business_key: str, data: dict, actor: Actor, *,
                   status: str | None = None) -> tuple[Runtime, str]:
    """Start an instance and commit (it must then be in `status`, if given); returns the runtime and its id."""
    rt = Runtime(session)
    instance = rt.start(process_id, business_key=business_key, data=dict(data), actor=actor)
    session.commit()
    if status is not None:
        assert instance.status == status
    return rt, instance.id


def only_task(rt: Runtime, instance_id: str, element_id: str) -> HumanTask:
    """The instance's one open task, which must be `element_id`."""
    tasks = rt.open_tasks(instance_id)
    assert [t.element_id for t in tasks] == [element_id]
    return tasks[0]


def complete(rt: Runtime, instance_id: str, element_id: str, data: dict, actor: Actor) -> None:
    """Complete the one open task (it must be `element_id`) as `actor`; not committed."""
    rt.complete_task(only_task(rt, instance_id, element_id).id, data, actor)


def complete_checked(session, rt: Runtime, instance_id: str, element_id: str, actor: Actor, data: dict) -> HumanTask:
    """Complete the one open task (it must be `element_id`) as `actor`, who must be allowed to work on it.

    The task must have a due time and, when it sits in a lane of the procedure, its boundary timer
    (`<element_id>_timer`). Committed; returns the task.
    """
    task = only_task(rt, instance_id, element_id)
    assert task.due_at is not None, f"{element_id} has a time budget, so a due time"
    assert actor.may_work_on(department=task.department, candidate_groups=task.candidate_groups,
                             candidate_users=task.candidate_users, assignee=task.assignee)
    if task.lane is not None:
        assert f"{element_id}_timer" in wait_names(session, instance_id), "budgeted step without its boundary timer"
    rt.complete_task(task.id, data, actor)
    session.commit()
    return task


# --------------------------------------------------------------------------- checks
def assert_lanes_map_to_departments(rows: list[HumanTask], lane_departments: Mapping[str, str], *,
                                    budgeted: Collection[str] | None = None, completed: bool = False,
                                    desk: str | None = None) -> None:
    """Every task of a lane went to that lane's department.

    budgeted: the steps that must have a due time (None: every step). completed: every task must be
    completed. desk: the group that tasks outside the procedure's lanes (a shared subprocess's) must go to.
    """
    for row in rows:
        if completed:
            assert row.state == "completed", row.element_id
        if budgeted is None or row.element_id in budgeted:
            assert row.due_at is not None, row.element_id
        if row.lane is not None:
            assert row.department == lane_departments[row.lane], row.element_id
        elif desk is not None:
            assert row.candidate_groups == [desk]


def assert_overdue_timers_and_diagram(procedure: Procedure) -> None:
    """The structure of the procedure's XML.

    Every user task has a time budget and a non-interrupting boundary timer due at that budget, which
    leads to a step_overdue marker and an end event, all in the task's lane; every flow node sits in
    exactly one lane; every node, lane, the pool and every sequence flow is drawn (DI).
    """
    root = etree.fromstring((LIBRARY / procedure.file).read_bytes())
    by_id = {el.get("id"): el for el in root.iter() if el.get("id")}
    lane_of = {ref.text: lane.get("name") for lane in root.iterfind(".//bpmn:lane", BPMN_NS)
               for ref in lane.iterfind("bpmn:flowNodeRef", BPMN_NS)}
    next_of = {f.get("sourceRef"): f.get("targetRef") for f in root.iterfind(".//bpmn:sequenceFlow", BPMN_NS)}
    for task in root.iterfind(".//bpmn:userTask", BPMN_NS):
        budget = task.find(".//camunda:property[@name='time_budget']", BPMN_NS)
        assert budget is not None, task.get("id")
        [timer] = root.xpath(".//bpmn:boundaryEvent[@attachedToRef=$t]", namespaces=BPMN_NS, t=task.get("id"))
        assert timer.get("cancelActivity") == "false"
        assert timer.findtext(".//bpmn:timeDate", namespaces=BPMN_NS) == f'working_deadline("{budget.get("value")}")'
        overdue = next_of[timer.get("id")]
        assert procedure.dossier_actions[overdue] == "step_overdue"
        end = by_id[next_of[overdue]]
        assert etree.QName(end).localname == "endEvent"
        assert lane_of[timer.get("id")] == lane_of[overdue] == lane_of[end.get("id")] == lane_of[task.get("id")]
    process = root.find("bpmn:process", BPMN_NS)
    nodes = [el.get("id") for el in process if el.find("bpmn:incoming", BPMN_NS) is not None
             or el.find("bpmn:outgoing", BPMN_NS) is not None]
    assert sorted(nodes) == sorted(lane_of)  # every flow node in exactly one lane (no duplicates either)
    assert len(lane_of) == sum(1 for _ in root.iterfind(".//bpmn:flowNodeRef", BPMN_NS))
    drawn = {s.get("bpmnElement") for s in root.iterfind(".//bpmndi:BPMNShape", BPMN_NS)}
    edges = {e.get("bpmnElement") for e in root.iterfind(".//bpmndi:BPMNEdge", BPMN_NS)}
    lanes = {lane.get("id") for lane in root.iterfind(".//bpmn:lane", BPMN_NS)}
    assert drawn == set(nodes) | lanes | {root.find(".//bpmn:participant", BPMN_NS).get("id")}
    assert edges == {f.get("id") for f in root.iterfind(".//bpmn:sequenceFlow", BPMN_NS)}
