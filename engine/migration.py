"""Moving running instances of a procedure to another version, when it is safe.

Uses SpiffWorkflow's ``diff_workflow`` / ``migrate_workflow`` (tasks are aligned to the new
specs by element id, READY/WAITING branches are re-predicted from the new diagram). An
instance can move unless (the ``reason`` says which):

- it is in error (fix and retry first) or finished;
- a step where it is now (ready, waiting or started) is not in the target version, or
  became another kind of element, or waits for a different message;
- it is inside a called subprocess whose diagram differs in the target version;
- a parallel join it will reach waits, in the target version, for a branch the instance
  can no longer reach (e.g. an opinion step added in parallel to the step it is at): it
  would wait there forever;
- a step it already passed no longer exists (its history cannot be kept).

Moving rewrites the instance's version, serialized state, open human tasks (name, lane,
department, form and candidate groups follow the new diagram; assignee and claim stay),
waits, and writes an event-log entry ``migrated``; each instance in its own transaction
(the optimistic lock applies: an instance changed meanwhile is skipped).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.specs.defaults import ParallelGateway
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import forms
from engine.actors import Actor
from engine.errors import EngineError, NotFound
from engine.models import ERROR, RUNNING, SUSPENDED, WAITING, HumanTask, Instance, ProcessVersion
from engine.parser import EXT_CANDIDATE_GROUPS, EXT_CANDIDATE_USERS, public_id
from engine.serialization import _registry, restore_instance, serialize_instance, spec_cache

MOVABLE_STATUSES = (RUNNING, WAITING, SUSPENDED, ERROR)  # listed; error ones are listed as not movable
_ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR


# Why an instance can or cannot move: a code with parameters (the web app words it in the user's
# language) and this English text (the API, the CLI, logs).
REASONS = {
    "can_move": "can move",
    "in_error": "the instance is in error: fix it and retry it first",
    "engine_failed": "the engine could not move it: {error}",
    "step_removed": "the step {step} where it is now does not exist in version {version}",
    "kind_changed": "the step {step} where it is now is a different kind of element in version {version}",
    "message_changed": "{step} waits for {old}; in version {version} it waits for {new}",
    "passed_removed": "the step {step} it already passed does not exist in version {version}, so its history "
                      "cannot be kept",
    "subprocess_not_called": "it is inside the subprocess {name}, which version {version} does not call",
    "subprocess_changed": "it is inside the subprocess {name}, whose diagram differs in version {version}; "
                          "move it once it has left the subprocess",
    "history_lost": "{count} step(s) of its history have no element in version {version}",
    "join_unreachable": "in version {version} the parallel join {join} also waits for {branch}, which this "
                        "instance can no longer reach: it would wait there forever",
    "not_running": "no running instance {instance} of {process} on another version",
    "changed_meanwhile": "it changed meanwhile; not moved",
    "next_step_failed": "its next step failed on version {version}: {error}",
    "not_moved": "not moved: {error}",
    "timer_restarts": "timer {timer} restarts with its new definition",
}


def reason_text(code: str, params: dict[str, Any] | None = None) -> str:
    return REASONS[code].format(**(params or {}))


class _CannotMove(Exception):
    def __init__(self, code: str, **params: Any):
        self.code, self.params = code, params
        super().__init__(reason_text(code, params))


@dataclass
class _Prepared:
    instance: Instance
    workflow: object = None
    reason_code: str = ""
    reason_params: dict[str, Any] = field(default_factory=dict)
    can_move: bool = False
    notes: list[dict[str, Any]] = field(default_factory=list)  # {"code": …, "params": {…}}

    def say(self, code: str, **params: Any) -> None:
        self.reason_code, self.reason_params = code, params

    @property
    def reason(self) -> str:
        if not self.reason_code:
            return ""
        notes = "; ".join(reason_text(n["code"], n["params"]) for n in self.notes)
        return reason_text(self.reason_code, self.reason_params) + (f" ({notes})" if notes else "")


def _target(session: Session, process_id: str, to_version: int) -> ProcessVersion:
    pv = session.scalars(
        select(ProcessVersion).where(ProcessVersion.process_id == process_id, ProcessVersion.version == to_version)
    ).first()
    if pv is None:
        exists = session.scalar(select(ProcessVersion.id).where(ProcessVersion.process_id == process_id).limit(1))
        raise NotFound(f"process {process_id!r} has no version {to_version}" if exists
                       else f"process {process_id!r} is not deployed")
    return pv


def _candidates(session: Session, process_id: str, target: ProcessVersion,
                instance_ids: list[str] | None) -> list[Instance | str]:
    query = (
        select(Instance)
        .where(Instance.process_id == process_id, Instance.status.in_(MOVABLE_STATUSES),
               Instance.version_id != target.id)
        .order_by(Instance.created_at)
    )
    rows = list(session.scalars(query))
    if instance_ids is None:
        return rows
    by_id = {row.id: row for row in rows}
    return [by_id.get(str(i), str(i)) for i in dict.fromkeys(instance_ids)]


def _name(spec) -> str:
    label = getattr(spec, "bpmn_name", None)
    element = public_id(getattr(spec, "bpmn_id", None) or spec.name)
    return f"{label!r} ({element})" if label else repr(element)


def _specs(session: Session, version_id: int):
    return spec_cache.get(
        version_id, lambda: session.scalar(select(ProcessVersion.spec_json).where(ProcessVersion.id == version_id))
    )


def _prepare(session: Session, runtime, instance: Instance, target: ProcessVersion) -> _Prepared:
    """Migrate the instance's workflow in memory; ``can_move`` and ``reason`` say whether it is safe."""
    out = _Prepared(instance)
    if instance.status == ERROR:
        out.say("in_error")
        return out
    try:
        out.workflow = _migrate_in_memory(session, runtime, instance, target, out.notes)
    except _CannotMove as exc:
        out.say(exc.code, **exc.params)
        return out
    except Exception as exc:  # noqa: BLE001 - any engine failure means "not safe", said plainly
        out.say("engine_failed", error=str(exc))
        return out
    out.can_move = True
    out.say("can_move")
    return out


