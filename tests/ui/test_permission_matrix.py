"""Who may reach what: every registered URL rule × every kind of caller.

The rules are read from the application itself, so a route added tomorrow is in the
matrix without anyone writing a test for it. Each rule is called with real ids (a
dossier submitted in the setup, its task, its instance, a stored attachment...) and
with guessed ones (random UUIDs, unknown codes), by a signed-out visitor and by each
demo role: signed in through the real form for the web pages, with the role's API
token for /api/.

One data setup per module: the tables are emptied and seeded once (see `world`);
read-only calls run first, then the calls that may change something.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from sqlalchemy import select, text
from werkzeug.routing import IntegerConverter

from tests.conftest import auth, fixture_bytes
from tests.ui.helpers import PASSWORD, csrf, post_login

# the signed-out visitor first, the administrator (who may change the most) last
CALLERS = ("anonymous", "tiepnhan", "chuyenvien", "lanhdao", "thietke", "congdvc", "lanhdaotrungtam", "admin")
SIGNED_IN = (*CALLERS[1:], "giaothong")
PUBLIC = {"home", "healthz", "auth.login", "auth.language", "favicon",
          # the citizens' pages: what they show is tested in tests/public (nothing personal)
          "public.lookup_page", "public.kiosk_home", "public.kiosk_lookup", "public.kiosk_procedures",
          "public.kiosk_submit", "public.kiosk_submitted", "public.survey"}
# operations the API reserves to administrators (README: "operate instances", calendar overrides)
ADMIN_ONLY_API = {
    ("POST", "instances.instance_suspend"), ("POST", "instances.instance_resume"),
    ("POST", "instances.instance_terminate"), ("POST", "instances.instance_retry"),
    ("POST", "instances.instance_update_data"), ("PUT", "calendar.CalendarDays"),
    ("DELETE", "calendar.CalendarDayDetail"),
}
# the designer studio's API (api/designer.py): versions, XML, diff, lint, rollback, migrations
DESIGNER_API_CALLERS = {"thietke", "admin"}
OVERRIDE_DAY = "2090-06-15"
APPLICANT = {"kind": "person", "name": "Nguyễn Văn Bình", "id_number": "092085001234", "phone": "0912345678"}

# A request that passes each endpoint's own validation, so what is tested is who may do it.
API_JSON = {
    ("POST", "processes.StartInstance"): {"business_key": None, "data": {}},
    ("POST", "instances.instance_terminate"): {"reason": "kiểm thử quyền"},
    ("POST", "instances.instance_update_data"): {"data": {"ghi_chu": "kiểm thử quyền"}},
    ("POST", "tasks.claim"): {},
    ("PUT", "tasks.save_draft"): {"data": {}},
    ("POST", "tasks.complete"): {"data": {}},
    ("POST", "messages.send_message"): {"name": "thong_diep_khong_co", "business_key": "KHONG-CO-0001"},
    ("POST", "dossiers.Dossiers"): {"procedure_code": "9.999001", "channel": "in_person", "applicant": APPLICANT},
    ("POST", "dossiers.supplement"): {"documents": [], "note": "kiểm thử quyền"},
    ("POST", "dossiers.withdraw"): {"reason": "kiểm thử quyền"},
    ("POST", "designer.Migrations"): {"to_version": 1, "dry_run": True},
    ("POST", "designer.Rollback"): {"version": 1, "note": "kiểm thử quyền"},  # 1 is the latest: 409, no change
    ("POST", "dossiers.issue_apology"): {"new_appointment_at": "2090-06-20T08:00:00+07:00", "reason": "kiểm thử quyền"},
    ("PUT", "calendar.CalendarDays"): {"day": "2090-06-16", "working": False, "note": "kiểm thử quyền"},
    ("POST", "tokens.Tokens"): {"name": "kiểm thử quyền", "scopes": ["read"]},
}
API_QUERY = {("GET", "dossiers.register"): {"from": "2026-01-01", "to": "2026-01-31"},
             ("GET", "designer.Diff"): {"from": 1, "to": 1}}
UI_FORM = {
    ("POST", "auth.login"): {"username": "", "password": ""},
    ("POST", "auth.language"): {"next": "/inbox"},
    ("POST", "task_pages.submit"): {"action": "complete"},
    ("POST", "task_pages.assign"): {"assignee": "chuyenvien"},
    # /admin/integrations (ui/integrations.py): administrators only, like every /admin page; delete without
    # its "confirm" field changes nothing, so the world's subscription stays for the other cases
    ("POST", "integrations_admin.subscription_create"): {"url": "http://127.0.0.1:9/matrix-ui", "event_types": "*"},
    ("POST", "integrations_admin.subscription_active"): {"active": "1"},
}

# Gaps found in other modules, kept visible: {case id: reason}. strict=True, so a fix turns them red.
KNOWN_GAPS: dict[str, str] = {}


# ----------------------------------------------------------------- the rules
@dataclass(frozen=True)
class Route:
    rule: str
    endpoint: str
    method: str
    arguments: tuple[str, ...]
    int_arguments: frozenset[str] = field(default_factory=frozenset)

    @property
    def api(self) -> bool:
        return self.rule.startswith("/api/")


def _excluded(rule) -> bool:
    return (rule.endpoint in {"static", "static_ui", "swagger_assets"} or rule.endpoint.startswith("api-docs.")
            or rule.rule.startswith(("/static/", "/api/v1/docs")))


def _routes() -> list[Route]:
    """Every URL rule × method of the application, read from a throwaway instance of it."""
    from server import create_app

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"DATABASE_URL": "sqlite://", "INSTANCE_DIR": tmp, "SECRET_KEY": "rules", "TESTING": True})
        routes = [
            Route(rule.rule, rule.endpoint, method, tuple(_ordered_arguments(rule)),
                  frozenset(name for name, conv in rule._converters.items() if isinstance(conv, IntegerConverter)))
            for rule in app.url_map.iter_rules() if not _excluded(rule)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
        ]
        app.extensions["motcua.engine"].dispose()
    return routes


def _ordered_arguments(rule) -> list[str]:
    return re.findall(r"<(?:[^:<>]+:)?([^<>]+)>", rule.rule)


ROUTES = _routes()


def _variants(route: Route) -> list[str]:
    if not route.arguments:
        return ["real"]
    if len(route.arguments) == 1:
        return ["real", "guessed"]
    return ["real", "guessed", "guessed-last"]  # guessed-last: real ids except the last one


def _case_id(route: Route, variant: str, caller: str) -> str:
    return f"{route.method} {route.rule} [{variant}] {caller}"


def _cases() -> list:
    reading = [r for r in ROUTES if r.method == "GET"]
    writing = [r for r in ROUTES if r.method != "GET"]
    cases = []
    for route in reading + writing:
        for variant, caller in itertools.product(_variants(route), CALLERS):
            case_id = _case_id(route, variant, caller)
            marks = [pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[case_id])] if case_id in KNOWN_GAPS else []
            cases.append(pytest.param(route, variant, caller, id=case_id, marks=marks))
    return cases


# ----------------------------------------------------------------- the data
@dataclass
class World:
    app: object
    tokens: dict[str, str]
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: dict[str, str] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)
    real: dict[str, object] = field(default_factory=dict)
    guessed: dict[str, object] = field(default_factory=dict)
    other: dict[str, str] = field(default_factory=dict)  # ids the matrix never touches


@pytest.fixture(autouse=True)
def _clean_database():
    """Overrides the per-test cleaning of tests/conftest.py: this module shares one setup (`world`)."""
    yield


def _empty_tables(app) -> None:
    from accounts.audit import empty_table
    from engine.db import Base
    from engine.serialization import spec_cache

    engine = app.extensions["motcua.engine"]
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                empty_table(conn, name)  # audit_log is append-only
    spec_cache.clear()


def _task_of(session, instance_id: str, element_id: str) -> str:
    from engine.runtime import Runtime

    [task] = [t for t in Runtime(session).open_tasks(instance_id) if t.element_id == element_id]
    return task.id


@pytest.fixture(scope="module")
def world(app):
    from accounts.service import create_token, create_user, get_user, issue_token
    from dossiers import service as dossier_service
    from engine import calendar_days
    from engine.actors import Actor
    from engine.deployments import deploy
    from engine.runtime import Runtime
    from integrations import webhooks
    from integrations.models import Delivery
    from server.demo import USERS, seed

    _empty_tables(app)
    sessions = app.extensions["motcua.sessions"]
    desk = Actor("tiepnhan", frozenset({"clerk"}), frozenset({"MOTCUA"}))
    upload = b"%PDF-1.4 don de nghi\n"
    digest = hashlib.sha256(upload).hexdigest()
    uploads = Path(app.config["INSTANCE_DIR"]) / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / digest).write_bytes(upload)
    with sessions() as s:
        seed(s, Path(app.config["INSTANCE_DIR"]), PASSWORD)
        tokens = {username: create_token(s, get_user(s, username), "matrix") for username, *_ in USERS}
        spare_token = issue_token(s, get_user(s, "congdvc"), "matrix spare", ["read"])[0]  # the one DELETE revokes
        target = create_user(s, "matrix_target", PASSWORD, ["clerk"], ["MOTCUA"], "Người để quản trị thử")
        deploy(s, [("onestop_fixture.bpmn", fixture_bytes("onestop_fixture.bpmn"))], "tests")
        calendar_days.set_day(s, date.fromisoformat(OVERRIDE_DAY), False, "kiểm thử quyền", "admin")
        hook = webhooks.create_subscription(s, url="http://127.0.0.1:9/matrix", event_types=["*"],
                                            owner=Actor("admin", frozenset({"admin"})))  # deliveries to look at
        s.commit()

        def dossier(attachments=None, accept=True):
            d = dossier_service.submit(s, procedure_code="9.999001", channel="in_person", applicant=APPLICANT,
                                       attachments=attachments, actor=desk)
            s.commit()
            if accept:
                Runtime(s).complete_task(_task_of(s, d.id, "reception"), {"reception_outcome": "accept"}, desk)
                s.commit()
            return d

        attachment = {"name": "don_de_nghi.pdf", "sha256": digest, "size": len(upload),
                      "content_type": "application/pdf"}
        shared = dossier([attachment])
        sxd = dossier()
        waiting = dossier(accept=False)
        world = World(app=app, tokens=tokens)
        world.real = {
            "task_id": _task_of(s, shared.id, "review"), "instance_id": shared.id, "code": shared.code,
            "process_id": "onestop_fixture", "kind": "receipt", "digest": digest, "day": OVERRIDE_DAY,
            "user_id": target.id, "department_code": "SXD",
            "version": 1,  # the designer studio: version 1 of onestop_fixture
            "subscription_id": hook.id, "delivery_id": s.scalar(select(Delivery.id).order_by(Delivery.id)),
            "event_id": s.scalar(select(Delivery.event_id).order_by(Delivery.id)),
            "token_id": spare_token.id,
        }
        world.other = {"sxd_task": _task_of(s, sxd.id, "review"), "sxd_code": sxd.code,
                       "desk_task": _task_of(s, waiting.id, "reception")}
    world.guessed = {
        "task_id": str(uuid.uuid4()), "instance_id": str(uuid.uuid4()), "code": "H99.99-991231-9999",
        "process_id": f"khong_co_{uuid.uuid4().hex[:8]}", "kind": "khong-co", "digest": hashlib.sha256(
            uuid.uuid4().bytes).hexdigest(), "day": "1999-01-04", "user_id": 987654321,
        "department_code": f"KHONG_CO_{uuid.uuid4().hex[:6].upper()}",
    }

    for n, caller in enumerate(("anonymous", *SIGNED_IN), start=1):
        client = app.test_client()
        world.addresses[caller] = client.environ_base["REMOTE_ADDR"] = f"10.82.0.{n}"
        if caller == "anonymous":
            token = csrf(client, "/login")
        else:
            r = post_login(client, caller)
            assert r.status_code == 302, caller
            token = csrf(client, "/inbox")  # a fresh session: a new token
        world.csrf[caller] = token
        world.cookies[caller] = client.get_cookie("session").value
    yield world

    _empty_tables(app)
    with sessions() as s:
        calendar_days.load(s)  # the calendar in force forgets the test's days off


def browser(world: World, caller: str):
    """A browser holding the caller's signed-in session (a copy: signing out in one case ends only that copy)."""
    client = world.app.test_client()
    client.environ_base["REMOTE_ADDR"] = world.addresses[caller]
    client.set_cookie("session", world.cookies[caller])
    return client


