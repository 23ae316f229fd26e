"""Running process instances persistently, one transaction per step.

Each command loads the instance, lets SpiffWorkflow advance it, and writes in
the same transaction: the compact serialized state, the open human tasks, what
the instance waits for (timers, messages), its status and an event-log entry
for every step. ``Instance.lock_version`` makes a concurrent writer lose with
a Conflict instead of overwriting. The caller commits (or rolls back).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.control import BoundaryEventJoin, BoundaryEventSplit, _EndJoin
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException, WorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.orm.util import identity_key

from engine import calendar_days, deadlines, forms, hooks, messages
from engine.actors import Actor
from engine.db import utcnow
from engine.deployments import latest_versions
from engine.errors import Conflict, FormInvalid, InvalidState, NotFound
from engine.messages import MotcuaMessageEventDefinition
from engine.models import (
    COMPLETED,
    ERROR,
    FINISHED_STATUSES,
    RUNNING,
    SUSPENDED,
    TASK_CANCELLED,
    TASK_COMPLETED,
    TASK_READY,
    TERMINATED,
    WAITING,
    Department,
    EventLogEntry,
    HumanTask,
    Instance,
    InstanceState,
    LaneMapping,
    ProcessVersion,
    Wait,
)
from engine.parser import (
    EXT_ASSIGNEE,
    EXT_CANDIDATE_GROUPS,
    EXT_CANDIDATE_USERS,
    EXT_DUE_DATE,
    is_iso_literal,
    public_id,
)
from engine.sandbox import MotcuaScriptEngine
from engine.serialization import restore_instance, serialize_instance, spec_cache

log = logging.getLogger(__name__)
TIME_BUDGET = "time_budget"  # camunda:property on a user task: working-time budget, e.g. "P2D"
_INTERNAL_SPECS = (BoundaryEventSplit, BoundaryEventJoin, _EndJoin)
_COMPLETION_KINDS = ("task_completed", "step_completed", "timer_fired", "message_caught")
_VARIABLE_REF = re.compile(r"^\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}$")

# Computes a due time from a camunda:dueDate value: (expression, start, task data) -> datetime | None.
# Issue "one-stop dossiers" plugs the working-day calendar in here.
DueResolver = Callable[[str, datetime, dict], datetime | None]


def default_due_resolver(value: str, start: datetime, data: dict) -> datetime | None:
    text = value.strip()
    if text.upper().startswith("P"):
        parsed = TimerEventDefinition.parse_iso_duration(text)
        return start + TimerEventDefinition.get_timedelta_from_start(parsed, start)
    return TimerEventDefinition.get_datetime(text)


class Runtime:
    """The engine's command and query service over one SQLAlchemy session."""

    def __init__(
        self,
        session: Session,
        clock: Callable[[], datetime] = utcnow,
        due_resolver: DueResolver = default_due_resolver,
    ):
        self.session = session
        self.clock = clock
        self.due_resolver = due_resolver
        self.script_engine = MotcuaScriptEngine()
        calendar_days.refresh_if_stale(session)
        self._departments: dict[str | None, str | None] = {}
        # strong references: the session's identity map is weak, so an instance read for a check
        # (If-Match) and dropped would be SELECTed again by the step that follows
        self._held: dict[str, Instance] = {}
        self._open_after_step: dict[str, list[HumanTask]] = {}

    # ------------------------------------------------------------------ queries
    def get_instance(self, instance_id: str, with_state: bool = False) -> Instance:
        """``with_state``: a step follows, so read the serialized state in the same query."""
        options = [joinedload(Instance.state)] if with_state else None
        instance = self.session.get(Instance, str(instance_id), options=options) if _is_uuid(instance_id) else None
        if instance is None:
            raise NotFound(f"instance {instance_id} not found")
        self._held[instance.id] = instance
        return instance

    def get_task(self, task_id: str, with_instance: bool = False) -> HumanTask:
        """``with_instance``: the task is about to be completed, so read it together with its instance
        and the instance's state in one query (the step then finds both in the session)."""
        if not _is_uuid(task_id):
            raise NotFound(f"task {task_id} not found")
        if with_instance and self.session.identity_map.get(identity_key(HumanTask, str(task_id))) is None:
            found = self.session.execute(
                select(HumanTask, Instance).join(Instance, Instance.id == HumanTask.instance_id)
                .options(joinedload(Instance.state)).where(HumanTask.id == str(task_id))
            ).first()
            if found is None:
                raise NotFound(f"task {task_id} not found")
            self._held[found[1].id] = found[1]
            return found[0]
        task = self.session.get(HumanTask, str(task_id))
        if task is None:
            raise NotFound(f"task {task_id} not found")
        return task

    def latest_version(self, process_id: str) -> ProcessVersion:
        pv = self.session.scalars(
            select(ProcessVersion)
            .where(ProcessVersion.process_id == process_id)
            .order_by(ProcessVersion.version.desc())
        ).first()
        if pv is None:
            raise NotFound(f"process {process_id!r} is not deployed")
        return pv

    def open_tasks(self, instance_id: str) -> list[HumanTask]:
        return list(
            self.session.scalars(
                select(HumanTask)
                .where(HumanTask.instance_id == instance_id, HumanTask.state == TASK_READY)
                .order_by(HumanTask.created_at)
            )
        )

    def open_tasks_after_step(self, instance_id: str) -> list[HumanTask]:
        """The open tasks as the last step of this runtime left them (no SELECT), else from the database."""
        rows = self._open_after_step.get(str(instance_id))
        return list(rows) if rows is not None else self.open_tasks(instance_id)

    def events(self, instance_id: str) -> list[EventLogEntry]:
        return list(
            self.session.scalars(
                select(EventLogEntry).where(EventLogEntry.instance_id == instance_id).order_by(EventLogEntry.id)
            )
        )

    # ----------------------------------------------------------------- commands
    def start(
        self,
        process_id: str,
        *,
        business_key: str | None = None,
        data: dict[str, Any] | None = None,
        actor: Actor | None = None,
        version: int | None = None,
        instance_id: str | None = None,
        on_created: Callable[[Instance], None] | None = None,
    ) -> Instance:
        """Start an instance; ``on_created`` may attach rows to it before its first step runs."""
        instance, workflow, step = self._create(process_id, business_key, data, actor, version, instance_id)
        if on_created is not None:
            on_created(instance)
        self._advance(instance, workflow, step)
        self._persist(instance, workflow, step)
        return instance

    def complete_task(self, task_id: str, data: dict[str, Any] | None, actor: Actor) -> Instance:
        row = self.get_task(task_id, with_instance=True)
        if row.state != TASK_READY:
            raise Conflict(f"task {task_id} is already {row.state}", task_state=row.state)
        instance = self._load_for_update(row.instance_id)
        workflow = self._restore(instance)
        task = workflow.get_task_from_id(uuid.UUID(task_id))
        if task is None or task.state != TaskState.READY:
            raise Conflict(f"task {task_id} is no longer ready")
        clean, errors = forms.validate_form(forms.fields_from_spec(task.task_spec), data or {}, current=task.data)
        if errors:
            raise FormInvalid(errors)
        step = _Step(self, instance, actor)
        # Every persisted step writes the open task rows and the waits from the state it stores, so the
        # state just read tells what the database holds: when this task is the only open one and nothing
        # waits, the step need not SELECT them again (the lock_version check still catches a lost race).
        if [str(t.id) for t in workflow.get_tasks(state=TaskState.READY, manual=True)] == [row.id]:
            step.known_open = {row.id: row}
        step.no_wait_rows = not _has_waiting_events(workflow)
        task.set_data(**clean)
        task.run()
        row.state = TASK_COMPLETED
        row.completed_at = self.clock()
        row.completed_by = actor.username
        row.draft = None
        step.log(
            "task_completed", task, actor=actor.username, from_lane=task.task_spec.lane, detail={"data": clean}
        )
        step.previous_lane = task.task_spec.lane
        self._advance(instance, workflow, step)
        self._persist(instance, workflow, step)
        return instance

    def save_draft(self, task_id: str, data: dict[str, Any], actor: Actor) -> HumanTask:
        row = self.get_task(task_id)
        if row.state != TASK_READY:
            raise Conflict(f"task {task_id} is already {row.state}")
        fields = [forms.FieldDef.from_dict(f) for f in row.form]
        clean, errors = forms.validate_form(fields, data, partial=True)
        if errors:
            raise FormInvalid(errors)
        row.draft = clean
        return row

    def claim(self, task_id: str, actor: Actor, assignee: str | None = None) -> HumanTask:
        """Take a task, or (leaders; the caller checks the role) give it to ``assignee``."""
        row = self.get_task(task_id)
        if row.state != TASK_READY:
            raise Conflict(f"task {task_id} is already {row.state}")
        target = assignee if assignee is not None else actor.username
        if assignee is None and row.assignee not in (None, actor.username):
            # claiming for oneself does not take a task away from a colleague; reassigning does
            raise Conflict(f"task {task_id} is already claimed by {row.assignee}", assignee=row.assignee)
        instance = self._load_for_update(row.instance_id)
        # Re-read the task after the instance (PostgreSQL, READ COMMITTED): a claim committed before our
        # instance read is seen here; one committed after it makes our version check fail (409).
        self.session.refresh(row)
        if row.state != TASK_READY:
            raise Conflict(f"task {task_id} is already {row.state}")
        if assignee is None and row.assignee not in (None, actor.username):
            raise Conflict(f"task {task_id} is already claimed by {row.assignee}", assignee=row.assignee)
        previous = row.assignee
        row.assignee = target
        row.claimed_at = self.clock()
        self._touch(instance)
        self._log(instance, "task_claimed", element_id=row.element_id, element_name=row.name, task_id=row.id,
                  actor=actor.username, detail={"assignee": target, "previous": previous})
        self._flush()
        return row

    def release(self, task_id: str, actor: Actor) -> HumanTask:
        row = self.get_task(task_id)
        if row.state != TASK_READY:
            raise Conflict(f"task {task_id} is already {row.state}")
        instance = self._load_for_update(row.instance_id)
        previous, row.assignee, row.claimed_at = row.assignee, None, None
        self._touch(instance)
        self._log(instance, "task_released", element_id=row.element_id, element_name=row.name, task_id=row.id,
                  actor=actor.username, detail={"previous": previous})
        self._flush()
        return row

    def correlate_message(
        self,
        name: str,
        *,
        business_key: str | None = None,
        correlation: dict[str, Any] | None = None,
        payload: Any = None,
        actor: Actor | None = None,
        buffer: bool = False,
    ) -> list[Instance]:
        """Deliver a message to the instances waiting for it, or start one by message.

        ``buffer``: when nobody waits and nothing starts, keep the message (engine.messages) for the
        instance that will wait for it, and return no instance instead of raising NotFound.
        """
        query = (
            select(Instance)
            .join(Wait, Wait.instance_id == Instance.id)
            .where(Wait.kind == "message", Wait.name == name, Instance.status == WAITING)
            .order_by(Instance.created_at)
        )
        if business_key is not None:
            query = query.where(Instance.business_key == business_key)
        candidates = list(dict.fromkeys(self.session.scalars(query)))
        if correlation:
            candidates = [i for i in candidates if all((i.data or {}).get(k) == v for k, v in correlation.items())]
        reached = []
        for candidate in candidates:
            instance = self._load_for_update(candidate.id)
            workflow = self._restore(instance)
            step = _Step(self, instance, actor)
            event = BpmnEvent(
                MotcuaMessageEventDefinition(name), payload=payload, correlations=dict(workflow.correlations)
            )
            try:
                workflow.send_event(event)
            except WorkflowException:
                continue  # its wait row was stale; nothing to deliver here
            step.log_instance("message_received", detail={"message": name, "payload": payload})
            self._advance(instance, workflow, step)
            self._persist(instance, workflow, step)
            reached.append(instance)
        if reached:
            return reached
        starters = [
            pv for pv in latest_versions(self.session) if name in (pv.start_messages or [])
        ]
        for pv in starters:
            instance, workflow, step = self._create(pv.process_id, business_key, correlation, actor, pv.version)
            workflow.do_engine_steps()
            workflow.send_event(BpmnEvent(MotcuaMessageEventDefinition(name), payload=payload))
            step.log_instance("message_received", detail={"message": name, "payload": payload, "started": True})
            self._advance(instance, workflow, step)
            self._persist(instance, workflow, step)
            reached.append(instance)
        if (not reached and buffer and messages.BUFFER_SECONDS > 0 and (business_key is not None or correlation)
                and messages.known_message(self.session, name)):
            messages.buffer_message(self.session, name, business_key=business_key, correlation=correlation,
                                    payload=payload, sent_by=actor.username if actor else None, now=self.clock())
            return []
        if not reached:
            raise NotFound(f"no instance is waiting for message {name!r}"
                           + (f" with business key {business_key!r}" if business_key else ""))
        return reached

    def suspend(self, instance_id: str, actor: Actor) -> Instance:
        instance = self._load_for_update(instance_id, allow_suspended=True)
        if instance.status in FINISHED_STATUSES or instance.status == SUSPENDED:
            raise InvalidState(f"instance is {instance.status}; it cannot be suspended")
        instance.suspended_from, instance.status = instance.status, SUSPENDED
        self._touch(instance)
        self._log(instance, "instance_suspended", actor=actor.username)
        self._flush()
        return instance

    def resume(self, instance_id: str, actor: Actor) -> Instance:
        instance = self._load_for_update(instance_id, allow_suspended=True)
        if instance.status != SUSPENDED:
            raise InvalidState(f"instance is {instance.status}, not suspended")
        instance.status = instance.suspended_from or WAITING
        instance.suspended_from = None
        workflow = self._restore(instance)
        step = _Step(self, instance, actor)
        step.log_instance("instance_resumed")
        if instance.status != ERROR:
            self._advance(instance, workflow, step)
        self._persist(instance, workflow, step)
        return instance

    def terminate(self, instance_id: str, actor: Actor, reason: str | None = None) -> Instance:
        instance = self._load_for_update(instance_id, allow_suspended=True)
        if instance.status in FINISHED_STATUSES:
            raise InvalidState(f"instance is already {instance.status}")
        workflow = self._restore(instance)
        workflow.cancel()
        step = _Step(self, instance, actor)
        step.log_instance("instance_terminated", detail={"reason": reason} if reason else None)
        self._persist(instance, workflow, step, status=TERMINATED)
        return instance

    def retry(self, instance_id: str, actor: Actor) -> Instance:
        """Run the errored step again (after the data or the process was fixed)."""
        instance = self._load_for_update(instance_id)
        if instance.status != ERROR:
            raise InvalidState(f"instance is {instance.status}; only instances in error can be retried")
        workflow = self._restore(instance)
        for task in workflow.get_tasks(state=TaskState.ERROR):
            task._set_state(TaskState.READY)
        step = _Step(self, instance, actor)
        step.log_instance("instance_retried")
        instance.error = None
        self._advance(instance, workflow, step)
        self._persist(instance, workflow, step)
        return instance

    def update_data(self, instance_id: str, actor: Actor, data: dict[str, Any]) -> Instance:
        """Fix process variables of an instance (typically before a retry)."""
        instance = self._load_for_update(instance_id, allow_suspended=True)
        if instance.status in FINISHED_STATUSES:
            raise InvalidState(f"instance is {instance.status}")
        workflow = self._restore(instance)
        for task in _frontier(workflow):
            task.set_data(**data)
        step = _Step(self, instance, actor)
        step.log_instance("data_updated", detail={"keys": sorted(data)})
        self._persist(instance, workflow, step, status=instance.status)
        return instance

    def fire_timers(self, instance_id: str) -> Instance | None:
        """Worker entry: fire this instance's due timers and advance it."""
        instance = self._load_for_update(instance_id)
        if instance.status not in (WAITING, RUNNING):
            self._clear_waits(instance.id, kind="timer")
            self._flush()
            return None
        workflow = self._restore(instance)
        step = _Step(self, instance, None)
        if not workflow.get_tasks(state=TaskState.READY, manual=True):
            step.known_open = {}  # no open task in the stored state, so no open task rows (see complete_task)
        self._advance(instance, workflow, step)
        self._persist(instance, workflow, step)
        return instance

    # ---------------------------------------------------------------- internals
    def _create(self, process_id, business_key, data, actor, version, instance_id=None):
        if version is None:
            pv = self.latest_version(process_id)
        else:
            pv = self.session.scalars(
                select(ProcessVersion).where(ProcessVersion.process_id == process_id, ProcessVersion.version == version)
            ).first()
            if pv is None:
                raise NotFound(f"process {process_id!r} has no version {version}")
        spec, subprocess_specs = spec_cache.get(pv.id, lambda: self._spec_json(pv.id))
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=self.script_engine)
        if data:
            for task in workflow.get_tasks(state=TaskState.READY):
                task.set_data(**data)
        now = self.clock()
        instance = Instance(
            id=instance_id or str(uuid.uuid4()),
            process_id=pv.process_id,
            version_id=pv.id,
            business_key=business_key,
            status=RUNNING,
            data=dict(data or {}),
            started_by=actor.username if actor else None,
            created_at=now,
            updated_at=now,
        )
        instance.version = pv
        instance.state = InstanceState(instance_id=instance.id, state="")
        self.session.add(instance)
        self.session.flush()  # rows that reference the instance are written after it
        step = _Step(self, instance, actor)
        step.known_open, step.no_wait_rows = {}, True  # a new instance has no task rows and no waits yet
        step.log_instance("instance_started", detail={"version": pv.version, "business_key": business_key})
        return instance, workflow, step

    def _spec_json(self, version_id: int) -> str:
        return self.session.scalar(select(ProcessVersion.spec_json).where(ProcessVersion.id == version_id))

    def _load_for_update(self, instance_id: str, allow_suspended: bool = False) -> Instance:
        instance = self.get_instance(instance_id, with_state=True)
        if instance.status == SUSPENDED and not allow_suspended:
            raise InvalidState("the instance is suspended; resume it first")
        if instance.status in FINISHED_STATUSES and not allow_suspended:
            raise InvalidState(f"the instance is {instance.status}")
        return instance

    def _restore(self, instance: Instance) -> BpmnWorkflow:
        spec, subprocess_specs = spec_cache.get(instance.version_id, lambda: self._spec_json(instance.version_id))
        return restore_instance(instance.state.state, spec, subprocess_specs, script_engine=self.script_engine)

    def _advance(self, instance: Instance, workflow: BpmnWorkflow, step: _Step) -> None:
        """Run engine steps; a failing script or expression puts the instance in error."""
        if instance.status == SUSPENDED:
            return
        try:
            workflow.refresh_timers()
            workflow.do_engine_steps(did_complete_task=step.engine_task_done)
        except SpiffWorkflowException as exc:
            step.error = exc
        except Exception as exc:  # noqa: BLE001 - an unexpected engine failure must not lose the step
            step.error = exc
        for event in workflow.get_events():
            step.log_instance("message_thrown", detail={"message": event.event_definition.name})

    def _persist(self, instance: Instance, workflow: BpmnWorkflow, step: _Step, status: str | None = None) -> None:
        # one flush at the end, so a lost race surfaces as Conflict there and nowhere else
        with self.session.no_autoflush:
            self._write_step(instance, workflow, step, status)
        self._flush()
        self._deliver_buffered(instance, workflow, step)

    def _deliver_buffered(self, instance: Instance, workflow: BpmnWorkflow, step: _Step) -> None:
        """A message that arrived before this instance waited for it is delivered now, as the next step."""
        if instance.status != WAITING:
            return
        for name in step.new_message_waits:
            row = messages.find_buffered(self.session, name, instance.business_key, instance.data, self.clock())
            if row is None:
                continue
            nxt = _Step(self, instance, None)
            event = BpmnEvent(MotcuaMessageEventDefinition(name), payload=row.payload,
                              correlations=dict(workflow.correlations))
            try:
                workflow.send_event(event)
            except WorkflowException as exc:
                # it stays buffered (until it expires) rather than vanish with a failed delivery
                log.warning("buffered message %s for instance %s not delivered: %s", name, instance.id, exc)
                continue
            self.session.delete(row)  # taken: the same transaction as the step that consumes it
            nxt.log_instance("message_received", detail={"message": name, "payload": row.payload,
                                                        "buffered_at": row.created_at.isoformat()})
            self._advance(instance, workflow, nxt)
            self._persist(instance, workflow, nxt)  # which delivers the next buffered message, if any
            return

    def _write_step(self, instance: Instance, workflow: BpmnWorkflow, step: _Step, status: str | None) -> None:
        now = self.clock()
        instance.state.state = serialize_instance(workflow)
        instance.data = _json_safe(_current_data(workflow))
        instance.updated_at = now
        if step.error is not None:
            instance.status = ERROR
            instance.error = _error_detail(step.error)
            step.log_error(step.error)
        elif status is not None:
            instance.status = status
        elif workflow.is_completed():
            instance.status = COMPLETED
        elif instance.status != SUSPENDED:
            instance.status = WAITING if _is_waiting(workflow) else RUNNING
        if instance.status in FINISHED_STATUSES:
            instance.finished_at = now
            step.log_instance(f"instance_{instance.status}")
        self._sync_tasks(instance, workflow, step)
        step.new_message_waits = self._sync_waits(instance, workflow, no_rows=step.no_wait_rows)
        for listener in hooks.step_listeners():
            listener(self.session, instance, step)
        for entry in step.entries:
            self.session.add(entry)

    def _sync_tasks(self, instance: Instance, workflow: BpmnWorkflow, step: _Step) -> None:
        if step.known_open is not None:
            open_rows = dict(step.known_open)
        else:
            open_rows = {row.id: row for row in self.open_tasks(instance.id)} if instance.lock_version else {}
        ready = {}
        if instance.status not in (TERMINATED,):
            ready = {str(t.id): t for t in workflow.get_tasks(state=TaskState.READY, manual=True)}
        for task_id, row in open_rows.items():
            if task_id not in ready:
                task = workflow.get_task_from_id(uuid.UUID(task_id))
                row.state = TASK_COMPLETED if task is not None and task.state == TaskState.COMPLETED else TASK_CANCELLED
                row.completed_at = row.completed_at or self.clock()
                if row.state == TASK_CANCELLED:
                    step.log("task_cancelled", task, element_id=row.element_id)
        for task_id, task in ready.items():
            if task_id in open_rows:
                continue
            row = self._new_human_task(instance, task)
            self.session.add(row)
            step.new_tasks.append(row)
            step.log("task_created", task, from_lane=step.previous_lane, to_lane=row.lane,
                     detail={"assignee": row.assignee, "candidate_groups": row.candidate_groups})
        still_open = [r for r in open_rows.values() if r.state == TASK_READY] + step.new_tasks
        self._open_after_step[instance.id] = sorted(still_open, key=lambda r: r.created_at)

    def _new_human_task(self, instance: Instance, task) -> HumanTask:
        spec = task.task_spec
        ext = getattr(spec, "extensions", None) or {}
        now = self.clock()
        due_at = None
        if ext.get(TIME_BUDGET):
            due_at = self._budget_due(ext[TIME_BUDGET], now)
        elif ext.get(EXT_DUE_DATE):
            due_at = self._due(ext[EXT_DUE_DATE], now, task.data)
        return HumanTask(
            id=str(task.id),
            instance_id=instance.id,
            process_id=instance.process_id,
            element_id=public_id(spec.bpmn_id),
            name=spec.bpmn_name or spec.bpmn_id,
            lane=spec.lane,
            department=self.department_for(spec.lane),
            candidate_groups=_split(ext.get(EXT_CANDIDATE_GROUPS), task.data),
            candidate_users=_split(ext.get(EXT_CANDIDATE_USERS), task.data),
            assignee=_resolve_ref(ext.get(EXT_ASSIGNEE), task.data),
            state=TASK_READY,
            form=[f.to_dict() for f in forms.fields_from_spec(spec)],
            created_at=now,
            due_at=due_at,
        )

    def department_for(self, lane: str | None) -> str | None:
        """The department a lane stands for: an explicit mapping, else a department of that code or name."""
        if lane not in self._departments:
            code = None
            if lane:
                code = self.session.scalar(select(LaneMapping.department_code).where(LaneMapping.lane == lane))
                if code is None:
                    code = self.session.scalar(
                        select(Department.code).where(
                            or_(Department.code == lane, Department.name_vi == lane, Department.name_en == lane)
                        )
                    )
            self._departments[lane] = code
        return self._departments[lane]

    def _budget_due(self, budget: str, start: datetime) -> datetime | None:
        try:
            return deadlines.budget_deadline(budget, start)
        except ValueError:
            return None  # reported at deploy time; a bad budget must not block the dossier

    def _due(self, value: str, start: datetime, data: dict) -> datetime | None:
        text = value.strip()
        if not is_iso_literal(text) and not _VARIABLE_REF.match(text):
            try:
                text = str(self.script_engine.environment.evaluate(text, dict(data)))
            except Exception:  # noqa: BLE001 - a bad due date must not block the dossier
                return None
        ref = _VARIABLE_REF.match(text)
        if ref:
            text = str(data.get(ref.group(1), ""))
        try:
            return self.due_resolver(text, start, data)
        except Exception:  # noqa: BLE001
            return None

    def _sync_waits(self, instance: Instance, workflow: BpmnWorkflow, no_rows: bool = False) -> list[str]:
        """Write what the instance waits for; returns the names of messages it newly waits for.

        ``no_rows``: the caller knows the instance has no wait rows (new, or its stored state waited
        for nothing), so they are not SELECTed."""
        wanted: dict[tuple, Wait] = {}
        if instance.status in (WAITING, RUNNING):
            for task in list(workflow.event_manager.tasks.values()):
                if task.state != TaskState.WAITING or not isinstance(task.task_spec, CatchingEvent):
                    continue
                definition = task.task_spec.event_definition
                if isinstance(definition, TimerEventDefinition):
                    due = _timer_due(task)
                    if due is not None:
                        wanted[(str(task.id), "timer")] = Wait(
                            instance_id=instance.id, task_id=str(task.id),
                            element_id=public_id(task.task_spec.bpmn_id), kind="timer", due_at=due,
                        )
                elif isinstance(definition, MotcuaMessageEventDefinition):
                    wanted[(str(task.id), "message")] = Wait(
                        instance_id=instance.id, task_id=str(task.id),
                        element_id=public_id(task.task_spec.bpmn_id), kind="message", name=definition.name,
                    )
        if no_rows and not wanted:
            return []
        existing = [] if no_rows else list(self.session.scalars(select(Wait).where(Wait.instance_id == instance.id)))
        for row in existing:
            key = (row.task_id, row.kind)
            fresh = wanted.pop(key, None)
            if fresh is None:
                self.session.delete(row)
            elif row.due_at != fresh.due_at:
                row.due_at = fresh.due_at
        for row in wanted.values():
            self.session.add(row)
        return [row.name for row in wanted.values() if row.kind == "message"]

    def _clear_waits(self, instance_id: str, kind: str) -> None:
        for row in self.session.scalars(select(Wait).where(Wait.instance_id == instance_id, Wait.kind == kind)):
            self.session.delete(row)

    def _touch(self, instance: Instance) -> None:
        instance.updated_at = self.clock()

    def _log(self, instance: Instance, kind: str, **fields) -> None:
        self.session.add(EventLogEntry(instance_id=instance.id, at=self.clock(), kind=kind, **fields))

    def _flush(self) -> None:
        try:
            self.session.flush()
        except StaleDataError:
            raise Conflict("the instance was changed by someone else at the same time; reload and try again") from None


