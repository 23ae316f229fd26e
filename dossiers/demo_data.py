"""A year of realistic one-stop dossiers, for demonstrations and for trying reports on volume.

``flask --app wsgi demo generate [--dossiers 20000] [--year 2026] [--seed 1] [--open N] [--append]``
fills the database with dossiers of the deployed library procedures (``flask bpmn deploy`` first):

* **Finished dossiers** are written directly, in batches (``session.execute(insert(table), rows)``):
  the process instance (status ``completed``, or ``terminated`` when withdrawn), every human task
  the dossier went through (element ids, lanes, departments, budgets and due times taken from the
  deployed version's spec, walked with :func:`dossiers.bottlenecks.process_map`), the event log
  (steps, handoffs with from/to lanes, messages, national status changes), the dossier row and the
  citizen's rating. No ``instance_states`` row is written for them: the runtime only ever restores a
  running instance (``_load_for_update`` refuses finished ones before restoring), so a finished
  instance never needs its serialized state.
* **Open dossiers** (a few hundred at most) are real: submitted through
  :func:`dossiers.service.submit` and moved by the runtime up to their current step (open tasks,
  waits for a supplement or a payment), then their timestamps are spread back over the last working
  days so that their tasks have realistic ages. They can be worked on like any other dossier.

The mix follows the figures of DOMAIN.md: ~63 % submitted online, dates spread over working days,
most steps well within their budget and one slower step per procedure (the bottleneck), 2-5 % of
dossiers late, ~10 % with a supplement request, ~2 % refused, ~1 % withdrawn, ~59 % of paid fees
paid online, attachments for most, ~88 % electronic results, ratings for ~60 % of returned
dossiers (mostly 4-5, a few complaints). Tracking codes follow ``tracking_sequences`` (per agency,
per Vietnam day), so codes allocated later by the desk continue the sequence.

Generated instances are started by ``demo-data``: a second run refuses unless ``append`` is set.
"""

from __future__ import annotations

import hashlib
import math
import random
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

from sqlalchemy import case, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from accounts.models import User
from dossiers import service
from dossiers.bottlenecks import Element, Parallel, ProcessMap, flatten, process_map
from dossiers.indicators import summarise_inserted
from dossiers.models import (
    ACCEPTED,
    DONE,
    PAYMENT,
    PROCESSING,
    REFUSED,
    RETURNED,
    SUBMITTED,
    SUPPLEMENT,
    WITHDRAWN,
    Dossier,
    Notification,
    Rating,
    TrackingSequence,
)
from dossiers.procedures import Procedure, all_procedures
from engine import calendar_days, deadlines, forms
from engine.access import insert_task_candidates
from engine.actors import Actor
from engine.calendar import VN_TZ, parse_budget
from engine.db import utcnow
from engine.errors import EngineError
from engine.models import (
    COMPLETED,
    TASK_CANCELLED,
    TASK_COMPLETED,
    TERMINATED,
    EventLogEntry,
    HumanTask,
    Instance,
    ProcessVersion,
)
from engine.runtime import Runtime

DEMO_ACTOR = "demo-data"
BATCH = 1000

# rates (DOMAIN.md and the issue)
ONLINE, POSTAL = 0.63, 0.07
REFUSAL, WITHDRAWAL, SUPPLEMENT_RATE, LATE_RATE = 0.02, 0.01, 0.10, 0.035
ELECTRONIC_RESULT, RATED = 0.88, 0.60
PAY_ONLINE = {"online": 0.89, "in_person": 0.22, "postal": 0.25}  # ~59 % of payments overall
ATTACHED = 0.92
DEFAULT_BUDGET_HOURS = 4.0
# working-time ratio to the budget: log-normal (median, sigma); one slow step per procedure
NORMAL_STEP, DESK_STEP, SLOW_STEP, SLOW_STEP_REDESIGNED = (0.30, 0.60), (0.25, 0.55), (0.66, 0.45), (0.40, 0.50)
# relative volume of the library procedures (others share the average)
VOLUME = {"birth_registration": 0.22, "marital_status_confirmation": 0.16, "driving_licence_renewal": 0.24,
          "enterprise_registration": 0.16, "personal_income_tax_refund": 0.10, "construction_permit_house": 0.12}
# the step that is slow in each library procedure (else: the longest budget after reception)
SLOW_STEPS = {"construction_permit_house": "land_use_opinion", "driving_licence_renewal": "print_new_licence",
              "enterprise_registration": "review_enterprise", "personal_income_tax_refund": "pre_refund_check",
              "birth_registration": "sign_birth_certificate", "marital_status_confirmation": "verify_marital_status"}
PREFERRED_OPTIONS = ("accept", "approve", "valid", "compliant", "agree", "grant", "ok", "refund_first")

FAMILY = ["Nguyễn"] * 8 + ["Trần"] * 3 + ["Lê"] * 3 + ["Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi",
                                                      "Đỗ", "Hồ", "Ngô", "Dương", "Lý", "Trương", "Lâm"]
MIDDLE = ["Văn", "Thị", "Hữu", "Minh", "Ngọc", "Thanh", "Quốc", "Thu", "Hoàng", "Gia", "Kim", "Đức"]
GIVEN = ["An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hoa", "Hùng", "Hương", "Khánh", "Lan", "Linh",
         "Long", "Mai", "Minh", "Nam", "Ngọc", "Nhung", "Phong", "Phúc", "Quân", "Quỳnh", "Sơn", "Tâm", "Thảo",
         "Thắng", "Trang", "Trung", "Tuấn", "Vy", "Yến", "Khoa", "Duy", "Nhi"]
WARDS = ["An Hòa, Ninh Kiều", "An Khánh, Ninh Kiều", "Cái Khế, Ninh Kiều", "Hưng Lợi, Ninh Kiều", "Tân An, Ninh Kiều",
         "Xuân Khánh, Ninh Kiều", "Bình Thủy, Bình Thủy", "Long Hòa, Bình Thủy", "Lê Bình, Cái Răng",
         "Hưng Phú, Cái Răng", "Châu Văn Liêm, Ô Môn", "Phước Thới, Ô Môn"]
STREETS = ["Nguyễn Văn Cừ", "Trần Hưng Đạo", "Mậu Thân", "30 Tháng 4", "Hòa Bình", "Lý Tự Trọng", "Cách Mạng Tháng 8",
           "Nguyễn Trãi", "Võ Văn Kiệt", "Trần Phú", "Hùng Vương", "3 Tháng 2"]
BUSINESS = ["Thương mại", "Dịch vụ", "Xây dựng", "Nông sản", "Công nghệ", "Du lịch", "Vận tải", "Thực phẩm"]
REFUSALS = ["Hồ sơ không thuộc thẩm quyền giải quyết của cơ quan", "Giấy tờ nộp kèm không hợp lệ",
            "Người nộp không đủ điều kiện theo quy định", "Thông tin kê khai không trùng khớp với dữ liệu dân cư"]
