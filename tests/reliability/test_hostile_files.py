"""A corpus of hostile BPMN/DMN files (tests/reliability/hostile/): each is refused on deploy — over
the API and by ``flask bpmn validate`` — with a FILE:LINE: ELEMENT: message, nothing is stored and
the server stays healthy. The files in hostile/runtime/ pass the static checks on purpose (the
danger only shows when they run): their instances go to ``error`` within the time limit with a
clear message, and the gunicorn workers that ran them live on."""

from __future__ import annotations

import io
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.deployments import deploy
from engine.models import Deployment, ProcessVersion
from tests.conftest import auth
from tests.live import BIN, ROOT, Platform, call

HOSTILE = Path(__file__).parent / "hostile"
RUNTIME = HOSTILE / "runtime"


def _corpus() -> list[tuple[str, list[tuple[str, bytes]]]]:
    """(case, files deployed together): a hostile DMN goes with the process that calls it."""
    cases = []
    for path in sorted(HOSTILE.iterdir()):
        if path.is_dir() or path.name.endswith(".caller.bpmn"):
            continue
        files = [(path.name, path.read_bytes())]
        caller = path.with_name(path.stem + ".caller.bpmn")
        if caller.exists():
            files.append((caller.name, caller.read_bytes()))
        cases.append((path.stem, files))
    return cases


def _deep_nesting(levels: int = 10_000) -> bytes:
    inner = "<bpmn:documentation>" * levels + "x" + "</bpmn:documentation>" * levels
    return (f'<?xml version="1.0"?><bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
            f'id="d" targetNamespace="t"><bpmn:process id="deep" isExecutable="true">{inner}'
            f'</bpmn:process></bpmn:definitions>').encode()


def _huge_file(megabytes: int = 6) -> bytes:
    # a well-formed file whose size alone is the attack: 6 MB of documentation
    padding = "<bpmn:documentation>" + "Đ" * (megabytes * 1024 * 1024 // 2) + "</bpmn:documentation>"
    return (f'<?xml version="1.0"?><bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
            f'id="d" targetNamespace="t"><bpmn:process id="huge" isExecutable="true">{padding}'
            f'<bpmn:startEvent id="s"/></bpmn:process></bpmn:definitions>').encode()


CORPUS = [*_corpus(), ("deep_nesting_10000", [("deep_nesting.bpmn", _deep_nesting())]),
          ("huge_6mb", [("huge.bpmn", _huge_file())])]


def test_the_corpus_is_complete():
    names = {case for case, _ in CORPUS}
    for expected in ("xxe_file", "xxe_network", "billion_laughs", "wrong_namespace", "deep_nesting_10000", "huge_6mb",
                     "script_dunder_chain", "script_generator_frame", "condition_dunder", "timer_dunder",
                     "dmn_input_cell_escape", "dmn_output_cell_escape"):
        assert expected in names
    assert len(CORPUS) >= 25


@pytest.mark.parametrize("case,files", CORPUS, ids=[case for case, _ in CORPUS])
def test_each_hostile_file_is_refused_over_the_api(client, people, sessions, case, files):
    started = time.monotonic()
    r = client.post("/api/v1/deployments", headers=auth(people["thietke"]), content_type="multipart/form-data",
                    data={"files": [(io.BytesIO(content), name) for name, content in files]})
    elapsed = time.monotonic() - started
    assert r.status_code in (400, 413, 415, 422), (r.status_code, r.get_data(as_text=True)[:500])
    assert r.content_type == "application/problem+json"
    text = r.get_data(as_text=True)
    assert "Traceback" not in text and "root:x:0:0" not in text  # no stack trace, no /etc/passwd
    if r.status_code == 422:  # names the file (FILE:LINE: ELEMENT: message)
        assert any(name in text for name, _ in files), text[:500]
    assert elapsed < 20, f"{case} took {elapsed:.1f} s to refuse"
    assert client.get("/healthz").status_code == 200
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Deployment)) == 0
        assert s.scalar(select(func.count()).select_from(ProcessVersion)) == 0


def test_cli_validation_refuses_every_file_of_the_corpus_in_one_folder(tmp_path):
    # unreadable XML (entities, bombs, truncated files…) does not stop the script checks of the other files:
    # one run names every hostile file
    for _case, files in CORPUS:
        for name, content in files:
            (tmp_path / name).write_bytes(content)
    result = subprocess.run([str(BIN / "flask"), "--app", "wsgi", "bpmn", "validate", str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=180,
                            env={"PATH": "/usr/bin:/bin", "MOTCUA_INSTANCE_DIR": str(tmp_path / "instance")})
    out = result.stdout + result.stderr
    assert result.returncode == 1, out[-2000:]
    assert "Traceback" not in out, out[-3000:]
    for case, files in CORPUS:
        assert any(line.startswith(tuple(f"{name}:" for name, _ in files)) for line in out.splitlines()), \
            f"{case}: not reported\n{out[-2000:]}"


RUNTIME_CASES = sorted(RUNTIME.glob("*.bpmn"))


@pytest.fixture
def bombed_platform(database_url, tmp_path, people, sessions):
    with sessions() as s:
        deploy(s, [(p.name, p.read_bytes()) for p in RUNTIME_CASES], "tests")  # they pass the static checks
        s.commit()
    # the documented worker-level cap: a runaway allocation is a MemoryError, not the OOM killer
    live = Platform(database_url, tmp_path, web_workers=2, env_extra={"MOTCUA_MEMORY_LIMIT_MB": "2048"})
    live.start_web()
    yield live
    live.stop()


def test_scripts_that_explode_at_run_time_put_the_instance_in_error(bombed_platform, people):
    live = bombed_platform
    workers = live.web_pids()
    report = {}
    for path in RUNTIME_CASES:
        process_id = f"rt_{path.stem}"
        started = time.monotonic()
        r = call("POST", f"{live.url}/api/v1/processes/{process_id}/instances", people["admin"], {}, timeout=60)
        elapsed = time.monotonic() - started
        assert r.status == 201, (path.stem, r.status, r.text[:500])
        assert r.body["status"] == "error", (path.stem, r.body)
        message = r.body["error"]["message"]
        assert "evil" in str(r.body["error"]) and message, (path.stem, r.body["error"])
        assert "Traceback" not in message
        assert elapsed < 15, f"{path.stem} took {elapsed:.1f} s"
        report[path.stem] = (round(elapsed, 2), message[:90])
    assert live.web_pids() == workers, "a gunicorn worker died (OOM or crash) running a hostile script"
    assert call("GET", f"{live.url}/healthz").status == 200
    print("\nruntime corpus:", *(f"{k}: {v}" for k, v in report.items()), sep="\n  ")
