"""The background worker: fires due timers in batches, each instance in a SAVEPOINT of its batch.

Several workers may run against PostgreSQL: each claims a batch of due
instances with one ``FOR UPDATE SKIP LOCKED LIMIT n`` so no timer fires twice;
the instance's version check is the second line of defence. On SQLite one
worker is expected.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from engine.db import utcnow
from engine.errors import Conflict, EngineError
from engine.models import RUNNING, WAITING, Instance, Wait
from engine.runtime import Runtime

log = logging.getLogger("motcua.worker")
BATCH = 100  # instances per pass
# SQLite's write lock covers the whole database: hold it for a small batch at a time, claimed and fired in
# one transaction (a claim list that outlives its transaction lets another worker claim the same rows)
SQLITE_BATCH = 10


def claim_due(session: Session, now: datetime, limit: int, exclude: Collection[str] = ()) -> list[str]:
    """Lock up to ``limit`` instances with a due timer (none of ``exclude``), in one statement.

    On PostgreSQL ``FOR UPDATE SKIP LOCKED``: two workers take disjoint batches instead of walking
    the same list and skipping each other's rows one by one. The locks hold until the batch commits,
    so no other worker can fire these timers meanwhile. (SQLite: BEGIN IMMEDIATE locks the file.)"""
    due = select(Wait.instance_id).where(Wait.kind == "timer", Wait.due_at <= now)
    query = (
        select(Instance.id)
        .where(Instance.id.in_(due), Instance.status.in_((WAITING, RUNNING)), Instance.id.not_in(exclude))
        .order_by(Instance.updated_at)
        .limit(limit)
    )
    if session.bind.dialect.name != "postgresql":
        return list(session.scalars(query))
    locked = list(session.scalars(query.with_for_update(skip_locked=True)))
    if not locked:
        return locked
    # The IN subquery saw the waits as they were when the statement began: a row another worker was
    # firing then (and has since committed) is locked here with its timer already gone. Under the lock,
    # one fresh statement says which still have a due timer; the others are left alone.
    still_due = set(session.scalars(due.where(Wait.instance_id.in_(locked))))
    return [instance_id for instance_id in locked if instance_id in still_due]


def fire_due_timers(sessions: sessionmaker, now: datetime | None = None, limit: int = 100,
                    clock: Callable[[], datetime] = utcnow) -> int:
    """Fire every due timer found now (up to ``limit`` instances); returns how many instances moved.

    One transaction per batch with one Runtime; each instance runs in a SAVEPOINT, so a failing
    timer rolls back its own step only and the others are committed with the batch. The claim stays
    inside the transaction that fires: on SQLite the batches are small so the write lock is let go
    often, but never between claiming an instance and firing it."""
    now = now or clock()
    fired = 0
    remaining = limit
    tried: set[str] = set()  # a timer that failed keeps its due time: not again in this pass
    while remaining > 0:
        with sessions() as session:
            batch = min(remaining, SQLITE_BATCH) if session.bind.dialect.name == "sqlite" else remaining
            ids = claim_due(session, now, batch, exclude=tried)
            tried.update(ids)
            runtime = Runtime(session, clock=clock)
            for instance_id in ids:
                savepoint = session.begin_nested()
                try:
                    if runtime.fire_timers(instance_id) is not None:
                        fired += 1
                    savepoint.commit()
                except (Conflict, StaleDataError):
                    savepoint.rollback()  # someone else moved it first; it will be looked at again
                except EngineError as exc:
                    savepoint.rollback()
                    log.warning("timer for instance %s: %s", instance_id, exc.message)
                except Exception:
                    savepoint.rollback()
                    log.exception("timer for instance %s failed", instance_id)
            session.commit()
        remaining -= len(ids)
        if len(ids) < batch:
            break
    return fired


def run_worker(sessions: sessionmaker, poll_seconds: float = 1.0, stop: threading.Event | None = None,
               periodic: list[tuple[float, Callable[[sessionmaker], object]]] | None = None) -> None:
    """Loop until SIGTERM/SIGINT (or ``stop`` is set).

    ``periodic`` holds (interval seconds, job) pairs run beside the timers, e.g. the
    dossiers' deadline checks; a failing job is logged and retried next time.
    """
    last_run: dict[int, float] = {}
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    log.info("worker started (poll every %.1f s)", poll_seconds)
    while not stop.is_set():
        started = time.monotonic()
        count = 0
        try:
            count = fire_due_timers(sessions, limit=BATCH)
            if count:
                log.info("fired timers of %d instance(s)", count)
        except Exception:
            log.exception("worker cycle failed; retrying")  # e.g. database restarting
        for index, (interval, job) in enumerate(periodic or []):
            if time.monotonic() - last_run.get(index, float("-inf")) >= interval:
                last_run[index] = time.monotonic()
                try:
                    job(sessions)
                except Exception:
                    log.exception("periodic job %s failed; retrying later", getattr(job, "__name__", job))
        if count < BATCH:  # a full batch means more are due: go on at once
            stop.wait(max(0.0, poll_seconds - (time.monotonic() - started)))
    log.info("worker stopped")
