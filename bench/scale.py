#!/usr/bin/env python3
"""Scale: a year of a large province in PostgreSQL, then the reads people click on.

    .venv/bin/python bench/scale.py [--dossiers 1000000] [--open-tasks 100000] [--reuse] [--database-url URL]

**Fill** (skipped with ``--reuse`` when the database already holds a fill of that size): the library in
``bpmn/`` is deployed and the demo people created; then, with ``COPY`` in batches and a progress bar,
``--dossiers`` dossiers over the last 365 days: 300 procedures (the six of the library and 294 more
spread over the 13 demo departments, sized like a province's catalogue: a few procedures take most
dossiers), ~63 % online and ~7 % by post, ~10 % with a supplement request, ~2 % refused, ~1 % withdrawn,
~3.5 % late (a third of them with an apology letter), fees paid mostly online, ~88 % electronic results,
ratings for ~60 % of returned dossiers, each with its process instance, three completed human tasks and
four event-log rows. ``--open-tasks`` of them are still open, each with one ready task waiting in a
department (a quarter at the one-stop desk MOTCUA: the busy department). Open dossiers are for reading
(they carry no serialized process state); the lifecycle benchmark measures writing.
After the COPY the inbox's ``task_candidates`` and the 766 summary ``indicator_days`` are built with the
migration's rebuild functions (the COPY bypasses the listeners that keep them).

**Measure** (in process, Flask test client or service function on the real database; each figure is
the p50/p95 of ``--repeat`` runs): the inbox's first page for the desk clerk ``tiepnhan`` (MOTCUA), the
tracking-code search, the dossier page, the 766 dashboard figures for the last month and the last year,
for the whole province and for one department. Prints a table against the targets and a JSON summary.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from common import (
    DEFAULT_URL,
    PASSWORD,
    ROOT,
    ensure_database,
    pcts,
    print_machine,
    progress,
    reset_database,
    seed_people,
    sessions_for,
    summary,
    table,
)

BATCH = 20_000
PROCEDURES = 300
DEPARTMENTS = ["SXD", "STNMT", "SKHDT", "SGTVT", "CUCTHUE", "TUPHAP_HOTICH", "MOTCUA_PHUONG"]
BUSY = "MOTCUA"
TARGETS = {"inbox page": 20, "tracking-code search": 5, "dossier page": 50, "dashboard month": 300,
           "dashboard year": 1000}


# ------------------------------------------------------------------ fill
class Copier:
    """Rows buffered per table and written with COPY (text format)."""

    def __init__(self, raw_connection):
        self.conn = raw_connection
        self.rows: dict[str, list[str]] = defaultdict(list)
        self.columns: dict[str, tuple[str, ...]] = {}

    def add(self, table_name: str, columns: tuple[str, ...], values: tuple) -> None:
        self.columns[table_name] = columns
        self.rows[table_name].append("\t".join(_copy_value(v) for v in values))

    def flush(self) -> None:
        order = ("instances", "dossiers", "human_tasks", "event_log", "ratings", "apologies")
        with self.conn.cursor() as cur:
            for name in order:
                rows = self.rows.pop(name, None)
                if not rows:
                    continue
                with cur.copy(f"COPY {name} ({', '.join(self.columns[name])}) FROM STDIN") as copy:
                    buffer = io.StringIO("\n".join(rows) + "\n")
                    copy.write(buffer.getvalue())
        self.conn.commit()


def _copy_value(value) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


INSTANCE_COLS = ("id", "process_id", "version_id", "business_key", "status", "lock_version", "data", "started_by",
                 "created_at", "updated_at", "finished_at")
DOSSIER_COLS = ("id", "code", "procedure_code", "procedure_name", "process_id", "agency_code", "desk",
                "responsible_department", "current_department", "applicant_kind", "applicant_name",
                "applicant_id_number", "channel", "status_code", "status_changed_at", "submitted_at", "received_at",
                "processing_time", "processing_unit", "appointment_at", "original_appointment_at", "paused_hours",
                "supplement_count", "fee_amount", "fee_state", "paid_at", "payment_channel", "attachments",
                "result_channel", "e_result", "finished_at", "returned_at", "late", "data")
TASK_COLS = ("id", "instance_id", "process_id", "element_id", "name", "lane", "department", "candidate_groups",
             "candidate_users", "assignee", "state", "form", "created_at", "due_at", "completed_at", "completed_by")
EVENT_COLS = ("instance_id", "at", "kind", "element_id", "element_name", "actor", "from_lane", "to_lane", "detail")
RATING_COLS = ("dossier_id", "score", "comment", "complaint", "created_at")
APOLOGY_COLS = ("dossier_id", "state", "department", "reason", "previous_appointment_at", "new_appointment_at",
                "drafted_at", "issued_at", "issued_by")
FAMILY = ["Nguyễn", "Nguyễn", "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi"]
MIDDLE = ["Văn", "Thị", "Hữu", "Minh", "Ngọc", "Thanh", "Quốc", "Thu", "Gia", "Kim", "Đức"]
GIVEN = ["An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hoa", "Hùng", "Hương", "Lan", "Linh", "Long",
         "Mai", "Minh", "Nam", "Ngọc", "Phong", "Phúc", "Quân", "Sơn", "Tâm", "Thảo", "Trang", "Trung", "Tuấn", "Vy"]


def catalogue(session) -> list[dict]:
    """The library's procedures plus synthetic ones up to PROCEDURES, with Zipf-like volumes."""
    from sqlalchemy import select

    from dossiers.procedures import all_procedures
    from engine.models import ProcessVersion

    library = all_procedures(session)
    versions = {pv.process_id: pv.id for pv in session.scalars(select(ProcessVersion))}
    out = []
    for p in library:
        out.append({"code": p.code, "name": p.name_vi, "process_id": p.process_id, "version_id": versions[p.process_id],
                    "agency": p.agency_code, "desk": p.desk, "department": p.department,
                    "time": p.processing_time, "unit": p.processing_unit, "fee": p.fee, "online": p.online})
    rng = random.Random(7)
    for n in range(len(out), PROCEDURES):
        base = out[n % len(library)]
        department = DEPARTMENTS[n % len(DEPARTMENTS)]
        out.append({**base, "code": f"2.{n:06d}", "name": f"Thủ tục hành chính số {n} ({department})",
                    "department": department, "desk": "MOTCUA_PHUONG" if department.endswith("PHUONG") else "MOTCUA",
                    "agency": f"H15.{10 + n % 17}", "time": rng.choice((3, 5, 7, 10, 15, 20)), "unit": "working_days",
                    "fee": rng.choice((0, 0, 50000, 100000, 135000, 500000)), "online": rng.random() < 0.8})
    weights = [1 / (i + 1) ** 0.9 for i in range(len(out))]
    return [{**p, "weight": w} for p, w in zip(out, weights, strict=True)]