MISSING = ["Bản sao giấy tờ tùy thân có chứng thực", "Tờ khai còn thiếu chữ ký", "Ảnh chân dung đúng quy cách",
           "Bản vẽ mặt bằng, mặt cắt công trình", "Giấy ủy quyền có chứng thực"]
COMMENTS = {
    5: ["Cán bộ hướng dẫn tận tình, trả kết quả đúng hẹn.", "Nộp trực tuyến rất tiện, không phải đi lại.",
        "Rất hài lòng.", "Thủ tục nhanh gọn."],
    4: ["Hài lòng, thời gian chờ hơi lâu.", "Tốt, mong hướng dẫn rõ hơn trên cổng dịch vụ công."],
    3: ["Bình thường.", "Phải bổ sung nhiều lần, mất thời gian."],
    2: ["Trả kết quả trễ hẹn, không được báo trước.", "Hướng dẫn chưa rõ ràng."],
    1: ["Trễ hẹn nhiều ngày, gọi điện không ai nghe máy.", "Không hài lòng về thái độ phục vụ."],
}
FOLLOW_UPS = ["Đã liên hệ công dân, giải thích lý do chậm trễ và xin lỗi.",
              "Đã nhắc nhở bộ phận giải quyết; công dân đồng ý với cách giải quyết."]


class GenerateError(Exception):
    """Why the generator cannot run (nothing deployed, already generated...)."""


@dataclass
class Summary:
    dossiers: int = 0
    finished: int = 0
    open: int = 0
    by_status: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    procedures: list[str] = field(default_factory=list)
    human_tasks: int = 0
    events: int = 0
    ratings: int = 0
    late: int = 0
    skipped_open: int = 0
    notes: list[str] = field(default_factory=list)


# ============================================================================ blueprints
@dataclass
class SupplementPlan:
    at: Element  # the step whose outcome asks for the supplement
    request: list[Element]  # from just after it to the catch event waiting for the supplement
    back_to: Element  # the step that starts again when it arrives


@dataclass
class Blueprint:
    procedure: Procedure
    version: ProcessVersion
    pmap: ProcessMap
    before: list[Any]  # path items up to and including the first step
    after: list[Any]  # path items after it (acceptance, processing, result, return)
    first: Element
    accept_route: list[Element]  # from the first step to the acceptance marker (gateways)
    refusal: list[Element] | None
    supplement: SupplementPlan | None
    slow: str | None
    fees: dict[str, int]  # channel -> fee charged
    weight: float = 1.0


def _split_at_first_step(items: list[Any]) -> tuple[list[Any], list[Any], Element | None]:
    for i, item in enumerate(items):
        if isinstance(item, Element) and item.user_task:
            return items[: i + 1], items[i + 1:], item
        if isinstance(item, Parallel):
            break
    return items, [], None


def _fee_table(version: ProcessVersion, procedure: Procedure) -> dict[str, int]:
    """The fee the shared collect_fee table charges per channel (the procedure's fee if it cannot be read)."""
    from engine.sandbox import MotcuaScriptEngine
    from engine.serialization import spec_cache

    fees = {channel: procedure.fee for channel in ("online", "in_person", "postal")}
    try:
        spec, subprocess_specs = spec_cache.get(version.id, lambda: version.spec_json)
        tables = [ts for proc in (spec, *subprocess_specs.values()) for ts in proc.task_specs.values()
                  if hasattr(ts, "dmnEngine")]
        if not tables:
            return fees
        engine = MotcuaScriptEngine()
        for channel in fees:
            task = SimpleNamespace(data={"procedure_code": procedure.code, "channel": channel},
                                   workflow=SimpleNamespace(script_engine=engine))
            result = tables[0].dmnEngine.result(task)
            if "fee_amount" in result:
                fees[channel] = int(result["fee_amount"] or 0)
    except Exception:  # noqa: BLE001 - an unreadable table: the catalogue fee is a fair approximation
        return {channel: procedure.fee for channel in fees}
    return fees


def blueprints(session: Session) -> list[Blueprint]:
    """Every version of every deployed library procedure (with a one-stop desk) that has user tasks."""
    found = []
    for procedure in all_procedures(session):
        if not procedure.desk:
            continue  # not a one-stop procedure (e.g. the sample diagram)
        versions = list(session.scalars(select(ProcessVersion).where(ProcessVersion.process_id == procedure.process_id)
                                         .order_by(ProcessVersion.version)))
        for pv in versions:
            pmap = process_map(pv)
            before, after, first = _split_at_first_step(pmap.path)
            if first is None:
                continue
            accept_route = pmap.route(first.element_id, lambda e: e.marker == "accept") or []
            accepted = {e.element_id for e in accept_route}
            while after and isinstance(after[0], Element) and after[0].element_id in accepted:
                after = after[1:]  # played by the reception
            refusal = pmap.route(first.element_id, lambda e: e.marker == "refuse")
            supplement = None  # generated at reception only (a supplement during processing is not simulated)
            request = pmap.route(first.element_id, lambda e: e.marker == "request_supplement")
            if request is not None:
                wait = pmap.route(request[-1].element_id, lambda e: e.marker == "supplement_received"
                                  or (e.message is not None and e.kind == "IntermediateCatchEvent"))
                back = pmap.route(wait[-1].element_id, lambda e: e.user_task) if wait else None
                if back and back[-1].element_id == first.element_id:
                    supplement = SupplementPlan(first, request + wait, back[-1])
            steps = [e for e in flatten(after) if e.user_task]
            slow = SLOW_STEPS.get(procedure.process_id)
            if slow not in {s.element_id for s in steps}:
                budgeted = [s for s in steps if s.budget_hours and s.candidate_groups is None]
                slow = max(budgeted, key=lambda s: s.budget_hours).element_id if budgeted else None
            found.append(Blueprint(procedure, pv, pmap, before, after, first, accept_route, refusal, supplement,
                                   slow, _fee_table(pv, procedure),
                                   VOLUME.get(procedure.process_id, 1.0 / max(len(VOLUME), 1))))
    return found


# ============================================================================ people and places
class People:
    """Who works in which department (the demo users), to sign the steps they complete."""

    def __init__(self, session: Session):
        self.by_department: dict[str, list[str]] = defaultdict(list)
        for user in session.scalars(select(User).where(User.is_active.is_(True)).order_by(User.username)):
            if {"admin", "integrator", "designer"} & set(user.roles or ()):
                continue
            for department in user.departments:
                self.by_department[department.code].append(user.username)
        self.roles = {u.username: (frozenset(u.roles or ()), frozenset(d.code for d in u.departments))
                      for u in session.scalars(select(User))}

    def pick(self, rng: random.Random, department: str | None) -> str | None:
        names = self.by_department.get(department or "")
        return rng.choice(names) if names else None

    def actor(self, username: str | None, department: str | None) -> Actor:
        if username and username in self.roles:
            roles, groups = self.roles[username]
            return Actor(username, roles, groups)
        return Actor(DEMO_ACTOR, frozenset({"admin"}), frozenset({department} if department else ()))


