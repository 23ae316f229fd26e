"""The designer studio over the REST API: who may do what, and the answers' shapes."""

from __future__ import annotations

import io
import logging

from engine.models import Instance
from engine.runtime import Runtime
from engine.versions import deploy_edited
from tests.conftest import auth
from tests.designer.conftest import (
    DESIGNER,
    FIXTURES,
    OFFICER,
    PROCESS,
    RECEPTION,
    RECORD,
    START_DATA,
    V1_FILE,
    WARD_CLERK,
    opinion_xml,
)

BASE = f"/api/v1/processes/{PROCESS}"


def _running(sessions) -> dict[str, str]:
    with sessions() as s:
        rt = Runtime(s)
        a = rt.start(PROCESS, business_key="H15-API-A", data=dict(START_DATA), actor=WARD_CLERK)
        b = rt.start(PROCESS, business_key="H15-API-B", data=dict(START_DATA), actor=WARD_CLERK)
        s.commit()
        rt.complete_task(rt.open_tasks(b.id)[0].id, RECEPTION, WARD_CLERK)
        s.commit()
        deploy_edited(s, V1_FILE, opinion_xml(), DESIGNER, "Xin ý kiến Công an phường", 1)
        s.commit()
        return {"a": a.id, "b": b.id}


def test_versions_xml_and_diff(client, people, library):
    _running(library)
    h = auth(people["thietke"])
    r = client.get(f"{BASE}/versions", headers=h)
    assert r.status_code == 200
    assert [(v["version"], v["source"], v["running_instances"]) for v in r.json] == [(2, "ui", 0), (1, "disk", 2)]
    assert r.json[0]["note"] == "Xin ý kiến Công an phường" and r.json[0]["base_version"] == 1
    r = client.get(f"{BASE}/versions/2/xml", headers=h)
    assert r.status_code == 200 and r.mimetype == "application/xml"
    assert r.data == opinion_xml()
    assert 'filename="ward_birth_registration.v2.bpmn"' in r.headers["Content-Disposition"]
    r = client.get(f"{BASE}/diff", query_string={"from": 1, "to": 2}, headers=h)
    assert r.status_code == 200
    assert "ask_police_opinion" in {e["id"] for e in r.json["added"]}
    assert r.json["xml_diff"].startswith("--- ")
    assert client.get(f"{BASE}/versions/9/xml", headers=h).status_code == 404
    assert client.get("/api/v1/processes/khong_co/versions", headers=h).status_code == 404
    r = client.get(f"{BASE}/diff", query_string={"from": 1}, headers=h)
    assert r.status_code == 422 and "to" in r.json["errors"]


def test_validate_returns_problems_with_severity_and_element(client, people, library):
    h = auth(people["thietke"])
    content = (FIXTURES / "lint_findings.bpmn").read_bytes()
    r = client.post("/api/v1/deployments/validate", headers=h,
                    data={"files": [(io.BytesIO(content), "lint_findings.bpmn")]}, content_type="multipart/form-data")
    assert r.status_code == 200
    assert r.json["valid"] is False
    dead = [p for p in r.json["problems"] if p["element"] == "ghost_review" and p["severity"] == "error"]
    assert dead and dead[0]["line"] == 40
    assert any(line.startswith("lint_findings.bpmn:32: route: warning:") for line in r.json["lines"])
    r = client.post("/api/v1/deployments/validate", headers=h, data={"files": [(io.BytesIO(opinion_xml()),
                    V1_FILE)]}, content_type="multipart/form-data")
    assert r.status_code == 200 and r.json["valid"] is True
    with library() as s:  # nothing was deployed
        assert s.query(Instance).count() == 0


def test_rollback_and_migration_are_audited(client, people, library, caplog):
    ids = _running(library)
    h = auth(people["thietke"])
    r = client.post(f"{BASE}/migrations", json={"to_version": 2}, headers=h)
    assert r.status_code == 200 and r.json["dry_run"] is True
    plan = {p["instance_id"]: p for p in r.json["plan"]}
    assert plan[ids["a"]]["can_move"] is True and plan[ids["b"]]["can_move"] is False
    assert "wait there forever" in plan[ids["b"]]["reason"]

    with caplog.at_level(logging.INFO, logger="motcua.audit"):
        r = client.post(f"{BASE}/migrations", json={"to_version": 2, "dry_run": False}, headers=h)
        assert r.status_code == 200
        assert [e["instance_id"] for e in r.json["moved"]] == [ids["a"]]
        assert [e["instance_id"] for e in r.json["skipped"]] == [ids["b"]]
        r = client.post(f"{BASE}/rollback", json={"version": 1, "note": "tạm dừng"}, headers=h)
        assert r.status_code == 201
        assert [(p["process_id"], p["version"]) for p in r.json["processes"]] == [(PROCESS, 3)]
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "motcua.audit"]
    assert any("by=thietke action=process.migrate target='process:birth_registration'" in line for line in lines)
    assert any("by=thietke action=process.rollback target='process:birth_registration'" in line
               and "new_version=3" in line for line in lines)
    # the one that did not move still works on version 1
    with library() as s:
        rt = Runtime(s)
        rt.complete_task(rt.open_tasks(ids["b"])[0].id, RECORD, OFFICER)
        s.commit()
        assert rt.get_instance(ids["b"]).version.version == 1

    assert client.post(f"{BASE}/rollback", json={"version": 3}, headers=h).status_code == 409
    assert client.post(f"{BASE}/rollback", json={"version": 99}, headers=h).status_code == 404
    assert client.post(f"{BASE}/rollback", json={}, headers=h).status_code == 422
    assert client.post(f"{BASE}/migrations", json={"to_version": 42}, headers=h).status_code == 404


def test_only_designers_and_administrators(client, people, library):
    _running(library)
    for user in ("tiepnhan", "lanhdao", "congdvc"):
        h = auth(people[user])
        assert client.get(f"{BASE}/versions", headers=h).status_code == 403
        assert client.post(f"{BASE}/rollback", json={"version": 1}, headers=h).status_code == 403
        assert client.post(f"{BASE}/migrations", json={"to_version": 2}, headers=h).status_code == 403
    assert client.get(f"{BASE}/versions", headers=auth(people["admin"])).status_code == 200
    for method, url in (("GET", f"{BASE}/versions"), ("GET", f"{BASE}/versions/1/xml"), ("GET", f"{BASE}/diff"),
                        ("POST", "/api/v1/deployments/validate"), ("POST", f"{BASE}/rollback"),
                        ("POST", f"{BASE}/migrations")):
        assert client.open(url, method=method).status_code == 401
    with library() as s:
        assert [i.version.version for i in s.query(Instance)] == [1, 1]  # nothing moved
