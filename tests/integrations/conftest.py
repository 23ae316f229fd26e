"""Fixtures of the integration tests: a real HTTP receiver, settings, a clock that jumps."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine.db import utcnow
from integrations import settings, webhooks
from tests.live import free_port


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: answers ``status`` (or is not listening at all while ``stop``ped)."""

    secret: str = ""
    port: int = 0
    status: int = 200
    reply: bytes = b""  # the body of every answer
    received: list[dict] = field(default_factory=list)  # every request, accepted or not
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    status = receiver.status
                    receiver.received.append({"headers": dict(self.headers), "body": body, "status": status})
                self.send_response(status)
                self.send_header("Content-Length", str(len(receiver.reply)))
                self.end_headers()
                self.wfile.write(receiver.reply)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def accepted(self) -> list[dict]:
        """The requests answered 2xx, as (event id, parsed body), in arrival order."""
        return [{"id": r["headers"]["X-Motcua-Event-Id"], "body": json.loads(r["body"]), "headers": r["headers"]}
                for r in self.received if 200 <= r["status"] < 300]


@pytest.fixture
def receiver():
    r = Receiver(port=free_port()).start()
    yield r
    r.stop()


@pytest.fixture
def quick_settings():
    """Short timeouts; restored afterwards (settings are process-wide)."""
    previous = settings.override(timeout_seconds=2.0)
    yield settings.current()
    settings.restore(previous)


class Clock:
    """Now, moved by hand: backoff and leases are tested without sleeping."""

    def __init__(self, start: datetime | None = None):
        self.now = start or utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> None:
        self.now += timedelta(**kwargs)


def subscribe(session, receiver: Receiver, event_types=("*",), procedure_codes=None):
    from engine.actors import Actor

    sub = webhooks.create_subscription(session, url=receiver.url, event_types=list(event_types),
                                       procedure_codes=procedure_codes,
                                       owner=Actor("congdvc", frozenset({"integrator"})))
    session.commit()
    receiver.secret = sub.secret
    return sub