def _applicant(rng: random.Random, business: bool) -> dict[str, Any]:
    person = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
    address = f"{rng.randint(1, 250)} {rng.choice(STREETS)}, phường {rng.choice(WARDS)}, TP Cần Thơ"
    phone = f"0{rng.choice('3579')}{rng.randint(10_000_000, 99_999_999)}"
    applicant = {
        "kind": "business" if business else "person",
        "name": (f"Công ty TNHH {rng.choice(BUSINESS)} {rng.choice(GIVEN)} {rng.choice(GIVEN)}" if business
                 else person),
        "id_number": (f"{rng.randint(1_800_000_000, 1_899_999_999)}" if business
                      else f"092{rng.randint(0, 1)}{rng.randint(10, 99)}{rng.randint(100_000, 999_999)}"),
        "phone": phone,
        "email": (f"{uuid.UUID(int=rng.getrandbits(128)).hex[:10]}@example.vn" if rng.random() < 0.45 else None),
        "address": address,
    }
    return applicant


def _attachments(rng: random.Random, procedure: Procedure, code: str) -> list[dict[str, Any]]:
    if rng.random() >= ATTACHED:
        return []
    documents = list(procedure.required_documents) or ["Đơn đề nghị"]
    files = []
    for name in documents:
        if len(files) and rng.random() < 0.1:
            continue  # some documents come on paper only
        slug = "_".join(name.lower().split()[:5])
        files.append({"name": f"{slug}.pdf", "size": rng.randint(80_000, 2_500_000), "content_type": "application/pdf",
                      "sha256": hashlib.sha256(f"{code}/{name}".encode()).hexdigest()})
    return files


