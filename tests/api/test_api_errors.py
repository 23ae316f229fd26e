"""The contract's edges: authentication, scopes, unknown ids, bad input, health."""

from __future__ import annotations

import uuid

from tests.api.test_lifecycle import deploy
from tests.conftest import auth, fixture_bytes


def test_health(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json["database"] == "ok"


def test_health_reports_unreachable_database(tmp_path):
    from server import create_app

    broken = create_app({"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
                         "INSTANCE_DIR": str(tmp_path)})
    r = broken.test_client().get("/healthz")
    assert r.status_code == 503 and r.json["database"] == "unreachable"


def test_missing_and_bad_tokens(client, people):
    assert client.get("/api/v1/processes").status_code == 401
    r = client.get("/api/v1/processes", headers=auth("mc_nonsense"))
    assert r.status_code == 401 and r.headers["Content-Type"] == "application/problem+json"


def test_roles_and_scopes(client, people, sessions):
    from accounts.service import create_token, get_user

    sample = ("sample_dossier.bpmn", fixture_bytes("sample_dossier.bpmn"))
    assert deploy(client, people["tiepnhan"], sample).status_code == 403  # a clerk does not deploy
    with sessions() as s:
        read_only = create_token(s, get_user(s, "admin"), "ro", ["read"])
        s.commit()
    assert deploy(client, read_only, sample).status_code == 403
    assert client.get("/api/v1/processes", headers=auth(read_only)).status_code == 200
    r = client.post("/api/v1/messages", json={"name": "x", "business_key": "y"}, headers=auth(people["tiepnhan"]))
    assert r.status_code == 403


def test_unknown_ids_are_404(client, people):
    token = people["admin"]
    for path in (f"/api/v1/instances/{uuid.uuid4()}", "/api/v1/instances/not-a-uuid", f"/api/v1/tasks/{uuid.uuid4()}",
                 "/api/v1/processes/nope"):
        r = client.get(path, headers=auth(token))
        assert r.status_code == 404, path
        assert r.json["status"] == 404 and r.json["detail"]
    r = client.post("/api/v1/processes/nope/instances", json={}, headers=auth(token))
    assert r.status_code == 404


def test_invalid_bpmn_gives_422_with_lines(client, people):
    r = deploy(client, people["admin"], ("broken.bpmn", b"<bpmn:definitions"))
    assert r.status_code == 422
    assert r.json["lines"] and r.json["lines"][0].startswith("broken.bpmn:1: -: malformed XML")
    r = deploy(client, people["admin"], ("notes.txt", b"hello"))
    assert r.status_code == 415


def test_bad_json_shapes(client, people):
    deploy(client, people["admin"], ("sample_dossier.bpmn", fixture_bytes("sample_dossier.bpmn")))
    r = client.post("/api/v1/processes/sample_dossier/instances", json={"data": "not an object"},
                    headers=auth(people["admin"]))
    assert r.status_code == 422 and "data" in r.json["errors"]
    r = client.post("/api/v1/messages", json={"business_key": "x"}, headers=auth(people["admin"]))
    assert r.status_code == 422 and "name" in r.json["errors"]
    r = client.post("/api/v1/messages", json={"name": "nobody_waits", "business_key": "x"},
                    headers=auth(people["admin"]))
    assert r.status_code == 404


def test_other_department_cannot_see_instance(client, people):
    deploy(client, people["admin"], ("sample_dossier.bpmn", fixture_bytes("sample_dossier.bpmn")))
    r = client.post("/api/v1/processes/sample_dossier/instances", json={}, headers=auth(people["admin"]))
    iid = r.json["id"]
    assert client.get(f"/api/v1/instances/{iid}", headers=auth(people["tiepnhan"])).status_code == 200
    assert client.get(f"/api/v1/instances/{iid}", headers=auth(people["chuyenvien"])).status_code == 404
    listing = client.get("/api/v1/tasks", headers=auth(people["chuyenvien"])).json
    assert listing["total"] == 0


def test_openapi_document(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    paths = r.json["paths"]
    for path in ("/api/v1/deployments", "/api/v1/processes/{process_id}/instances", "/api/v1/tasks/{task_id}/complete",
                 "/api/v1/messages", "/api/v1/instances/{instance_id}/retry"):
        assert path in paths, path
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200 and b"/api/v1/docs-assets/" in docs.data
    assert client.get("/api/v1/docs-assets/swagger-ui-bundle.js").status_code == 200


def test_task_offered_to_a_candidate_group_is_in_that_groups_inbox(client, people, sessions):
    """A task with no lane but camunda:candidateGroups="${desk}" reaches the desk (return_result style)."""
    from engine.actors import SYSTEM
    from engine.deployments import deploy
    from engine.runtime import Runtime

    xml = fixture_bytes("timer_and_error.bpmn").replace(b'camunda:candidateGroups="MOTCUA"',
                                                       b'camunda:candidateGroups="${desk}"')
    with sessions() as s:
        deploy(s, [("offered.bpmn", xml.replace(b'id="reminder"', b'id="offered"'))], "tests")
        inst = Runtime(s).start("offered", data={"wait_for": "PT0S", "total": 4, "parts": 2, "desk": "MOTCUA_PHUONG"},
                                actor=SYSTEM)
        s.commit()
    from engine.worker import fire_due_timers

    fire_due_timers(sessions)
    mine = client.get("/api/v1/tasks", headers=auth(people["motcuaphuong"])).json
    assert [t["instance_id"] for t in mine["items"]] == [inst.id]
    assert mine["items"][0]["candidate_groups"] == ["MOTCUA_PHUONG"] and mine["items"][0]["lane"] is None
    assert client.get("/api/v1/tasks", headers=auth(people["tiepnhan"])).json["total"] == 0
