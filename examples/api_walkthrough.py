#!/usr/bin/env python3
"""Drive a whole dossier through motcua using only the REST API (standard library only).

    TOKEN=$(.venv/bin/flask --app wsgi tokens create --user admin)
    python examples/api_walkthrough.py --url http://127.0.0.1:8000 --token "$TOKEN"

Deploys examples/residence_confirmation.bpmn, starts an instance, completes the
reception task with form data (first with a wrong type, to show the 422), lets
the gateway route by that data, completes the review, sends the payment message
and completes the return step, then checks the instance is ``completed``.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

HERE = Path(__file__).resolve().parent


class Api:
    def __init__(self, url: str, token: str):
        self.url = url.rstrip("/") + "/api/v1"
        self.token = token

    def call(self, method: str, path: str, body: dict | None = None, *, raw: bytes | None = None,
             content_type: str = "application/json", expect: int | None = None, headers: dict | None = None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = Request(  # noqa: S310 - the URL is the operator's own server
            self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": content_type, **(headers or {})})
        try:
            with urlopen(request, timeout=30) as response:  # noqa: S310 - the URL is the operator's own server
                status, payload = response.status, json.loads(response.read() or b"null")
        except HTTPError as err:
            status, payload = err.code, json.loads(err.read() or b"null")
        if expect is not None and status != expect:
            raise SystemExit(f"{method} {path}: expected {expect}, got {status}: {payload}")
        return status, payload

    def deploy(self, path: Path) -> dict:
        boundary = uuid.uuid4().hex
        body = (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{path.name}\"\r\n"
            f"Content-Type: application/xml\r\n\r\n"
        ).encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        return self.call("POST", "/deployments", raw=body, content_type=f"multipart/form-data; boundary={boundary}",
                         expect=201)[1]


def step(message: str) -> None:
    print(f"• {message}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    api = Api(args.url, args.token)

    deployed = api.deploy(HERE / "residence_confirmation.bpmn")
    [process] = deployed["processes"]
    step(f"deployed {process['process_id']} version {process['version']}")

    key = f"DEMO-{uuid.uuid4().hex[:8].upper()}"
    _, instance = api.call("POST", f"/processes/{process['process_id']}/instances",
                           {"business_key": key, "data": {}}, expect=201, headers={"Idempotency-Key": key})
    step(f"started instance {instance['id']} (business key {key}): {instance['status']}")

    def only_task():
        _, page = api.call("GET", f"/tasks?instance_id={instance['id']}", expect=200)
        [task] = page["items"]
        return task

    task = only_task()
    step(f"task '{task['name']}' in lane {task['lane']}, form: {[f['id'] for f in task['form']]}")
    status, problem = api.call("POST", f"/tasks/{task['id']}/complete",
                               {"data": {"applicant_name": "Nguyễn Văn An", "fee": "năm mươi nghìn", "complete": True}})
    assert status == 422, problem
    step(f"wrong type refused (422): {problem['errors']}")
    api.call("POST", f"/tasks/{task['id']}/complete",
             {"data": {"applicant_name": "Nguyễn Văn An", "fee": 50000, "complete": True}}, expect=200)

    task = only_task()
    step(f"gateway routed the complete dossier to '{task['name']}' ({task['lane']})")
    api.call("POST", f"/tasks/{task['id']}/complete", {"data": {"decision": "approve"}}, expect=200)

    _, sent = api.call("POST", "/messages", {"name": "payment_confirmed", "business_key": key,
                                             "payload": {"paid_amount": 60000}}, expect=200)
    step(f"message payment_confirmed reached {len(sent['instances'])} instance(s)")

    task = only_task()
    _, done = api.call("POST", f"/tasks/{task['id']}/complete", {"data": {"returned_on": "24/11/2026"}}, expect=200)
    step(f"'{task['name']}' done; instance status: {done['status']}")
    print("events:", " → ".join(e["kind"] for e in done["events"]))
    return 0 if done["status"] == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
