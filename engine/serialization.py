"""Compact persistence of specs and running instances.

A serialized SpiffWorkflow instance embeds its whole spec. We store the spec
once per deployed version and strip it from every instance (half the bytes,
and no spec re-conversion per step); restored specs are cached per version.
The JSON is kept as TEXT: task data is stored as deltas whose restore depends
on key order, which JSONB would not preserve.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from copy import deepcopy
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG

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


def serialize_instance(workflow: BpmnWorkflow) -> str:
    converter = _wf_converter
    dct = {
        "format": FORMAT_VERSION,
        # WorkflowConverter.to_dict: data, correlations, tasks, root - no specs
        **WorkflowConverter.to_dict(converter, workflow),
        "subprocesses": converter.mapping_to_dict(workflow.subprocesses),
        "bpmn_events": _registry.convert(workflow.bpmn_events),
    }
    _registry._encoder_mode = True
    try:
        return json.dumps(dct, cls=_serializer._encoder_cls)
    finally:
        _registry._encoder_mode = False


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
