"""Events out on a real database and a real HTTP receiver: the outbox is written with the step,
deliveries are signed, retried with backoff, never sent twice, and in order per dossier."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from dossiers import lateness, service
from integrations import settings, webhooks
from integrations.models import DEAD, DELIVERED, FAILED, Delivery, DeliveryAttempt, OutboxEvent
from tests.dossiers.conftest import DESK, LEADER, PORTAL, SPECIALIST, complete, submit, vn
from tests.integrations.conftest import Clock, Receiver, subscribe
from tests.live import free_port


def event_types(session, dossier) -> list[str]:
    return list(session.scalars(select(OutboxEvent.type).where(OutboxEvent.dossier_id == dossier.id)
                                .order_by(OutboxEvent.seq)))


def run_to_the_end(session, dossier) -> None:
    complete(session, dossier, "reception", {"reception_outcome": "accept"}, DESK)
    complete(session, dossier, "review", {"review_outcome": "ok"}, SPECIALIST)
    complete(session, dossier, "approve", {}, LEADER)
    complete(session, dossier, "return_step", {"result_channel": "electronic"}, DESK)


def test_the_outbox_row_is_written_in_the_steps_transaction(onestop, receiver):
    with onestop() as s:
        sub = subscribe(s, receiver)
        d = submit(s)
        assert event_types(s, d) == ["dossier.submitted"]
        from engine.runtime import Runtime

        rt = Runtime(s)
        [task] = rt.open_tasks(d.id)
        rt.complete_task(task.id, {"reception_outcome": "accept"}, DESK)
        s.flush()
        assert "dossier.accepted" in event_types(s, d)
        s.rollback()  # the step is rolled back: so are its events and their deliveries
        assert event_types(s, d) == ["dossier.submitted"]
        assert s.scalar(select(func.count()).select_from(Delivery)) == 1
        complete(s, d, "reception", {"reception_outcome": "accept"}, DESK)
        assert event_types(s, d) == ["dossier.submitted", "dossier.accepted", "dossier.processing",
                                     "dossier.handed_off"]
        deliveries = list(s.scalars(select(Delivery).order_by(Delivery.id)))
        assert [x.target for x in deliveries] == [f"sub:{sub.id}"] * 4 and {x.status for x in deliveries} == {"pending"}
        handoff = json.loads(deliveries[-1].body)
        assert handoff["type"] == "dossier.handed_off" and handoff["dossier"]["code"] == d.code
        assert handoff["data"] == {"from_department": "MOTCUA", "to_department": "SXD"}
        assert "applicant_id_number" not in handoff["dossier"] and "092085001234" not in deliveries[-1].body


def test_every_event_type_along_a_dossiers_life(onestop, receiver):
    with onestop() as s:
        subscribe(s, receiver, event_types=["dossier.supplement_requested", "dossier.supplement_received",
                                            "dossier.overdue_warning", "dossier.overdue", "dossier.apology_issued",
                                            "dossier.result_issued", "dossier.result_returned"])
        d = submit(s, received_at=vn(2026, 3, 2, 9, 0))
        complete(s, d, "reception", {"reception_outcome": "accept"}, DESK)
        complete(s, d, "review", {"review_outcome": "supplement", "missing_documents": "Bản vẽ"}, SPECIALIST)
        service.supplement(s, d.code, {"documents": [{"name": "ban_ve.pdf"}]}, PORTAL)
        s.commit()
        lateness.check_deadlines(s, vn(2026, 3, 6, 9, 0))
        s.commit()
        lateness.issue_apology(s, d, d.appointment_at + timedelta(days=7), "Chờ ý kiến", SPECIALIST)
        s.commit()
        complete(s, d, "review", {"review_outcome": "ok"}, SPECIALIST)
        complete(s, d, "approve", {}, LEADER)
        complete(s, d, "return_step", {"result_channel": "electronic"}, DESK)
        assert event_types(s, d) == [
            "dossier.submitted", "dossier.accepted", "dossier.processing", "dossier.handed_off",
            "dossier.supplement_requested", "dossier.supplement_received", "dossier.overdue_warning",
            "dossier.overdue", "dossier.apology_issued", "dossier.handed_off", "dossier.result_issued",
            "dossier.handed_off", "dossier.result_returned"]
        # only the subscribed types have deliveries
        sent = [json.loads(b)["type"] for b in s.scalars(select(Delivery.body).order_by(Delivery.id))]
        assert sent == ["dossier.supplement_requested", "dossier.supplement_received", "dossier.overdue_warning",
                        "dossier.overdue", "dossier.apology_issued", "dossier.result_issued",
                        "dossier.result_returned"]
        supplement = json.loads(s.scalars(select(Delivery.body).order_by(Delivery.id)).first())
        assert supplement["data"]["missing_documents"] == "Bản vẽ" and supplement["dossier"]["status_code"] == 5


def test_withdrawal_and_procedure_filter(onestop, receiver):
    with onestop() as s:
        subscribe(s, receiver, event_types=["dossier.withdrawn"], procedure_codes=["9.999001"])
        other = Receiver(port=free_port())
        subscribe(s, other, event_types=["*"], procedure_codes=["1.002809"])  # another procedure: nothing
        d = submit(s)
        service.withdraw(s, d.code, "đổi ý", PORTAL)
        s.commit()
        [body] = [json.loads(b) for b in s.scalars(select(Delivery.body))]
        assert body["type"] == "dossier.withdrawn" and body["data"] == {"from_status": 1, "to_status": 7}


def test_signature_is_verifiable_by_a_receiver(onestop, receiver, quick_settings):
    with onestop() as s:
        subscribe(s, receiver)
        submit(s)
    counts = webhooks.send_due(onestop)
    assert counts == {"delivered": 1, "failed": 0, "dead": 0}
    [got] = receiver.accepted()
    headers, raw = got["headers"], receiver.received[0]["body"]
    # what a receiver does, with the standard library only
    expected = hmac.new(receiver.secret.encode(), headers["X-Motcua-Timestamp"].encode() + b"." + raw,
                        hashlib.sha256).hexdigest()
    assert headers["X-Motcua-Signature"] == f"sha256={expected}"
    assert headers["X-Motcua-Event-Type"] == "dossier.submitted" and headers["X-Motcua-Delivery-Attempt"] == "1"
    assert webhooks.verify(receiver.secret, headers["X-Motcua-Timestamp"], raw, headers["X-Motcua-Signature"]) is None
    assert webhooks.verify("wrong", headers["X-Motcua-Timestamp"], raw, headers["X-Motcua-Signature"])
    assert webhooks.verify(receiver.secret, headers["X-Motcua-Timestamp"], raw + b" ", headers["X-Motcua-Signature"])
    stale = str(int(headers["X-Motcua-Timestamp"]) - 301)
    assert "away from" in webhooks.verify(receiver.secret, stale, raw, webhooks.sign(receiver.secret, stale, raw))


def test_backoff_schedule_and_dead_deliveries(onestop, receiver):
    assert [round(webhooks.backoff(n, rand=lambda: 0.5)) for n in range(1, 11)] == [
        10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]
    assert webhooks.backoff(3, rand=lambda: 0.0) == pytest.approx(32) and webhooks.backoff(3, rand=lambda: 1.0) == pytest.approx(48)
    assert webhooks.backoff(30, rand=lambda: 1.0) == 3600.0  # capped after the jitter too
    with onestop() as s:
        subscribe(s, receiver)
        submit(s)
        delivery = s.scalar(select(Delivery))
        clock = Clock(delivery.created_at)
        failure = webhooks.Outcome(503, "HTTP 503", 3)
        for n in range(1, 4):
            webhooks.record(s, delivery, failure, clock(), rand=lambda: 0.5)
            assert delivery.status == FAILED and delivery.attempts == n
            assert delivery.next_attempt_at == clock() + timedelta(seconds=10 * 2 ** (n - 1))
        clock.advance(days=3)  # older than three days: given up
        webhooks.record(s, delivery, failure, clock(), rand=lambda: 0.5)
        assert delivery.status == DEAD and delivery.last_error == "HTTP 503"
        s.commit()
        assert s.scalar(select(func.count()).select_from(DeliveryAttempt)) == 4
    previous = settings.override(max_attempts=2)
    try:
        with onestop() as s:
            submit(s)
            delivery = s.scalars(select(Delivery).order_by(Delivery.id.desc())).first()
            for _ in range(2):
                webhooks.record(s, delivery, webhooks.Outcome(None, "ConnectionRefusedError", 1), delivery.created_at)
            assert delivery.status == DEAD and delivery.attempts == 2
    finally:
        settings.restore(previous)


def test_a_receiver_down_then_up_gets_every_event_exactly_once_in_order(onestop, quick_settings):
    port = free_port()
    receiver = Receiver(port=port)  # not listening yet: connection refused
    with onestop() as s:
        subscribe(s, receiver)
        dossiers = [submit(s) for _ in range(3)]
        for d in dossiers[:2]:
            run_to_the_end(s, d)
        complete(s, dossiers[2], "reception", {"reception_outcome": "refuse", "refusal_reason": "Sai thẩm quyền"},
                 DESK)
        expected = {d.code: [e for e in s.scalars(select(OutboxEvent.id).where(OutboxEvent.dossier_id == d.id)
                                                   .order_by(OutboxEvent.seq))] for d in dossiers}
    total = sum(len(v) for v in expected.values())
    clock = Clock()
    assert total == 2 * 8 + 2  # submitted, accepted, processing, handed off ×2, result issued/returned ...; refused
    counts = webhooks.send_due(onestop, clock=clock)
    assert counts["delivered"] == 0 and counts["failed"] == 3  # the first event of each dossier; the rest wait
    receiver.start()
    receiver.status = 500  # up, but failing
    clock.advance(seconds=5)
    assert webhooks.send_due(onestop, clock=clock)["failed"] == 0  # not due yet (backoff ≥ 8 s)
    clock.advance(seconds=15)
    assert webhooks.send_due(onestop, clock=clock)["failed"] == 3
    receiver.status = 200  # back for good, a minute later
    clock.advance(seconds=60)
    for _ in range(30):
        if not webhooks.send_due(onestop, clock=clock)["delivered"]:
            break
    receiver.stop()
    got = receiver.accepted()
    ids = [g["id"] for g in got]
    assert len(ids) == len(set(ids)) == total  # every event, exactly once
    for d_code, event_ids in expected.items():
        assert [g["id"] for g in got if g["body"]["dossier"]["code"] == d_code] == event_ids  # in order
    failed_first = [r for r in receiver.received if r["status"] == 500]
    assert len(failed_first) == 3
    with onestop() as s:
        assert set(s.scalars(select(Delivery.status))) == {DELIVERED}
        attempts = [r.attempts for r in s.scalars(select(Delivery).order_by(Delivery.id))]
        assert attempts.count(3) == 3 and attempts.count(1) == total - 3


def test_a_killed_worker_only_delays_its_deliveries(onestop, receiver, quick_settings):
    with onestop() as s:
        subscribe(s, receiver)
        submit(s)
        clock = Clock()
        claimed = webhooks.claim_due(s, clock())  # a worker claims it ... and dies before sending
        assert len(claimed) == 1
    assert webhooks.send_due(onestop, clock=clock)["delivered"] == 0  # leased: not sent twice meanwhile
    clock.advance(seconds=settings.current().lease_seconds + 1)
    assert webhooks.send_due(onestop, clock=clock)["delivered"] == 1
    assert len(receiver.accepted()) == 1


def test_two_senders_in_parallel_never_send_a_delivery_twice(onestop, receiver, quick_settings, is_postgres):
    with onestop() as s:
        subscribe(s, receiver)
        second = Receiver(port=free_port()).start()
        subscribe(s, second)
        for _ in range(12):
            submit(s)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def sender():
        try:
            barrier.wait()
            for _ in range(3):
                webhooks.send_due(onestop)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    second.stop()
    assert not errors, errors
    for r in (receiver, second):
        ids = [g["id"] for g in r.accepted()]
        assert len(ids) == 12 and len(set(ids)) == 12
    with onestop() as s:
        assert s.scalar(select(func.count()).select_from(DeliveryAttempt)) == 24


def test_redeliver_sends_the_same_event_again(onestop, receiver, quick_settings):
    from engine.actors import SYSTEM

    with onestop() as s:
        subscribe(s, receiver)
        submit(s)
    webhooks.send_due(onestop)
    with onestop() as s:
        delivery = s.scalar(select(Delivery))
        assert delivery.status == DELIVERED
        webhooks.redeliver(s, delivery, SYSTEM)
        s.commit()
    webhooks.send_due(onestop)
    first, again = receiver.accepted()
    assert first["id"] == again["id"] and first["body"] == again["body"]
    assert again["headers"]["X-Motcua-Delivery-Attempt"] == "1"


@pytest.mark.parametrize("status", [301, 404])
def test_a_redirect_or_an_error_is_not_a_delivery(onestop, receiver, quick_settings, status):
    receiver.status = status
    with onestop() as s:
        subscribe(s, receiver)
        submit(s)
    assert webhooks.send_due(onestop)["failed"] == 1
    with onestop() as s:
        delivery = s.scalar(select(Delivery))
        assert delivery.status == FAILED and delivery.last_status_code == status