def _migrate_in_memory(session: Session, runtime, instance: Instance, target: ProcessVersion, notes: list[dict]):
    version = target.version
    workflow = runtime._restore(instance)
    new_spec, new_subs = _specs(session, target.id)
    top_diff, sp_diffs = diff_workflow(_registry, workflow, new_spec, new_subs)

    active = workflow.get_tasks(state=_ACTIVE, skip_subprocesses=True)
    removed = set(top_diff.removed)
    for task in active:
        if task.task_spec.bpmn_id is None:
            continue  # engine-internal specs (boundary splits, joins of the engine) follow their element
        if task in removed:
            raise _CannotMove("step_removed", step=_name(task.task_spec), version=version)
        new = top_diff.alignment.get(task)
        if new is not None and type(new) is not type(task.task_spec):
            raise _CannotMove("kind_changed", step=_name(task.task_spec), version=version)
        old_def = getattr(task.task_spec, "event_definition", None)
        new_def = getattr(new, "event_definition", None)
        waits_for_message = (task.state == TaskState.WAITING and old_def is not None
                             and not isinstance(old_def, TimerEventDefinition))
        if waits_for_message and getattr(old_def, "name", None) != getattr(new_def, "name", None):
            raise _CannotMove("message_changed", step=_name(task.task_spec), old=repr(getattr(old_def, "name", "?")),
                              new=repr(getattr(new_def, "name", None)), version=version)
    passed = [t for t in removed if t.state == TaskState.COMPLETED and t.task_spec.bpmn_id is not None]
    if passed:
        raise _CannotMove("passed_removed", step=_name(passed[0].task_spec), version=version)

    for sp_id, sp in workflow.subprocesses.items():
        if sp.is_completed():
            continue
        diff = sp_diffs.get(sp_id)
        spec_name = sp.spec.name
        if diff is None:
            raise _CannotMove("subprocess_not_called", name=repr(spec_name), version=version)
        old_sub = workflow.subprocess_specs.get(spec_name)
        if old_sub is not None and _spec_json(old_sub) != _spec_json(new_subs[spec_name]):
            raise _CannotMove("subprocess_changed", name=repr(spec_name), version=version)

    _check_joins(workflow, top_diff, new_spec, version)

    # timers keep their deadline when their definition did not change (migrate_workflow resets them)
    timers = {
        t.id: (t.task_spec.event_definition.expression, copy.deepcopy(t.internal_data))
        for t in workflow.get_tasks(state=TaskState.WAITING)
        if isinstance(getattr(t.task_spec, "event_definition", None), TimerEventDefinition)
    }
    migrate_workflow(top_diff, workflow, new_spec)
    workflow.subprocess_specs = new_subs
    for task in workflow.get_tasks(state=TaskState.WAITING):
        kept = timers.get(task.id)
        definition = getattr(task.task_spec, "event_definition", None)
        if kept and isinstance(definition, TimerEventDefinition):
            if definition.expression == kept[0]:
                task.internal_data.update(kept[1])
            else:
                notes.append({"code": "timer_restarts", "params": {"timer": repr(public_id(task.task_spec.bpmn_id))}})

    # the state must restore against the target version alone, with every task's spec found
    restored = restore_instance(serialize_instance(workflow), new_spec, new_subs, script_engine=runtime.script_engine)
    lost = [t for t in restored.tasks.values() if t.task_spec is None]
    if lost:
        raise _CannotMove("history_lost", count=len(lost), version=version)
    return restored


