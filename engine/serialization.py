"""Compact persistence of specs and running instances.

A serialized SpiffWorkflow instance embeds its whole spec. We store the spec
once per deployed version and strip it from every instance (half the bytes,
and no spec re-conversion per step); restored specs are cached per version.
The JSON is kept as TEXT: task data is stored as deltas whose restore depends
on key order, which JSONB would not preserve.

Loops: SpiffWorkflow keeps every completed task of every iteration in its task
tree, so a looping instance's state (and the cost of each step) grows with its
history. The stored tree drops completed iterations (see ``_prunable``); the
event log keeps the history. The in-memory workflow is never changed, so the
rest of the step still sees every task it ran.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from copy import deepcopy
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.specs.Join import Join
from SpiffWorkflow.util.deep_merge import DeepMerge
from SpiffWorkflow.util.task import TaskState

from engine.messages import MotcuaMessageEventDefinition, MotcuaMessageEventDefinitionConverter

FORMAT_VERSION = "motcua-1"

_config = deepcopy(CAMUNDA_CONFIG)
_config[MotcuaMessageEventDefinition] = MotcuaMessageEventDefinitionConverter
_registry = BpmnWorkflowSerializer.configure(_config)
_serializer = BpmnWorkflowSerializer(_registry)
# Converter methods reused to (de)serialize an instance without its specs.
_wf_converter = BpmnWorkflowConverter(BpmnWorkflow, _registry)


def serialize_specs(spec, subprocess_specs: dict) -> str:
    return json.dumps(
        {
            "spec": _registry.convert(spec),
            "subprocess_specs": {name: _registry.convert(s) for name, s in subprocess_specs.items()},
        }
    )


def restore_specs(text: str):
    dct = json.loads(text)
    spec = _registry.restore(dct["spec"])
    subprocess_specs = {name: _registry.restore(s) for name, s in dct["subprocess_specs"].items()}
    return spec, subprocess_specs


def serialize_instance(workflow: BpmnWorkflow, prune: bool = True) -> str:
    """The instance without its specs; with ``prune``, completed loop iterations are left out."""
    removed = _prunable(workflow) if prune else set()
    subprocesses = {}
    for task_id, sub in workflow.subprocesses.items():
        if task_id in removed:
            removed |= set(sub.tasks)  # its own subprocesses (keyed by its task ids) go too
            continue
        subprocesses[str(task_id)] = {**_workflow_dict(sub, removed), "parent_task_id": str(sub.parent_task_id),
                                      "spec": sub.spec.name, "typename": _registry.typenames[type(sub)]}
    dct = {
        "format": FORMAT_VERSION,
        **_workflow_dict(workflow, removed),
        "subprocesses": subprocesses,
        "bpmn_events": _registry.convert(workflow.bpmn_events),
    }
    _registry._encoder_mode = True
    try:
        return json.dumps(dct, cls=_serializer._encoder_cls)
    finally:
        _registry._encoder_mode = False


def _workflow_dict(workflow, removed: set) -> dict:
    """WorkflowConverter.to_dict (data, correlations, tasks, root; no specs) without the removed tasks."""
    tasks = {}
    for task_id, task in workflow.tasks.items():
        if task_id in removed:
            continue
        dct = _registry.convert(task)
        parent = task.parent
        if parent is not None and parent.id in removed:
            # re-attach to the nearest kept ancestor; the data delta is taken against it
            while parent.id in removed:
                parent = parent.parent
            dct["parent"] = str(parent.id)
            dct["delta"] = {"updates": DeepMerge.get_updated_keys(parent.data, task.data),
                            "deletions": DeepMerge.get_deleted_keys(parent.data, task.data)}
        if any(child in removed for child in task._children):
            dct["children"] = [str(c) for c in _kept_children(workflow, task, removed)]
        tasks[str(task_id)] = dct
    return {
        "data": _registry.convert(_registry.clean(workflow.data)),
        "correlations": workflow.correlations,
        "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
        "success": workflow.success,
        "completed": workflow.completed,
        "tasks": tasks,
        "root": str(workflow.task_tree.id),
    }


def _kept_children(workflow, task, removed: set) -> list:
    out = []
    for child_id in task._children:
        if child_id in removed:
            out.extend(_kept_children(workflow, workflow.tasks[child_id], removed))
        else:
            out.append(child_id)
    return out


def _prunable(workflow) -> set:
    """Ids of top-level tasks that a loop left behind and that nothing can need again.

    Only tasks of an earlier loop iteration go: the same element occurs again further down
    the tree (so splits that joins find by ancestry are found nearer, in the current iteration).
    Of those, a task goes when it is one link of a completed straight chain (it and its parent
    COMPLETED, each with one remaining child, its child COMPLETED), and a finished leaf goes
    when it is not a tree-wide join and hangs off such a completed task (a boundary event that did not
    fire, a structured join's spare copy). Therefore:

    - every unfinished task keeps its parent (parallel and inclusive gateways read the parent's
      element and state; a joining task copies its parent's data), and a cancelled join keeps
      its parent (a parallel join counts an arrived branch by it);
    - a flow without loops is stored exactly as before; the root, its first child, the last
      completed task and subprocesses that still run stay; a completed call activity that goes
      drops its finished subprocess with it.
    Removing a link keeps the ancestry of every other task (children move to the grandparent).
    """
    root = workflow.task_tree
    keep = {root.id, workflow.last_task.id if workflow.last_task is not None else None}
    keep.update(root._children)
    tasks = workflow.tasks
    completed, cancelled = TaskState.COMPLETED, TaskState.CANCELLED
    order: list = []  # post-order
    below: dict = {}  # task id -> names of the elements found under it
    stack = [(root, False)]
    while stack:
        task, visited = stack.pop()
        if not visited:
            stack.append((task, True))
            stack.extend((child, False) for child in task.children if child is not None)
            continue
        names = set()
        for child_id in task._children:
            names |= below[child_id]
            names.add(tasks[child_id].task_spec.name)
        below[task.id] = names
        order.append(task)
    earlier = {t.id for t in order if t.task_spec.name in below[t.id] and t.id not in keep}
    removed = set()
    for task in order:  # cancelled leaves of completed tasks of earlier iterations
        if task.id in earlier and task.state == completed:
            for child in task.children:
                if child.state in (cancelled, completed) and not child._children and not _counted(child.task_spec):
                    removed.add(child.id)
    live = {t.id: [c for c in t._children if c not in removed] for t in order}
    for task in order:  # links of completed chains
        parent = task.parent
        kids = live[task.id]
        if (
            task.id in earlier
            and task.state == completed
            and len(kids) == 1 and tasks[kids[0]].state == completed
            and parent is not None and parent.state == completed and len(live[parent.id]) == 1
            and _subprocess_done(workflow, task)
        ):
            removed.add(task.id)
            # the parent's one child is now the task's child
            live[parent.id] = kids
    return removed


def _counted(spec) -> bool:
    """Joins that count arrived branches over the whole tree (parallel, inclusive, end): keep their leaves."""
    return isinstance(spec, Join) and getattr(spec, "split_task", None) is None


def _subprocess_done(workflow, task) -> bool:
    if not isinstance(task.task_spec, SubWorkflowTask):
        return True
    sub = workflow.subprocesses.get(task.id)
    return sub is None or (sub.completed and not any(
        s.parent_workflow is sub for s in workflow.subprocesses.values()))


def restore_instance(text: str, spec, subprocess_specs: dict, script_engine=None) -> BpmnWorkflow:
    dct = json.loads(text)
    if dct.get("format") != FORMAT_VERSION:
        raise ValueError(f"unknown instance format {dct.get('format')!r}")
    converter = _wf_converter
    workflow = BpmnWorkflow(spec, subprocess_specs, deserializing=True, script_engine=script_engine)
    workflow.tasks = converter.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
    workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
    converter.set_default_attributes(workflow, dct)
    converter.subprocesses_from_dict(dct["subprocesses"], workflow)
    workflow.bpmn_events = _registry.restore(dct.get("bpmn_events", []))
    if script_engine is not None:
        # the script engine is not serialized; subprocesses share the top one
        workflow.script_engine = script_engine
    return workflow


class SpecCache:
    """Restored specs per process-version id (LRU, thread-safe)."""

    def __init__(self, size: int = 256):
        self.size = size
        self._items: OrderedDict[int, tuple] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version_id: int, loader) -> tuple:
        with self._lock:
            if version_id in self._items:
                self._items.move_to_end(version_id)
                return self._items[version_id]
        specs = restore_specs(loader())
        with self._lock:
            self._items[version_id] = specs
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return specs

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


spec_cache = SpecCache()
