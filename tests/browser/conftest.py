"""Browser tests: Playwright (sync API) drives Debian's Chromium against a real gunicorn server.

The server runs on a free loopback port with 2 workers against the suite's test database (one
server per test module); before each test the database is emptied and the demo users seeded
(``people``), the one-stop test procedure deployed, and the test submits its dossiers through
``dossiers.service.submit``. One Chromium per test session; a fresh context (1366x768, vi-VN)
per person per test.

Screenshots for docs/screenshots/ are written only with ``MOTCUA_SCREENSHOTS=1``.
Never run ``playwright install``: the system browser at /usr/bin/chromium is used.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.request import urlopen

import pytest

from tests.conftest import fixture_bytes
from tests.live import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    # without these Chromium keeps calling home, which floods a closed network
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1366, "height": 768}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "browser: drives Debian's Chromium (Playwright) against a live gunicorn server"
    )


@dataclass
class LiveServer:
    url: str
    log: Path
    access_log: Path
    tokens: dict[str, str] = field(default_factory=dict)  # demo username -> API token (all scopes)

    def mark(self) -> tuple[int, int]:
        return tuple(p.stat().st_size if p.exists() else 0 for p in (self.log, self.access_log))

    def problems_since(self, mark: tuple[int, int]) -> list[str]:
        """Tracebacks the app logged and requests answered with a 5xx, since `mark`."""

        def read(path: Path, offset: int) -> str:
            if not path.exists():
                return ""
            with path.open("rb") as fh:
                fh.seek(offset)
                return fh.read().decode(errors="replace")

        problems = []
        text = read(self.log, mark[0])
        if "Traceback" in text:
            problems.append(text[text.index("Traceback"):][:3000])
        problems += [line for line in read(self.access_log, mark[1]).splitlines() if '" 5' in line]
        return problems


@pytest.fixture(scope="module")
def gunicorn(database_url, tmp_path_factory) -> Iterator[LiveServer]:
    """gunicorn (2 workers) on a free loopback port, serving the suite's test database; one per module.

    Each test still starts from a clean database, seeded again (see `live_server`). Mind the sign-in
    rate limit of the app (10 POSTs a minute per worker): a module signs people in only as its tests need.
    """
    port = free_port()
    workdir = tmp_path_factory.mktemp("gunicorn")
    instance = workdir / "instance"
    instance.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MOTCUA_INSTANCE_DIR": str(instance),
        "SECRET_KEY": secrets.token_hex(32),  # both workers sign sessions alike from the start
    }
    log, access_log = workdir / "gunicorn.log", workdir / "access.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{port}",
             "--access-logfile", str(access_log), "--graceful-timeout", "5", "wsgi:app"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urlopen(url + "/healthz", timeout=2) as r:  # noqa: S310 - loopback
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("gunicorn did not come up: " + log.read_text(errors="replace")[-2000:])
        time.sleep(0.1)
    yield LiveServer(url, log, access_log)
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def live_server(gunicorn, people, onestop) -> Iterator[LiveServer]:
    """The running server; the demo people seeded afresh (with API tokens), the test procedure deployed.

    `people` makes the suite's autouse cleaner empty every table before the test. The test fails if
    the server logged a traceback or answered with a 5xx while it ran.
    """
    server = LiveServer(gunicorn.url, gunicorn.log, gunicorn.access_log, tokens=people)
    mark = server.mark()
    yield server
    time.sleep(0.2)  # the access log line of the last request
    problems = server.problems_since(mark)
    if problems:
        pytest.fail("the server failed while the test ran:\n" + "\n".join(problems))


@pytest.fixture
def onestop(sessions, people):
    """The library procedure tests/fixtures/bpmn/onestop_fixture.bpmn (procedure 9.999001), deployed.

    It is deployed with a generated layout (`with_diagram`): the file has no BPMN DI, and bpmn-js cannot
    draw a process without one (the dossier page then shows only its list of steps). Deploying the same
    bytes in every test also keeps the server's spec cache, keyed by version id, true across tests.
    """
    from engine.deployments import deploy

    with sessions() as s:
        deploy(s, [("onestop_fixture.bpmn", with_diagram(fixture_bytes("onestop_fixture.bpmn")))], "browser tests")
        s.commit()
    return sessions


BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"
SIZES = {"userTask": (100, 80), "task": (100, 80), "scriptTask": (100, 80), "serviceTask": (100, 80),
         "exclusiveGateway": (50, 50), "parallelGateway": (50, 50), "inclusiveGateway": (50, 50)}


def with_diagram(bpmn: bytes) -> bytes:
    """The same process with a generated diagram (BPMN DI), so that bpmn-js can draw it.

    onestop_fixture.bpmn has no DI: the viewer can place nothing and the dossier page falls back to its
    list of steps. Nodes go in columns by their distance from the start event, in rows by lane.
    """
    from lxml import etree

    root = etree.fromstring(bpmn)
    process = root.find(f"{{{BPMN}}}process")
    lanes = process.findall(f".//{{{BPMN}}}lane")
    lane_of = {ref.text: i for i, lane in enumerate(lanes) for ref in lane.findall(f"{{{BPMN}}}flowNodeRef")}
    flows = process.findall(f"{{{BPMN}}}sequenceFlow")
    nodes = [el for el in process if el.get("id") in lane_of]
    depth = {el.get("id"): 0 for el in nodes if etree.QName(el).localname == "startEvent"}
    queue = list(depth)
    while queue:  # breadth first: a node's column is its shortest distance from the start
        source = queue.pop(0)
        for flow in flows:
            if flow.get("sourceRef") == source and flow.get("targetRef") not in depth:
                depth[flow.get("targetRef")] = depth[source] + 1
                queue.append(flow.get("targetRef"))
    slot: dict[str, int] = {}
    taken: dict[tuple[int, int], int] = {}
    for el in nodes:
        key = (lane_of[el.get("id")], depth.setdefault(el.get("id"), max(depth.values(), default=0) + 1))
        slot[el.get("id")] = taken.get(key, 0)
        taken[key] = slot[el.get("id")] + 1
    rows = [max([n for (lane, _), n in taken.items() if lane == i] or [1]) for i in range(len(lanes))]
    tops = [sum(rows[:i]) * 110 + 40 for i in range(len(lanes) + 1)]
    width = (max(depth.values()) + 1) * 140 + 80
    bounds = {}
    for el in nodes:
        w, h = SIZES.get(etree.QName(el).localname, (36, 36))
        cx = 110 + depth[el.get("id")] * 140
        cy = tops[lane_of[el.get("id")]] + 55 + slot[el.get("id")] * 110
        bounds[el.get("id")] = (cx - w / 2, cy - h / 2, w, h)

    diagram = etree.SubElement(root, f"{{{BPMNDI}}}BPMNDiagram", id="Diagram_browser", nsmap={
        "bpmndi": BPMNDI, "dc": DC, "di": DI})
    plane = etree.SubElement(diagram, f"{{{BPMNDI}}}BPMNPlane", id="Plane_browser", bpmnElement=process.get("id"))

    def shape(element_id: str, x: float, y: float, w: float, h: float, **extra) -> None:
        el = etree.SubElement(plane, f"{{{BPMNDI}}}BPMNShape", id=f"{element_id}_di", bpmnElement=element_id, **extra)
        etree.SubElement(el, f"{{{DC}}}Bounds", x=str(x), y=str(y), width=str(w), height=str(h))

    for i, lane in enumerate(lanes):
        shape(lane.get("id"), 20, tops[i], width, tops[i + 1] - tops[i], isHorizontal="true")
    for element_id, box in bounds.items():
        shape(element_id, *box)
    for flow in flows:
        (sx, sy, sw, sh), (tx, ty, tw, th) = bounds[flow.get("sourceRef")], bounds[flow.get("targetRef")]
        start, end = (sx + sw, sy + sh / 2), (tx, ty + th / 2)
        if tx <= sx:  # a loop back: leave downwards, come in from below
            start, end = (sx + sw / 2, sy + sh), (tx + tw / 2, ty + th)
            below = max(start[1], end[1]) + 20
            points = [start, (start[0], below), (end[0], below), end]
        else:
            middle = (start[0] + end[0]) / 2
            points = [start, (middle, start[1]), (middle, end[1]), end]
        edge = etree.SubElement(plane, f"{{{BPMNDI}}}BPMNEdge", id=f"{flow.get('id')}_di", bpmnElement=flow.get("id"))
        for x, y in points:
            etree.SubElement(edge, f"{{{DI}}}waypoint", x=str(x), y=str(y))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


APPLICANT = {"kind": "person", "name": "Nguyễn Văn Bình", "id_number": "092085001234", "phone": "0912345678",
             "email": "binh@example.vn", "address": "12 Hòa Bình, Ninh Kiều, Cần Thơ"}


@pytest.fixture
def submit_dossier(onestop) -> Callable[..., str]:
    """Submit a dossier of the test procedure at the desk, as the national portal does; returns its code."""
    from dossiers import service
    from engine.actors import Actor

    portal = Actor("congdvc", frozenset({"integrator"}))

    def submit(name: str = APPLICANT["name"], **data) -> str:
        with onestop() as s:
            dossier = service.submit(s, procedure_code="9.999001", channel="in_person",
                                     applicant={**APPLICANT, "name": name}, data=data, actor=portal)
            s.commit()
            return dossier.code

    return submit


@pytest.fixture
def complete_step(onestop) -> Callable[[str, str, dict, str], None]:
    """Complete one open step of a dossier through the engine (setup shortcuts, not what is tested)."""
    from dossiers.service import get_dossier
    from engine.actors import Actor
    from engine.runtime import Runtime

    people = {
        "tiepnhan": Actor("tiepnhan", frozenset({"clerk"}), frozenset({"MOTCUA"})),
        "chuyenvien": Actor("chuyenvien", frozenset({"specialist"}), frozenset({"SXD"})),
        "lanhdao": Actor("lanhdao", frozenset({"leader"}), frozenset({"SXD", "LD_SXD"})),
    }

    def complete(code: str, element_id: str, data: dict, username: str) -> None:
        with onestop() as s:
            dossier = get_dossier(s, code)
            runtime = Runtime(s)
            [task] = [t for t in runtime.open_tasks(dossier.id) if t.element_id == element_id]
            runtime.complete_task(task.id, data, people[username])
            s.commit()

    return complete


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); the browser tests need Debian's Chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@dataclass
class Contexts:
    """Browser contexts of one test: one per person, closed at the end; uncaught script errors collected."""

    browser: object
    base_url: str
    opened: list = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)

    def new_page(self):
        context = self.browser.new_context(base_url=self.base_url, viewport=VIEWPORT, locale="vi-VN",
                                           timezone_id="Asia/Ho_Chi_Minh")
        context.set_default_timeout(10_000)
        self.opened.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: self.script_errors.append(f"{page.url}: {exc}"))
        return page


@pytest.fixture
def contexts(browser, live_server) -> Iterator[Contexts]:
    ctx = Contexts(browser, live_server.url)
    yield ctx
    for context in ctx.opened:
        context.close()
    assert not ctx.script_errors, "uncaught JavaScript errors: " + "; ".join(ctx.script_errors)


@pytest.fixture
def page(contexts):
    """The first person's page, in a fresh context."""
    return contexts.new_page()


