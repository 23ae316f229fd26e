"""`flask demo generate`: a year of dossiers of the library procedures, consistent and usable by every page."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dossiers import bottlenecks
from dossiers.demo_data import DEMO_ACTOR, GenerateError, Options, _form_values, generate
from dossiers.models import OPEN_STATUSES, Dossier, Rating, TrackingSequence
from engine.actors import SYSTEM
from engine.calendar import VN_TZ
from engine.deployments import deploy
from engine.models import EventLogEntry, HumanTask, Instance, InstanceState, ProcessVersion, Wait
from engine.runtime import Runtime
from tests.ui.helpers import sign_in

LIBRARY = Path(__file__).resolve().parents[2] / "bpmn"
NOW = datetime(2026, 6, 15, 10, 0, tzinfo=VN_TZ)
LIBRARY_PROCESSES = {"birth_registration", "marital_status_confirmation", "driving_licence_renewal",
                     "enterprise_registration", "personal_income_tax_refund", "construction_permit_house"}


@pytest.fixture
def library(sessions, people):
    files = [(p.name, p.read_bytes()) for p in sorted(LIBRARY.rglob("*")) if p.suffix in (".bpmn", ".dmn")]
    with sessions() as s:
        deploy(s, files, "tests")
        s.commit()
    return sessions


def _generate(sessions, count=300, **options):
    with sessions() as s:
        return generate(s, Options(dossiers=count, year=2026, seed=7, now=NOW, **options))


def test_generated_dossiers_are_consistent(library, sessions):
    summary = _generate(sessions)
    assert (summary.dossiers, summary.finished, summary.open) == (300, 295, 5)
    with sessions() as s:
        dossiers = list(s.scalars(select(Dossier)))
        instances = {i.id: i for i in s.scalars(select(Instance))}
        assert len(dossiers) == 300 and all(d.id in instances for d in dossiers)  # every dossier has its instance
        assert {d.process_id for d in dossiers} == LIBRARY_PROCESSES  # not the sample diagram
        assert all(instances[d.id].started_by == DEMO_ACTOR for d in dossiers)

        # tracking codes: unique, of the submission day, within tracking_sequences
        assert len({d.code for d in dossiers}) == 300
        sequences = {(t.agency_code, t.day): t.last for t in s.scalars(select(TrackingSequence))}
        for d in dossiers:
            agency, day, number = re.fullmatch(r"(.+)-(\d{6})-(\d{4})", d.code).groups()
            assert agency == d.agency_code and day == d.submitted_at.astimezone(VN_TZ).strftime("%y%m%d")
            assert int(number) <= sequences[(agency, day)]
            assert datetime(2026, 1, 1, tzinfo=VN_TZ) <= d.submitted_at <= NOW

        # the status trail of each dossier runs from 1 to its status
        trails = defaultdict(list)
        for instance_id, detail in s.execute(select(EventLogEntry.instance_id, EventLogEntry.detail)
                                             .where(EventLogEntry.kind == "dossier_status").order_by(EventLogEntry.id)):
            trails[instance_id].append(detail)
        for d in dossiers:
            status = 1
            for change in trails[d.id]:
                assert change["from"] == status, (d.code, trails[d.id])
                status = change["to"]
            assert status == d.status_code, (d.code, trails[d.id])

        open_tasks = Counter(s.scalars(select(HumanTask.instance_id).where(HumanTask.state == "ready")))
        message_waits = set(s.scalars(select(Wait.instance_id).where(Wait.kind == "message")))
        states = set(s.scalars(select(InstanceState.instance_id)))
        maps = {pv.id: bottlenecks.process_map(pv) for pv in s.scalars(select(ProcessVersion))}
        for d in dossiers:
            instance = instances[d.id]
            if d.status_code in OPEN_STATUSES:
                assert instance.status == "waiting", d.code
            if instance.status == "waiting":  # real: made by the runtime, with its state, tasks and waits
                assert d.status_code in (*OPEN_STATUSES, 9) and d.id in states, d.code
                assert open_tasks[d.id] or d.id in message_waits, d.code
            else:
                assert instance.status == ("terminated" if d.status_code == 7 else "completed"), d.code
                assert instance.finished_at is not None and instance.finished_at <= NOW
                assert d.finished_at is not None and not open_tasks[d.id]
            if d.status_code == 10:
                assert d.returned_at and d.result_channel and d.received_at and d.appointment_at
                assert d.received_at <= d.finished_at <= d.returned_at <= NOW
                assert d.late == (d.finished_at > d.appointment_at)
            if d.status_code == 3:
                assert d.refusal_reason and d.received_at is None
        # tasks are the procedure's steps, in the departments of their lanes, handled before now
        runtime = Runtime(s)
        for t in s.scalars(select(HumanTask)):
            pmap = maps[instances[t.instance_id].version_id]
            assert pmap.step(t.element_id) is not None, t.element_id
            assert t.department == runtime.department_for(t.lane)
            assert t.created_at <= NOW and (t.completed_at is None or t.created_at <= t.completed_at <= NOW)
            if pmap.step(t.element_id).budget_hours:
                assert t.due_at is not None and t.due_at > t.created_at

        # the rates, roughly as configured
        n = len(dossiers)
        share = lambda items, test: sum(1 for x in items if test(x)) / len(items)  # noqa: E731
        assert 0.52 <= share(dossiers, lambda d: d.channel == "online") <= 0.74
        assert 0.05 <= share(dossiers, lambda d: d.supplement_count > 0) <= 0.17
        assert share(dossiers, lambda d: d.status_code == 3) <= 0.06
        assert share(dossiers, lambda d: d.status_code == 7) <= 0.04
        assert share(dossiers, lambda d: bool(d.attachments)) >= 0.8
        done = [d for d in dossiers if d.status_code in (9, 10)]
        assert 0 < share(done, lambda d: d.late) <= 0.10
        returned = [d for d in dossiers if d.status_code == 10]
        assert len(returned) >= 0.85 * n
        assert 0.78 <= share(returned, lambda d: d.e_result) <= 0.96
        paid = [d for d in dossiers if d.fee_state == "paid"]
        assert 0.4 <= share(paid, lambda d: d.payment_channel == "online") <= 0.8
        ratings = list(s.scalars(select(Rating)))
        assert 0.45 <= len(ratings) / len(returned) <= 0.75
        assert share(ratings, lambda r: r.score >= 4) >= 0.8
        assert all(r.dossier_id in {d.id for d in returned} for r in ratings)

        # an open dossier can be worked on like any other
        task = s.scalars(select(HumanTask).where(HumanTask.state == "ready").order_by(HumanTask.created_at)).first()
        applicant = {"name": instances[task.instance_id].data.get("applicant_name") or "Nguyễn Văn An"}
        runtime.complete_task(task.id, _form_values(task, applicant, "accept", __import__("random").Random(1)), SYSTEM)
        s.commit()
        assert s.get(HumanTask, task.id).state == "completed"


def test_pages_load_on_generated_data(app, library, sessions):
    _generate(sessions, count=200)
    with sessions() as s:
        samples = {}
        for d in s.scalars(select(Dossier).order_by(Dossier.code)):
            samples.setdefault(d.status_code, d.code)
    assert {3, 10} <= set(samples) and set(samples) & set(OPEN_STATUSES)
    admin = sign_in(app, "admin")
    assert admin.get("/dossiers").status_code == 200
    assert admin.get("/dossiers?status=10").status_code == 200
    for code in samples.values():
        assert admin.get(f"/dossiers/{code}").status_code == 200, code
        diagram = admin.get(f"/dossiers/{code}/diagram.json")
        assert diagram.status_code == 200 and diagram.get_json()["completed"], code
        assert admin.get(f"/dossiers/{code}/slips/control-sheet").status_code == 200
    leader = sign_in(app, "lanhdaotrungtam")
    listing = leader.get("/bottlenecks").get_data(as_text=True)
    for process_id in LIBRARY_PROCESSES:
        assert f'href="/bottlenecks/{process_id}"' in listing
        assert leader.get(f"/bottlenecks/{process_id}").status_code == 200
        data = leader.get(f"/bottlenecks/{process_id}/data.json").get_json()
        steps = data["views"][0]["analysis"]["steps"]
        assert sum(step["completed"] for step in steps) > 0
        assert all(step["diagram_element"] for step in steps)  # every step is drawn on the diagram
    # the slow step of the construction permit stands out
    data = leader.get("/bottlenecks/construction_permit_house/data.json").get_json()
    ratios = {step["element_id"]: step["ratio"]["p90"] for step in data["views"][0]["analysis"]["steps"]}
    assert max(ratios, key=lambda k: ratios[k] or 0) == "land_use_opinion"
    # the leaders' other pages, where they exist
    for endpoint in ("dashboard.index", "dashboard.dossiers", "feedback.index"):
        if endpoint in app.view_functions:
            rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
            assert admin.get(rule.rule).status_code == 200, endpoint


def test_a_second_run_is_refused_unless_appended(library, sessions):
    _generate(sessions, count=60, open=2)
    with sessions() as s:
        before = s.scalar(select(func.count()).select_from(Dossier))
    with pytest.raises(GenerateError, match="--append"):
        _generate(sessions, count=60)
    summary = _generate(sessions, count=40, open=0, append=True)
    assert summary.dossiers == 40
    with sessions() as s:
        codes = list(s.scalars(select(Dossier.code)))
        assert len(codes) == before + 40 == len(set(codes))


def test_nothing_deployed_is_said_clearly(people, sessions):
    with sessions() as s, pytest.raises(GenerateError, match="bpmn deploy"):
        generate(s, Options(dossiers=10, year=2026, now=NOW))
    with sessions() as s, pytest.raises(GenerateError, match="future"):
        generate(s, Options(dossiers=10, year=2027, now=NOW))


def test_the_command_line(app, people, sessions):
    runner = app.test_cli_runner()
    year = str(datetime.now(VN_TZ).year)

    def invoke(*args):
        with app.app_context():
            return runner.invoke(args=["demo", "generate", *args])

    result = invoke("--dossiers", "30", "--year", year)
    assert result.exit_code != 0 and "flask --app wsgi bpmn deploy" in result.output
    files = [(p.name, p.read_bytes()) for p in sorted(LIBRARY.rglob("*")) if p.suffix in (".bpmn", ".dmn")]
    with sessions() as s:
        deploy(s, files, "tests")
        s.commit()
    result = invoke("--dossiers", "30", "--year", year, "--open", "2")
    assert result.exit_code == 0, result.output
    assert "30 dossiers (28 finished, 2 open)" in result.output
    result = invoke("--dossiers", "30", "--year", year)
    assert result.exit_code == 1 and "--append" in result.output
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Dossier)) == 30