# ============================================================================ time
class Clock:
    """Working-time arithmetic on the calendar in force, plus random moments of office hours."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.calendar = deadlines.current_calendar()

    def add(self, start: datetime, hours: float) -> datetime:
        return self.calendar.add_working_hours(start, max(hours, 0.0))

    def office_moment(self, day: date) -> datetime:
        minutes = self.rng.randint(0, 8 * 60 - 1)  # 07:30-11:30, 13:00-17:00
        start = time(7, 30) if minutes < 240 else time(13, 0)
        moment = datetime.combine(day, start, VN_TZ) + timedelta(minutes=minutes % 240, seconds=self.rng.randint(0, 59))
        return moment

    def working_days(self, first: date, last: date) -> list[date]:
        days, d = [], first
        while d <= last:
            if self.calendar.is_working_day(d):
                days.append(d)
            d += timedelta(days=1)
        return days

    def later_office_moment(self, after: datetime, days: float) -> datetime:
        """A moment of office hours about ``days`` calendar days after ``after``."""
        d = (after + timedelta(days=days)).astimezone(VN_TZ).date()
        if not self.calendar.is_working_day(d):
            d = self.calendar.next_working_day(d)
        moment = self.office_moment(d)
        return moment if moment > after else self.add(after, self.rng.uniform(0.5, 2))


def _ratio(rng: random.Random, shape: tuple[float, float]) -> float:
    median, sigma = shape
    return min(max(median * math.exp(rng.gauss(0.0, sigma)), 0.02), 4.0)


# ============================================================================ the generator
@dataclass
class Options:
    dossiers: int = 20_000
    year: int = 2026
    seed: int = 1
    append: bool = False
    open: int | None = None  # default: 1 % of the dossiers, between 5 and 200
    batch: int = BATCH
    now: datetime | None = None


def already_generated(session: Session) -> bool:
    return session.scalar(select(Instance.id).where(Instance.started_by == DEMO_ACTOR).limit(1)) is not None


def preflight(session: Session, options: Options) -> list[Blueprint]:
    """What would stop the generator, as a GenerateError; else the procedures it will use."""
    now = options.now or utcnow()
    if options.dossiers < 1:
        raise GenerateError("--dossiers must be at least 1")
    if options.year > now.astimezone(VN_TZ).year:
        raise GenerateError(f"{options.year} lies in the future: dossiers can only be generated up to today")
    if options.year < 2000:
        raise GenerateError(f"{options.year}: choose a year from 2000 on")
    calendar_days.load(session)  # the administrator's days off count
    plans = blueprints(session)
    if not plans:
        raise GenerateError("no one-stop procedure is deployed: run `flask --app wsgi bpmn deploy` first "
                            "(it deploys the procedure library in bpmn/)")
    if already_generated(session) and not options.append:
        raise GenerateError("this database already holds generated demo dossiers; run again with --append "
                            "to add more")
    return plans


def generate(session: Session, options: Options, progress: Callable[[int], None] | None = None) -> Summary:
    """Fill the database; commits batch by batch. ``progress(n)`` is told each time n more dossiers are written."""
    now = options.now or utcnow()
    plans = preflight(session, options)
    summary = Summary(procedures=sorted({p.procedure.code for p in plans}))
    generator = _Generator(session, plans, options, now, summary)
    current_year = now.astimezone(VN_TZ).year == options.year
    wanted_open = options.open if options.open is not None else min(200, max(5, options.dossiers // 100))
    open_count = min(wanted_open, options.dossiers) if current_year else 0
    if not current_year and wanted_open:
        summary.notes.append(f"{options.year} is not the current year: every generated dossier is finished")
    generator.finished(options.dossiers - open_count, progress)
    generator.write_sequences()
    session.commit()
    if open_count:
        generator.open(open_count, progress)
    return summary


class _Generator:
    def __init__(self, session: Session, plans: list[Blueprint], options: Options, now: datetime, summary: Summary):
        self.session = session
        self.options = options
        self.now = now
        self.summary = summary
        # appending with the same seed must not repeat the same applicants on the same days
        earlier = session.scalar(select(func.count()).select_from(Instance).where(Instance.started_by == DEMO_ACTOR))
        self.rng = random.Random(options.seed if not earlier else f"{options.seed}/{earlier}")
        self.clock = Clock(self.rng)
        self.people = People(session)
        runtime = Runtime(session)
        self.department_for = runtime.department_for
        self.by_process: dict[str, list[Blueprint]] = defaultdict(list)
        for plan in plans:
            self.by_process[plan.procedure.process_id].append(plan)
        self.process_ids = sorted(self.by_process)
        self.weights = [self.by_process[pid][-1].weight for pid in self.process_ids]
        self.sequences: dict[tuple[str, str], int] = {
            (row.agency_code, row.day): row.last for row in session.scalars(select(TrackingSequence))}
        self.touched: set[tuple[str, str]] = set()
        self.rows: dict[str, list[dict]] = defaultdict(list)

    # ------------------------------------------------------------------ codes
    def code(self, agency: str, at: datetime) -> str:
        day = at.astimezone(VN_TZ).strftime("%y%m%d")
        key = (agency, day)
        self.sequences[key] = self.sequences.get(key, 0) + 1
        self.touched.add(key)
        return f"{agency}-{day}-{self.sequences[key]:04d}"

    def release(self, agency: str, at: datetime) -> None:
        """Give back the last code of that day (a simulation thrown away before anything was written)."""
        key = (agency, at.astimezone(VN_TZ).strftime("%y%m%d"))
        self.sequences[key] -= 1

    def write_sequences(self) -> None:
        if not self.touched:
            return
        dialect = self.session.bind.dialect.name
        dialect_insert = pg_insert if dialect == "postgresql" else sqlite_insert
        rows = [{"agency_code": a, "day": d, "last": self.sequences[(a, d)]} for a, d in sorted(self.touched)]
        for start in range(0, len(rows), BATCH):
            stmt = dialect_insert(TrackingSequence).values(rows[start:start + BATCH])
            stmt = stmt.on_conflict_do_update(
                index_elements=["agency_code", "day"],
                set_={"last": case((stmt.excluded.last > TrackingSequence.last, stmt.excluded.last),
                                   else_=TrackingSequence.last)})
            self.session.execute(stmt)
        self.touched.clear()

    # ------------------------------------------------------------------ finished dossiers
    def finished(self, count: int, progress: Callable[[int], None] | None) -> None:
        if count <= 0:
            return
        year = self.options.year
        today = self.now.astimezone(VN_TZ).date()
        first, last = date(year, 1, 1), min(date(year, 12, 31), today)
        days = self.clock.working_days(first, last)
        if not days:
            raise GenerateError(f"no working day in {year} up to today")
        # a mild seasonality: more dossiers in spring and before Tết, fewer in the summer
        season = {1: 1.1, 2: 0.8, 3: 1.15, 4: 1.1, 5: 1.05, 6: 0.95, 7: 0.9, 8: 0.9, 9: 1.0, 10: 1.05, 11: 1.05,
                  12: 1.15}
        day_weights = [season[d.month] for d in days]
        picks = self.rng.choices(days, weights=day_weights, k=count)
        jobs = []
        for day in picks:
            pid = self.rng.choices(self.process_ids, weights=self.weights)[0]
            channel = self._channel(self.by_process[pid][-1].procedure)
            jobs.append((self._submission_moment(day, channel), pid, channel))
        jobs = [(self._fit_before_now(at, pid, channel, days), pid, channel) for at, pid, channel in jobs]
        jobs.sort(key=lambda job: job[0])
        done = 0
        for at, pid, channel in jobs:
            plan = self._version_for(pid, at, first, last)
            self._finished_dossier(plan, at, channel, days)
            done += 1
            if done % self.options.batch == 0:
                self._flush()
                if progress:
                    progress(self.options.batch)
        self._flush()
        if progress and done % self.options.batch:
            progress(done % self.options.batch)

    def _channel(self, procedure: Procedure) -> str:
        r = self.rng.random()
        if procedure.online and r < ONLINE:
            return "online"
        return "postal" if self.rng.random() < POSTAL / (1 - ONLINE) else "in_person"

    def _submission_moment(self, day: date, channel: str) -> datetime:
        if channel == "online" and self.rng.random() < 0.25:  # evenings and weekends on the portal
            moment = datetime.combine(day, time(0), VN_TZ) + timedelta(
                days=self.rng.choice((0, 0, 0, 1, 2)), minutes=self.rng.randint(17 * 60, 23 * 60 + 59))
            return min(moment, self.now - timedelta(days=1))
        return self.clock.office_moment(day)

    def _version_for(self, pid: str, at: datetime, first: date, last: date) -> Blueprint:
        """With several versions deployed, the year is shared: older versions first (before a redesign)."""
        plans = self.by_process[pid]
        if len(plans) == 1:
            return plans[0]
        span = (last - first).days + 1
        index = min(int((at.astimezone(VN_TZ).date() - first).days / span * len(plans)), len(plans) - 1)
        return plans[max(index, 0)]

    def _fit_before_now(self, at: datetime, pid: str, channel: str, days: list[date]) -> datetime:
        """A finished dossier must be finished by now: one submitted too recently moves to another day of the
        year (the last days belong to the open dossiers)."""
        procedure = self.by_process[pid][-1].procedure
        span = procedure.processing_time * 1.5 + 4 if procedure.processing_unit == "working_days" else 45
        latest = self.now - timedelta(days=span)
        if at <= latest:
            return at
        earlier = [d for d in days if d < latest.astimezone(VN_TZ).date()] or days[:1]
        return min(self._submission_moment(self.rng.choice(earlier), channel), latest)

    def _flush(self) -> None:
        order = (("instances", Instance), ("dossiers", Dossier), ("human_tasks", HumanTask),
                 ("event_log", EventLogEntry), ("ratings", Rating))
        written = {}
        for key, model in order:
            rows = written[key] = self.rows.pop(key, [])
            for start in range(0, len(rows), BATCH):
                self.session.execute(insert(model.__table__), rows[start:start + BATCH])
        # written past the ORM's flush listeners: the inbox's candidate table and the 766 summary follow here
        insert_task_candidates(self.session, written["human_tasks"])
        summarise_inserted(self.session, [row["id"] for row in written["dossiers"]])
        self.write_sequences()
        self.session.commit()

    # ------------------------------------------------------------------ one finished dossier
    def _finished_dossier(self, plan: Blueprint, submitted_at: datetime, channel: str, days: list[date]) -> None:
        rng = self.rng
        r = rng.random()
        outcome = "refuse" if r < REFUSAL and plan.refusal else (
            "withdraw" if r < REFUSAL + WITHDRAWAL else "normal")
        supplement = plan.supplement is not None and outcome != "refuse" and rng.random() < SUPPLEMENT_RATE / 0.97
        target_late = outcome == "normal" and rng.random() < LATE_RATE
        for _attempt in range(4):
            sim = _Simulation(self, plan, submitted_at, channel, outcome, supplement, target_late)
            if sim.end <= self.now - timedelta(hours=1):
                break
            self.release(plan.procedure.agency_code, submitted_at)
            # would still be open today: submitted some other day of the year instead
            submitted_at = self._submission_moment(self.rng.choice(days[: max(len(days) * 3 // 4, 1)]), channel)
        self._emit(sim)

    def _emit(self, sim: _Simulation) -> None:
        instance_id = sim.instance_id
        self.rows["instances"].append(sim.instance_row())
        self.rows["dossiers"].append(sim.dossier_row())
        self.rows["human_tasks"].extend(sim.tasks)
        events = sorted(sim.events, key=lambda e: e["at"])  # stable: the order of one step is kept
        for event in events:
            event["instance_id"] = instance_id
        self.rows["event_log"].extend(events)
        if sim.rating is not None:
            self.rows["ratings"].append(sim.rating)
            self.summary.ratings += 1
        self.summary.dossiers += 1
        self.summary.finished += 1
        self.summary.by_status[sim.status] += 1
        self.summary.human_tasks += len(sim.tasks)
        self.summary.events += len(events)
        self.summary.late += int(sim.late)

    # ------------------------------------------------------------------ open dossiers (real)
    def open(self, count: int, progress: Callable[[int], None] | None) -> None:
        today = self.now.astimezone(VN_TZ).date()
        days = self.clock.working_days(today - timedelta(days=21), today)
        recent = [d for d in days if d < today] or days
        recent = recent[-10:]
        made = 0
        for _ in range(count):
            pid = self.rng.choices(self.process_ids, weights=self.weights)[0]
            plan = self.by_process[pid][-1]
            channel = self._channel(plan.procedure)
            submitted_at = min(self.clock.office_moment(self.rng.choice(recent)), self.now - timedelta(hours=2))
            savepoint = self.session.begin_nested()
            try:
                dossier = _OpenDossier(self, plan, channel, submitted_at).run()
                savepoint.commit()
            except EngineError as exc:
                savepoint.rollback()
                self.summary.skipped_open += 1
                self.summary.notes.append(f"an open {plan.procedure.code} dossier was skipped: {exc.message}")
                continue
            made += 1
            self.summary.dossiers += 1
            self.summary.open += 1
            self.summary.by_status[dossier.status_code] += 1
            if made % 20 == 0:
                self.session.commit()
            if progress:
                progress(1)
        self.session.commit()


class _Simulation:
    """One finished dossier: times, tasks, events and the dossier row, as the runtime would have written them."""

    def __init__(self, gen: _Generator, plan: Blueprint, submitted_at: datetime, channel: str, outcome: str,
                 supplement: bool, target_late: bool):
        self.gen, self.plan, self.rng, self.clock = gen, plan, gen.rng, gen.clock
        self.procedure = plan.procedure
        self.channel = channel
        self.instance_id = str(uuid.uuid4())  # ids are unique across runs; the content follows the seed
        self.submitted_at = submitted_at
        self.code = gen.code(self.procedure.agency_code, submitted_at)
        self.fee = plan.fees.get(channel, self.procedure.fee)
        self.applicant = _applicant(self.rng, business=self.procedure.process_id == "enterprise_registration")
        self.tasks: list[dict] = []
        self.events: list[dict] = []
        self.status = SUBMITTED
        self.status_changed_at = submitted_at
        self.current_department = self.procedure.desk
        self.lane: str | None = None
        self.last_actor: str | None = DEMO_ACTOR
        self.steps = 0
        self.d: dict[str, Any] = {
            "received_at": None, "complete_since": None, "appointment_at": None, "finished_at": None,
            "returned_at": None, "paid_at": None, "payment_channel": None, "fee_state": "none",
            "supplement_count": 0, "missing_documents": None, "refusal_reason": None, "result_channel": None,
            "e_result": False, "late": False, "paused_hours": 0.0, "warned_at": None, "overdue_at": None,
        }
        self.data: dict[str, Any] = {"dossier_code": self.code, "procedure_code": self.procedure.code,
                                     "channel": channel, "desk": self.procedure.desk,
                                     "applicant_name": self.applicant["name"],
                                     "applicant_id_number": self.applicant["id_number"]}
        self.rating: dict | None = None
        self.late = False
        self.instance_status = COMPLETED
        self._run(outcome, supplement, target_late)

    # ---------------------------------------------------------------- events and rows
    def event(self, kind: str, at: datetime, element: Element | None = None, **fields) -> None:
        row = {"at": at, "kind": kind, "element_id": None, "element_name": None, "element_type": None,
               "task_id": None, "actor": fields.pop("actor", None), "from_lane": None, "to_lane": None,
               "detail": None}
        if element is not None:
            row.update(element_id=element.element_id, element_name=element.name, element_type=element.kind)
        row.update(fields)
        self.events.append(row)

    def set_status(self, status: int, at: datetime, action: str, actor: str | None = None) -> None:
        if status == self.status:
            return
        self.event("dossier_status", at, actor=actor, detail={"from": self.status, "to": status, "action": action})
        self.status, self.status_changed_at = status, at

    def step(self, element: Element, at: datetime, kind: str = "step_completed") -> None:
        """An element the engine passes (gateway, event, call activity); applies its dossier marker."""
        self.event(kind, at, element, from_lane=element.lane)
        if element.lane:
            self.lane = element.lane
        self.steps += 1
        self.apply(element.marker, at)

    def apply(self, marker: str | None, at: datetime) -> None:
        d = self.d
        if marker == "accept":
            d["received_at"] = d["complete_since"] or self.submitted_at
            d["appointment_at"] = self.clock.calendar.deadline(d["received_at"], self.procedure.processing_time,
                                                               self.procedure.processing_unit)
            self.set_status(ACCEPTED, at, "accept")
        elif marker == "request_supplement":
            d["supplement_count"] += 1
            d["missing_documents"] = self.rng.choice(MISSING)
            self.set_status(SUPPLEMENT, at, "request_supplement")
        elif marker == "refuse":
            d["refusal_reason"] = self.rng.choice(REFUSALS)
            d["finished_at"] = at
            self.set_status(REFUSED, at, "refuse")
        elif marker == "payment_requested":
            d["fee_state"] = "due"
            self.set_status(PAYMENT, at, "payment_requested")
        elif marker == "paid":
            d["fee_state"], d["paid_at"] = "paid", at
            self.set_status(DONE if d["finished_at"] else PROCESSING, at, "paid")
        elif marker == "result_issued":
            d["finished_at"] = at
            self.late = d["late"] = d["appointment_at"] is not None and at > d["appointment_at"]
            self.set_status(DONE, at, "result_issued")
        elif marker == "result_returned":
            d["returned_at"] = at
            if d["finished_at"] is None:
                d["finished_at"] = at
            self.set_status(RETURNED, at, "result_returned")

    def task(self, element: Element, created: datetime, completed: datetime | None, *, state: str = TASK_COMPLETED,
             data: dict | None = None) -> dict:
        department = self.gen.department_for(element.lane)
        groups = _groups(element.candidate_groups, self.data)
        who = self.gen.people.pick(self.rng, department or (groups[0] if groups else None))
        task_id = str(uuid.uuid4())
        due = _due(element.budget, created) if element.budget_hours else None
        row = {"id": task_id, "instance_id": self.instance_id, "process_id": self.procedure.process_id,
               "element_id": element.element_id, "name": element.name or element.element_id, "lane": element.lane,
               "department": department, "candidate_groups": groups, "candidate_users": [],
               "assignee": who if state == TASK_COMPLETED else None, "state": state, "form": [], "draft": None,
               "created_at": created, "due_at": due,
               "claimed_at": (created + (completed - created) * 0.1) if who and completed and state == TASK_COMPLETED
               else None,
               "completed_at": completed, "completed_by": who if state == TASK_COMPLETED else None}
        self.tasks.append(row)
        self.event("task_created", created, element, task_id=task_id, actor=self.last_actor,
                   from_lane=self.lane, to_lane=element.lane,
                   detail={"assignee": None, "candidate_groups": groups})
        if department or groups:
            self.current_department = department or groups[0]
        if self.status == ACCEPTED:
            self.set_status(PROCESSING, created, "processing")
        if state == TASK_COMPLETED and completed is not None:
            self.event("task_completed", completed, element, task_id=task_id, actor=who, from_lane=element.lane,
                       detail={"data": data or {}})
            self.lane = element.lane
            self.last_actor = who
            self.steps += 1
            self.apply(element.marker, completed)
        return row

    # ---------------------------------------------------------------- the story
    def _hours(self, element: Element, *, slow_shape: tuple[float, float] | None = None) -> float:
        budget = element.budget_hours or DEFAULT_BUDGET_HOURS
        if element.element_id == self.plan.slow:
            shape = slow_shape or (SLOW_STEP_REDESIGNED if self._redesigned() else SLOW_STEP)
        elif element is self.plan.first or element.candidate_groups:
            shape = DESK_STEP
        else:
            shape = NORMAL_STEP
        return budget * _ratio(self.rng, shape)

    def _redesigned(self) -> bool:
        plans = self.gen.by_process[self.procedure.process_id]
        return len(plans) > 1 and self.plan is plans[-1]

    def _run(self, outcome: str, supplement: bool, target_late: bool) -> None:
        rng, plan = self.rng, self.plan
        t = self.submitted_at
        self.event("instance_started", t, actor=DEMO_ACTOR,
                   detail={"version": plan.version.version, "business_key": self.code})
        for element in flatten(plan.before):
            if element.user_task:
                break
            self.step(element, t)
        # reception (and, once, a supplement before acceptance)
        t = self._reception(t, "refuse" if outcome == "refuse" else "accept", supplement)
        if outcome == "refuse":
            self._finish(t)
            return
        hours = self._processing_hours()
        for _ in range(6):
            timeline, result_at, end = self._schedule(t, hours)
            appointment = self.d["appointment_at"]
            late = appointment is not None and result_at is not None and result_at > appointment
            if late == target_late or appointment is None or result_at is None:
                break
            if late:  # should be on time: work faster everywhere
                hours = {k: v * 0.6 for k, v in hours.items()}
            else:  # should be late: the slow step (or the longest) runs over
                key = plan.slow if plan.slow in hours else max(hours, key=hours.get)
                gap = self.clock.calendar.working_hours_between(result_at, appointment)
                hours[key] += gap + rng.uniform(0.5, 8.0)
        withdraw_at = None
        if outcome == "withdraw":
            tasks = [item for item in timeline if item[0] == "task"]
            if tasks:
                withdraw_at = rng.choice(tasks)
        self._play(timeline, withdraw_at)

    def _reception(self, t: datetime, decision: str, supplement: bool) -> datetime:
        plan = self.plan
        first = plan.first
        done = self.clock.add(t, self._hours(first))
        if supplement:
            self.task(first, t, done, data={"reception_outcome": "supplement"})
            for element in plan.supplement.request[:-1]:
                self.step(element, done)
            wait = plan.supplement.request[-1]
            arrived = self.clock.later_office_moment(done, self.rng.uniform(1, 10))
            self.event("message_received", arrived, actor=DEMO_ACTOR,
                       detail={"message": wait.message or "supplement_received",
                               "payload": {"documents": ["bo_sung.pdf"], "note": "Bổ sung theo phiếu yêu cầu"}})
            self.event("message_caught", arrived, wait, from_lane=wait.lane)
            if wait.lane:
                self.lane = wait.lane
            self.d["complete_since"] = arrived
            self.set_status(SUBMITTED, arrived, "supplement_received")
            t = arrived
            done = self.clock.add(t, self._hours(first))
        outcome = "refuse" if decision == "refuse" else "accept"
        self.data["reception_outcome"] = outcome
        self.task(first, t, done, data={"reception_outcome": outcome})
        route = plan.refusal if decision == "refuse" else plan.accept_route
        for element in route or []:
            self.step(element, done)
        return done

    def _processing_hours(self) -> dict[str, float]:
        hours = {}
        for element in flatten(self.plan.after):
            if element.user_task:
                hours[element.element_id] = self._hours(element)
            elif element.marker == "paid" or (element.message and element.kind == "IntermediateCatchEvent"):
                online = self.rng.random() < PAY_ONLINE.get(self.channel, 0.2)
                self.d["payment_channel"] = "online" if online else "counter"
                hours[element.element_id] = self.rng.uniform(0.1, 6.0) if online else self.rng.uniform(1.0, 16.0)
        return hours

    def _skip(self, element: Element) -> bool:
        return self.fee <= 0 and element.marker in ("payment_requested", "paid")

    def _schedule(self, t: datetime, hours: dict[str, float]):
        """Times of the items after acceptance: [(kind, element, start, end)], the result time, the end."""
        timeline: list[tuple[str, Element, datetime, datetime]] = []
        result_at: list[datetime] = []

        def run(items: list[Any], t: datetime) -> datetime:
            for item in items:
                if isinstance(item, Parallel):
                    ends = [run(branch, t) for branch in item.branches]
                    t = max(ends) if ends else t
                    continue
                if self._skip(item):
                    continue
                if item.user_task:
                    end = self.clock.add(t, hours.get(item.element_id, DEFAULT_BUDGET_HOURS * 0.3))
                    timeline.append(("task", item, t, end))
                    if item.marker == "result_issued":
                        result_at.append(end)
                    t = end
                elif item.element_id in hours:  # waiting for a message (the payment)
                    end = self.clock.add(t, hours[item.element_id])
                    timeline.append(("wait", item, t, end))
                    t = end
                else:
                    timeline.append(("step", item, t, t))
                    if item.marker == "result_issued":
                        result_at.append(t)
            return t

        end = run(self.plan.after, t)
        return timeline, (result_at[0] if result_at else None), end

    def _play(self, timeline, withdraw_at) -> None:
        d = self.d
        for kind, element, start, end in timeline:
            if kind == "task":
                if withdraw_at is not None and element is withdraw_at[1] and start == withdraw_at[2]:
                    self._withdraw(element, start, end)
                    return
                data = {}
                if element.marker == "result_returned":
                    data = self._result(end)
                self.task(element, start, end, data=data)
            elif kind == "wait":
                amount = self.fee
                self.event("message_received", end, actor=DEMO_ACTOR,
                           detail={"message": element.message or "payment_confirmed",
                                   "payload": {"amount": amount, "channel": d["payment_channel"],
                                               "transaction_id": f"PAY-{self.rng.randint(10**7, 10**8 - 1)}"}})
                self.data["payment"] = {"amount": amount, "channel": d["payment_channel"]}
                self.step(element, end, kind="message_caught")
            else:
                if element.marker == "payment_requested":
                    self.data["fee_amount"] = self.fee
                self.step(element, start)
        last = max((e["at"] for e in self.events), default=self.submitted_at)
        self._finish(last)

    def _result(self, at: datetime) -> dict[str, Any]:
        d = self.d
        e_result = self.rng.random() < ELECTRONIC_RESULT
        if e_result and (self.channel == "online" or self.rng.random() < 0.3):
            channel = "electronic"
        else:
            channel = "postal" if self.channel == "postal" or self.rng.random() < 0.08 else "in_person"
        d["result_channel"], d["e_result"] = channel, e_result or channel == "electronic"
        values = {"result_channel": channel, "e_result": d["e_result"],
                  "returned_on": at.astimezone(VN_TZ).date().isoformat()}
        self.data.update(values)
        return values

    def _withdraw(self, element: Element, start: datetime, end: datetime) -> None:
        at = start + (end - start) * self.rng.uniform(0.2, 0.9)
        self.events = [e for e in self.events if e["at"] <= at]
        for other in self.tasks:  # a parallel branch still in progress is cancelled too
            if other["completed_at"] is not None and other["completed_at"] > at:
                other.update(state=TASK_CANCELLED, completed_at=at, completed_by=None, assignee=None, claimed_at=None)
        row = self.task(element, start, None, state=TASK_CANCELLED)
        row["completed_at"] = at
        self.event("instance_terminated", at, actor=DEMO_ACTOR, detail={"reason": "withdrawn by the citizen"})
        self.event("task_cancelled", at, element, task_id=row["id"])
        self.set_status(WITHDRAWN, at, "withdraw", actor=DEMO_ACTOR)
        self.d["finished_at"] = at
        self.instance_status = TERMINATED
        self.end = at

    def _finish(self, at: datetime) -> None:
        self.event("instance_completed", at)
        self.end = at
        d = self.d
        if self.late and d["appointment_at"] is not None:
            d["warned_at"] = max(self.clock.calendar.add_working_hours(d["appointment_at"], 0) - timedelta(days=1),
                                 d["received_at"] or self.submitted_at)
            d["overdue_at"] = d["appointment_at"] + timedelta(minutes=1)
            self.event("overdue_warning", d["warned_at"], detail={"appointment_at": d["appointment_at"].isoformat()})
            self.event("overdue", d["overdue_at"], detail={"appointment_at": d["appointment_at"].isoformat()})
        if self.status == RETURNED and self.rng.random() < RATED:
            self.rating = self._rating(d["returned_at"])

    def _rating(self, returned_at: datetime) -> dict[str, Any] | None:
        rng = self.rng
        if self.late:
            score = rng.choices((5, 4, 3, 2, 1), weights=(25, 35, 25, 10, 5))[0]
            complaint = rng.random() < 0.15
        else:
            score = rng.choices((5, 4, 3, 2, 1), weights=(74, 21, 4, 0.7, 0.3))[0]
            complaint = rng.random() < 0.005
        at = returned_at + timedelta(hours=rng.uniform(0.2, 60))
        if at > self.gen.now:
            at = returned_at + (self.gen.now - returned_at) / 2
        followed = complaint and rng.random() < 0.8
        return {"dossier_id": self.instance_id, "score": score,
                "comment": rng.choice(COMMENTS[score]) if rng.random() < 0.4 or complaint or score <= 2 else None,
                "complaint": complaint, "created_at": at,
                "follow_up": rng.choice(FOLLOW_UPS) if followed else None,
                "followed_up_by": "lanhdaotrungtam" if followed else None,
                "followed_up_at": min(at + timedelta(days=rng.uniform(0.5, 3)), self.gen.now) if followed else None}

    def instance_row(self) -> dict[str, Any]:
        return {"id": self.instance_id, "process_id": self.procedure.process_id, "version_id": self.plan.version.id,
                "business_key": self.code, "status": self.instance_status, "lock_version": max(self.steps, 1),
                "data": self.data, "error": None, "suspended_from": None, "started_by": DEMO_ACTOR,
                "created_at": self.submitted_at, "updated_at": self.end, "finished_at": self.end}

    def dossier_row(self) -> dict[str, Any]:
        d, a, p = self.d, self.applicant, self.procedure
        fee_amount = self.fee if d["fee_state"] != "none" else p.fee  # payment_requested sets the table's fee
        return {
            "id": self.instance_id, "code": self.code, "procedure_code": p.code, "procedure_name": p.name_vi,
            "process_id": p.process_id, "agency_code": p.agency_code, "desk": p.desk,
            "responsible_department": p.department, "current_department": self.current_department,
            "applicant_kind": a["kind"], "applicant_name": a["name"], "applicant_id_number": a["id_number"],
            "applicant_phone": a["phone"], "applicant_email": a["email"], "applicant_address": a["address"],
            "channel": self.channel, "status_code": self.status, "status_changed_at": self.status_changed_at,
            "submitted_at": self.submitted_at, "complete_since": d["complete_since"], "received_at": d["received_at"],
            "processing_time": p.processing_time, "processing_unit": p.processing_unit,
            "appointment_at": d["appointment_at"], "original_appointment_at": d["appointment_at"],
            "paused_since": None, "paused_hours": d["paused_hours"], "supplement_count": d["supplement_count"],
            "missing_documents": d["missing_documents"], "refusal_reason": d["refusal_reason"],
            "fee_amount": fee_amount, "fee_state": d["fee_state"], "paid_at": d["paid_at"],
            "payment_channel": d["payment_channel"] if d["fee_state"] == "paid" else None,
            "attachments": _attachments(self.rng, p, self.code), "result_channel": d["result_channel"],
            "e_result": d["e_result"], "finished_at": d["finished_at"], "returned_at": d["returned_at"],
            "warned_at": d["warned_at"], "overdue_at": d["overdue_at"], "late": d["late"], "data": {},
        }


@lru_cache(maxsize=256)
def _parsed_budget(budget: str) -> tuple[float, str]:
    return parse_budget(budget)


def _due(budget: str, start: datetime) -> datetime:
    amount, unit = _parsed_budget(budget)
    return deadlines.current_calendar().deadline(start, amount, unit)


def _groups(raw: str | None, data: dict[str, Any]) -> list[str]:
    if not raw:
        return []
    text = raw.strip()
    if text.startswith("${") and text.endswith("}"):
        value = data.get(text[2:-1].strip())
        if isinstance(value, list | tuple):
            return [str(v) for v in value]
        text = str(value or "")
    return [part.strip() for part in text.split(",") if part.strip()]


# ============================================================================ open dossiers
class _OpenDossier:
    """A dossier submitted and moved by the real runtime, then spread back over the last working days."""

    def __init__(self, gen: _Generator, plan: Blueprint, channel: str, submitted_at: datetime):
        self.gen, self.plan, self.channel, self.submitted_at = gen, plan, channel, submitted_at
        self.rng = gen.rng
        self.session = gen.session

    def run(self) -> Dossier:
        rng, plan, procedure = self.rng, self.plan, self.plan.procedure
        applicant = _applicant(rng, business=procedure.process_id == "enterprise_registration")
        submitter = Actor(DEMO_ACTOR, frozenset({"integrator"}))
        dossier = service.submit(self.session, procedure_code=procedure.code, channel=self.channel,
                                 applicant=applicant, received_at=self.submitted_at,
                                 attachments=_attachments(rng, procedure, f"open-{rng.random()}"), actor=submitter)
        runtime = Runtime(self.session)
        steps = [e for e in flatten(plan.after) if e.user_task]
        r = rng.random()
        supplement = r < 0.10 and plan.supplement is not None
        if supplement:
            to_complete = 1  # asked for a supplement at the desk, waiting for the citizen
        elif r < 0.28:
            to_complete = 0  # still at the desk
        else:
            to_complete = rng.randint(1, max(len(steps), 1))  # at least one step stays open
        wait_for_payment = rng.random() < 0.35
        completed = 0
        for _guard in range(60):
            if completed >= to_complete:
                break
            tasks = runtime.open_tasks(dossier.id)
            if not tasks:
                if dossier.status_code != PAYMENT or wait_for_payment:
                    break
                online = rng.random() < PAY_ONLINE.get(self.channel, 0.2)
                runtime.correlate_message("payment_confirmed", business_key=dossier.code,
                                          payload={"amount": dossier.fee_amount,
                                                   "channel": "online" if online else "counter",
                                                   "transaction_id": f"PAY-{rng.randint(10**7, 10**8 - 1)}"},
                                          actor=submitter)
                continue
            task = tasks[0]
            if steps and task.element_id == steps[-1].element_id:
                break  # the last step (the return of the result) stays open
            data = _form_values(task, applicant, "supplement" if supplement else "accept", rng)
            group = task.department or (task.candidate_groups or [None])[0]
            runtime.complete_task(task.id, data, self.gen.people.actor(self.gen.people.pick(rng, group), group))
            completed += 1
        self.session.flush()
        self._spread(dossier)
        return dossier

    def _spread(self, dossier: Dossier) -> None:
        """Move the runtime's timestamps (all within the last second) back over the last working days."""
        session, clock, rng = self.session, self.gen.clock, self.rng
        instance = session.get(Instance, dossier.id)
        tasks = list(session.scalars(select(HumanTask).where(HumanTask.instance_id == dossier.id)
                                     .order_by(HumanTask.created_at, HumanTask.id)))
        events = list(session.scalars(select(EventLogEntry).where(EventLogEntry.instance_id == dossier.id)
                                      .order_by(EventLogEntry.id)))
        origin = instance.created_at
        # anchors: moments where time passed in reality (a step completed, a message arrived)
        moments = sorted({t.completed_at for t in tasks if t.completed_at is not None}
                         | {e.at for e in events if e.kind == "message_received"})
        by_completion = {t.completed_at: t for t in tasks if t.completed_at is not None}
        end_by = self.gen.now - timedelta(minutes=rng.randint(10, 600))
        for factor in (1.0, 0.6, 0.35, 0.2, 0.1, 0.05):
            anchors = [(origin, self.submitted_at)]
            current = self.submitted_at
            for moment in moments:
                task = by_completion.get(moment)
                element = self.plan.pmap.elements.get(task.element_id) if task is not None else None
                if element is not None:
                    budget = element.budget_hours or DEFAULT_BUDGET_HOURS
                    hours = budget * _ratio(rng, SLOW_STEP if element.element_id == self.plan.slow else NORMAL_STEP)
                else:
                    hours = rng.uniform(0.5, 8.0)
                current = clock.add(current, hours * factor)
                anchors.append((moment, current))
            if current <= end_by:
                break
        else:  # squeeze evenly between submission and now
            span = (end_by - self.submitted_at) / (len(moments) + 1)
            anchors = [(origin, self.submitted_at)] + [
                (m, self.submitted_at + span * (i + 1)) for i, m in enumerate(moments)]

        def shift(value: datetime | None) -> datetime | None:
            if value is None:
                return None
            base_orig, base_new = anchors[0]
            for orig, new in anchors:
                if orig <= value:
                    base_orig, base_new = orig, new
                else:
                    break
            return base_new + (value - base_orig)

        for task in tasks:
            task.created_at = shift(task.created_at)
            task.completed_at = shift(task.completed_at)
            task.claimed_at = shift(task.claimed_at)
            element = self.plan.pmap.elements.get(task.element_id)
            if element is not None and element.budget_hours:
                task.due_at = deadlines.budget_deadline(element.budget, task.created_at)
        for event in events:
            event.at = shift(event.at)
        for note in session.scalars(select(Notification).where(Notification.dossier_id == dossier.id)):
            note.created_at = shift(note.created_at)
        for name in ("status_changed_at", "complete_since", "paid_at", "paused_since", "finished_at",
                     "returned_at"):
            setattr(dossier, name, shift(getattr(dossier, name)))
        if dossier.received_at is not None:
            dossier.received_at = dossier.complete_since or dossier.submitted_at
            dossier.appointment_at = deadlines.current_calendar().deadline(
                dossier.received_at, dossier.processing_time, dossier.processing_unit)
            dossier.original_appointment_at = dossier.appointment_at
        instance.created_at = shift(instance.created_at)
        instance.updated_at = shift(instance.updated_at)
        session.flush()