class _Step:
    """Collects the event-log entries of one persisted step."""

    def __init__(self, runtime: Runtime, instance: Instance, actor: Actor | None):
        self.runtime = runtime
        self.instance = instance
        self.actor = actor.username if actor else None
        self.entries: list[EventLogEntry] = []
        self.error: Exception | None = None
        self.previous_lane: str | None = None
        self.completed: list[tuple[EventLogEntry, object]] = []  # (entry, task spec) of completed elements
        self.new_tasks: list[HumanTask] = []
        self.new_message_waits: list[str] = []  # names of messages the instance started waiting for
        # what the database is known to hold before the step (None: SELECT it), see complete_task
        self.known_open: dict[str, HumanTask] | None = None
        self.no_wait_rows = False

    def log(self, kind: str, task=None, **fields) -> None:
        spec = task.task_spec if task is not None else None
        values = {
            "element_id": public_id(getattr(spec, "bpmn_id", None)) if spec is not None else None,
            "element_name": getattr(spec, "bpmn_name", None) if spec is not None else None,
            "element_type": type(spec).__name__ if spec is not None else None,
            "task_id": str(task.id) if task is not None else None,
            "actor": self.actor,
        }
        values.update(fields)
        entry = EventLogEntry(instance_id=self.instance.id, at=self.runtime.clock(), kind=kind, **values)
        self.entries.append(entry)
        if spec is not None and kind in _COMPLETION_KINDS:
            self.completed.append((entry, spec))

    def log_instance(self, kind: str, detail: dict | None = None) -> None:
        self.log(kind, None, detail=detail)

    def engine_task_done(self, task) -> None:
        spec = task.task_spec
        if getattr(spec, "bpmn_id", None) is None or isinstance(spec, _INTERNAL_SPECS):
            return
        definition = getattr(spec, "event_definition", None)
        if isinstance(definition, TimerEventDefinition):
            kind = "timer_fired"
        elif isinstance(spec, CatchingEvent) and isinstance(definition, MotcuaMessageEventDefinition):
            kind = "message_caught"
        else:
            kind = "step_completed"
        self.log(kind, task, actor=None, from_lane=spec.lane)
        if spec.lane:
            self.previous_lane = spec.lane

    def log_error(self, exc: Exception) -> None:
        task = getattr(exc, "task", None)
        self.log("error", task, detail=_error_detail(exc))


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
        return True
    except ValueError:
        return False