def url_for_case(world: World, route: Route, variant: str) -> str:
    path = route.rule
    for i, name in enumerate(route.arguments):
        use_guess = variant == "guessed" or (variant == "guessed-last" and i == len(route.arguments) - 1)
        if route.endpoint == "auth.language":
            value = "xx" if use_guess else "en"
        else:
            fallback = 987654321 if name in route.int_arguments else f"khong-co-{uuid.uuid4().hex[:8]}"
            value = (world.guessed if use_guess else world.real).get(name, fallback)
        path = re.sub(rf"<(?:[^:<>]+:)?{re.escape(name)}>", quote(str(value), safe=""), path)
    return path


def call(world: World, route: Route, variant: str, caller: str, *, with_csrf: bool = True):
    path = url_for_case(world, route, variant)
    key = (route.method, route.endpoint)
    if route.api:
        client = world.app.test_client()
        headers = auth(world.tokens[caller]) if caller != "anonymous" else {}
        kwargs = {"query_string": API_QUERY.get(key)}
        if route.method != "GET":
            kwargs["json"] = API_JSON.get(key, {})
        return client.open(path, method=route.method, headers=headers, **kwargs)
    client = browser(world, caller)
    if route.method == "GET":
        return client.get(path)
    data = dict(UI_FORM.get(key, {}))
    headers = {}
    if with_csrf:
        data["csrf_token"] = world.csrf[caller]
        headers["X-CSRFToken"] = world.csrf[caller]
    return client.open(path, method=route.method, data=data, headers=headers)


