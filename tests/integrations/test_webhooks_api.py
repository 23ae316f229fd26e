"""The webhook API: who may subscribe, see deliveries, redeliver; validation answers name the field."""

from __future__ import annotations

from sqlalchemy import select

from tests.conftest import auth
from tests.dossiers.conftest import submit
from tests.integrations.conftest import subscribe

HOOK = {"url": "http://127.0.0.1:9/hooks", "event_types": ["dossier.submitted", "dossier.accepted"],
        "procedure_codes": ["9.999001"], "description": "Cổng DVC tỉnh"}


def test_subscriptions_crud_and_visibility(onestop, client, people):
    r = client.post("/api/v1/webhooks", json=HOOK, headers=auth(people["congdvc"]))
    assert r.status_code == 201, r.json
    created = r.json
    assert created["secret"].startswith("whsec_") and created["owner"] == "congdvc" and created["active"] is True
    sub_id = created["id"]
    r = client.get(f"/api/v1/webhooks/{sub_id}", headers=auth(people["congdvc"]))
    assert r.status_code == 200 and "secret" not in r.json  # shown once
    assert client.get("/api/v1/webhooks", headers=auth(people["congdvc"])).json["total"] == 1
    assert client.get("/api/v1/webhooks", headers=auth(people["admin"])).json["total"] == 1
    # a clerk may not; another integrator's subscription is not found for... nobody but its owner and admins
    assert client.post("/api/v1/webhooks", json=HOOK, headers=auth(people["tiepnhan"])).status_code == 403
    assert client.get(f"/api/v1/webhooks/{sub_id}", headers=auth(people["tiepnhan"])).status_code == 403
    admin_hook = client.post("/api/v1/webhooks", json=HOOK, headers=auth(people["admin"])).json
    assert client.get(f"/api/v1/webhooks/{admin_hook['id']}", headers=auth(people["congdvc"])).status_code == 404
    assert client.get("/api/v1/webhooks", headers=auth(people["congdvc"])).json["total"] == 1

    r = client.post("/api/v1/webhooks", json={**HOOK, "event_types": ["dossier.nope"]},
                    headers=auth(people["admin"]))
    assert r.status_code == 422 and "event_types" in r.json["errors"]
    r = client.post("/api/v1/webhooks", json={**HOOK, "url": "ftp://x"}, headers=auth(people["admin"]))
    assert r.status_code == 422 and "url" in r.json["errors"]
    r = client.patch(f"/api/v1/webhooks/{sub_id}", json={"active": False, "event_types": ["*"]},
                     headers=auth(people["congdvc"]))
    assert r.status_code == 200 and r.json["active"] is False and r.json["event_types"] == ["*"]
    r = client.patch(f"/api/v1/webhooks/{sub_id}", json={"url": "nope"}, headers=auth(people["congdvc"]))
    assert r.status_code == 422
    assert client.delete(f"/api/v1/webhooks/{sub_id}", headers=auth(people["congdvc"])).status_code == 204
    assert client.get(f"/api/v1/webhooks/{sub_id}", headers=auth(people["congdvc"])).status_code == 404