def _spec_json(spec) -> str:
    import json

    return json.dumps(_registry.convert(spec), sort_keys=True, default=str)


def _check_joins(workflow, top_diff, new_spec, version: int) -> None:
    """Refuse when a parallel join ahead would wait for a branch the instance can no longer reach."""
    frontier = [
        top_diff.alignment.get(t) for t in workflow.get_tasks(state=_ACTIVE, skip_subprocesses=True)
    ]
    frontier = [s for s in frontier if s is not None]
    reachable: set[str] = set()
    stack = list(frontier)
    while stack:
        spec = stack.pop()
        if spec.name in reachable:
            continue
        reachable.add(spec.name)
        stack.extend(spec.outputs)
    done = {
        (top_diff.alignment.get(t) or t.task_spec).name
        for t in workflow.get_tasks(state=TaskState.COMPLETED, skip_subprocesses=True)
    }
    for name in sorted(reachable):
        spec = new_spec.task_specs[name]
        if not isinstance(spec, ParallelGateway) or len(spec.inputs) < 2:
            continue
        for branch in spec.inputs:
            if branch.name not in reachable and branch.name not in done:
                raise _CannotMove("join_unreachable", version=version, join=_name(spec),
                                  branch=_name(_element(branch)))


def _element(spec):
    """The BPMN element behind an engine-internal spec (e.g. 'review.BoundaryEventJoin')."""
    while getattr(spec, "bpmn_id", None) is None and spec.inputs:
        spec = spec.inputs[0]
    return spec


def _entry(prepared: _Prepared, target: ProcessVersion, item: Instance | str) -> dict:
    if isinstance(item, str):
        return {"instance_id": item, "business_key": None, "from_version": None, "to_version": target.version,
                "status": None, "can_move": False, **_said("not_running", instance=item,
                                                           process=repr(target.process_id))}
    return {
        "instance_id": item.id,
        "business_key": item.business_key,
        "from_version": item.version.version,
        "to_version": target.version,
        "status": item.status,
        "can_move": prepared.can_move,
        "reason": prepared.reason,
        "reason_code": prepared.reason_code,
        "reason_params": prepared.reason_params,
        "notes": prepared.notes,
    }


def _said(code: str, **params: Any) -> dict[str, Any]:
    return {"reason": reason_text(code, params), "reason_code": code, "reason_params": params, "notes": []}