def to_login(response) -> bool:
    return response.status_code in (301, 302, 303, 307, 308) and urlsplit(response.location).path == "/login"


# ----------------------------------------------------------------- the matrix
@pytest.mark.parametrize(("route", "variant", "caller"), _cases())
def test_permission_matrix(world, route: Route, variant: str, caller: str):
    r = call(world, route, variant, caller)
    status = r.status_code
    assert status < 500, f"{status}: {r.get_data(as_text=True)[:200]}"
    assert not (status == 400 and "CSRF" in r.get_data(as_text=True)), "the form's token was refused"
    if caller == "admin" and variant == "real" and route.method == "GET" and route.endpoint not in PUBLIC:
        assert status == 200, "the ids of the setup must be real: an administrator sees everything"
    if route.api:
        if caller == "anonymous":
            assert status == 401, "an API call without a token must be refused"
            return
        if (route.method, route.endpoint) in ADMIN_ONLY_API and caller != "admin":
            assert status == 403
        if route.endpoint.startswith("designer.") and caller not in DESIGNER_API_CALLERS:
            assert status == 403, "the designer studio's API is for process designers and administrators"
        if variant != "real":
            assert status in (401, 403, 404), f"a guessed id gave {status}: {r.get_data(as_text=True)[:200]}"
        return
    if route.endpoint in PUBLIC:
        if route.endpoint == "healthz" or (route.endpoint == "auth.login" and route.method == "GET"
                                           and caller == "anonymous"):
            assert status == 200
        elif route.endpoint == "home":
            assert to_login(r) if caller == "anonymous" else status in (301, 302, 303)
        return
    if caller == "anonymous":
        assert to_login(r) or status in (401, 403, 404), f"signed out, got {status}"
        return
    if route.endpoint != "auth.logout":
        assert not to_login(r), "a signed-in caller was sent back to the sign-in page"
    if route.rule.startswith("/admin"):
        if caller != "admin":
            assert status == 403
        elif variant == "real" and route.method == "GET":
            assert status == 200
    if route.rule.startswith("/designer"):  # the designer studio: process designers and administrators only
        if caller not in ("thietke", "admin"):
            assert status == 403
        elif variant == "real" and route.method == "GET":
            assert status == 200
    if variant != "real":
        assert status in (401, 403, 404), f"a guessed id gave {status}"


