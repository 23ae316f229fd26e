"""A live platform for tests that need real processes: gunicorn (several workers) and background workers as
real subprocesses on loopback, plus a small HTTP client. Every wait is bounded in time."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str]
    text: str = ""


def call(method: str, url: str, token: str | None = None, body: Any = None, timeout: float = 30,
         headers: dict[str, str] | None = None) -> Response:
    """One HTTP request; connection failures come back as status 0 (never raised)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback only
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:  # noqa: S310
            raw, status, hdrs = r.read(), r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        raw, status, hdrs = e.read(), e.code, dict(e.headers)
    except (OSError, TimeoutError) as e:
        return Response(0, None, {}, repr(e))
    text = raw.decode("utf-8", "replace")
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    return Response(status, parsed, hdrs, text)


def children_of(pid: int) -> list[int]:
    """Direct children of a process, read from /proc (gunicorn's workers are its master's children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces and parentheses
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return sorted(found)


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@dataclass
class Platform:
    """gunicorn + background workers on one database; logs kept in files for inspection."""

    database_url: str
    directory: Path
    web_workers: int = 3
    env_extra: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    web: subprocess.Popen | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {**os.environ, "DATABASE_URL": self.database_url, "MOTCUA_INSTANCE_DIR": str(self.directory),
               "SECRET_KEY": "reliability-suite-secret-key", "MOTCUA_WORKER_POLL_SECONDS": "0.2",
               "PYTHONUNBUFFERED": "1", **self.env_extra}
        env.pop("TEST_DATABASE_URL", None)
        return env

    def log(self, name: str) -> Path:
        return self.directory / f"{name}.log"

    def start_web(self, timeout: float = 45) -> None:
        with self.log("gunicorn").open("ab") as out:
            self.web = subprocess.Popen(
                [str(BIN / "gunicorn"), "--workers", str(self.web_workers), "--bind", f"127.0.0.1:{self.port}",
                 "--access-logfile", "-", "--graceful-timeout", "5", "--timeout", "60", "wsgi:app"],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        try:
            wait_until(lambda: self.web.poll() is not None or call("GET", self.url + "/healthz", timeout=3).status == 200,
                       timeout, what="gunicorn /healthz")
            assert self.web.poll() is None, self.log("gunicorn").read_text()[-3000:]
            wait_until(lambda: len(self.web_pids()) >= self.web_workers, timeout, what="gunicorn workers")
        except BaseException:
            self.stop()  # a fixture failing before its yield gets no teardown: leave no server behind
            raise

    def web_pids(self) -> list[int]:
        return children_of(self.web.pid) if self.web else []

    def start_worker(self) -> subprocess.Popen:
        n = len(self.workers)
        with self.log(f"worker{n}").open("ab") as out:
            proc = subprocess.Popen([str(BIN / "flask"), "--app", "wsgi", "worker"], cwd=ROOT, env=self.env,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.workers.append(proc)
        return proc

    def run_cli(self, *args: str, timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=self.env, input=input,
                              capture_output=True, text=True, timeout=timeout)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.directory.glob("*.log")))

    def stop(self) -> None:
        for proc in [*self.workers, *([self.web] if self.web else [])]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*self.workers, *([self.web] if self.web else [])]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # our own process group only
                proc.wait(timeout=10)
        self.workers.clear()
        self.web = None