def _has_waiting_events(workflow: BpmnWorkflow) -> bool:
    """Whether a catching event (timer, message) waits: only then can the instance have wait rows."""
    return any(task.state == TaskState.WAITING and isinstance(task.task_spec, CatchingEvent)
               for task in list(workflow.event_manager.tasks.values()))


def _frontier(workflow: BpmnWorkflow) -> list:
    mask = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
    return workflow.get_tasks(state=mask)


def _current_data(workflow: BpmnWorkflow) -> dict:
    tasks = _frontier(workflow)
    if not tasks:
        last = workflow.last_task
        return dict(last.data) if last is not None else {}
    merged: dict = {}
    for task in tasks:
        merged.update(task.data)
    return merged


def _is_waiting(workflow: BpmnWorkflow) -> bool:
    return bool(workflow.get_tasks(state=TaskState.READY, manual=True)) or bool(
        workflow.get_tasks(state=TaskState.WAITING)
    )


def _timer_due(task) -> datetime | None:
    details = task.task_spec.event_definition.details(task)
    value = details.value
    if isinstance(value, dict):
        value = value.get("next")
    if not value:
        return None
    try:
        return TimerEventDefinition.get_datetime(value) if isinstance(value, str) else value
    except ValueError:
        return None


def _split(value: str | None, data: dict) -> list[str]:
    if not value:
        return []
    ref = _VARIABLE_REF.match(value)
    if ref:
        resolved = data.get(ref.group(1))
        if isinstance(resolved, list | tuple):
            return [str(v) for v in resolved]
        value = str(resolved or "")
    return [part.strip() for part in value.split(",") if part.strip()]


def _resolve_ref(value: str | None, data: dict) -> str | None:
    if not value:
        return None
    ref = _VARIABLE_REF.match(value)
    if ref:
        resolved = data.get(ref.group(1))
        return str(resolved) if resolved else None
    return value


def _error_detail(exc: Exception) -> dict:
    task = getattr(exc, "task", None)
    spec = task.task_spec if task is not None else None
    return {
        "message": str(exc.args[0]) if exc.args else exc.__class__.__name__,
        "type": exc.__class__.__name__,
        "element_id": public_id(getattr(spec, "bpmn_id", None)) if spec is not None else None,
        "element_name": getattr(spec, "bpmn_name", None) if spec is not None else None,
        "line": getattr(exc, "line_number", None) or None,
        "notes": list(getattr(exc, "__notes__", []) or []),
    }


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_json_safe(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return str(value)
