"""Message events with a payload that integrators can send as plain JSON.

The Camunda flavour expects payloads wrapped as ``{"payload", "result_var"}``
and raises a KeyError deep in the engine otherwise. Ours takes the payload as
sent: with ``camunda:resultVariable`` on the catching element the payload is
stored under that name, otherwise a dict payload's keys become process
variables (what Camunda's message correlation does with process variables).
"""

from __future__ import annotations

from copy import deepcopy

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.event_definitions.base import EventDefinition
from SpiffWorkflow.camunda.serializer.event_definition import MessageEventDefinitionConverter
from SpiffWorkflow.camunda.specs.event_definitions import MessageEventDefinition


class MotcuaMessageEventDefinition(MessageEventDefinition):
    def throw(self, my_task):
        if self.expression:
            payload = my_task.workflow.script_engine.evaluate(my_task, self.expression)
        else:
            payload = deepcopy(my_task.data)
        correlations = self.get_correlations(my_task, payload if isinstance(payload, dict) else {})
        my_task.workflow.correlations.update(correlations)
        my_task.workflow.top_workflow.catch(BpmnEvent(self, payload=payload, correlations=correlations))

    def catch(self, my_task, event=None):
        self.update_internal_data(my_task, event)
        if event is not None and isinstance(event.payload, dict):
            my_task.workflow.correlations.update(self.get_correlations(my_task, event.payload))
        # the parent classes' catch would re-read the payload in the wrapped form
        EventDefinition.catch(self, my_task, event)

    def get_correlations(self, my_task, payload):
        try:
            return super().get_correlations(my_task, payload)
        except Exception:  # noqa: BLE001 - a payload without the keys simply does not correlate
            return {}

    def update_internal_data(self, my_task, event):
        my_task.internal_data[self.name] = {"payload": event.payload if event is not None else None}

    def update_task_data(self, my_task):
        stored = my_task.internal_data.get(self.name)
        if stored is None:
            return
        payload = stored.get("payload")
        if self.result_var:
            my_task.data[self.result_var] = payload
        elif isinstance(payload, dict):
            my_task.data.update(payload)
        elif payload is not None:
            my_task.data[f"{my_task.task_spec.bpmn_id}_Response"] = payload

    def reset(self, my_task):
        my_task.internal_data.pop(self.name, None)
        super().reset(my_task)


class MotcuaMessageEventDefinitionConverter(MessageEventDefinitionConverter):
    pass


# ------------------------------------------------------------------ buffered messages
# How long a message nobody waits for yet is kept (MESSAGE_BUFFER_SECONDS; 0 turns buffering off).
BUFFER_SECONDS = 24 * 3600


def buffer_message(session, name: str, *, business_key: str | None, correlation: dict | None, payload,
                   sent_by: str | None, now):
    """Keep a message that arrived early; the runtime hands it over when an instance starts waiting."""
    from datetime import timedelta

    from engine.models import BufferedMessage

    row = BufferedMessage(name=name, business_key=business_key, correlation=correlation or None, payload=payload,
                          sent_by=sent_by, created_at=now, expires_at=now + timedelta(seconds=BUFFER_SECONDS))
    session.add(row)
    session.flush()
    return row


def find_buffered(session, name: str, business_key: str | None, data: dict, now):
    """The oldest unexpired buffered message for an instance now waiting for ``name``, or None.

    The caller deletes it once the instance has taken it: a delivery that fails keeps it buffered."""
    from sqlalchemy import or_, select

    from engine.models import BufferedMessage

    query = (select(BufferedMessage)
             .where(BufferedMessage.name == name, BufferedMessage.expires_at > now)
             .where(or_(BufferedMessage.business_key.is_(None), BufferedMessage.business_key == business_key))
             .order_by(BufferedMessage.id))
    for row in session.scalars(query):
        if row.business_key is None and not row.correlation:
            continue  # a message must say which instance it is for
        if all((data or {}).get(k) == v for k, v in (row.correlation or {}).items()):
            return row
    return None


def purge_expired(session, now) -> int:
    """Drop buffered messages whose time ran out; returns how many."""
    from sqlalchemy import delete

    from engine.models import BufferedMessage

    result = session.execute(delete(BufferedMessage).where(BufferedMessage.expires_at <= now))
    return result.rowcount or 0


def known_message(session, name: str) -> bool:
    """Some deployed BPMN file declares this message (so a typo is a 404, not a message kept for a day)."""
    from sqlalchemy import or_, select

    from engine.models import DeploymentFile

    quoted = [f'name="{name}"', f"name='{name}'"]
    return session.scalar(select(DeploymentFile.id).where(
        DeploymentFile.kind == "bpmn", or_(*(DeploymentFile.content.contains(q, autoescape=True) for q in quoted))
    ).limit(1)) is not None
