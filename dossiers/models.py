"""Dossiers (hồ sơ): a process instance plus what the one-stop rules need, in indexed columns."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.db import Base, BigIntPK, JSONText, UTCDateTime, utcnow
from engine.models import Instance

# National portal status codes (DOMAIN.md)
SUBMITTED, ACCEPTED, REFUSED, PROCESSING, SUPPLEMENT, PAYMENT = 1, 2, 3, 4, 5, 6
WITHDRAWN, STOPPED, DONE, RETURNED = 7, 8, 9, 10
STATUS_NAMES = {
    1: ("Mới tiếp nhận", "Newly submitted"),
    2: ("Đã tiếp nhận", "Accepted"),
    3: ("Từ chối tiếp nhận", "Not accepted"),
    4: ("Đang xử lý", "Processing"),
    5: ("Yêu cầu bổ sung", "Supplement requested"),
    6: ("Chờ thanh toán", "Payment required"),
    7: ("Công dân rút hồ sơ", "Withdrawn by the citizen"),
    8: ("Dừng xử lý", "Processing stopped"),
    9: ("Đã có kết quả", "Done"),
    10: ("Đã trả kết quả", "Result returned"),
}
OPEN_STATUSES = (SUBMITTED, ACCEPTED, PROCESSING, SUPPLEMENT, PAYMENT)
# the appointment clock runs in these (not while the citizen supplements)
CLOCK_STATUSES = (ACCEPTED, PROCESSING, PAYMENT)

CHANNELS = {"in_person": 1, "online": 2, "postal": 3}


# dossiers the 766 figures count live: open, or finished before they were received
_LIVE = "finished_at IS NULL OR COALESCE(received_at, submitted_at) > finished_at"
# what the figures read of an open dossier: an index-only scan on PostgreSQL
_OPEN_766_COLUMNS = ("id", "finished_at", "received_at", "submitted_at", "channel", "status_code", "appointment_at",
                     "paused_since", "fee_state", "paid_at", "payment_channel")


class Dossier(Base):
    __tablename__ = "dossiers"
    __table_args__ = (
        Index("ix_dossiers_status_appointment", "status_code", "appointment_at"),
        Index("ix_dossiers_procedure_received", "procedure_code", "received_at"),
        Index("ix_dossiers_department_status", "current_department", "status_code"),
        Index("ix_dossiers_submitted", "submitted_at"),
        # the 766 figures and the search (migration 0008); the applicant-name index (trigram or prefix,
        # depending on pg_trgm) is the migration's alone: server.migrate.MIGRATION_ONLY_INDEXES
        Index("ix_dossiers_finished", "finished_at"),
        Index("ix_dossiers_live", "finished_at", postgresql_where=text(_LIVE), sqlite_where=text(_LIVE)),
        Index("ix_dossiers_procedure_name", "procedure_code", "procedure_name"),
        Index("ix_dossiers_open_766", "responsible_department", "procedure_code",
              postgresql_include=list(_OPEN_766_COLUMNS), postgresql_where=text("finished_at IS NULL"),
              sqlite_where=text("finished_at IS NULL")),
    )

    # the same id as its process instance: one dossier per instance
    id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    procedure_code: Mapped[str] = mapped_column(String(50))
    procedure_name: Mapped[str] = mapped_column(String(500))
    process_id: Mapped[str] = mapped_column(String(255))
    agency_code: Mapped[str] = mapped_column(String(50))
    desk: Mapped[str | None] = mapped_column(String(50))
    responsible_department: Mapped[str | None] = mapped_column(String(50))
    current_department: Mapped[str | None] = mapped_column(String(50))

    applicant_kind: Mapped[str] = mapped_column(String(20), default="person")  # person | business
    applicant_name: Mapped[str] = mapped_column(String(255), index=True)
    applicant_id_number: Mapped[str | None] = mapped_column(String(50), index=True)
    applicant_phone: Mapped[str | None] = mapped_column(String(30))
    applicant_email: Mapped[str | None] = mapped_column(String(255))
    applicant_address: Mapped[str | None] = mapped_column(String(500))

    channel: Mapped[str] = mapped_column(String(20))  # in_person | online | postal
    status_code: Mapped[int] = mapped_column(Integer, default=SUBMITTED)
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    complete_since: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last supplement before acceptance
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # accepted: the clock starts
    processing_time: Mapped[float] = mapped_column(Float)
    processing_unit: Mapped[str] = mapped_column(String(20))
    appointment_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    original_appointment_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_hours: Mapped[float] = mapped_column(Float, default=0.0)  # working hours of supplement pauses
    supplement_count: Mapped[int] = mapped_column(Integer, default=0)
    missing_documents: Mapped[str | None] = mapped_column(Text)
    refusal_reason: Mapped[str | None] = mapped_column(Text)

    fee_amount: Mapped[int] = mapped_column(Integer, default=0)
    fee_state: Mapped[str] = mapped_column(String(10), default="none")  # none | due | paid
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payment_channel: Mapped[str | None] = mapped_column(String(20))  # online | counter

    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, default=list)
    result_channel: Mapped[str | None] = mapped_column(String(20))
    e_result: Mapped[bool] = mapped_column(Boolean, default=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # result issued, refused or withdrawn
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when it was found past its date
    late: Mapped[bool] = mapped_column(Boolean, default=False)  # finished after the appointment
    data: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)  # what was submitted

    instance: Mapped[Instance] = relationship(lazy="joined")
    apologies: Mapped[list[Apology]] = relationship(back_populates="dossier", order_by="Apology.id")

    @property
    def channel_code(self) -> int:
        return CHANNELS[self.channel]

    @property
    def status_name_vi(self) -> str:
        return STATUS_NAMES[self.status_code][0]

    @property
    def status_name_en(self) -> str:
        return STATUS_NAMES[self.status_code][1]

    @property
    def is_open(self) -> bool:
        return self.status_code in OPEN_STATUSES


class TrackingSequence(Base):
    """Last sequence number issued per agency per day (never reused)."""

    __tablename__ = "tracking_sequences"

    agency_code: Mapped[str] = mapped_column(String(50), primary_key=True)
    day: Mapped[str] = mapped_column(String(6), primary_key=True)  # yymmdd, Vietnam time
    last: Mapped[int] = mapped_column(Integer, default=0)


class Apology(Base):
    """Form 04: apology with a new appointment date, drafted by the system, issued by a person."""

    __tablename__ = "apologies"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(10), default="draft")  # draft | issued
    department: Mapped[str | None] = mapped_column(String(50))
    reason: Mapped[str | None] = mapped_column(Text)
    previous_appointment_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    new_appointment_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    drafted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    issued_by: Mapped[str | None] = mapped_column(String(100))

    dossier: Mapped[Dossier] = relationship(back_populates="apologies")


class Notification(Base):
    """A message to a citizen or a department, queued for sending (email/SMS/counter)."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_unsent", "sent_at", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    dossier_id: Mapped[str | None] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(20))  # email | sms | counter | department
    recipient: Mapped[str | None] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Rating(Base):
    """The citizen's satisfaction survey after completion: one per dossier; complaints followed up."""

    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), unique=True)
    score: Mapped[int] = mapped_column(Integer)  # 1 (very dissatisfied) .. 5 (very satisfied)
    comment: Mapped[str | None] = mapped_column(Text)
    complaint: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    follow_up: Mapped[str | None] = mapped_column(Text)
    followed_up_by: Mapped[str | None] = mapped_column(String(100))
    followed_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    dossier: Mapped[Dossier] = relationship()

    @property
    def negative(self) -> bool:
        return self.score <= 2 or self.complaint