def screenshot(page, name: str) -> None:
    """A full-page PNG for docs/screenshots/, only when MOTCUA_SCREENSHOTS=1 (CI leaves them alone)."""
    if os.environ.get("MOTCUA_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / name), full_page=True, animations="disabled", caret="hide")


# ----------------------------------------------------------------- citizens' pages and leaders' reports
TABLET = {"width": 1280, "height": 800}
LIBRARY = ROOT / "bpmn"


@pytest.fixture(scope="module")
def server_secret(gunicorn) -> str:
    """The SECRET_KEY the module's gunicorn signs with, to compute the links the server issues (survey tokens).

    `gunicorn` generates the key and keeps it to itself: it is read back from the environment of the master
    process, a child of this pytest process bound to the server's address.
    """
    bind = f"127.0.0.1:{gunicorn.url.rsplit(':', 1)[1]}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid != os.getpid() or bind not in (proc / "cmdline").read_bytes().split(b"\0"):
                continue
            environ = (proc / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        for entry in environ:
            if entry.startswith(b"SECRET_KEY="):
                return entry.split(b"=", 1)[1].decode()
    pytest.fail("cannot read the SECRET_KEY of the live gunicorn server")


@pytest.fixture
def library(onestop):
    """Every file of bpmn/ (the procedure library, its subprocesses and the fee table), deployed in one deployment.

    The same files in the same order in every test that uses it, after the test procedure: the server's spec
    cache, keyed by version id, stays true across the tests of a module.
    """
    from engine.deployments import deploy

    files = [(p.name, p.read_bytes()) for p in sorted(LIBRARY.rglob("*")) if p.suffix in (".bpmn", ".dmn")]
    with onestop() as s:
        deploy(s, files, "browser tests")
        s.commit()
    return onestop


@pytest.fixture
def tablet(contexts):
    """A page in a fresh touch-screen context at a tablet's size (1280x800), like the center's kiosks."""
    context = contexts.browser.new_context(base_url=contexts.base_url, viewport=TABLET, has_touch=True,
                                           locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh")
    context.set_default_timeout(10_000)
    contexts.opened.append(context)
    page = context.new_page()
    page.on("pageerror", lambda exc: contexts.script_errors.append(f"{page.url}: {exc}"))
    return page