def test_the_matrix_covers_every_rule_of_the_application(app):
    served = {(rule.rule, method) for rule in app.url_map.iter_rules() if not _excluded(rule)
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == {(route.rule, route.method) for route in ROUTES}
    assert {"/admin/users", "/tasks/<task_id>", "/api/v1/tasks/<task_id>"} <= {route.rule for route in ROUTES}
    assert {"/admin/integrations/webhooks", "/admin/integrations/deliveries/<int:delivery_id>"} <= {
        route.rule for route in ROUTES}


# ------------------------------------------------------- one department from another
def _sxd_task(world):
    from engine.models import HumanTask

    with world.app.extensions["motcua.sessions"]() as s:
        return s.get(HumanTask, world.other["sxd_task"])


@pytest.mark.parametrize(("caller", "path", "expected"), [
    ("chuyenvien", "/tasks/{task}", 200),
    ("chuyenvien", "/dossiers/{code}", 200),
    ("chuyenvien", "/api/v1/tasks/{task}", 200),
    ("chuyenvien", "/api/v1/dossiers/{code}", 200),
    ("giaothong", "/tasks/{task}", 404),
    ("giaothong", "/dossiers/{code}", 404),
    ("giaothong", "/api/v1/tasks/{task}", 404),
    ("giaothong", "/api/v1/dossiers/{code}", 404),
])
def test_another_departments_task_and_dossier_are_invisible(world, caller, path, expected):
    url = path.format(task=world.other["sxd_task"], code=world.other["sxd_code"])
    if url.startswith("/api/"):
        r = world.app.test_client().get(url, headers=auth(world.tokens[caller]))
    else:
        r = browser(world, caller).get(url)
    assert r.status_code == expected
    if expected == 404:  # nothing of the dossier shows (its code is only echoed from the URL)
        body = r.get_data(as_text=True)
        assert APPLICANT["name"] not in body and "Thủ tục thử nghiệm" not in body and "Thẩm định" not in body


def test_a_desk_clerk_cannot_complete_another_departments_task(world):
    task_id = world.other["sxd_task"]
    r = browser(world, "tiepnhan").post(f"/tasks/{task_id}", data={
        "csrf_token": world.csrf["tiepnhan"], "action": "complete", "review_outcome": "ok"})
    assert r.status_code in (403, 404)
    r = world.app.test_client().post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"review_outcome": "ok"}},
                                     headers=auth(world.tokens["tiepnhan"]))
    assert r.status_code == 404  # as for an unknown id: its existence is not confirmed
    task = _sxd_task(world)
    assert task.state == "ready" and task.completed_by is None and task.assignee is None