def fill(url: str, dossiers: int, open_tasks: int, seed: int = 1) -> None:
    from engine.deployments import deploy

    reset_database(url)
    engine, sessions = sessions_for(url)
    seed_people(sessions, files=[])
    library = sorted((ROOT / "bpmn").rglob("*.bpmn")) + sorted((ROOT / "bpmn").rglob("*.dmn"))
    with sessions() as s:
        deploy(s, [(p.name, p.read_bytes()) for p in library], "bench scale")
        s.commit()
        procedures = catalogue(s)
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=365)
    sequences: dict[tuple[str, str], int] = defaultdict(int)
    open_every = dossiers / max(open_tasks, 1)
    weights = [p["weight"] for p in procedures]
    raw = engine.raw_connection()
    copier = Copier(raw.driver_connection)
    open_left = open_tasks
    # received moments sorted over the year (codes then follow the day's order)
    for n in range(dossiers):
        is_open = open_left > 0 and (n + 1) >= (open_tasks - open_left + 1) * open_every
        p = rng.choices(procedures, weights=weights)[0]
        if is_open:
            open_left -= 1
            submitted = now - timedelta(hours=rng.uniform(1, 24 * 20))
        else:
            submitted = start + timedelta(seconds=rng.uniform(0, 340 * 86400))
        _dossier(copier, rng, p, submitted, now, is_open, sequences)
        if (n + 1) % BATCH == 0:
            copier.flush()
            progress(n + 1, dossiers, "dossiers written")
    copier.flush()
    progress(dossiers, dossiers, "dossiers written")
    with raw.driver_connection.cursor() as cur:
        cur.executemany("INSERT INTO tracking_sequences (agency_code, day, last) VALUES (%s, %s, %s) "
                        "ON CONFLICT DO NOTHING", [(a, d, v) for (a, d), v in sequences.items()])
        cur.execute("CREATE TABLE IF NOT EXISTS bench_fill (dossiers integer, open_tasks integer)")
        cur.execute("DELETE FROM bench_fill")
        cur.execute("INSERT INTO bench_fill VALUES (%s, %s)", (dossiers, open_tasks))
    raw.driver_connection.commit()
    raw.close()
    engine.dispose()
    read_side(url)


