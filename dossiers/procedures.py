"""The procedure catalogue: the metadata designers put on each deployed process."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from engine.calendar import UNITS
from engine.deployments import latest_versions
from engine.errors import NotFound
from engine.models import ProcessVersion


@dataclass(frozen=True)
class Procedure:
    code: str
    name_vi: str
    name_en: str
    process_id: str
    version: int
    department: str | None
    desk: str | None
    agency_code: str
    processing_time: float
    processing_unit: str
    fee: int
    level: str | None
    online: bool
    required_documents: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.name_vi

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "name": self.name_vi,
            "name_vi": self.name_vi,
            "name_en": self.name_en,
            "department": self.department,
            "desk": self.desk,
            "agency_code": self.agency_code,
            "processing_time": {"value": self.processing_time, "unit": self.processing_unit},
            "fee": self.fee,
            "process_id": self.process_id,
            "version": self.version,
            "level": self.level,
            "online": self.online,
            "required_documents": list(self.required_documents),
        }


DEFAULT_AGENCY = "H15"


def _procedure(pv: ProcessVersion) -> Procedure | None:
    props = pv.properties or {}
    code = props.get("procedure_code")
    if not code:
        return None
    unit = props.get("processing_unit", "working_days")
    try:
        amount = float(props.get("processing_time", "0"))
        fee = int(float(props.get("fee", "0") or 0))
    except ValueError:
        return None
    name_vi = props.get("name_vi") or (pv.name or code).split(" / ")[0]
    return Procedure(
        code=code,
        name_vi=name_vi,
        name_en=props.get("name_en") or name_vi,
        process_id=pv.process_id,
        version=pv.version,
        department=props.get("department"),
        desk=props.get("desk"),
        agency_code=props.get("agency_code") or DEFAULT_AGENCY,
        processing_time=amount,
        processing_unit=unit if unit in UNITS else "working_days",
        fee=fee,
        level=props.get("level"),
        online=str(props.get("online", "false")).lower() == "true",
        required_documents=tuple(d.strip() for d in props.get("required_documents", "").split(";") if d.strip()),
    )


def all_procedures(session: Session) -> list[Procedure]:
    """The latest version of every process that carries a procedure_code."""
    found = [_procedure(pv) for pv in latest_versions(session)]
    return sorted((p for p in found if p is not None), key=lambda p: p.code)


def get_procedure(session: Session, code: str) -> Procedure:
    for procedure in all_procedures(session):
        if procedure.code == code:
            return procedure
    raise NotFound(f"procedure {code!r} is not deployed")


def procedure_of_process(session: Session, version_id: int) -> Procedure | None:
    pv = session.get(ProcessVersion, version_id)
    return _procedure(pv) if pv is not None else None
