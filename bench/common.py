"""What the benchmarks share: the bench database, a gunicorn server, percentiles, the machine, tables.

Benchmarks run on their own PostgreSQL database (``motcua_bench`` by default, created when missing;
never the test database) and talk to the server over loopback only.
"""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/motcua_bench")
FLOW = ROOT / "bench" / "bpmn" / "standard_flow.bpmn"
LOOP = ROOT / "bench" / "bpmn" / "loop_flow.bpmn"
TIMERS = ROOT / "bench" / "bpmn" / "timer_flow.bpmn"
PASSWORD = "correct-horse-battery"


# ------------------------------------------------------------------ database
def ensure_database(url: str) -> None:
    """CREATE DATABASE when a PostgreSQL URL names one that does not exist yet."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgresql"):
        return
    name = parts.path.lstrip("/")
    if name in ("", "test", "postgres"):
        raise SystemExit(f"refusing to use database {name!r} for benchmarks: name a scratch database")
    import psycopg

    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def reset_database(url: str) -> None:
    """An empty, migrated schema (the benchmark's database only)."""
    from sqlalchemy import text

    from engine.db import make_engine
    from server.migrate import upgrade

    ensure_database(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(url)


def sessions_for(url: str):
    import accounts.models  # noqa: F401 - register tables
    import dossiers.models  # noqa: F401
    import engine.models  # noqa: F401
    from engine.db import make_engine, make_session_factory

    engine = make_engine(url)
    return engine, make_session_factory(engine)


def seed_people(sessions, files: Sequence[Path] = (FLOW,)) -> dict[str, str]:
    """Demo departments and users, the benchmark diagrams deployed; returns {username: API token}."""
    from accounts.service import create_token, get_user
    from engine.deployments import deploy
    from server.demo import USERS, seed

    tokens = {}
    with sessions() as s:
        seed(s, Path(tempfile.mkdtemp(prefix="motcua-bench-")), PASSWORD)
        if files:
            deploy(s, [(f.name, f.read_bytes()) for f in files], "bench")
        for username, *_ in USERS:
            tokens[username] = create_token(s, get_user(s, username), "bench")
        s.commit()
    return tokens


# ------------------------------------------------------------------ server
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn serving wsgi:app on loopback (sync workers, as scripts/serve.sh runs it)."""

    def __init__(self, url: str, workers: int = 2, port: int | None = None, extra_env: dict | None = None):
        self.url = url
        self.workers = workers
        self.port = port or free_port()
        self.instance_dir = tempfile.mkdtemp(prefix="motcua-bench-instance-")
        self.env = {**os.environ, "DATABASE_URL": url, "MOTCUA_INSTANCE_DIR": self.instance_dir,
                    "SECRET_KEY": "bench-" + "x" * 40,
                    # the benchmark client is one token hammering on purpose: lift the per-token limit
                    "MOTCUA_API_RATE_LIMIT": "1000000/minute", **(extra_env or {})}
        self.proc: subprocess.Popen | None = None
        self.log = Path(self.instance_dir) / "gunicorn.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.proc = subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "--workers", str(self.workers), "--bind",
             f"127.0.0.1:{self.port}", "--backlog", "256", "--timeout", "60", "wsgi:app"],
            cwd=ROOT, env=self.env, stdout=self.log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        import http.client

        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited; see {self.log}:\n{self.log.read_text()[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise SystemExit("gunicorn did not answer /healthz within 60 s")

    def worker_pids(self) -> list[int]:
        if self.proc is None:
            return []
        try:
            text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def worker_rss_mb(self) -> list[float]:
        return [rss_mb(pid) for pid in self.worker_pids()]

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# ------------------------------------------------------------------ figures
def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of the values; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def pcts(values_ms: Sequence[float]) -> dict[str, float]:
    return {"n": len(values_ms), "p50": round(percentile(values_ms, 50), 2),
            "p95": round(percentile(values_ms, 95), 2), "p99": round(percentile(values_ms, 99), 2)}


def machine() -> dict[str, str]:
    """CPU model and count, memory, Python and PostgreSQL versions (for the README's table)."""
    info = {"python": platform.python_version(), "cores": str(os.cpu_count())}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        info["memory_gb"] = f"{int(mem) / 1024 / 1024:.1f}"
    except OSError:
        pass
    return info


def postgres_version(url: str) -> str:
    if not url.startswith("postgresql"):
        return "sqlite"
    from sqlalchemy import text

    ensure_database(url)

    from engine.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar()
    engine.dispose()
    return f"PostgreSQL {version}"


def print_machine(url: str) -> dict[str, str]:
    info = machine()
    info["database"] = postgres_version(url)
    print(f"machine: {info.get('cpu', platform.machine())}, {info['cores']} cores, {info.get('memory_gb', '?')} GB; "
          f"Python {info['python']}; {info['database']}")
    return info


def table(headers: Sequence[str], rows: Iterable[Sequence], widths: Sequence[int] | None = None) -> None:
    rows = [[_cell(v) for v in row] for row in rows]
    widths = widths or [max(len(str(h)), *(len(r[i]) for r in rows)) if rows else len(str(h))
                        for i, h in enumerate(headers)]
    cells = zip(headers, widths, strict=True)
    print("  ".join(str(h).ljust(w) if i == 0 else str(h).rjust(w) for i, (h, w) in enumerate(cells)))
    for row in rows:
        print("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths, strict=True))))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def summary(name: str, figures: dict) -> None:
    """The one-line JSON summary every benchmark ends with (run_all.sh collects them)."""
    print("SUMMARY " + json.dumps({"bench": name, **figures}, ensure_ascii=False, default=str))


def progress(done: int, total: int, label: str) -> None:
    """A progress bar on stderr, redrawn at most every 1 % of the way."""
    step = max(1, total // 100)
    if done < total and done % step:
        return
    width = 30
    filled = int(width * done / max(total, 1))
    print(f"\r  {label:<34} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", file=sys.stderr)
    if done >= total:
        print(file=sys.stderr)


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text)