# ------------------------------------------------------------------------ CSRF
def test_forms_without_the_csrf_token_are_refused_and_change_nothing(world):
    from engine.models import HumanTask

    task_id = world.other["desk_task"]
    clerk = browser(world, "tiepnhan")
    assert clerk.post(f"/tasks/{task_id}/claim").status_code == 400
    assert clerk.post(f"/tasks/{task_id}/claim", data={"csrf_token": "gia-mao"}).status_code == 400
    assert clerk.post(f"/tasks/{task_id}", data={"action": "complete", "reception_outcome": "accept"}).status_code == 400
    assert clerk.post("/logout").status_code == 400
    assert clerk.get("/inbox").status_code == 200  # still signed in
    with world.app.extensions["motcua.sessions"]() as s:
        task = s.get(HumanTask, task_id)
        assert task.assignee is None and task.state == "ready"
    # the same request with the token goes through
    r = clerk.post(f"/tasks/{task_id}/claim", data={"csrf_token": world.csrf["tiepnhan"]})
    assert r.status_code == 302
    with world.app.extensions["motcua.sessions"]() as s:
        assert s.get(HumanTask, task_id).assignee == "tiepnhan"


# ----------------------------------------------------------- the API and its callers
API_ROUTES = [r for r in ROUTES if r.api]


@pytest.mark.parametrize("route", API_ROUTES, ids=[f"{r.method} {r.rule}" for r in API_ROUTES])
def test_the_api_ignores_the_browser_session(world, route):
    """The API is exempt from CSRF because it takes bearer tokens only: a signed-in browser gets 401."""
    client = browser(world, "admin")
    key = (route.method, route.endpoint)
    kwargs = {"query_string": API_QUERY.get(key)}
    if route.method != "GET":
        kwargs["json"] = API_JSON.get(key, {})
    assert client.open(url_for_case(world, route, "guessed"), method=route.method, **kwargs).status_code == 401


@pytest.mark.parametrize("route", [
    pytest.param(r, id=f"{r.method} {r.rule}") for r in API_ROUTES
])
def test_the_api_asks_for_a_token_before_reading_the_request(world, route):
    """Without a token, even an empty or malformed request is answered 401 (not a validation error)."""
    r = world.app.test_client().open(url_for_case(world, route, "guessed"), method=route.method)
    assert r.status_code == 401, r.get_data(as_text=True)[:200]
