"""The one-stop rules on a real database: codes, status codes, appointment dates, pauses, lateness."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from dossiers import lateness, service
from dossiers.models import Dossier, Notification
from engine.db import utcnow
from engine.errors import EngineError, InvalidState, NotFound
from engine.models import EventLogEntry, HumanTask
from tests.dossiers.conftest import DESK, LEADER, PORTAL, SPECIALIST, complete, submit, vn


def statuses(session, dossier):
    rows = session.scalars(select(EventLogEntry).where(EventLogEntry.instance_id == dossier.id,
                                                      EventLogEntry.kind == "dossier_status").order_by(EventLogEntry.id))
    return [r.detail["to"] for r in rows]


def test_tracking_codes_per_agency_and_day(onestop):
    with onestop() as s:
        a = submit(s, received_at=vn(2026, 10, 8, 9, 0))
        b = submit(s, received_at=vn(2026, 10, 8, 16, 0))
        c = submit(s, received_at=vn(2026, 10, 9, 8, 0))
        assert (a.code, b.code, c.code) == ("H15.99-261008-0001", "H15.99-261008-0002", "H15.99-261009-0001")
        assert a.status_code == 1 and a.current_department == "MOTCUA"


def test_concurrent_submissions_never_share_a_code(onestop):
    codes: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def worker():
        try:
            with onestop() as s:
                barrier.wait()
                for _ in range(3):
                    codes.append(submit(s).code)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(codes) == 18 and len(set(codes)) == 18
    assert sorted(int(c.rsplit("-", 1)[1]) for c in codes) == list(range(1, 19))


def test_accept_sets_appointment_across_tet_2026(onestop):
    """Received Thu 12/02/2026 09:00, 3 working days: Tết (14-22/02) is skipped → Tue 24/02 17:00."""
    with onestop() as s:
        d = submit(s, received_at=vn(2026, 2, 12, 9, 0))
        complete(s, d, "reception", {"reception_outcome": "accept"}, DESK)
        s.refresh(d)
        assert d.received_at == vn(2026, 2, 12, 9, 0)
        assert d.appointment_at == vn(2026, 2, 24, 17, 0)
        assert d.status_code == 4 and d.current_department == "SXD"
        assert statuses(s, d) == [2, 4]
        [review] = [t for t in s.scalars(select(HumanTask).where(HumanTask.instance_id == d.id,
                                                                 HumanTask.element_id == "review"))]
        assert review.department == "SXD" and review.due_at is not None


def test_received_after_cutoff_counts_from_next_working_day(onestop):
    with onestop() as s:
        d = submit(s, received_at=vn(2026, 4, 29, 15, 30))  # Wed before the 30/4-1/5 holidays
        complete(s, d, "reception", {"reception_outcome": "accept"}, DESK)
        s.refresh(d)
        # receipt day moves to Mon 04/05 (30/4, 1/5 holidays, weekend); +3 working days → Thu 07/05
        assert d.appointment_at == vn(2026, 5, 7, 17, 0)


def test_supplement_pauses_the_clock_and_extends_the_appointment(onestop):
    with onestop() as s:
        d = submit(s)
        complete(s, d, "reception", {"reception_outcome": "accept"}, DESK)
        s.refresh(d)
        original = d.appointment_at
        complete(s, d, "review", {"review_outcome": "supplement", "missing_documents": "Bản vẽ mặt bằng"}, SPECIALIST)
        s.refresh(d)
        assert d.status_code == 5 and d.supplement_count == 1 and d.missing_documents == "Bản vẽ mặt bằng"
        assert d.paused_since is not None
        assert lateness.due_state(d).state == "paused"
        # the citizen supplements two days later
        d.paused_since = d.paused_since - timedelta(days=2)
        s.commit()
        service.supplement(s, d.code, {"documents": [{"name": "ban_ve.pdf"}], "note": "đã bổ sung"}, PORTAL)
        s.commit()
        s.refresh(d)
        assert d.status_code == 4 and d.paused_since is None
        assert d.paused_hours > 0 and d.appointment_at > original
        assert d.attachments == [{"name": "ban_ve.pdf"}]
        assert statuses(s, d) == [2, 4, 5, 4]
        with pytest.raises(InvalidState):
            service.supplement(s, d.code, {}, PORTAL)  # not waiting any more


def test_full_path_to_result_returned_and_notifications(onestop):
    with onestop() as s:
        d = submit(s)
        complete(s, d, "reception", {"reception_outcome": "accept"}, DESK)
        complete(s, d, "review", {"review_outcome": "ok"}, SPECIALIST)
        complete(s, d, "approve", {}, LEADER)
        s.refresh(d)
        assert d.status_code == 9 and d.finished_at is not None and d.late is False
        assert d.current_department == "MOTCUA"
        complete(s, d, "return_step", {"result_channel": "electronic"}, DESK)
        s.refresh(d)
        assert d.status_code == 10 and d.result_channel == "electronic" and d.e_result is True
        assert d.instance.status == "completed"
        assert statuses(s, d) == [2, 4, 9, 10]
        kinds = [n.kind for n in s.scalars(select(Notification).where(Notification.dossier_id == d.id))]
        assert kinds == ["receipt", "result"]
        first = s.scalar(select(Notification).where(Notification.dossier_id == d.id))
        assert first.channel == "email" and first.recipient == "binh@example.vn" and d.code in first.subject


def test_refusal(onestop):
    with onestop() as s:
        d = submit(s)
        complete(s, d, "reception", {"reception_outcome": "refuse", "refusal_reason": "Không thuộc thẩm quyền"}, DESK)
        s.refresh(d)
        assert d.status_code == 3 and d.refusal_reason == "Không thuộc thẩm quyền" and d.appointment_at is None


def test_withdraw(onestop):
    with onestop() as s:
        d = submit(s)
        service.withdraw(s, d.code, "đổi ý", PORTAL)
        s.commit()
        s.refresh(d)
        assert d.status_code == 7 and d.instance.status == "terminated"
        assert statuses(s, d) == [7]
        with pytest.raises(InvalidState):
            service.withdraw(s, d.code, None, PORTAL)


def test_late_dossier_is_warned_flagged_and_apologised(onestop):
    with onestop() as s:
        d = submit(s, received_at=vn(2026, 3, 2, 9, 0))
        complete(s, d, "reception", {"reception_outcome": "accept"}, DESK)
        s.refresh(d)
        assert d.appointment_at == vn(2026, 3, 5, 17, 0)
        assert lateness.due_state(d, vn(2026, 3, 5, 9, 0)).state == "warned"
        assert lateness.due_state(d, vn(2026, 3, 3, 9, 0)).state == "ok"

        counts = lateness.check_deadlines(s, vn(2026, 3, 5, 9, 0))
        s.commit()
        assert counts == {"warned": 1, "overdue": 0}
        [draft] = d.apologies
        assert draft.state == "draft" and draft.department == "SXD"
        assert draft.new_appointment_at == vn(2026, 3, 9, 17, 0)  # +2 working days proposed
        counts = lateness.check_deadlines(s, vn(2026, 3, 6, 9, 0))
        s.commit()
        assert counts == {"warned": 0, "overdue": 1}
        assert lateness.check_deadlines(s, vn(2026, 3, 6, 10, 0)) == {"warned": 0, "overdue": 0}  # once

        with pytest.raises(EngineError):
            lateness.issue_apology(s, d, vn(2026, 3, 4, 17, 0), "x", SPECIALIST)
        apology = lateness.issue_apology(s, d, vn(2026, 3, 10, 17, 0), "Chờ ý kiến Sở Tài nguyên", SPECIALIST)
        s.commit()
        assert apology.state == "issued" and apology.issued_by == "chuyenvien"
        assert d.appointment_at == vn(2026, 3, 10, 17, 0) and d.original_appointment_at == vn(2026, 3, 5, 17, 0)
        notes = [n.kind for n in s.scalars(select(Notification).where(Notification.dossier_id == d.id))]
        assert "apology" in notes and notes.count("overdue_warning") == 1 and notes.count("overdue") == 1
        kinds = [e.kind for e in s.scalars(select(EventLogEntry).where(EventLogEntry.instance_id == d.id))]
        assert {"overdue_warning", "overdue", "apology_issued"} <= set(kinds)

        complete(s, d, "review", {"review_outcome": "ok"}, SPECIALIST)
        complete(s, d, "approve", {}, LEADER)
        s.refresh(d)
        # the result is issued now (real time), long after even the new date: counted late
        assert d.late is True and d.finished_at > d.appointment_at


def test_online_not_allowed_and_unknown_procedure(onestop):
    with onestop() as s:
        with pytest.raises(EngineError) as info:
            submit(s, channel="online")
        assert info.value.detail["errors"]["channel"]
        s.rollback()
        with pytest.raises(NotFound):
            submit(s, procedure_code="0.000000")
        s.rollback()
        with pytest.raises(EngineError):
            submit(s, received_at=utcnow() + timedelta(days=1))
        s.rollback()
        assert s.scalar(select(Dossier)) is None  # nothing half-written
