"""The spine end to end over HTTP: deploy, start, tasks, gateway, message, completed."""

from __future__ import annotations

import io

from tests.conftest import auth, fixture_bytes


def deploy(client, token, *files, note=None):
    data = {"files": [(io.BytesIO(content), name) for name, content in files]}
    if note:
        data["note"] = note
    return client.post("/api/v1/deployments", data=data, headers=auth(token), content_type="multipart/form-data")


def test_full_lifecycle_over_the_api(client, people):
    admin, clerk, specialist, portal = people["admin"], people["tiepnhan"], people["chuyenvien"], people["congdvc"]
    sample = ("sample_dossier.bpmn", fixture_bytes("sample_dossier.bpmn"))

    r = deploy(client, people["thietke"], sample, note="first")
    assert r.status_code == 201, r.json
    assert r.json["processes"] == [
        {"process_id": "sample_dossier", "name": "Hồ sơ mẫu / Sample dossier", "version": 1,
         "version_id": r.json["processes"][0]["version_id"], "changed": True}
    ]
    # same content again: no new version
    r = deploy(client, people["thietke"], sample)
    assert r.status_code == 201 and r.json["processes"][0]["version"] == 1
    assert r.json["processes"][0]["changed"] is False

    r = client.post("/api/v1/processes/sample_dossier/instances", json={"business_key": "H15-261123-0001", "data": {}},
                    headers=auth(portal))
    assert r.status_code == 201, r.json
    instance_id = r.json["id"]
    assert r.json["status"] == "waiting" and r.json["version"] == 1

    r = client.get(f"/api/v1/tasks?instance_id={instance_id}", headers=auth(clerk))
    assert r.status_code == 200
    [task] = r.json["items"]
    assert task["element_id"] == "receive" and task["lane"] == "MOTCUA"
    assert [f["id"] for f in task["form"]] == ["applicant_name", "fee", "complete"]
    assert task["due_at"] is not None

    # the specialist of another department may not touch the desk's task, nor learn that it exists
    r = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {}}, headers=auth(specialist))
    assert r.status_code == 404

    # wrong types are refused with the field named
    r = client.post(f"/api/v1/tasks/{task['id']}/complete",
                    json={"data": {"applicant_name": "Nguyễn Văn A", "fee": "abc", "complete": True}},
                    headers=auth(clerk))
    assert r.status_code == 422
    assert r.headers["Content-Type"] == "application/problem+json"
    assert "fee" in r.json["errors"]

    r = client.post(f"/api/v1/tasks/{task['id']}/claim", headers=auth(clerk))
    assert r.status_code == 200 and r.json["assignee"] == "tiepnhan"

    r = client.post(f"/api/v1/tasks/{task['id']}/complete",
                    json={"data": {"applicant_name": "Nguyễn Văn A", "fee": 50000, "complete": True}},
                    headers=auth(clerk))
    assert r.status_code == 200, r.json
    assert r.json["data"]["fee_total"] == 60000  # the script task ran
    [review] = r.json["tasks"]
    assert review["element_id"] == "review" and review["lane"] == "SXD"

    # completing twice: 409
    r = client.post(f"/api/v1/tasks/{task['id']}/complete",
                    json={"data": {"applicant_name": "X", "fee": 1, "complete": True}}, headers=auth(clerk))
    assert r.status_code == 409

    r = client.post(f"/api/v1/tasks/{review['id']}/complete", json={"data": {"decision": "approve"}},
                    headers=auth(specialist))
    assert r.status_code == 200, r.json
    assert r.json["status"] == "waiting" and r.json["tasks"] == []  # waiting for payment

    r = client.post("/api/v1/messages", json={"name": "payment_confirmed", "business_key": "H15-261123-0001",
                                               "payload": {"paid_amount": 60000}}, headers=auth(portal))
    assert r.status_code == 200, r.json
    assert [i["id"] for i in r.json["instances"]] == [instance_id]

    r = client.get(f"/api/v1/instances/{instance_id}", headers=auth(admin))
    assert r.json["data"]["paid_amount"] == 60000
    [ret] = r.json["tasks"]
    assert ret["element_id"] == "return_result"

    r = client.post(f"/api/v1/tasks/{ret['id']}/complete", json={"data": {"returned_on": "23/11/2026"}},
                    headers=auth(clerk))
    assert r.status_code == 200, r.json
    assert r.json["status"] == "completed"
    assert r.json["data"]["returned_on"] == "2026-11-23"
    kinds = [e["kind"] for e in r.json["events"]]
    assert kinds[0] == "instance_started" and kinds[-1] == "instance_completed"
    assert kinds.count("task_completed") == 3
    assert "message_received" in kinds
    handoff = [e for e in r.json["events"] if e["kind"] == "task_created" and e["element_id"] == "review"][0]
    assert (handoff["from_lane"], handoff["to_lane"]) == ("MOTCUA", "SXD")


def test_gateway_routes_by_form_data(client, people):
    deploy(client, people["admin"], ("sample_dossier.bpmn", fixture_bytes("sample_dossier.bpmn")))
    r = client.post("/api/v1/processes/sample_dossier/instances", json={}, headers=auth(people["admin"]))
    task = r.json and client.get(f"/api/v1/tasks?instance_id={r.json['id']}", headers=auth(people["admin"])).json["items"][0]
    r = client.post(f"/api/v1/tasks/{task['id']}/complete",
                    json={"data": {"applicant_name": "B", "fee": 0, "complete": False}}, headers=auth(people["admin"]))
    assert r.status_code == 200
    assert r.json["status"] == "completed"
    assert any(e["element_id"] == "end_refused" for e in r.json["events"])
    assert not any(e["element_id"] == "review" for e in r.json["events"])
