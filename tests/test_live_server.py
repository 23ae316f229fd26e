"""The platform as a user runs it: gunicorn + the API walkthrough over real HTTP."""

from __future__ import annotations

import subprocess
import sys

from tests.live import ROOT


def test_api_walkthrough_against_gunicorn(live_server, people):
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "api_walkthrough.py"), "--url", live_server, "--token", people["admin"]],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "instance status: completed" in result.stdout
    assert "wrong type refused (422)" in result.stdout
    assert "message payment_confirmed reached 1 instance(s)" in result.stdout
