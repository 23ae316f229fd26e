"""Messages to citizens, queued in the notifications table (sent by the integrator layer)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from dossiers.models import Dossier, Notification
from engine.calendar import VN_TZ

_TEXTS = {
    "receipt": ("Tiếp nhận hồ sơ {code}",
                "Hồ sơ {code} ({procedure}) đã được tiếp nhận. Ngày hẹn trả kết quả: {appointment}."),
    "supplement": ("Yêu cầu bổ sung hồ sơ {code}",
                   "Hồ sơ {code} cần bổ sung: {missing}. Thời gian giải quyết tạm dừng đến khi nhận đủ hồ sơ."),
    "refusal": ("Từ chối tiếp nhận hồ sơ {code}", "Hồ sơ {code} không được tiếp nhận. Lý do: {reason}."),
    "payment": ("Nộp phí, lệ phí hồ sơ {code}", "Hồ sơ {code} cần nộp {fee} đồng phí, lệ phí để tiếp tục giải quyết."),
    "result": ("Đã có kết quả hồ sơ {code}", "Hồ sơ {code} ({procedure}) đã có kết quả. Mời ông/bà nhận kết quả. "
               "Ông/bà vui lòng đánh giá mức độ hài lòng: {survey}"),
    "apology": ("Thư xin lỗi về việc trễ hẹn hồ sơ {code}",
                "Hồ sơ {code} không giải quyết kịp ngày hẹn {previous}. Cơ quan xin lỗi ông/bà; "
                "ngày hẹn mới: {appointment}. Lý do: {reason}."),
}


def vn_date(value) -> str:
    return value.astimezone(VN_TZ).strftime("%d/%m/%Y") if value is not None else "—"


def vn_datetime(value) -> str:
    return value.astimezone(VN_TZ).strftime("%H:%M %d/%m/%Y") if value is not None else "—"


def _survey_link(code: str) -> str | None:
    """The satisfaction survey link (needs the app's secret, so only inside the app)."""
    try:
        from flask import current_app

        from dossiers.public import survey_url

        return survey_url(code, current_app.config.get("PUBLIC_BASE_URL", ""))
    except RuntimeError:  # outside an application context (e.g. a bare script)
        return None


def citizen_channel(dossier: Dossier) -> tuple[str, str | None]:
    if dossier.applicant_email:
        return "email", dossier.applicant_email
    if dossier.applicant_phone:
        return "sms", dossier.applicant_phone
    return "counter", None


def notify_citizen(session: Session, dossier: Dossier, kind: str, **extra) -> Notification:
    subject, body = _TEXTS[kind]
    values = {
        "code": dossier.code,
        "procedure": dossier.procedure_name,
        "appointment": vn_date(dossier.appointment_at),
        "missing": dossier.missing_documents or "—",
        "reason": dossier.refusal_reason or "—",
        "fee": f"{dossier.fee_amount:,}".replace(",", "."),
        "survey": _survey_link(dossier.code) or "—",
        **extra,
    }
    channel, recipient = citizen_channel(dossier)
    note = Notification(dossier_id=dossier.id, kind=kind, channel=channel, recipient=recipient,
                        subject=subject.format(**values), body=body.format(**values))
    session.add(note)
    return note


def notify_department(session: Session, dossier: Dossier, kind: str, subject: str, body: str) -> Notification:
    note = Notification(dossier_id=dossier.id, kind=kind, channel="department",
                        recipient=dossier.current_department, subject=subject, body=body)
    session.add(note)
    return note
