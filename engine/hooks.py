"""Listeners called inside every persisted step (same transaction), so other
concerns (dossiers, notifications) react to what the diagram did without the
engine knowing about them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# listener(session, instance, step) — step has .entries (event-log rows of this step),
# .completed ([(entry, task_spec)] for elements completed in it) and .new_tasks (HumanTask rows)
StepListener = Callable[[Any, Any, Any], None]
_listeners: list[StepListener] = []


def add_step_listener(listener: StepListener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def step_listeners() -> tuple[StepListener, ...]:
    return tuple(_listeners)
