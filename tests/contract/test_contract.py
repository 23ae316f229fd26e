"""The API contract: tokens, one list convention, ETag/If-Match, Idempotency-Key, the OpenAPI document."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.api.test_lifecycle import deploy
from tests.conftest import auth, fixture_bytes

SAMPLE = ("sample_dossier.bpmn", fixture_bytes("sample_dossier.bpmn"))
FORM = {"applicant_name": "Nguyễn Văn A", "fee": 0, "complete": True}


def _start(client, token, key="HS-1"):
    r = client.post("/api/v1/processes/sample_dossier/instances", json={"business_key": key, "data": {}},
                    headers=auth(token))
    assert r.status_code == 201, r.json
    return r.json["id"]


# ---------------------------------------------------------------------- tokens
def test_token_lifecycle_over_the_api(client, people, sessions):
    from accounts.models import ApiToken

    portal = auth(people["congdvc"])
    r = client.post("/api/v1/tokens", json={"name": "portal sync", "scopes": ["read", "messages"]}, headers=portal)
    assert r.status_code == 201, r.json
    created = r.json
    secret = created["token"]
    assert secret.startswith("mc_") and created["owner"] == "congdvc" and created["scopes"] == ["read", "messages"]
    assert created["rate_limit"] == "600/minute" and created["revoked_at"] is None
    with sessions() as s:  # only the hash is stored
        row = s.get(ApiToken, created["id"])
        assert row.token_hash != secret and secret not in (row.prefix, row.token_hash)

    # the secret is never shown again; my list holds it, someone else's list does not
    mine = client.get("/api/v1/tokens", headers=portal).json
    assert created["id"] in [t["id"] for t in mine["items"]] and all("token" not in t for t in mine["items"])
    assert created["id"] not in [t["id"] for t in client.get("/api/v1/tokens", headers=auth(people["tiepnhan"]))
                                 .json["items"]]
    assert client.get(f"/api/v1/tokens/{created['id']}", headers=auth(people["tiepnhan"])).status_code == 404
    assert client.get("/api/v1/tokens?all=true", headers=portal).status_code == 403
    everyone = client.get("/api/v1/tokens?all=true&page_size=100", headers=auth(people["admin"])).json
    assert {"congdvc", "admin", "tiepnhan"} <= {t["owner"] for t in everyone["items"]}
    assert client.get("/api/v1/tokens?owner=congdvc", headers=auth(people["admin"])).json["total"] == 2

    # a token hands out only the scopes it has; only administrators set a rate limit
    narrow = auth(secret)
    r = client.post("/api/v1/tokens", json={"name": "x", "scopes": ["start"]}, headers=narrow)
    assert r.status_code == 403 and "start" in r.json["detail"]
    r = client.post("/api/v1/tokens", json={"name": "x", "rate_limit": "10000/second"}, headers=portal)
    assert r.status_code == 403 and r.json["errors"]["rate_limit"]
    r = client.post("/api/v1/tokens", json={"name": "x", "rate_limit": "lots"}, headers=auth(people["admin"]))
    assert r.status_code == 422 and "rate_limit" in r.json["errors"]
    r = client.post("/api/v1/tokens", json={"name": "x", "scopes": ["fly"]}, headers=portal)
    assert r.status_code == 422 and "scopes" in r.json["errors"]

    # revoked: the next request is refused at once
    assert client.get("/api/v1/processes", headers=narrow).status_code == 200
    assert client.delete(f"/api/v1/tokens/{created['id']}", headers=portal).status_code == 204
    r = client.get("/api/v1/processes", headers=narrow)
    assert r.status_code == 401 and r.headers["Content-Type"] == "application/problem+json"
    assert client.get(f"/api/v1/tokens/{created['id']}", headers=portal).json["revoked_at"] is not None


def test_a_replayed_token_creation_does_not_store_or_repeat_the_secret(client, people, sessions):
    from engine.models import IdempotencyKey

    headers = {**auth(people["congdvc"]), "Idempotency-Key": "token-once"}
    first = client.post("/api/v1/tokens", json={"name": "sync", "scopes": ["read"]}, headers=headers)
    assert first.status_code == 201 and first.json["token"].startswith("mc_")
    again = client.post("/api/v1/tokens", json={"name": "sync", "scopes": ["read"]}, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json["id"] == first.json["id"] and again.json["token"] is None
    with sessions() as s:
        stored = " ".join(row.response_body or "" for row in s.scalars(select(IdempotencyKey)))
    assert first.json["token"] not in stored


def test_someone_elses_token_is_revoked_only_with_the_admin_scope(client, people):
    victim = client.post("/api/v1/tokens", json={"name": "victim", "scopes": ["read"]},
                         headers=auth(people["congdvc"])).json
    admin_read_only = client.post("/api/v1/tokens", json={"name": "dashboard", "scopes": ["read"]},
                                  headers=auth(people["admin"])).json["token"]
    r = client.delete(f"/api/v1/tokens/{victim['id']}", headers=auth(admin_read_only))
    assert r.status_code == 403 and "admin scope" in r.json["detail"]
    assert client.delete(f"/api/v1/tokens/{victim['id']}", headers=auth(people["admin"])).status_code == 204


def test_revoking_a_token_revokes_the_tokens_it_created(client, people, sessions):
    from accounts.audit import recent

    def make(parent: str, name: str) -> dict:
        r = client.post("/api/v1/tokens", json={"name": name, "scopes": ["read"]}, headers=auth(parent))
        assert r.status_code == 201, r.json
        return r.json

    def works(token: dict) -> bool:
        return client.get("/api/v1/processes", headers=auth(token["token"])).status_code == 200

    # a leaked token mints a child, the child a grandchild; a sibling comes from the person's own token
    leaked = make(people["congdvc"], "leaked")
    child = make(leaked["token"], "made by the leak")
    grandchild = make(child["token"], "made by the child")
    sibling = make(people["congdvc"], "sibling")
    assert child["parent_id"] == leaked["id"] and grandchild["parent_id"] == child["id"]
    assert all(works(t) for t in (leaked, child, grandchild, sibling))

    assert client.delete(f"/api/v1/tokens/{leaked['id']}", headers=auth(people["congdvc"])).status_code == 204
    assert not any(works(t) for t in (leaked, child, grandchild))
    assert works(sibling)
    listed = client.get("/api/v1/tokens?revoked=true&page_size=100", headers=auth(people["congdvc"])).json
    assert {leaked["id"], child["id"], grandchild["id"]} <= {t["id"] for t in listed["items"]}
    with sessions() as s:  # each revocation is in the audit log, the cascaded ones too
        revoked = {r.target for r in recent(s) if r.action == "token.revoke"}
    assert {f"token:{t['id']}" for t in (leaked, child, grandchild)} <= revoked

    # rotating: the new token is made with the old one and kept when the old one is revoked
    old = make(people["congdvc"], "old")
    new = make(old["token"], "new")
    r = client.delete(f"/api/v1/tokens/{old['id']}?keep_children=true", headers=auth(new["token"]))
    assert r.status_code == 204
    assert not works(old) and works(new)
    # a retried or repeated revocation of the old token does not reach the kept one
    assert client.delete(f"/api/v1/tokens/{old['id']}", headers=auth(new["token"])).status_code == 204
    assert works(new)


def test_last_used_is_written_at_most_once_a_minute(client, people, sessions):
    from accounts.models import ApiToken
    from accounts.service import hash_token

    token = people["tiepnhan"]

    def last_used():
        with sessions() as s:
            return s.scalar(select(ApiToken.last_used_at).where(ApiToken.token_hash == hash_token(token)))

    assert last_used() is None
    client.get("/api/v1/processes", headers=auth(token))
    first = last_used()
    assert first is not None
    for _ in range(3):
        client.get("/api/v1/processes", headers=auth(token))
    assert last_used() == first  # no write per request
    with sessions() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
        row.last_used_at = first - timedelta(minutes=2)
        s.commit()
    client.get("/api/v1/processes", headers=auth(token))
    assert last_used() > first


def test_per_token_rate_limit(client, people, sessions):
    from accounts.service import create_token, get_user

    with sessions() as s:
        limited = create_token(s, get_user(s, "congdvc"), "tight", ["read"], "3/minute")
        s.commit()
    answers = [client.get("/api/v1/processes", headers=auth(limited)) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert answers[0].headers["X-RateLimit-Limit"] == "3" and answers[1].headers["X-RateLimit-Remaining"] == "1"
    refused = answers[3]
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60 and "3/minute" in refused.json["detail"]
    # the limit is the token's, not the caller's address: another token goes on
    assert client.get("/api/v1/processes", headers=auth(people["congdvc"])).status_code == 200


def test_tokens_cli_list_and_revoke(app, people):
    cli = app.test_cli_runner()

    class runner:  # the commands open their own database session inside the app
        @staticmethod
        def invoke(args):
            with app.app_context():
                return cli.invoke(args=args)

    r = runner.invoke(args=["tokens", "create", "--user", "congdvc", "--name", "kiosk", "--scope", "read",
                            "--rate-limit", "120 per minute"])
    assert r.exit_code == 0, r.output
    listing = runner.invoke(args=["tokens", "list", "--user", "congdvc"])
    assert listing.exit_code == 0
    line = next(row for row in listing.output.splitlines() if "\tkiosk\t" in row)
    assert "120/minute" in line and "last used never" in line and "active" in line
    token_id = line.split("\t")[0]
    assert runner.invoke(args=["tokens", "revoke", token_id]).exit_code == 0
    assert "\tkiosk\t" not in runner.invoke(args=["tokens", "list", "--user", "congdvc"]).output
    assert "revoked" in runner.invoke(args=["tokens", "list", "--all"]).output
    bad = runner.invoke(args=["tokens", "create", "--user", "congdvc", "--rate-limit", "many"])
    assert bad.exit_code != 0 and "600/minute" in bad.output


# ---------------------------------------------------------------------- lists
def test_one_list_convention(client, people):
    admin = people["admin"]
    deploy(client, admin, SAMPLE)
    for i in range(5):
        _start(client, admin, f"HS-{i}")
    r = client.get("/api/v1/instances?page_size=2&sort=business_key", headers=auth(admin))
    assert r.status_code == 200
    assert (r.json["page"], r.json["page_size"], r.json["total"]) == (1, 2, 5)
    assert [i["business_key"] for i in r.json["items"]] == ["HS-0", "HS-1"]
    links = dict((rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', r.headers["Link"]))
    assert set(links) == {"first", "next", "last"} and "page=2" in links["next"] and "page=3" in links["last"]
    assert "sort=business_key" in links["next"]  # filters and sort carry over
    nxt = client.get(links["next"], headers=auth(admin))
    assert [i["business_key"] for i in nxt.json["items"]] == ["HS-2", "HS-3"] and 'rel="prev"' in nxt.headers["Link"]
    desc = client.get("/api/v1/instances?sort=-business_key&page_size=1", headers=auth(admin)).json
    assert desc["items"][0]["business_key"] == "HS-4"

    r = client.get("/api/v1/instances?sort=colour", headers=auth(admin))
    assert r.status_code == 422 and "colour" in r.json["errors"]["sort"] and "created_at" in r.json["errors"]["sort"]
    r = client.get("/api/v1/tasks?page_size=101", headers=auth(admin))
    assert r.status_code == 422 and "page_size" in r.json["errors"]
    for path in ("/api/v1/instances", "/api/v1/tasks", "/api/v1/dossiers", "/api/v1/processes", "/api/v1/procedures",
                 "/api/v1/tokens", "/api/v1/calendar/days", "/api/v1/webhooks", "/api/v1/deliveries"):
        r = client.get(path, headers=auth(admin))
        assert r.status_code == 200, path
        assert {"items", "page", "page_size", "total"} <= set(r.json), path
        assert 'rel="first"' in r.headers.get("Link", ""), path
        assert client.get(path + "?sort=nope", headers=auth(admin)).status_code == 422, path
    processes = client.get("/api/v1/processes?sort=-process_id", headers=auth(admin)).json
    assert processes["items"][0]["process_id"] == "sample_dossier"


# ---------------------------------------------------------------------- ETag / If-Match
def test_etag_and_if_match_on_instances_and_tasks(client, people):
    admin = people["admin"]
    deploy(client, admin, SAMPLE)
    instance_id = _start(client, admin)
    r = client.get(f"/api/v1/instances/{instance_id}", headers=auth(admin))
    etag = r.headers["ETag"]
    assert etag == f'"v{r.json["lock_version"]}"'
    task = client.get(f"/api/v1/tasks?instance_id={instance_id}", headers=auth(admin)).json["items"][0]
    assert client.get(f"/api/v1/tasks/{task['id']}", headers=auth(admin)).headers["ETag"] == etag

    # someone changes the instance: the holder of the old ETag is refused, nothing is lost
    r = client.post(f"/api/v1/instances/{instance_id}/update_data", json={"data": {"note": "a"}},
                    headers={**auth(admin), "If-Match": etag})
    assert r.status_code == 200 and r.headers["ETag"] != etag
    fresh = r.headers["ETag"]
    r = client.post(f"/api/v1/instances/{instance_id}/update_data", json={"data": {"note": "b"}},
                    headers={**auth(admin), "If-Match": etag})
    assert r.status_code == 412 and r.headers["ETag"] == fresh and r.json["status"] == 412
    r = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": FORM},
                    headers={**auth(admin), "If-Match": etag})
    assert r.status_code == 412
    assert client.get(f"/api/v1/instances/{instance_id}", headers=auth(admin)).json["data"]["note"] == "a"
    r = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": FORM},
                    headers={**auth(admin), "If-Match": fresh})
    assert r.status_code == 200, r.json
    # without If-Match it works as before; "*" matches any version
    r = client.post(f"/api/v1/instances/{instance_id}/suspend", headers={**auth(admin), "If-Match": "*"})
    assert r.status_code == 200 and r.json["status"] == "suspended"
    assert client.post(f"/api/v1/instances/{instance_id}/resume", headers=auth(admin)).status_code == 200


def test_dossier_etag(client, people, onestop):
    desk = auth(people["congdvc"])
    r = client.post("/api/v1/dossiers", headers=desk, json={
        "procedure_code": "9.999001", "channel": "in_person", "applicant": {"name": "Trần Thị C"}})
    assert r.status_code == 201
    code, etag = r.json["code"], r.headers["ETag"]
    got = client.get(f"/api/v1/dossiers/{code}", headers=desk)
    assert got.headers["ETag"] == etag  # stable while nothing changes
    r = client.post(f"/api/v1/dossiers/{code}/withdraw", json={"reason": "x"}, headers={**desk, "If-Match": '"c0"'})
    assert r.status_code == 412
    r = client.post(f"/api/v1/dossiers/{code}/withdraw", json={"reason": "x"}, headers={**desk, "If-Match": etag})
    assert r.status_code == 200 and r.json["status_code"] == 7 and r.headers["ETag"] != etag


# ---------------------------------------------------------------------- Idempotency-Key
def test_idempotency_replays_the_first_answer(client, people, onestop, sessions):
    from engine.models import IdempotencyKey

    desk = auth(people["congdvc"])
    body = {"procedure_code": "9.999001", "channel": "in_person", "applicant": {"name": "Lê Văn D"}}
    first = client.post("/api/v1/dossiers", json=body, headers={**desk, "Idempotency-Key": "portal-1"})
    again = client.post("/api/v1/dossiers", json=dict(reversed(list(body.items()))),
                        headers={**desk, "Idempotency-Key": "portal-1"})
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert client.get("/api/v1/dossiers", headers=desk).json["total"] == 1  # no second effect
    r = client.post("/api/v1/dossiers", json={**body, "channel": "postal"},  # same key, another request
                    headers={**desk, "Idempotency-Key": "portal-1"})
    assert r.status_code == 409 and "Idempotency-Key" in r.json["errors"]
    # keys are per user: another caller's same key is a new request
    other = client.post("/api/v1/dossiers", json=body, headers={**auth(people["tiepnhan"]), "Idempotency-Key": "portal-1"})
    assert other.status_code == 201 and other.json["code"] != first.json["code"]
    r = client.post("/api/v1/dossiers", json=body, headers={**desk, "Idempotency-Key": "has space"})
    assert r.status_code == 400

    # messages, deployments and tokens too
    admin = auth(people["admin"])
    deploy(client, people["admin"], SAMPLE)
    msg = {"name": "nobody_waits", "business_key": "X-1"}
    m1 = client.post("/api/v1/messages", json=msg, headers={**admin, "Idempotency-Key": "m-1"})
    m2 = client.post("/api/v1/messages", json=msg, headers={**admin, "Idempotency-Key": "m-1"})
    assert m1.status_code == m2.status_code and m1.json == m2.json
    t1 = client.post("/api/v1/tokens", json={"name": "once"}, headers={**admin, "Idempotency-Key": "t-1"})
    t2 = client.post("/api/v1/tokens", json={"name": "once"}, headers={**admin, "Idempotency-Key": "t-1"})
    assert t1.status_code == 201 and t2.json["id"] == t1.json["id"]
    import io

    two = ("onestop_fixture.bpmn", fixture_bytes("onestop_fixture.bpmn"))

    def files():  # two files: every one is read whole after the key's fingerprint
        return {"files": [(io.BytesIO(SAMPLE[1]), SAMPLE[0]), (io.BytesIO(two[1]), two[0])], "note": "n"}

    d1 = client.post("/api/v1/deployments", data=files(), headers={**admin, "Idempotency-Key": "d-1"},
                     content_type="multipart/form-data")
    d2 = client.post("/api/v1/deployments", data=files(), headers={**admin, "Idempotency-Key": "d-1"},
                     content_type="multipart/form-data")
    assert d1.status_code == 201, d1.json
    assert d2.headers.get("Idempotent-Replayed") == "true" and d2.json == d1.json

    # a failed request is not remembered: the same key may be retried once the input is fixed
    bad = client.post("/api/v1/processes/sample_dossier/instances", json={"data": {}, "version": 99},
                      headers={**admin, "Idempotency-Key": "s-1"})
    assert bad.status_code == 404
    with sessions() as s:
        assert s.scalar(select(IdempotencyKey).where(IdempotencyKey.key == "s-1")) is None


def test_idempotency_keys_expire(client, people, sessions, app):
    from engine import idempotency
    from engine.models import IdempotencyKey

    admin = auth(people["admin"])
    deploy(client, people["admin"], SAMPLE)
    body = {"business_key": "E-1", "data": {}}
    first = client.post("/api/v1/processes/sample_dossier/instances", json=body,
                        headers={**admin, "Idempotency-Key": "old"})
    with sessions() as s:
        row = s.scalar(select(IdempotencyKey).where(IdempotencyKey.key == "old"))
        row.created_at = row.created_at - timedelta(hours=25)
        s.commit()
    # past 24 hours the key is forgotten: the same key starts a new instance
    again = client.post("/api/v1/processes/sample_dossier/instances", json=body,
                        headers={**admin, "Idempotency-Key": "old"})
    assert again.status_code == 201 and again.json["id"] != first.json["id"]
    with sessions() as s:
        row = s.scalar(select(IdempotencyKey).where(IdempotencyKey.key == "old"))
        row.created_at = row.created_at - timedelta(hours=25)
        s.commit()
        assert idempotency.purge(s) == 1
        s.commit()
        assert s.scalar(select(IdempotencyKey).where(IdempotencyKey.key == "old")) is None


# ---------------------------------------------------------------------- OpenAPI
@pytest.fixture
def spec(client) -> dict:
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    return r.json


def test_openapi_document_is_valid(spec):
    from openapi_spec_validator import validate

    validate(spec)
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _has_example(spec: dict, schema: dict, depth: int = 0) -> bool:
    schema = _resolve(spec, schema)
    if "example" in schema or depth > 4:
        return "example" in schema
    if schema.get("type") == "array" and "items" in schema:
        return _has_example(spec, schema["items"], depth + 1)
    return any(_has_example(spec, prop, depth + 1) for prop in schema.get("properties", {}).values())




# Called by the payment platform, authenticated by an HMAC signature instead of a bearer token.
SIGNED = {"/api/v1/payments/confirmations"}


def test_every_operation_is_documented(spec):
    problems = []
    ours = {f"{m.upper()} {path}" for path, ops in spec["paths"].items() for m in ops if m != "parameters"}
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            if method == "parameters":
                continue
            label = f"{method.upper()} {path}"
            if not op.get("summary") or not op.get("description"):
                problems.append(f"{label}: summary and description")
            if op.get("security") != [{"bearerAuth": []}] and path not in SIGNED:
                problems.append(f"{label}: security")
            for code in ("400", "401", "403", "429"):
                content = op["responses"].get(code, {}).get("content", {})
                if "application/problem+json" not in content:
                    problems.append(f"{label}: {code} problem+json")
            if "{" in path and "404" not in op["responses"]:
                problems.append(f"{label}: 404")
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None and "example" not in body and "examples" not in body:
                problems.append(f"{label}: request example")
            for code, response in op["responses"].items():
                media = response.get("content", {}).get("application/json")
                if code.startswith("2") and media and "example" not in media and not _has_example(spec, media["schema"]):
                    problems.append(f"{label}: {code} response example")
    assert len(ours) > 45  # every blueprint's operations are checked (designer, webhooks, payments too)
    assert not problems, "\n".join(problems)


def test_idempotency_and_if_match_are_documented(spec):
    creating = [("/api/v1/processes/{process_id}/instances", "post"), ("/api/v1/dossiers", "post"),
                ("/api/v1/messages", "post"), ("/api/v1/deployments", "post"), ("/api/v1/tokens", "post"),
                ("/api/v1/dossiers/{code}/supplement", "post"), ("/api/v1/dossiers/{code}/apologies", "post"),
                ("/api/v1/webhooks", "post"), ("/api/v1/processes/{process_id}/rollback", "post")]
    for path, method in creating:
        names = [p["name"] for p in spec["paths"][path][method].get("parameters", [])]
        assert "Idempotency-Key" in names, path
    for path in ("/api/v1/tasks/{task_id}/complete", "/api/v1/instances/{instance_id}/update_data",
                 "/api/v1/instances/{instance_id}/terminate", "/api/v1/dossiers/{code}/withdraw"):
        op = spec["paths"][path]["post"]
        assert "If-Match" in [p["name"] for p in op["parameters"]] and "412" in op["responses"], path
    assert "ETag" in spec["paths"]["/api/v1/instances/{instance_id}"]["get"]["responses"]["200"]["headers"]
    assert "Link" in spec["paths"]["/api/v1/instances"]["get"]["responses"]["200"]["headers"]


def test_docs_page_works_offline(client):
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "swagger" in page.lower()
    external = [u for u in re.findall(r'(?:src|href)="([^"]+)"', page) if u.startswith(("http:", "https:", "//"))]
    assert not external, external
    for asset in re.findall(r'(?:src|href)="(/api/v1/docs-assets/[^"]+)"', page):
        assert client.get(asset).status_code == 200, asset


def test_an_answer_lost_in_a_crash_is_not_repeated(client, people, sessions):
    """The work and the key commit together; if the server died before storing the answer, a retry
    must neither run the work again nor hang on "still processing"."""
    from engine.models import IdempotencyKey

    admin = auth(people["admin"])
    deploy(client, people["admin"], SAMPLE)
    body = {"business_key": "L-1", "data": {}}
    first = client.post("/api/v1/processes/sample_dossier/instances", json=body,
                        headers={**admin, "Idempotency-Key": "lost"})
    assert first.status_code == 201
    with sessions() as s:  # what a crash between the two commits leaves behind
        row = s.scalar(select(IdempotencyKey).where(IdempotencyKey.key == "lost"))
        row.response_status, row.response_body = None, None
        row.created_at = row.created_at - timedelta(minutes=5)
        s.commit()
    again = client.post("/api/v1/processes/sample_dossier/instances", json=body,
                        headers={**admin, "Idempotency-Key": "lost"})
    assert again.status_code == 409 and "answer was lost" in again.json["detail"]
    listed = client.get("/api/v1/instances?business_key=L-1", headers=admin).json
    assert listed["total"] == 1
