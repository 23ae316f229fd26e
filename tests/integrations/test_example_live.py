"""examples/portal_integration.py against a live gunicorn + worker, over real HTTP."""

from __future__ import annotations

import subprocess
import sys

import pytest

from engine.deployments import deploy
from tests.live import ROOT, Platform
from tests.procedures.helpers import Procedure

SECRET = "live-test-payment-secret"


@pytest.fixture
def platform(database_url, tmp_path, people, sessions):
    """gunicorn and the worker, as scripts/serve.sh runs them, with the driving licence procedure deployed."""
    with sessions() as s:
        deploy(s, Procedure("city_driving_licence_renewal.bpmn", "driving_licence_renewal").library_files(), "tests")
        s.commit()
    live = Platform(database_url, tmp_path, web_workers=2,
                    env_extra={"MOTCUA_PAYMENT_WEBHOOK_SECRET": SECRET, "MOTCUA_WORKER_POLL_SECONDS": "0.5"})
    live.start_web()
    live.start_worker()
    yield live.url
    live.stop()


def test_portal_integration_example_end_to_end(platform, people, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("".join(f"{u}={people[u]}\n" for u in ("admin", "congdvc", "tiepnhan", "giaothong")))
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "portal_integration.py"), "--url", platform,
         "--tokens", str(tokens), "--payment-secret", SECRET, "--wait", "60"],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "each exactly once, in order" in result.stdout
    assert "twice: same answer" in result.stdout
    for event in ("dossier.submitted", "dossier.paid", "dossier.result_returned"):
        assert f"← {event}" in result.stdout
