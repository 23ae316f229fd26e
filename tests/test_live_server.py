"""The platform as a user runs it: gunicorn + the API walkthrough over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(database_url, tmp_path, people):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "MOTCUA_INSTANCE_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urlopen(url + "/healthz", timeout=2) as r:  # noqa: S310
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("gunicorn did not come up: " + proc.stderr.read().decode()[-2000:])
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_api_walkthrough_against_gunicorn(live_server, people):
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "api_walkthrough.py"), "--url", live_server, "--token", people["admin"]],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "instance status: completed" in result.stdout
    assert "wrong type refused (422)" in result.stdout
    assert "message payment_confirmed reached 1 instance(s)" in result.stdout
