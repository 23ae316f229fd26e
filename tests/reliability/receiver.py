"""A webhook receiver for the reliability suite, as an integrator would write one: a threaded
http.server on 127.0.0.1 that checks the HMAC signature with the standard library, answers 2xx
quickly and records every event id it accepted. It can be down (not listening) and come back on
the same port."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.live import free_port


@dataclass
class Accepted:
    event_id: str
    type: str
    dossier_code: str | None
    at: float  # time.time() when the POST arrived


@dataclass
class HookReceiver:
    secret: str = ""
    port: int = field(default_factory=free_port)
    delay: float = 0.0  # seconds spent per request (keeps a sender busy, so a kill lands mid-send)
    accepted: list[Accepted] = field(default_factory=list)
    refused: Counter = field(default_factory=Counter)  # why a POST was refused (bad signature, ...)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # catch_next(): the next POST is held (not answered) until release(), its sender's port noted
    _catching: bool = False
    caught_port: int | None = None
    _caught: threading.Event = field(default_factory=threading.Event)
    _release: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    @property
    def up(self) -> bool:
        return self._server is not None

    def check(self, headers, body: bytes) -> str | None:
        """What a receiver verifies before trusting the body (docs/integrations.md)."""
        timestamp, signature = headers.get("X-Motcua-Timestamp"), headers.get("X-Motcua-Signature")
        if not timestamp or not signature:
            return "unsigned"
        expected = "sha256=" + hmac.new(self.secret.encode(), timestamp.encode() + b"." + body,
                                        hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return "bad signature"
        if abs(time.time() - int(timestamp)) > 300:
            return "stale timestamp"
        if json.loads(body).get("id") != headers.get("X-Motcua-Event-Id"):
            return "event id header differs from the body"
        return None

    def start(self) -> HookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                arrived = time.time()
                body = self.rfile.read(int(self.headers["Content-Length"]))
                problem = receiver.check(self.headers, body)
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver._lock:
                    hold, receiver._catching = receiver._catching, False
                if hold:
                    receiver.caught_port = self.client_address[1]
                    receiver._caught.set()
                    receiver._release.wait(timeout=30)
                with receiver._lock:
                    if problem:
                        receiver.refused[problem] += 1
                    else:
                        payload = json.loads(body)
                        receiver.accepted.append(Accepted(payload["id"], payload["type"],
                                                          (payload.get("dossier") or {}).get("code"), arrived))
                self.send_response(401 if problem else 204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def catch_next(self) -> None:
        self._caught.clear()
        self._release.clear()
        with self._lock:
            self._catching = True

    def wait_caught(self, timeout: float) -> int:
        """The client port of the held POST, once one arrived."""
        if not self._caught.wait(timeout):
            raise AssertionError(f"no webhook POST arrived within {timeout} s")
        return self.caught_port

    def release(self) -> None:
        self._release.set()

    def counts(self) -> Counter:
        """POSTs accepted per event id."""
        with self._lock:
            return Counter(a.event_id for a in self.accepted)

    def first_arrivals(self) -> dict[str, float]:
        with self._lock:
            first: dict[str, float] = {}
            for a in self.accepted:
                first.setdefault(a.event_id, a.at)
            return first

    def last_arrivals(self) -> dict[str, float]:
        with self._lock:
            return {a.event_id: a.at for a in self.accepted}


def pid_of_connection(client_port: int, pids: list[int]) -> int | None:
    """Which of ``pids`` owns the loopback TCP socket on ``client_port`` (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == client_port:
                inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        try:
            links = {str(fd.readlink()) for fd in Path(f"/proc/{pid}/fd").iterdir()}
        except OSError:
            continue
        if links & inodes:
            return pid
    return None
