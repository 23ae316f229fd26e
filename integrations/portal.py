"""The national public service portal's status feed (đồng bộ hồ sơ lên Cổng DVC quốc gia).

Each dossier change becomes one record in the shape of the portal's dossier sync: the tracking
code, the procedure code, the portal's status (1–10) and channel (1 in person, 2 online, 3 postal)
codes, received / appointment / result dates as ``yyyyMMddHHmmss`` in Vietnam time, the handling
unit, fees, the supplement history and the result documents. Records are queued and retried by
the same delivery machinery as webhooks (target ``portal``), signed with PORTAL_FEED_SECRET.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dossiers.models import CHANNELS, STATUS_NAMES, Dossier
from engine.calendar import VN_TZ
from engine.models import Department

# the events the portal hears of: every change it shows to citizens (not the internal lateness warning)
FEED_EVENT_TYPES = frozenset({
    "dossier.submitted", "dossier.accepted", "dossier.refused", "dossier.processing",
    "dossier.supplement_requested", "dossier.supplement_received", "dossier.handed_off",
    "dossier.payment_requested", "dossier.paid", "dossier.overdue", "dossier.apology_issued",
    "dossier.result_issued", "dossier.result_returned", "dossier.withdrawn",
})
PAYMENT_FORMS = {"online": 2, "counter": 1}  # HinhThucThu: 1 at the counter, 2 online


def portal_time(value: datetime | None) -> str | None:
    return value.astimezone(VN_TZ).strftime("%Y%m%d%H%M%S") if value is not None else None


def status_code(dossier: Dossier, event=None) -> int:
    """The portal's status code: the dossier keeps the national codes (DOMAIN.md); for a status change,
    the status that event moved it to (one step may pass several markers)."""
    data = ((event.payload or {}).get("data") or {}) if event is not None else {}
    return int(data.get("to_status") or dossier.status_code)


def channel_code(dossier: Dossier) -> int:
    return CHANNELS[dossier.channel]


def feed_record(session: Session, event, dossier: Dossier, supplements: list[dict[str, Any]]) -> dict[str, Any]:
    """The portal's record of the dossier as of ``event`` (built in the event's transaction)."""
    unit = dossier.current_department
    with session.no_autoflush:
        unit_name = session.scalar(select(Department.name_vi).where(Department.code == unit)) if unit else None
    fees = []
    if dossier.fee_amount:
        fees.append({
            "TenPhiLePhi": f"Phí, lệ phí {dossier.procedure_name}",
            "Gia": dossier.fee_amount,
            "TrangThaiThanhToan": {"paid": 1}.get(dossier.fee_state, 0),
            "HinhThucThu": PAYMENT_FORMS.get(dossier.payment_channel or "", 0),
            "NgayThanhToan": portal_time(dossier.paid_at),
        })
    return {
        "EventId": event.id,
        "EventType": event.type,
        "EventTime": portal_time(event.created_at),
        "MaHoSo": dossier.code,
        "MaTTHC": dossier.procedure_code,
        "TenTTHC": dossier.procedure_name,
        "MaCoQuan": dossier.agency_code,
        "TrangThaiHoSo": status_code(dossier, event),
        "TenTrangThai": STATUS_NAMES[status_code(dossier, event)][0],
        "KenhThucHien": channel_code(dossier),
        "ChuHoSo": dossier.applicant_name,
        "LoaiDoiTuong": 2 if dossier.applicant_kind == "business" else 1,
        "NgayNopHoSo": portal_time(dossier.submitted_at),
        "NgayTiepNhan": portal_time(dossier.received_at),
        "NgayHenTra": portal_time(dossier.appointment_at),
        "NgayHenTraBanDau": portal_time(dossier.original_appointment_at),
        "NgayCoKetQua": portal_time(dossier.finished_at),
        "NgayTra": portal_time(dossier.returned_at),
        "DonViXuLy": {"MaDonVi": unit, "TenDonVi": unit_name},
        "LyDoTuChoi": dossier.refusal_reason if dossier.status_code == 3 else None,
        "DanhSachLePhi": fees,
        "DanhSachHoSoBoSung": _supplements(supplements),
        "DanhSachGiayToKetQua": result_documents(dossier),
        "HinhThucTraKetQua": dossier.result_channel,
        "KetQuaDienTu": bool(dossier.e_result),
    }


def _supplements(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pair each request with the receipt that followed it."""
    rounds: list[dict[str, Any]] = []
    for item in items:
        if item["type"] == "dossier.supplement_requested":
            rounds.append({"LanBoSung": len(rounds) + 1, "NgayYeuCau": portal_time(_dt(item["at"])),
                           "NoiDungBoSung": item["data"].get("missing_documents"), "NgayBoSung": None,
                           "TrangThaiBoSung": 0})
        elif rounds and rounds[-1]["NgayBoSung"] is None:
            rounds[-1].update(NgayBoSung=portal_time(_dt(item["at"])), TrangThaiBoSung=1)
    return rounds


def _dt(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def result_documents(dossier: Dossier) -> list[dict[str, Any]]:
    """Result files (a file field whose name contains ``result``, e.g. ``result_file``), once the result is issued."""
    if dossier.status_code not in (9, 10):
        return []
    submitted = set((dossier.data or {}).keys())
    documents = []
    for key, value in sorted((dossier.instance.data or {}).items()):
        if "result" not in key or key in submitted or not isinstance(value, dict) or not value.get("name"):
            continue
        documents.append({"TenGiayTo": value["name"], "MaGiayTo": key, "DuongDanTep": value.get("url"),
                          "MaHash": value.get("sha256")})
    return documents
