"""What the write- and read-path tests share: a statement counter on the app's engine, the bench flows."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event

from engine.actors import Actor
from engine.runtime import Runtime

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bpmn"
CLERK = Actor("tiepnhan", frozenset({"clerk"}), frozenset({"MOTCUA"}))


class StatementCounter:
    """The SQL statements the engine sends from the last reset (each as its first six words)."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.statements: list[str] = []
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, _conn, _cursor, statement, *_args) -> None:
        self.statements.append(" ".join(statement.split()[:6]))

    def reset(self) -> None:
        self.statements.clear()

    @property
    def n(self) -> int:
        return len(self.statements)

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)


@pytest.fixture
def counter(app):
    c = StatementCounter(app.extensions["motcua.engine"])
    yield c
    c.close()


def complete_next(sessions, instance_id: str, data: dict) -> None:
    """Complete the instance's only open task as the desk clerk, in a transaction of its own."""
    with sessions() as s:
        runtime = Runtime(s)
        [task] = runtime.open_tasks(instance_id)
        runtime.complete_task(task.id, data, CLERK)
        s.commit()
