#!/usr/bin/env python3
"""An integration as the national portal and a payment platform would do it (standard library only).

    # with `make run` running, tokens for the people who work the dossier:
    for u in admin congdvc tiepnhan giaothong; do
        echo "$u=$(.venv/bin/flask --app wsgi tokens create --user $u)"; done > /tmp/tokens
    python examples/portal_integration.py --url http://127.0.0.1:8000 --tokens /tmp/tokens \\
        --payment-secret "$(cat instance/payment_webhook_secret)"

1. starts a webhook receiver on 127.0.0.1 and subscribes it to every event of procedure 1.002809
   (driving licence renewal), verifying the signature of everything it receives;
2. submits a dossier online as the portal would (POST /api/v1/dossiers);
3. the one-stop desk accepts it (tiepnhan's token), the fee is requested;
4. pays it as the payment platform would: a signed POST /api/v1/payments/confirmations, twice
   (the platform retries: the second answer is the same and nothing happens twice);
5. the transport department checks, prints and signs (giaothong), the desk returns the result;
6. follows the webhooks until ``dossier.result_returned``, printing each event.

Exits non-zero if an event is missing, duplicated, out of order or wrongly signed.
A token missing from --tokens is replaced by the admin token (administrators may act on any task).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

PROCEDURE = "1.002809"
EXPECTED = ["dossier.submitted", "dossier.accepted", "dossier.payment_requested", "dossier.paid",
            "dossier.handed_off", "dossier.result_issued", "dossier.result_returned"]
WORK = [  # (step, who, form data) in the order the diagram asks for them
    ("receive_dossier", "tiepnhan", {
        "applicant_name": "Lê Hoàng Phúc", "licence_number": "920123456789", "licence_class": "B2",
        "licence_expiry": "20/04/2026", "health_certificate": {"name": "giay_kham_suc_khoe.pdf"},
        "portrait_photo": {"name": "anh_3x4.jpg"}, "reception_outcome": "accept"}),
    ("check_licence_database", "giaothong", {"database_status": "valid", "check_note": "Khớp dữ liệu GPLX"}),
    ("print_new_licence", "giaothong", {"new_licence_number": "920123456789", "new_expiry_date": "2036-03-20"}),
    ("leader_sign", "giaothong", {"leader_decision": "approve"}),
    ("return_to_citizen", "tiepnhan", {"result_channel": "electronic", "returned_on": "2026-03-17",
                                       "receiver_name": "Lê Hoàng Phúc"}),
]


class Api:
    def __init__(self, url: str, tokens: dict[str, str]):
        self.base = url.rstrip("/") + "/api/v1"
        self.tokens = tokens

    def call(self, method: str, path: str, body=None, *, user: str = "admin", expect: int | None = None,
             headers: dict | None = None, raw: bytes | None = None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if user:
            all_headers["Authorization"] = f"Bearer {self.tokens.get(user) or self.tokens['admin']}"
        request = Request(self.base + path, data=data, method=method, headers=all_headers)  # noqa: S310
        try:
            with urlopen(request, timeout=30) as response:  # noqa: S310 - the operator's own server
                status, text = response.status, response.read()
        except HTTPError as err:
            status, text = err.code, err.read()
        payload = json.loads(text) if text else None
        if expect is not None and status != expect:
            raise SystemExit(f"{method} {path}: expected {expect}, got {status}: {payload}")
        return status, payload


class Receiver:
    """The integrator's webhook endpoint: verifies each request, answers 200, remembers it."""

    def __init__(self):
        self.secret = ""
        self.events: list[dict] = []
        self.problems: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                timestamp = self.headers.get("X-Motcua-Timestamp", "")
                expected = "sha256=" + hmac.new(receiver.secret.encode(), timestamp.encode() + b"." + raw,
                                                hashlib.sha256).hexdigest()
                with receiver.lock:
                    if not hmac.compare_digest(expected, self.headers.get("X-Motcua-Signature", "")):
                        receiver.problems.append(f"bad signature on {self.headers.get('X-Motcua-Event-Id')}")
                    elif abs(time.time() - int(timestamp)) > 300:
                        receiver.problems.append("stale timestamp")
                    else:
                        receiver.events.append(json.loads(raw))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/motcua-webhooks"

    def of(self, code: str) -> list[dict]:
        with self.lock:
            return [e for e in self.events if (e.get("dossier") or {}).get("code") == code]


def read_tokens(path: str | None, admin: str | None) -> dict[str, str]:
    tokens = {}
    if path:
        for line in Path(path).read_text().splitlines():
            user, _, token = line.strip().partition("=")
            if token:
                tokens[user] = token
    if admin:
        tokens["admin"] = admin
    if "admin" not in tokens:
        raise SystemExit("give the admin token: --token or an admin=... line in --tokens")
    return tokens