def plan_migration(session: Session, process_id: str, to_version: int,
                   instance_ids: list[str] | None = None) -> list[dict]:
    """Dry run: per running/waiting/suspended/error instance on another version of the process (or the
    given ones): instance_id, business_key (tracking code), from_version, to_version, status, can_move,
    reason. Nothing is written. Raises NotFound for an unknown process or version.
    """
    from engine.runtime import Runtime

    target = _target(session, process_id, to_version)
    runtime = Runtime(session)
    out = []
    for item in _candidates(session, process_id, target, instance_ids):
        prepared = _prepare(session, runtime, item, target) if not isinstance(item, str) else _Prepared(None)
        out.append(_entry(prepared, target, item))
    return out


def migrate_instances(session: Session, process_id: str, to_version: int, instance_ids: list[str] | None,
                      actor: str | Actor) -> dict:
    """Move the given instances (all movable ones when ``instance_ids`` is None) to ``to_version``.

    Each instance moves in its own transaction, committed here; one that cannot move, or fails
    while moving, is left untouched. Returns {"to_version", "moved": [entry...], "skipped": [entry...]}
    with the entries of ``plan_migration``. Raises NotFound for an unknown process or version.
    """
    from engine.runtime import Runtime, _Step

    who = actor if isinstance(actor, Actor) else Actor(str(actor))
    target = _target(session, process_id, to_version)
    items = _candidates(session, process_id, target, instance_ids)
    session.commit()  # each instance below is its own transaction
    moved, skipped = [], []
    for item in items:
        if isinstance(item, str):
            skipped.append(_entry(_Prepared(None), target, item))
            continue
        instance_id = item.id
        runtime = Runtime(session)
        instance = session.get(Instance, instance_id)
        if instance is None or instance.status not in MOVABLE_STATUSES or instance.version_id == target.id:
            skipped.append({**_entry(_Prepared(item), target, item), **_said("changed_meanwhile")})
            continue
        prepared = _prepare(session, runtime, instance, target)
        entry = _entry(prepared, target, instance)
        if not prepared.can_move:
            skipped.append(entry)
            session.rollback()
            continue
        try:
            from_version = instance.version.version
            workflow = prepared.workflow
            instance.version = target
            step = _Step(runtime, instance, who)
            step.log_instance("migrated", detail={"from_version": from_version, "to_version": target.version,
                                                  "actor": who.username})
            runtime._advance(instance, workflow, step)
            if step.error is not None:
                raise _CannotMove("next_step_failed", version=target.version, error=str(step.error))
            _refresh_open_tasks(session, runtime, instance, workflow)
            runtime._persist(instance, workflow, step)
            session.commit()
            moved.append(entry)
        except Exception as exc:  # noqa: BLE001 - one instance must not stop the rest
            session.rollback()
            message = exc.message if isinstance(exc, EngineError) else str(exc)
            if isinstance(exc, _CannotMove):
                skipped.append({**entry, "can_move": False, **_said(exc.code, **exc.params)})
            else:
                skipped.append({**entry, "can_move": False, **_said("not_moved", error=message)})
    return {"to_version": target.version, "moved": moved, "skipped": skipped}


def _refresh_open_tasks(session: Session, runtime, instance: Instance, workflow) -> None:
    """Open task rows that survive the move take the new diagram's name, lane, department and form."""
    ready = {str(t.id): t for t in workflow.get_tasks(state=TaskState.READY, manual=True)}
    rows = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.state == "ready"))
    for row in rows:
        task = ready.get(row.id)
        if task is None:
            continue  # closed by the next persist
        spec = task.task_spec
        ext = getattr(spec, "extensions", None) or {}
        fresh = runtime._new_human_task(instance, task)
        row.element_id = public_id(spec.bpmn_id)
        row.name = spec.bpmn_name or spec.bpmn_id
        row.lane = spec.lane
        row.department = runtime.department_for(spec.lane)
        row.form = [f.to_dict() for f in forms.fields_from_spec(spec)]
        if ext.get(EXT_CANDIDATE_GROUPS) is not None or row.candidate_groups:
            row.candidate_groups = fresh.candidate_groups
        if ext.get(EXT_CANDIDATE_USERS) is not None or row.candidate_users:
            row.candidate_users = fresh.candidate_users
