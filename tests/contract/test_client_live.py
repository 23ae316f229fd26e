"""clients/motcua_client.py against a live gunicorn: the calls an integrator makes, over real HTTP."""

from __future__ import annotations

import threading

import pytest

from clients.motcua_client import ApiError, MotcuaClient
from tests.conftest import fixture_bytes

FORM = {"applicant_name": "Nguyễn Văn A", "fee": 0, "complete": True}


def test_client_drives_the_api(live_server, people, sessions):  # noqa: F811 - pytest fixture
    api = MotcuaClient(live_server, people["admin"], timeout=30)
    deployed = api.deploy([("sample_dossier.bpmn", fixture_bytes("sample_dossier.bpmn")),
                           ("onestop_fixture.bpmn", fixture_bytes("onestop_fixture.bpmn"))], note="client test")
    assert {p["process_id"] for p in deployed["processes"]} == {"sample_dossier", "onestop_fixture"}
    assert api.processes(sort="process_id")["total"] == 2

    # a creating POST retried with its key: one instance
    first = api.start_instance("sample_dossier", business_key="CL-1", idempotency_key="client-retry-1")
    again = api.start_instance("sample_dossier", business_key="CL-1", idempotency_key="client-retry-1")
    assert again["id"] == first["id"] and api.instances(business_key="CL-1")["total"] == 1
    api.start_instance("sample_dossier", business_key="CL-2")  # an automatic key: a new instance each call
    assert api.instances(process_id="sample_dossier")["total"] == 2

    # every item through the Link headers
    for i in range(3):
        api.start_instance("sample_dossier", business_key=f"CL-P{i}")
    keys = [i["business_key"] for i in api.iter_items("/instances", page_size=2, sort="business_key")]
    assert keys == ["CL-1", "CL-2", "CL-P0", "CL-P1", "CL-P2"]

    [task] = api.tasks(instance_id=first["id"])["items"]
    with pytest.raises(ApiError) as wrong:
        api.complete_task(task["id"], {**FORM, "fee": "many"})
    assert wrong.value.status == 422 and "fee" in wrong.value.errors

    _, etag = api.instance_with_etag(first["id"])
    api.update_data(first["id"], {"note": "sửa"}, if_match=etag)
    with pytest.raises(ApiError) as stale:
        api.complete_task(task["id"], FORM, if_match=etag)
    assert stale.value.status == 412
    _, fresh = api.instance_with_etag(first["id"])
    done = api.complete_task(task["id"], FORM, if_match=fresh)
    assert done["id"] == first["id"]

    with pytest.raises(ApiError) as missing:
        api.send_message("no_one_waits", business_key="CL-404-X")
    assert missing.value.status == 404 and missing.value.detail

    # one-stop dossiers
    desk = MotcuaClient(live_server, people["congdvc"])
    dossier = desk.submit_dossier("9.999001", {"name": "Trần Thị C", "phone": "0912345678"}, channel="in_person",
                                  idempotency_key="portal-req-77")
    assert desk.submit_dossier("9.999001", {"name": "Trần Thị C", "phone": "0912345678"}, channel="in_person",
                               idempotency_key="portal-req-77")["code"] == dossier["code"]
    got, dossier_etag = desk.dossier_with_etag(dossier["code"])
    assert got["status_code"] == 1 and dossier_etag
    assert desk.dossiers(procedure_code="9.999001")["total"] == 1
    assert desk.withdraw(dossier["code"], "rút", if_match=dossier_etag)["status_code"] == 7

    # tokens: create (secret once), use, revoke
    created = api.create_token("client test", ["read"])
    narrow = MotcuaClient(live_server, created["token"])
    assert narrow.processes()["total"] == 2
    with pytest.raises(ApiError) as forbidden:
        narrow.start_instance("sample_dossier")
    assert forbidden.value.status == 403
    api.revoke_token(created["id"])
    with pytest.raises(ApiError) as revoked:
        narrow.processes()
    assert revoked.value.status == 401


def test_client_waits_out_the_rate_limit(live_server, people, sessions):  # noqa: F811 - pytest fixture
    from accounts.service import create_token, get_user

    with sessions() as s:
        token = create_token(s, get_user(s, "congdvc"), "tight", ["read"], "2/second")
        s.commit()
    patient = MotcuaClient(live_server, token, max_retries=5)
    results: list[int] = []
    lock = threading.Lock()

    def call() -> None:
        total = patient.processes()["total"]
        with lock:
            results.append(total)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == [0] * 8  # every call succeeded: the 429s were retried after Retry-After

    impatient = MotcuaClient(live_server, token, max_retries=0)
    statuses = []
    for _ in range(6):
        try:
            impatient.processes()
            statuses.append(200)
        except ApiError as exc:
            statuses.append(exc.status)
    assert 429 in statuses
