"""Events in and the portal feed, along a real procedure (driving licence renewal, bpmn/):
signed idempotent payment confirmations, buffered messages, the national portal's records."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from dossiers import service
from dossiers.models import Dossier
from engine.actors import Actor
from engine.db import utcnow
from engine.deployments import deploy
from engine.messages import purge_expired
from engine.models import BufferedMessage, EventLogEntry
from engine.runtime import Runtime
from integrations import settings, webhooks
from integrations.models import PaymentConfirmation
from tests.conftest import auth
from tests.dossiers.conftest import APPLICANT, PORTAL
from tests.procedures.helpers import CITY_CLERK, Procedure

PROCEDURE = Procedure("city_driving_licence_renewal.bpmn", "driving_licence_renewal")
GIAOTHONG = Actor("giaothong", frozenset({"specialist", "leader"}), frozenset({"SGTVT", "LD_SGTVT"}))
RECEPTION = {"applicant_name": "Lê Hoàng Phúc", "licence_number": "920123456789", "licence_class": "B2",
             "licence_expiry": "20/04/2026", "health_certificate": {"name": "giay_kham_suc_khoe.pdf"},
             "portrait_photo": {"name": "anh_3x4.jpg"}, "reception_outcome": "accept"}


@pytest.fixture
def licence(sessions, people):
    with sessions() as s:
        deploy(s, PROCEDURE.library_files(), "tests")
        s.commit()
    return sessions


def submit_online(session) -> Dossier:
    dossier = service.submit(session, procedure_code="1.002809", channel="online", applicant=APPLICANT,
                             data={}, actor=PORTAL)
    session.commit()
    return dossier


def work(session, dossier: Dossier, element_id: str, data: dict, actor: Actor) -> None:
    rt = Runtime(session)
    [task] = [t for t in rt.open_tasks(dossier.id) if t.element_id == element_id]
    rt.complete_task(task.id, data, actor)
    session.commit()


def signed(body: dict, secret: str | None = None, at: float | None = None) -> tuple[bytes, dict]:
    raw = json.dumps(body).encode()
    timestamp = str(int(time.time() if at is None else at))
    signature = webhooks.sign(secret or settings.current().payment_secret, timestamp, raw)
    return raw, {"X-Motcua-Timestamp": timestamp, "X-Motcua-Signature": signature,
                 "Content-Type": "application/json"}


def pay(client, body: dict, **kw):
    raw, headers = signed(body, **kw)
    return client.post("/api/v1/payments/confirmations", data=raw, headers=headers)


# ------------------------------------------------------------------------- payments
def test_payment_confirmation_signed_idempotent_and_checked(licence, client):
    with licence() as s:
        d = submit_online(s)
        work(s, d, "receive_dossier", RECEPTION, CITY_CLERK)
        s.refresh(d)
        assert d.status_code == 6 and d.fee_state == "due" and d.fee_amount == 115000
    body = {"transaction_id": "NAPAS-0001", "dossier_code": d.code, "amount": 115000, "channel": "online"}

    r = client.post("/api/v1/payments/confirmations", json=body)
    assert r.status_code == 401 and "X-Motcua-Signature" in r.json["detail"]
    assert pay(client, body, secret="not-the-secret").status_code == 401
    r = pay(client, body, at=time.time() - 600)
    assert r.status_code == 401 and "away from" in r.json["detail"]
    r = pay(client, {**body, "dossier_code": "H15.01-990101-9999"})
    assert r.status_code == 404 and r.json["errors"]["dossier_code"]
    r = pay(client, {**body, "amount": 135000})
    assert r.status_code == 422 and r.json["errors"]["amount"] == "must be 115000"
    r = pay(client, {**body, "amount": "115000"})
    assert r.status_code == 422 and "amount" in r.json["errors"]
    raw, headers = signed(body)
    assert client.post("/api/v1/payments/confirmations", data=b"[1,", headers=signed({})[1]).status_code == 401
    # garbage in the signature headers is a 401 too, never a server error
    for bad in ({"X-Motcua-Signature": "sha256=\u00e9"}, {"X-Motcua-Timestamp": "1" * 400},
                {"X-Motcua-Timestamp": "\u0661\u0662"}):
        r = client.post("/api/v1/payments/confirmations", data=raw, headers={**headers, **bad})
        assert r.status_code == 401, (bad, r.status_code, r.json)

    first = client.post("/api/v1/payments/confirmations", data=raw, headers=headers)
    assert first.status_code == 200, first.json
    assert first.json == {"transaction_id": "NAPAS-0001", "dossier_code": d.code, "amount": 115000,
                          "fee_state": "paid", "status_code": 4}
    again = pay(client, body)  # the platform retries: same answer, nothing happens twice
    assert again.status_code == 200 and again.json == first.json
    r = pay(client, {**body, "channel": "counter"})
    assert r.status_code == 409 and "different data" in r.json["detail"]
    r = pay(client, {**body, "transaction_id": "NAPAS-0002"})
    assert r.status_code == 409 and "already paid" in r.json["detail"]

    with licence() as s:
        d = s.get(Dossier, d.id)
        assert d.fee_state == "paid" and d.payment_channel == "online" and d.paid_at is not None
        assert [t.element_id for t in Runtime(s).open_tasks(d.id)] == ["check_licence_database"]
        received = s.scalar(select(func.count()).select_from(EventLogEntry).where(
            EventLogEntry.instance_id == d.id, EventLogEntry.kind == "message_received"))
        assert received == 1
        assert s.scalar(select(func.count()).select_from(PaymentConfirmation)) == 1
        assert d.instance.data["payment"]["transaction_id"] == "NAPAS-0001"


def test_payment_before_the_fee_is_due_is_refused(licence, client):
    with licence() as s:
        d = submit_online(s)
    r = pay(client, {"transaction_id": "NAPAS-0003", "dossier_code": d.code, "amount": 115000})
    assert r.status_code == 409 and "no fee waiting" in r.json["detail"]


def test_payment_endpoint_not_configured_answers_503(licence, client):
    previous = settings.override(payment_secret=None)
    try:
        r = client.post("/api/v1/payments/confirmations", json={})
        assert r.status_code == 503 and r.content_type == "application/problem+json"
    finally:
        settings.restore(previous)


# ----------------------------------------------------------------- message buffering
def test_a_message_before_the_wait_is_buffered_then_delivered(licence, client, people):
    with licence() as s:
        d = submit_online(s)
    message = {"name": "payment_confirmed", "business_key": d.code,
               "payload": {"amount": 115000, "transaction_id": "KIOSK-77", "channel": "online"}}
    r = client.post("/api/v1/messages", json=message, headers=auth(people["congdvc"]))
    assert r.status_code == 202, r.json
    assert r.json["buffered"] is True and r.json["instances"] == []
    r = client.post("/api/v1/messages", json={**message, "name": "khong_co_thong_diep"},
                    headers=auth(people["congdvc"]))
    assert r.status_code == 404  # a name no deployed diagram knows is not kept
    with licence() as s:
        assert s.scalar(select(func.count()).select_from(BufferedMessage)) == 1
        work(s, d, "receive_dossier", RECEPTION, CITY_CLERK)  # collect_fee starts waiting: gets it at once
        d = s.get(Dossier, d.id)
        s.refresh(d)
        assert d.fee_state == "paid" and d.status_code == 4
        assert [t.element_id for t in Runtime(s).open_tasks(d.id)] == ["check_licence_database"]
        assert d.instance.data["payment"]["transaction_id"] == "KIOSK-77"
        assert s.scalar(select(func.count()).select_from(BufferedMessage)) == 0
        [log] = s.scalars(select(EventLogEntry).where(EventLogEntry.instance_id == d.id,
                                                      EventLogEntry.kind == "message_received"))
        assert log.detail["buffered_at"]


def test_expired_buffered_messages_are_purged_and_never_delivered(licence, client, people):
    with licence() as s:
        d = submit_online(s)
    r = client.post("/api/v1/messages", json={"name": "payment_confirmed", "business_key": d.code,
                                              "payload": {"amount": 115000, "transaction_id": "OLD"}},
                    headers=auth(people["congdvc"]))
    assert r.status_code == 202
    with licence() as s:
        row = s.scalar(select(BufferedMessage))
        row.expires_at = utcnow() - timedelta(seconds=1)
        s.commit()
        work(s, d, "receive_dossier", RECEPTION, CITY_CLERK)
        d = s.get(Dossier, d.id)
        s.refresh(d)
        assert d.fee_state == "due" and d.status_code == 6  # still waiting: the expired one was not used
        assert purge_expired(s, utcnow()) == 1
        s.commit()
        assert s.scalar(select(func.count()).select_from(BufferedMessage)) == 0


# ------------------------------------------------------------------------ portal feed
def test_portal_feed_records_along_a_real_procedure(licence, client, receiver, quick_settings):
    previous = settings.override(portal_feed_url=receiver.url, portal_feed_secret="portal-secret")
    try:
        with licence() as s:
            d = submit_online(s)
            work(s, d, "receive_dossier", RECEPTION, CITY_CLERK)
        assert pay(client, {"transaction_id": "NAPAS-9", "dossier_code": d.code, "amount": 115000}).status_code == 200
        with licence() as s:
            d = s.get(Dossier, d.id)
            work(s, d, "check_licence_database", {"database_status": "valid", "check_note": "Khớp"}, GIAOTHONG)
            work(s, d, "print_new_licence", {"new_licence_number": "920123456789", "new_expiry_date": "2036-03-20"},
                 GIAOTHONG)
            work(s, d, "leader_sign", {"leader_decision": "approve"}, GIAOTHONG)
            work(s, d, "return_to_citizen", {"result_channel": "electronic", "returned_on": "2026-03-17",
                                              "receiver_name": "Lê Hoàng Phúc"}, CITY_CLERK)
        for _ in range(40):
            if not webhooks.send_due(licence)["delivered"]:
                break
    finally:
        settings.restore(previous)
    records = [g["body"] for g in receiver.accepted()]
    for got in receiver.accepted():
        raw = next(r["body"] for r in receiver.received if r["headers"]["X-Motcua-Event-Id"] == got["id"])
        assert webhooks.verify("portal-secret", got["headers"]["X-Motcua-Timestamp"], raw,
                               got["headers"]["X-Motcua-Signature"]) is None
    assert [(r["EventType"], r["TrangThaiHoSo"]) for r in records] == [
        ("dossier.submitted", 1), ("dossier.accepted", 2), ("dossier.payment_requested", 6), ("dossier.paid", 4),
        ("dossier.handed_off", 4), ("dossier.handed_off", 4), ("dossier.result_issued", 9),
        ("dossier.handed_off", 9), ("dossier.result_returned", 10)]
    last = records[-1]
    assert {k: last[k] for k in ("MaHoSo", "MaTTHC", "KenhThucHien", "ChuHoSo", "HinhThucTraKetQua",
                                 "KetQuaDienTu")} == {
        "MaHoSo": d.code, "MaTTHC": "1.002809", "KenhThucHien": 2, "ChuHoSo": "Nguyễn Văn Bình",
        "HinhThucTraKetQua": "electronic", "KetQuaDienTu": True}
    assert len(last["NgayTiepNhan"]) == 14 and last["NgayTiepNhan"].isdigit()
    assert last["NgayHenTra"] > last["NgayTiepNhan"] and last["NgayTra"] is not None
    assert last["DanhSachLePhi"] == [{"TenPhiLePhi": f"Phí, lệ phí {d.procedure_name}", "Gia": 115000,
                                      "TrangThaiThanhToan": 1, "HinhThucThu": 2,
                                      "NgayThanhToan": last["DanhSachLePhi"][0]["NgayThanhToan"]}]
    assert records[1]["DonViXuLy"] == {"MaDonVi": "MOTCUA", "TenDonVi": "Bộ phận Một cửa"}
    assert records[4]["DonViXuLy"]["MaDonVi"] == "SGTVT"
    assert records[2]["DanhSachLePhi"][0]["TrangThaiThanhToan"] == 0


def test_portal_feed_supplement_history(onestop, receiver, quick_settings):
    from tests.dossiers.conftest import DESK, SPECIALIST, complete, submit

    previous = settings.override(portal_feed_url=receiver.url, portal_feed_secret="s")
    try:
        with onestop() as s:
            d = submit(s)
            complete(s, d, "reception", {"reception_outcome": "accept"}, DESK)
            complete(s, d, "review", {"review_outcome": "supplement", "missing_documents": "Bản vẽ"}, SPECIALIST)
            service.supplement(s, d.code, {"documents": []}, PORTAL)
            s.commit()
            complete(s, d, "review", {"review_outcome": "supplement", "missing_documents": "Sổ đỏ"}, SPECIALIST)
        for _ in range(20):
            if not webhooks.send_due(onestop)["delivered"]:
                break
    finally:
        settings.restore(previous)
    last = receiver.accepted()[-1]["body"]
    assert last["TrangThaiHoSo"] == 5
    history = last["DanhSachHoSoBoSung"]
    assert [(h["LanBoSung"], h["NoiDungBoSung"], h["TrangThaiBoSung"]) for h in history] == [
        (1, "Bản vẽ", 1), (2, "Sổ đỏ", 0)]
    assert history[0]["NgayBoSung"] is not None and history[1]["NgayBoSung"] is None