def _form_values(task: HumanTask, applicant: dict, outcome: str, rng: random.Random) -> dict:
    """Values that pass the step's form: the happy choice of every choice, plausible text and numbers."""
    values: dict[str, Any] = {}
    today = utcnow().astimezone(VN_TZ).date()
    for raw in task.form or []:
        f = forms.FieldDef.from_dict(raw)
        if f.readonly:
            continue
        if f.id == "reception_outcome":
            values[f.id] = outcome
            if outcome == "supplement":
                values["missing_documents"] = rng.choice(MISSING)
            continue
        if f.id == "missing_documents":
            continue
        if f.type == "enum" and f.options:
            ids = [oid for oid, _label in f.options]
            values[f.id] = next((o for o in PREFERRED_OPTIONS if o in ids), ids[0])
        elif not f.required:
            continue
        elif f.type == "boolean":
            values[f.id] = True
        elif f.type == "date":
            values[f.id] = today.isoformat()
        elif f.type in forms.NUMBER_TYPES:
            low = f.min if isinstance(f.min, int | float) else None
            high = f.max if isinstance(f.max, int | float) else None
            value = 3
            if low is not None and value < low:
                value = low
            if high is not None and value > high:
                value = high
            values[f.id] = value
        elif f.type == "file":
            values[f.id] = {"name": f"{f.id}.pdf"}
        elif f.pattern:
            values[f.id] = next((s for s in (_digits(rng, n) for n in (12, 10, 13, 9, 8, 6, 15))
                                 if _fullmatch(f.pattern, s)), _digits(rng, 12))
        elif "name" in f.id:
            values[f.id] = applicant["name"][: f.maxlength or 200]
        else:
            text = "Đã kiểm tra, phù hợp quy định" if f.type == "textarea" else (f.label_vi or f.id)
            values[f.id] = text[: f.maxlength or 200]
    return values


def _digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randint(0, 9)) for _ in range(n))


def _fullmatch(pattern: str, value: str) -> bool:
    import re

    try:
        return re.fullmatch(pattern, value) is not None
    except re.error:
        return False