def test_delivery_log_event_and_redeliver(onestop, client, people, sessions):
    from accounts.audit import recent

    sub = client.post("/api/v1/webhooks", json=HOOK, headers=auth(people["congdvc"])).json
    with onestop() as s:
        d = submit(s)
    page = client.get("/api/v1/deliveries?status=pending", headers=auth(people["congdvc"])).json
    assert page["total"] == 1
    [item] = page["items"]
    assert item["event_type"] == "dossier.submitted" and item["dossier_code"] == d.code
    assert item["subscription_id"] == sub["id"] and item["attempts"] == 0
    assert client.get("/api/v1/deliveries?status=delivered", headers=auth(people["congdvc"])).json["total"] == 0
    assert client.get("/api/v1/deliveries?status=bogus", headers=auth(people["congdvc"])).status_code == 422
    assert client.get("/api/v1/deliveries", headers=auth(people["chuyenvien"])).status_code == 403
    detail = client.get(f"/api/v1/deliveries/{item['id']}", headers=auth(people["congdvc"])).json
    assert detail["body"]["id"] == item["event_id"] and detail["attempt_log"] == []
    event = client.get(f"/api/v1/events/{item['event_id']}", headers=auth(people["congdvc"]))
    assert event.status_code == 200 and event.json["payload"]["dossier"]["code"] == d.code
    assert [x["id"] for x in event.json["deliveries"]] == [item["id"]]
    assert client.get("/api/v1/events/not-an-event", headers=auth(people["congdvc"])).status_code == 404
    r = client.post(f"/api/v1/deliveries/{item['id']}/redeliver", headers=auth(people["congdvc"]))
    assert r.status_code == 200 and r.json["status"] == "pending"
    with sessions() as s:
        [row] = [x for x in recent(s) if x.action == "webhook.redeliver"]
    assert (row.target, row.actor, row.details["event_id"]) == (f"delivery:{item['id']}", "congdvc", item["event_id"])
    assert client.post("/api/v1/deliveries/987654/redeliver", headers=auth(people["admin"])).status_code == 404


def test_subscription_changes_over_the_api_are_audited_without_the_secret(onestop, client, people, sessions):
    from accounts.audit import recent

    created = client.post("/api/v1/webhooks", json=HOOK, headers=auth(people["congdvc"])).json
    sub_id = created["id"]
    client.patch(f"/api/v1/webhooks/{sub_id}", json={"active": False}, headers=auth(people["congdvc"]))
    assert client.delete(f"/api/v1/webhooks/{sub_id}", headers=auth(people["admin"])).status_code == 204
    with sessions() as s:
        rows = [r for r in recent(s) if r.target == f"webhook:{sub_id}"]
    assert sorted((r.action, r.actor) for r in rows) == [
        ("webhook.create", "congdvc"), ("webhook.delete", "admin"), ("webhook.update", "congdvc")]
    assert all(created["secret"] not in repr(r.details) for r in rows)


def test_a_new_url_takes_the_deliveries_still_to_send(onestop, client, people, sessions):
    from integrations.models import Delivery

    sub = client.post("/api/v1/webhooks", json=HOOK, headers=auth(people["congdvc"])).json
    with onestop() as s:
        submit(s)
    new_url = "http://127.0.0.1:10/new-hooks"
    assert client.patch(f"/api/v1/webhooks/{sub['id']}", json={"url": new_url},
                        headers=auth(people["congdvc"])).status_code == 200
    with sessions() as s:
        assert {d.url for d in s.scalars(select(Delivery).where(Delivery.subscription_id == sub["id"]))} == {new_url}


def test_a_receivers_answer_body_is_not_kept(onestop, receiver, quick_settings, sessions):
    # else a subscription to an internal address would read that service's answers through the log
    from sqlalchemy import select

    from integrations import webhooks
    from integrations.models import Delivery, DeliveryAttempt

    receiver.status = 500
    receiver.reply = b"internal service secret page"
    with sessions() as s:
        subscribe(s, receiver)
    with onestop() as s:
        submit(s)
    webhooks.send_due(sessions)
    with sessions() as s:
        [d] = s.scalars(select(Delivery))
        [a] = s.scalars(select(DeliveryAttempt))
    assert d.last_error == "HTTP 500" and a.error == "HTTP 500"


def test_a_deactivated_owners_subscription_receives_nothing_more(onestop, receiver, sessions):
    from accounts.models import User
    from integrations.models import Delivery

    with sessions() as s:
        subscribe(s, receiver)  # owned by congdvc
        s.scalar(select(User).where(User.username == "congdvc")).is_active = False
        s.commit()
    with onestop() as s:
        submit(s)
    with sessions() as s:
        assert s.scalars(select(Delivery)).all() == []
