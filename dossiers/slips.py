"""The printed slips (Forms 01-06) as HTML, and as PDF through WeasyPrint.

Templates live in dossiers/templates/slips/; the same HTML is shown on screen,
printed on A5 (the register and the control sheet on A4 landscape) and sent.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import qrcode
import qrcode.image.svg
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from dossiers.control_sheet import RESULT_LABELS, control_sheet
from dossiers.models import Dossier
from dossiers.notifications import vn_date, vn_datetime
from dossiers.procedures import get_procedure
from engine.calendar import VN_TZ
from engine.db import utcnow
from engine.errors import InvalidState, NotFound
from engine.models import Department, HumanTask

KINDS = ("receipt", "supplement", "refusal", "apology", "control-sheet")
_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
_env.filters["vn_datetime"] = vn_datetime
_env.filters["vn_date"] = vn_date

CHANNEL_NAMES = {"in_person": "Trực tiếp", "online": "Trực tuyến", "postal": "Qua dịch vụ bưu chính"}
UNIT_NAMES = {"working_days": "ngày làm việc", "working_hours": "giờ làm việc", "months": "tháng"}


@dataclass
class Rendered:
    filename: str
    html: str

    def pdf(self) -> bytes:
        from weasyprint import HTML  # imported on use: it loads Pango

        return HTML(string=self.html).write_pdf()


def qr_svg(text: str) -> str:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=1)
    buffer = io.BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode()
    return svg[svg.index("<svg"):]


def _departments(session: Session) -> dict[str, str]:
    return {d.code: d.name_vi for d in session.scalars(select(Department))}


def _common(session: Session, dossier: Dossier | None, base_url: str) -> dict:
    today = utcnow().astimezone(VN_TZ)
    names = _departments(session)
    desk = dossier.desk if dossier else None
    return {
        "dossier": dossier,
        "today": today,
        "place": "Cần Thơ",
        "agency_parent": "ỦY BAN NHÂN DÂN THÀNH PHỐ",
        "agency_name": names.get(desk, "TRUNG TÂM PHỤC VỤ HÀNH CHÍNH CÔNG").upper(),
        "desk_name": names.get(desk, "Bộ phận Một cửa"),
        "department_names": names,
        "lookup_url": f"{base_url.rstrip('/')}/lookup?code={quote(dossier.code)}" if dossier else "",
    }


def _actor_of(session: Session, dossier: Dossier, element_hint: str) -> str | None:
    """Who did the reception step (the first completed task at the desk)."""
    task = session.scalar(
        select(HumanTask)
        .where(HumanTask.instance_id == dossier.id, HumanTask.completed_by.is_not(None))
        .order_by(HumanTask.completed_at)
    )
    return task.completed_by if task is not None else None


def render_slip(session: Session, dossier: Dossier, kind: str, base_url: str) -> Rendered:
    if kind not in KINDS:
        raise NotFound(f"unknown slip {kind!r}; slips: {', '.join(KINDS)}")
    context = _common(session, dossier, base_url)
    if kind == "receipt":
        if dossier.received_at is None:
            raise InvalidState(f"dossier {dossier.code} has not been accepted yet: no receipt to print")
        try:
            documents = get_procedure(session, dossier.procedure_code).required_documents
        except NotFound:
            documents = ()
        unit = UNIT_NAMES.get(dossier.processing_unit, dossier.processing_unit)
        amount = f"{dossier.processing_time:g}"
        context.update(
            qr_svg=qr_svg(context["lookup_url"]),
            documents=documents,
            channel_name=CHANNEL_NAMES.get(dossier.channel, dossier.channel),
            processing_time=f"{amount} {unit}",
            received_at=_spelled(dossier.received_at),
            appointment_at=_spelled(dossier.appointment_at),
            fee=f"{dossier.fee_amount:,}".replace(",", "."),
            sequence=dossier.code.rsplit("-", 1)[-1],
            received_by=_actor_of(session, dossier, "receive"),
        )
        template = "slips/receipt.html"
    elif kind == "supplement":
        if not dossier.supplement_count:
            raise InvalidState(f"no supplement was requested for dossier {dossier.code}")
        missing = [line.strip(" -•") for line in (dossier.missing_documents or "").splitlines() if line.strip()]
        context.update(missing=missing or ["(theo hướng dẫn của cán bộ tiếp nhận)"],
                       issued_by=_actor_of(session, dossier, "receive"))
        template = "slips/supplement.html"
    elif kind == "refusal":
        if dossier.status_code != 3:
            raise InvalidState(f"dossier {dossier.code} was not refused")
        context.update(issued_by=_actor_of(session, dossier, "receive"))
        template = "slips/refusal.html"
    elif kind == "apology":
        if not dossier.apologies:
            raise InvalidState(f"no apology has been drafted or issued for dossier {dossier.code}")
        apology = dossier.apologies[-1]
        names = context["department_names"]
        context.update(
            apology=apology,
            received_date=vn_date(dossier.received_at or dossier.submitted_at),
            previous_appointment=vn_date(apology.previous_appointment_at),
            new_appointment=vn_date(apology.new_appointment_at),
            department_name=names.get(apology.department, apology.department or context["desk_name"]),
        )
        template = "slips/apology.html"
    else:
        context.update(
            page_size="A4 landscape",
            rows=control_sheet(session, dossier),
            result_labels=RESULT_LABELS,
            received_at=vn_datetime(dossier.received_at),
            appointment_at=vn_datetime(dossier.appointment_at),
        )
        template = "slips/control_sheet.html"
    html = _env.get_template(template).render(**context)
    return Rendered(filename=f"{dossier.code}-{kind}", html=html)


def render_register(session: Session, start: datetime, end: datetime, base_url: str,
                    department: str | None = None) -> Rendered:
    """Form 06, the register of dossiers received in [start, end)."""
    query = select(Dossier).where(Dossier.submitted_at >= start, Dossier.submitted_at < end)
    if department:
        query = query.where(Dossier.responsible_department == department)
    dossiers = list(session.scalars(query.order_by(Dossier.submitted_at, Dossier.code)))
    context = _common(session, None, base_url)
    context.update(
        page_size="A4 landscape",
        dossiers=dossiers,
        date_from=vn_date(start),
        date_to=vn_date(end),
    )
    html = _env.get_template("slips/register.html").render(**context)
    return Rendered(filename=f"register-{start.astimezone(VN_TZ):%Y%m%d}-{end.astimezone(VN_TZ):%Y%m%d}", html=html)


def _spelled(value: datetime | None) -> str:
    if value is None:
        return "—"
    local = value.astimezone(VN_TZ)
    return f"{local:%H} giờ {local:%M} phút, ngày {local:%d} tháng {local:%m} năm {local:%Y}"