def main() -> int:
    parser = argparse.ArgumentParser(description="portal + payment platform integration against motcua")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", help="an administrator's API token")
    parser.add_argument("--tokens", help="file of USER=TOKEN lines (admin, congdvc, tiepnhan, giaothong)")
    parser.add_argument("--payment-secret", help="PAYMENT_WEBHOOK_SECRET (default: instance/payment_webhook_secret)")
    parser.add_argument("--wait", type=float, default=90.0, help="seconds to wait for the webhooks")
    args = parser.parse_args()
    api = Api(args.url, read_tokens(args.tokens, args.token))
    secret_file = Path(__file__).resolve().parent.parent / "instance" / "payment_webhook_secret"
    payment_secret = args.payment_secret or (secret_file.read_text().strip() if secret_file.exists() else None)
    if not payment_secret:
        raise SystemExit("give --payment-secret (the server's PAYMENT_WEBHOOK_SECRET)")

    receiver = Receiver()
    _, sub = api.call("POST", "/webhooks", {"url": receiver.url, "event_types": ["*"],
                                            "procedure_codes": [PROCEDURE], "description": "portal example"},
                      expect=201)
    receiver.secret = sub["secret"]
    print(f"• subscribed {receiver.url} (subscription {sub['id']})")
    try:
        return run(api, receiver, payment_secret, args.wait)
    finally:
        api.call("DELETE", f"/webhooks/{sub['id']}")


def run(api: Api, receiver: Receiver, payment_secret: str, wait: float) -> int:
    key = uuid.uuid4().hex
    _, dossier = api.call("POST", "/dossiers", {
        "procedure_code": PROCEDURE, "channel": "online",
        "applicant": {"kind": "person", "name": "Lê Hoàng Phúc", "id_number": "092085001234",
                      "email": "phuc@example.vn"},
        "data": {}}, user="congdvc", expect=201, headers={"Idempotency-Key": key})
    code = dossier["code"]
    print(f"• the portal submitted dossier {code} (status {dossier['status_code']})")
    for element_id, user, data in WORK:
        _, page = api.call("GET", f"/tasks?instance_id={dossier['instance_id']}", user=user, expect=200)
        tasks = [t for t in page["items"] if t["element_id"] == element_id]
        if not tasks:
            raise SystemExit(f"step {element_id} is not open for {user}: {[t['element_id'] for t in page['items']]}")
        api.call("POST", f"/tasks/{tasks[0]['id']}/complete", {"data": data}, user=user, expect=200)
        print(f"• {user} completed {element_id}")
        if element_id == "receive_dossier":
            pay(api, code, payment_secret)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and "dossier.result_returned" not in {e["type"] for e in receiver.of(code)}:
        time.sleep(0.5)
    time.sleep(3)  # a duplicate would arrive now
    return check(receiver, code)


def pay(api: Api, code: str, secret: str) -> None:
    _, dossier = api.call("GET", f"/dossiers/{code}", user="congdvc", expect=200)
    body = json.dumps({"transaction_id": f"NAPAS-{uuid.uuid4().hex[:12].upper()}", "dossier_code": code,
                       "amount": dossier["fee_amount"], "channel": "online"}).encode()
    answers = []
    for _ in range(2):  # the platform did not hear the first answer and retries
        timestamp = str(int(time.time()))
        signature = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        answers.append(api.call("POST", "/payments/confirmations", raw=body, user="", expect=200,
                                headers={"X-Motcua-Timestamp": timestamp, "X-Motcua-Signature": signature})[1])
    if answers[0] != answers[1]:
        raise SystemExit(f"a replayed payment got another answer: {answers}")
    print(f"• the payment platform confirmed {answers[0]['amount']} đ (twice: same answer), "
          f"fee {answers[0]['fee_state']}, status {answers[0]['status_code']}")


def check(receiver: Receiver, code: str) -> int:
    events = receiver.of(code)
    for event in events:
        print(f"  ← {event['type']:<28} status {event['dossier']['status_code']:>2}  {event['id']}  "
              f"{json.dumps(event['data'], ensure_ascii=False)[:80]}")
    ids = [e["id"] for e in events]
    types = [e["type"] for e in events]
    problems = list(receiver.problems)
    if len(ids) != len(set(ids)):
        problems.append("an event arrived twice")
    missing = [t for t in EXPECTED if t not in types]
    milestones = [t for t in EXPECTED if t != "dossier.handed_off"]  # handoffs come between them, any number
    if missing:
        problems.append(f"missing events: {', '.join(missing)}")
    elif [t for t in types if t in milestones] != milestones:
        problems.append(f"events out of order: {types}")
    if problems:
        print("FAILED: " + "; ".join(problems))
        return 1
    print(f"• {len(events)} events received, each exactly once, in order: dossier {code} result returned")
    return 0


if __name__ == "__main__":
    sys.exit(main())
