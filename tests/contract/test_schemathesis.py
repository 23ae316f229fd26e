"""Fuzzing the live OpenAPI document with schemathesis: no 5xx, no answer outside the contract.

The spec is loaded from the app itself (WSGI, the same document /api/v1/openapi.json serves),
requests carry a real administrator token, and the database holds real deployed procedures
(bpmn/), instances with open tasks and dossiers, so the ids in paths exist. Every operation is
fuzzed twice: with the ids of real resources in its path, and with generated ones. Bounded and
reproducible: ``max_examples`` per operation and mode (MOTCUA_FUZZ_EXAMPLES, default 10),
derandomized, so the run takes a minute or two on SQLite and PostgreSQL alike.

Checks: not_a_server_error, status_code_conformance, content_type_conformance,
response_schema_conformance. Nothing is excluded; the payment confirmation endpoint is fuzzed
too, though without the platform's HMAC signature it can only exercise its refusals.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import schemathesis  # pinned in requirements-dev.txt: a missing install fails, never skips
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import auth, fixture_bytes

EXAMPLES = int(os.environ.get("MOTCUA_FUZZ_EXAMPLES", "10"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
LIBRARY = Path(__file__).resolve().parents[2] / "bpmn"


def _seed(client, sessions, people) -> dict[str, str]:
    """Deploy the procedure library, start instances, submit dossiers: real ids for the paths."""
    import io

    from accounts.service import create_token, get_user

    admin = auth(people["admin"])
    files = [(p.relative_to(LIBRARY).as_posix(), p.read_bytes()) for p in sorted(LIBRARY.rglob("*"))
             if p.suffix in (".bpmn", ".dmn")]
    files.append(("onestop_fixture.bpmn", fixture_bytes("onestop_fixture.bpmn")))
    r = client.post("/api/v1/deployments", headers=admin, content_type="multipart/form-data",
                    data={"files": [(io.BytesIO(content), name.rsplit("/", 1)[-1]) for name, content in files]})
    assert r.status_code == 201, r.json
    started = []
    for key in ("FUZZ-OPS", "FUZZ-TASKS"):  # the instance operations (terminate...) and the task ones apart
        r = client.post("/api/v1/processes/sample_dossier/instances", headers=admin,
                        json={"business_key": key, "data": {}})
        assert r.status_code == 201, r.json
        started.append(r.json["id"])
    instance_id = started[0]
    task = client.get(f"/api/v1/tasks?instance_id={started[1]}", headers=admin).json["items"][0]
    r = client.post("/api/v1/webhooks", headers=admin, json={
        "url": "https://portal.example.vn/hooks", "event_types": ["dossier.accepted"]})
    subscription_id = str(r.json["id"]) if r.status_code == 201 else "1"
    r = client.post("/api/v1/dossiers", headers=auth(people["congdvc"]), json={
        "procedure_code": "9.999001", "channel": "in_person",
        "applicant": {"name": "Nguyễn Văn Bình", "id_number": "001203004567"}})
    assert r.status_code == 201, r.json
    code = r.json["code"]
    client.put("/api/v1/calendar/days", headers=admin, json={"day": "2026-12-31", "working": False})
    with sessions() as s:
        spare = create_token(s, get_user(s, "congdvc"), "fuzz-spare", ["read"])
        s.commit()
    spare_id = client.get("/api/v1/tokens", headers=auth(spare)).json["items"][0]["id"]
    version = client.get("/api/v1/processes/sample_dossier", headers=admin).json["latest_version"]
    return {
        "instance_id": instance_id, "task_id": task["id"], "process_id": "sample_dossier", "code": code,
        "kind": "control-sheet", "day": "2026-12-31", "token_id": str(spare_id), "version": str(version),
        "subscription_id": subscription_id,
    }


def test_openapi_fuzzing(app, client, sessions, people):
    from accounts.service import create_token, get_user

    # the fuzzer's own token: every scope, a limit it will not reach in one run
    with sessions() as s:
        token = create_token(s, get_user(s, "admin"), "schemathesis", None, "100000/minute")
        s.commit()
    ids = _seed(client, sessions, people)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = auth(token)
    failures: list[str] = []
    started = time.monotonic()
    operations = 0
    statuses: Counter[int] = Counter()
    succeeded: set[str] = set()

    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        path_names = [p.name for p in operation.path_parameters]
        known = {name: ids[name] for name in path_names if name in ids}
        variants = [({}, GenerationMode.POSITIVE), ({}, GenerationMode.NEGATIVE)]
        if known:
            variants.insert(0, (known, GenerationMode.POSITIVE))
        for path_parameters, mode in variants:
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters or None)

            @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def run(case) -> None:
                response = case.call_and_validate(headers=headers, checks=CHECKS)
                statuses[response.status_code] += 1
                if response.status_code < 300:
                    succeeded.add(case.operation.label)
                if os.environ.get("MOTCUA_FUZZ_VERBOSE"):
                    print(case.operation.label, response.status_code, f"{response.elapsed:.2f}",
                          response.text[:120] if response.status_code == 409 else "")

            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect every failure, report together
                failures.append(f"{operation.label} [{mode.value}{' real ids' if path_parameters else ''}]:\n"
                                f"{str(exc)[:3000]}")

    elapsed = time.monotonic() - started
    print(f"schemathesis: {operations} operations, {EXAMPLES} examples per variant, {elapsed:.0f} s, "
          f"statuses {dict(sorted(statuses.items()))}")
    assert operations >= 30  # the whole API, not a subset
    # the token works and real ids reach the handlers: most operations answered a success at least once
    # (not all: a deployment of random bytes, a payment without the platform's signature cannot succeed)
    assert len(succeeded) >= 0.5 * operations, sorted(succeeded)
    assert not failures, "\n\n".join(failures)
