"""A hand-made month of dossiers (March 2026) whose 766 indicators are computed by hand in test_formulas.py.

Rows are inserted directly (an Instance and its Dossier, the way dossiers.service.submit pairs them), so
every timestamp is exactly what the case needs. All times are Vietnam time; March 2026 has no public
holiday; Tết 2026 is 16–20/02.

| case | dept  | channel   | received          | appointment       | finished         | status | notes |
|------|-------|-----------|-------------------|-------------------|------------------|--------|-------|
| A    | SXD   | online    | Mon 02/03 08:00   | Thu 05/03 17:00   | Wed 04/03 10:00  | 10     | on time, paid online 04/03, attachment + e-result, rating 5, a draft apology; 18 h |
| B    | SXD   | in person | Mon 09/03 09:00   | Thu 12/03 17:00   | Mon 16/03 11:30  | 9      | late, paid at the counter 16/03, attachment, rating 2; 42.5 h |
| C    | SXD   | postal    | Tue 10/03 08:00   | Mon 16/03 17:00   | Mon 16/03 15:00  | 10     | paused 8 h (appointment moved from 13/03), e-result, rating 4 + complaint; 37.5 h − 8 |
| D    | SXD   | in person | Mon 23/03 08:00   | Thu 26/03 17:00   | —                | 4      | open, overdue at the cut-off |
| E    | SXD   | postal    | Mon 30/03 14:00   | Thu 02/04 17:00   | —                | 4      | open, not yet due |
| F    | SXD   | online    | (submitted 11/03) | —                 | Wed 11/03 10:00  | 3      | refused at the desk |
| G    | SXD   | in person | Tue 17/03 08:00   | Fri 20/03 17:00   | Wed 25/03 09:00  | 7      | withdrawn (after its date) |
| H    | SXD   | in person | Tue 24/03 08:00   | Fri 27/03 17:00   | —                | 5      | supplement requested Thu 26/03 10:00, still paused |
| I    | STNMT | online    | Mon 02/03 08:00   | Tue 10/03 17:00   | Mon 09/03 10:00  | 10     | apology issued (was 05/03) → late; procedure not in the catalogue; 42 h |
| J    | SXD   | in person | Wed 25/02 08:00   | Mon 02/03 17:00   | Mon 02/03 09:30  | 10     | received before the period; attachment + e-result; paid online in Feb; 25.5 h |
| K    | SXD   | in person | Mon 02/02 08:00   | Thu 05/02 17:00   | Thu 05/02 10:00  | 10     | all before the period (rating 1: not counted) |
| L    | SXD   | in person | (submitted 31/03 16:00) | —           | —                | 1      | not yet accepted |
| M    | STNMT | in person | Thu 12/02 08:00   | Wed 25/02 17:00   | —                | 4      | received before the period, open and overdue |
| N    | SXD   | online    | Mon 30/03 08:00   | Thu 02/04 17:00   | Fri 03/04 09:00  | 10     | finished after the period: open and not due at the cut-off |
| O    | SXD   | in person | Mon 09/02 08:00   | Thu 12/02 17:00   | Thu 12/02 10:00  | 10     | finished before the period, paid online Tue 03/03 |
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import pytest
from sqlalchemy import select

from dossiers.models import Apology, Dossier, Rating
from engine.calendar import VN_TZ
from engine.models import Instance, ProcessVersion

START, END = date(2026, 3, 1), date(2026, 3, 31)
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=VN_TZ)  # well after the period: the cut-off is 01/04/2026 00:00
DOC = {"name": "don_de_nghi.pdf", "sha256": "0" * 64, "size": 10, "content_type": "application/pdf"}


def vn(*args) -> datetime:
    return datetime(*args, tzinfo=VN_TZ)


@dataclass
class Case:
    department: str = "SXD"
    procedure_code: str = "9.999001"
    channel: str = "in_person"
    submitted: datetime | None = None
    received: datetime | None = None
    appointment: datetime | None = None
    finished: datetime | None = None
    status: int = 4
    paused_hours: float = 0.0
    paused_since: datetime | None = None
    original_appointment: datetime | None = None
    paid: datetime | None = None
    payment_channel: str | None = None
    attachments: bool = False
    e_result: bool = False
    rating: int | None = None
    complaint: bool = False
    apology_before: datetime | None = None
    draft_before: datetime | None = None  # a drafted apology never issued: it changes nothing


CASES = {
    "A": Case(channel="online", received=vn(2026, 3, 2, 8), appointment=vn(2026, 3, 5, 17),
              finished=vn(2026, 3, 4, 10), status=10, paid=vn(2026, 3, 4, 9), payment_channel="online",
              attachments=True, e_result=True, rating=5, draft_before=vn(2026, 3, 3, 17)),
    "B": Case(received=vn(2026, 3, 9, 9), appointment=vn(2026, 3, 12, 17), finished=vn(2026, 3, 16, 11, 30),
              status=9, paid=vn(2026, 3, 16, 10), payment_channel="counter", attachments=True, rating=2),
    "C": Case(channel="postal", received=vn(2026, 3, 10, 8), appointment=vn(2026, 3, 16, 17),
              original_appointment=vn(2026, 3, 13, 17), paused_hours=8.0, finished=vn(2026, 3, 16, 15), status=10,
              e_result=True, rating=4, complaint=True),
    "D": Case(received=vn(2026, 3, 23, 8), appointment=vn(2026, 3, 26, 17)),
    "E": Case(channel="postal", received=vn(2026, 3, 30, 14), appointment=vn(2026, 4, 2, 17)),
    "F": Case(channel="online", submitted=vn(2026, 3, 11, 8), finished=vn(2026, 3, 11, 10), status=3),
    "G": Case(received=vn(2026, 3, 17, 8), appointment=vn(2026, 3, 20, 17), finished=vn(2026, 3, 25, 9), status=7),
    "H": Case(received=vn(2026, 3, 24, 8), appointment=vn(2026, 3, 27, 17), status=5,
              paused_since=vn(2026, 3, 26, 10)),
    "I": Case(department="STNMT", procedure_code="9.999002", channel="online", received=vn(2026, 3, 2, 8),
              appointment=vn(2026, 3, 10, 17), original_appointment=vn(2026, 3, 5, 17), finished=vn(2026, 3, 9, 10),
              status=10, apology_before=vn(2026, 3, 5, 17)),
    "J": Case(received=vn(2026, 2, 25, 8), appointment=vn(2026, 3, 2, 17), finished=vn(2026, 3, 2, 9, 30),
              status=10, paid=vn(2026, 2, 27, 9), payment_channel="online", attachments=True, e_result=True),
    "K": Case(received=vn(2026, 2, 2, 8), appointment=vn(2026, 2, 5, 17), finished=vn(2026, 2, 5, 10), status=10,
              rating=1),
    "L": Case(submitted=vn(2026, 3, 31, 16), status=1),
    "M": Case(department="STNMT", procedure_code="9.999002", received=vn(2026, 2, 12, 8),
              appointment=vn(2026, 2, 25, 17)),
    "N": Case(channel="online", received=vn(2026, 3, 30, 8), appointment=vn(2026, 4, 2, 17),
              finished=vn(2026, 4, 3, 9), status=10),
    "O": Case(received=vn(2026, 2, 9, 8), appointment=vn(2026, 2, 12, 17), finished=vn(2026, 2, 12, 10), status=10,
              paid=vn(2026, 3, 3, 9), payment_channel="online"),
}


def insert_dossier(session, version_id: int, code: str, case: Case) -> Dossier:
    """An Instance and its Dossier (same id), as dossiers.service.submit creates them, with the case's columns."""
    dossier_id = str(uuid.uuid4())
    submitted = case.submitted or case.received
    open_ = case.status in (1, 2, 4, 5, 6)
    session.add(Instance(id=dossier_id, process_id="onestop_fixture", version_id=version_id, business_key=code,
                         status="running" if open_ else "completed", data={"dossier_code": code},
                         started_by="tiepnhan", created_at=submitted, updated_at=submitted,
                         finished_at=None if open_ else case.finished))
    session.flush()
    dossier = Dossier(
        id=dossier_id, code=code, procedure_code=case.procedure_code,
        procedure_name="Thủ tục thử nghiệm một cửa" if case.procedure_code == "9.999001" else "Thủ tục đất đai thử",
        process_id="onestop_fixture", agency_code="H15.99", desk="MOTCUA",
        responsible_department=case.department, current_department=case.department,
        applicant_name=f"Người nộp {code}", channel=case.channel, status_code=case.status,
        status_changed_at=case.finished or submitted, submitted_at=submitted, received_at=case.received,
        processing_time=3, processing_unit="working_days", appointment_at=case.appointment,
        original_appointment_at=case.original_appointment or case.appointment, paused_since=case.paused_since,
        paused_hours=case.paused_hours, supplement_count=1 if case.paused_hours or case.paused_since else 0,
        fee_amount=50000 if case.paid else 0, fee_state="paid" if case.paid else "none", paid_at=case.paid,
        payment_channel=case.payment_channel, attachments=[DOC] if case.attachments else [],
        e_result=case.e_result, result_channel="electronic" if case.e_result else None,
        finished_at=case.finished, returned_at=case.finished if case.status == 10 else None,
        late=bool(case.finished and case.appointment and case.finished > case.appointment),
    )
    session.add(dossier)
    session.flush()
    if case.rating is not None:
        session.add(Rating(dossier_id=dossier_id, score=case.rating, complaint=case.complaint,
                           comment="góp ý" if case.complaint else None, created_at=case.finished))
    if case.apology_before is not None:
        session.add(Apology(dossier_id=dossier_id, state="issued", department=case.department, reason="quá tải",
                            previous_appointment_at=case.apology_before, new_appointment_at=case.appointment,
                            drafted_at=case.apology_before, issued_at=case.apology_before, issued_by="tainguyen"))
    if case.draft_before is not None:
        session.add(Apology(dossier_id=dossier_id, state="draft", department=case.department,
                            previous_appointment_at=case.draft_before, new_appointment_at=case.appointment,
                            drafted_at=case.draft_before))
    return dossier


def onestop_version(session) -> int:
    return session.scalar(select(ProcessVersion.id).where(ProcessVersion.process_id == "onestop_fixture"))


@pytest.fixture
def march(onestop):
    """The dossiers of the table above; returns {case letter: tracking code}."""
    codes = {}
    with onestop() as s:
        version_id = onestop_version(s)
        for letter, case in CASES.items():
            code = f"H15.99-2603{ord(letter) - 64:02d}-{ord(letter):04d}"
            insert_dossier(s, version_id, code, case)
            codes[letter] = code
        s.commit()
    return codes