class IndicatorDay(Base):
    """The 766 figures' daily summary (issue 8): per Vietnam day, responsible department ('' for none) and
    procedure, what the *settled* dossiers (finished, received no later than finished) add to each count on that
    day: received on their reception day, resolved/judged on their finishing day, paid on their payment day.
    Kept exact by dossiers.indicators' flush listeners; open dossiers are always counted live."""

    __tablename__ = "indicator_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    department: Mapped[str] = mapped_column(String(50), primary_key=True)
    procedure_code: Mapped[str] = mapped_column(String(50), primary_key=True)
    received: Mapped[int] = mapped_column(Integer, default=0)
    received_online: Mapped[int] = mapped_column(Integer, default=0)
    received_in_person: Mapped[int] = mapped_column(Integer, default=0)
    received_postal: Mapped[int] = mapped_column(Integer, default=0)
    resolved: Mapped[int] = mapped_column(Integer, default=0)
    digitized: Mapped[int] = mapped_column(Integer, default=0)
    e_result: Mapped[int] = mapped_column(Integer, default=0)
    negative_rating: Mapped[int] = mapped_column(Integer, default=0)
    timed: Mapped[int] = mapped_column(Integer, default=0)
    judged: Mapped[int] = mapped_column(Integer, default=0)
    on_time: Mapped[int] = mapped_column(Integer, default=0)
    late: Mapped[int] = mapped_column(Integer, default=0)
    paid: Mapped[int] = mapped_column(Integer, default=0)
    paid_online: Mapped[int] = mapped_column(Integer, default=0)
    paused_hours: Mapped[float] = mapped_column(Float, default=0.0)
    hours: Mapped[float] = mapped_column(Float, default=0.0)  # Σ working hours received → finished (resolved)


class IndicatorMeta(Base):
    """State of the summary: 'unbuilt' (the dossiers were there before the summary and the backfill did not run:
    count from scratch) and 'calendar', the working calendar its hours were computed with (a different calendar
    now: hours counted from scratch until rebuilt)."""

    __tablename__ = "indicator_meta"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