def read_side(url: str) -> None:
    """What the COPY skipped past the ORM's flush listeners, built as the migration's backfill builds it: the
    inbox's task_candidates and the 766 daily summary (so the reads are measured against the real tables). On a
    fill made before migration 0008 had content, the migration's tables and indexes are created first."""
    import importlib.util

    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    from sqlalchemy import text

    from dossiers.indicators import rebuild_summary
    from engine.access import rebuild_task_candidates

    engine, sessions = sessions_for(url)
    t0 = time.monotonic()
    with engine.begin() as conn:
        if conn.execute(text("SELECT to_regclass('task_candidates')")).scalar() is None:
            spec = importlib.util.spec_from_file_location(
                "m0008", ROOT / "migrations" / "versions" / "0008_performance.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            with Operations.context(MigrationContext.configure(conn)):
                module.upgrade()  # creates, indexes and backfills
            print(f"migration 0008 applied to the existing fill in {time.monotonic() - t0:.1f} s", flush=True)
    with sessions() as s:
        if not s.scalar(text("SELECT EXISTS (SELECT 1 FROM indicator_days)")):
            t1 = time.monotonic()
            candidates = rebuild_task_candidates(s.connection())
            days = rebuild_summary(s)
            s.commit()
            print(f"task_candidates: {candidates} rows; indicator_days: {days} rows ({time.monotonic() - t1:.1f} s)",
                  flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


def _dossier(copier: Copier, rng: random.Random, p: dict, submitted: datetime, now: datetime, is_open: bool,
             sequences: dict) -> None:
    did = str(uuid.uuid4())
    day = (submitted + timedelta(hours=7)).strftime("%y%m%d")
    sequences[(p["agency"], day)] += 1
    code = f"{p['agency']}-{day}-{sequences[(p['agency'], day)]:04d}"
    channel = "online" if p["online"] and rng.random() < 0.63 else ("postal" if rng.random() < 0.19 else "in_person")
    days = p["time"] if p["unit"] == "working_days" else 20
    received = submitted + timedelta(hours=rng.uniform(0.5, 20))
    appointment = received + timedelta(days=days * 1.4)
    supplement = rng.random() < 0.10
    paused_hours = rng.uniform(4, 40) if supplement else 0.0
    outcome = rng.random()
    department = p["department"]
    status, finished, returned, late, paid_at = 4, None, None, False, None
    if is_open:
        received = min(received, now - timedelta(minutes=30))
        status = 5 if supplement and rng.random() < 0.3 else 4
    elif outcome < 0.02:
        status, finished = 3, submitted + timedelta(hours=rng.uniform(1, 8))
        received = appointment = None
    elif outcome < 0.03:
        status, finished = 7, received + timedelta(days=rng.uniform(1, days))
    else:
        late = rng.random() < 0.035
        span = days * 1.4 * (rng.uniform(1.02, 1.6) if late else rng.uniform(0.3, 0.95))
        finished = received + timedelta(days=span)
        returned = finished + timedelta(hours=rng.uniform(2, 72))
        status = 10 if returned < now else 9
        returned = returned if status == 10 else None
    fee_state = "none"
    payment_channel = None
    if p["fee"] and status not in (3,):
        fee_state = "paid" if not is_open or rng.random() < 0.5 else "due"
        if fee_state == "paid":
            paid_at = (received or submitted) + timedelta(hours=rng.uniform(1, 48))
            payment_channel = "online" if rng.random() < (0.89 if channel == "online" else 0.22) else "counter"
    e_result = status in (9, 10) and rng.random() < 0.88
    name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
    current = department if is_open else p["desk"]
    if is_open and rng.random() < 0.25:
        current = "MOTCUA"
    iid = did
    copier.add("instances", INSTANCE_COLS, (
        iid, p["process_id"], p["version_id"], code, "waiting" if is_open else "completed", 3, {}, "bench-scale",
        submitted, finished or submitted, finished))
    copier.add("dossiers", DOSSIER_COLS, (
        did, code, p["code"], p["name"], p["process_id"], p["agency"], p["desk"], department, current, "person", name,
        f"0{rng.randint(10**10, 10**11 - 1)}", channel, status, finished or received or submitted, submitted, received,
        float(p["time"]), p["unit"], appointment, appointment, paused_hours, int(supplement), p["fee"], fee_state,
        paid_at, payment_channel, [{"name": "to_khai.pdf"}] if rng.random() < 0.92 else [],
        ("electronic" if e_result else "counter") if returned else None, e_result, finished, returned, late, {}))
    steps = [("receive_dossier", "Tiếp nhận hồ sơ", p["desk"]), ("review", "Thẩm định hồ sơ", department),
             ("approve", "Phê duyệt", department)]
    t = submitted
    for index, (element, step_name, dept) in enumerate(steps):
        done_at = t + timedelta(hours=rng.uniform(1, 30))
        ready = is_open and index == len(steps) - 1
        if ready:
            dept = current
        copier.add("human_tasks", TASK_COLS, (
            str(uuid.uuid4()), iid, p["process_id"], element, step_name, None, dept, [dept], [], None,
            "ready" if ready else "completed", [], t, t + timedelta(days=2), None if ready else done_at,
            None if ready else "bench-scale"))
        t = done_at
    for kind, at in (("instance_started", submitted), ("task_completed", submitted + timedelta(hours=1)),
                     ("dossier_status", received or submitted), ("task_completed", finished or t)):
        copier.add("event_log", EVENT_COLS, (iid, at, kind, "receive_dossier" if kind == "task_completed" else None,
                                             None, "bench-scale", None, None, {"to": status}))
    if status == 10 and rng.random() < 0.6:
        score = rng.choices((5, 4, 3, 2, 1), weights=(60, 28, 8, 3, 1))[0]
        copier.add("ratings", RATING_COLS, (did, score, None, score == 1 and rng.random() < 0.5, returned))
    if late and rng.random() < 0.33:
        copier.add("apologies", APOLOGY_COLS, (did, "issued", department, "Hồ sơ phức tạp, cần thêm thời gian",
                                               appointment, appointment + timedelta(days=5), appointment,
                                               appointment, "lanhdao"))


def filled(url: str) -> tuple[int, int] | None:
    from sqlalchemy import text

    from engine.db import make_engine

    ensure_database(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if conn.execute(text("SELECT to_regclass('bench_fill')")).scalar() is None:
                return None
            row = conn.execute(text("SELECT dossiers, open_tasks FROM bench_fill")).first()
            return (row[0], row[1]) if row else None
    finally:
        engine.dispose()


# ------------------------------------------------------------------ measure
def timed(fn, repeat: int) -> dict:
    fn()  # warm: caches, plans
    values = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        values.append((time.perf_counter() - t0) * 1000)
    return pcts(values)


def measure(url: str, repeat: int) -> dict[str, dict]:
    from sqlalchemy import func, select

    os.environ.pop("DATABASE_URL", None)
    from dossiers import indicators
    from dossiers.inbox import inbox_page
    from dossiers.models import Dossier
    from engine.actors import Actor
    from engine.calendar import VN_TZ
    from server import create_app

    app = create_app({"DATABASE_URL": url, "INSTANCE_DIR": tempfile.mkdtemp(prefix="motcua-bench-scale-"),
                      "RATELIMIT_ENABLED": False})
    sessions = app.extensions["motcua.sessions"]
    clerk = Actor("tiepnhan", frozenset({"clerk"}), frozenset({"MOTCUA"}))
    rng = random.Random(3)
    with sessions() as s:
        total = s.scalar(select(func.count()).select_from(Dossier))
        codes = list(s.scalars(select(Dossier.code).where(Dossier.current_department == BUSY).limit(2000)))
        any_codes = list(s.scalars(select(Dossier.code).offset(rng.randint(0, max(0, total - 2000))).limit(2000)))
    today = datetime.now(VN_TZ).date()
    month, year = (today - timedelta(days=30), today), (today - timedelta(days=365), today)
    results: dict[str, dict] = {}

    def client_for(username: str):
        """Signed in through the real sign-in form (as the UI tests do)."""
        from tests.ui.helpers import post_login

        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.99.0.{len(username)}"
        assert post_login(client, username, PASSWORD).status_code == 302, f"{username} cannot sign in"
        return client

    clerk_client = client_for("tiepnhan")
    leader_client = client_for("lanhdaotrungtam")

    def page(client, path: str):
        def run():
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code, response.get_data(as_text=True)[:300])
        return run

    def inbox_query():
        with sessions() as s:
            result = inbox_page(s, clerk, "department")
            assert result.rows, "the busy department's inbox is empty"

    def search():
        with sessions() as s:
            code = rng.choice(any_codes)
            assert s.scalar(select(Dossier.id).where(Dossier.code == code)) is not None

    def dashboard(period: tuple[date, date], department: str | None):
        def run():
            with sessions() as s:
                indicators.overview(s, *period, department)
        return run

    def dossier_page():
        page(clerk_client, f"/dossiers/{rng.choice(codes)}")()

    plan = [
        ("inbox page", "inbox query (MOTCUA, first page + counts)", inbox_query),
        ("inbox page", "GET /inbox (page, MOTCUA clerk)", page(clerk_client, "/inbox")),
        ("tracking-code search", "dossier by tracking code (SQL)", search),
        ("tracking-code search", "GET /dossiers?q=<code> (search page)",
         lambda: page(clerk_client, f"/dossiers?q={rng.choice(codes)}")()),
        ("dossier page", "GET /dossiers/<code> (MOTCUA clerk)", dossier_page),
        ("dashboard month", "766 figures, month, province", dashboard(month, None)),
        ("dashboard month", "766 figures, month, SXD", dashboard(month, "SXD")),
        ("dashboard month", "GET /dashboard (month, center leader)",
         page(leader_client, f"/dashboard?from={month[0].isoformat()}&to={month[1].isoformat()}")),
        ("dashboard year", "766 figures, year, province", dashboard(year, None)),
        ("dashboard year", "766 figures, year, SXD", dashboard(year, "SXD")),
    ]
    for target, label, fn in plan:
        slow = target.startswith("dashboard")
        results[label] = {"target": target, "target_ms": TARGETS[target], **timed(fn, max(3, repeat // 5) if slow
                                                                                   else repeat)}
        print(f"  {label}: p95 {results[label]['p95']:.1f} ms", flush=True)
    app.extensions["motcua.engine"].dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="scale benchmark (PostgreSQL)")
    parser.add_argument("--dossiers", type=int, default=1_000_000)
    parser.add_argument("--open-tasks", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--reuse", action="store_true", help="keep the database when it holds a fill of this size")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_SCALE_DATABASE_URL",
                                                                 DEFAULT_URL.rsplit("/", 1)[0] + "/motcua_bench_scale"))
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        raise SystemExit("the scale benchmark needs PostgreSQL (it fills with COPY)")
    info = print_machine(args.database_url)
    existing = filled(args.database_url)
    fill_seconds = None
    if args.reuse and existing == (args.dossiers, args.open_tasks):
        print(f"reusing the fill of {args.dossiers} dossiers / {args.open_tasks} open tasks")
        read_side(args.database_url)
    else:
        t0 = time.monotonic()
        fill(args.database_url, args.dossiers, args.open_tasks)
        fill_seconds = round(time.monotonic() - t0, 1)
        print(f"filled in {fill_seconds} s")
    results = measure(args.database_url, args.repeat)
    print(f"\n{args.dossiers} dossiers, {args.open_tasks} open tasks, {info['database']}")
    table(["read", "p50 ms", "p95 ms", "target ms", ""],
          [[label, r["p50"], r["p95"], r["target_ms"], "ok" if r["p95"] <= r["target_ms"] else "MISSED"]
           for label, r in results.items()])
    summary("scale", {"machine": info, "dossiers": args.dossiers, "open_tasks": args.open_tasks,
                      "fill_seconds": fill_seconds, "reads": results})


if __name__ == "__main__":
    main()
