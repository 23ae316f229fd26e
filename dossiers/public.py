"""What citizens see and do without signing in: the public lookup, kiosk submissions, the survey.

The public view of a dossier (:class:`PublicStatus`) carries only what the holder of a
tracking code should learn: the status, dates, the department handling it (by name),
what is missing, the result and apologies. Never the applicant's ID number, phone,
email, address, form data, staff names or internal ids; the applicant's name is masked.

The satisfaction survey link carries ``t = HMAC-SHA256(SECRET_KEY, code)`` (truncated):
only links the system issued (notifications, result pages, the lookup page) are accepted.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dossiers import service
from dossiers.models import DONE, RETURNED, STATUS_NAMES, SUPPLEMENT, Dossier, Rating
from dossiers.procedures import Procedure, all_procedures, procedure_of_process
from engine.actors import ROLE_INTEGRATOR, Actor
from engine.errors import EngineError, InvalidState, NotFound
from engine.models import Department

# who submits a dossier started at a kiosk or on the public pages (an integration account)
KIOSK_ACTOR = Actor("kiosk", frozenset({ROLE_INTEGRATOR}))
SURVEY_STATUSES = (DONE, RETURNED)
TOKEN_LENGTH = 24  # hex characters of the HMAC kept in the link (96 bits)
CODE_MAX = 64
COMMENT_MAX = 2000


class AlreadyRated(InvalidState):
    """The dossier already has its (one) satisfaction rating."""


# --------------------------------------------------------------------- survey links
def _secret(secret: str | bytes | None) -> bytes:
    if secret is None:
        from flask import current_app

        secret = current_app.config["SECRET_KEY"]
    return secret.encode() if isinstance(secret, str) else secret


def survey_token(code: str, secret: str | bytes | None = None) -> str:
    """HMAC-SHA256(SECRET_KEY, code), truncated: proves a survey link came from the system."""
    digest = hmac.new(_secret(secret), code.encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:TOKEN_LENGTH]


def valid_survey_token(code: str, token: str | None, secret: str | bytes | None = None) -> bool:
    if not token or len(token) != TOKEN_LENGTH:
        return False
    return hmac.compare_digest(survey_token(code, secret), token)


def survey_url(code: str, base_url: str = "", secret: str | bytes | None = None) -> str:
    """``{base_url}/survey/{code}?t={token}`` (a path when no base URL is given)."""
    return f"{base_url.rstrip('/')}/survey/{quote(code, safe='')}?{urlencode({'t': survey_token(code, secret)})}"


def lookup_url(code: str, base_url: str = "") -> str:
    return f"{base_url.rstrip('/')}/lookup?{urlencode({'code': code})}"


# ---------------------------------------------------------------------- public view
def mask_name(name: str | None) -> str:
    """"Nguyễn Văn Bình" -> "Nguyễn V*** B***": the first word, then only initials."""
    words = (name or "").split()
    if not words:
        return "—"
    if len(words) == 1:
        return f"{words[0][0]}***"
    return " ".join([words[0], *(f"{w[0]}***" for w in words[1:])])


def normalize_code(raw: str | None) -> str:
    """A tracking code as typed by a person: trimmed, upper case, at most CODE_MAX characters."""
    return "".join((raw or "").split()).upper()[:CODE_MAX]


@dataclass(frozen=True)
class PublicApology:
    issued_at: datetime | None
    new_appointment_at: datetime | None
    previous_appointment_at: datetime | None


@dataclass(frozen=True)
class PublicStatus:
    code: str
    procedure_code: str
    procedure_name_vi: str
    procedure_name_en: str
    applicant: str  # masked
    status_code: int
    status_vi: str
    status_en: str
    channel: str
    submitted_at: datetime
    received_at: datetime | None
    appointment_at: datetime | None
    department_vi: str | None
    department_en: str | None
    missing_documents: tuple[str, ...]
    fee_due: int | None
    result_ready: bool
    finished_at: datetime | None
    returned: bool
    returned_at: datetime | None
    e_result: bool
    late: bool
    apologies: tuple[PublicApology, ...] = field(default_factory=tuple)
    survey_open: bool = False  # done or returned, and not rated yet
    rated: bool = False

    @property
    def is_open(self) -> bool:
        return self.status_code in (1, 2, 4, 5, 6)


def find_dossier(session: Session, code: str) -> Dossier | None:
    code = normalize_code(code)
    if not code:
        return None
    return session.scalar(select(Dossier).where(Dossier.code == code))


def public_status(session: Session, dossier: Dossier) -> PublicStatus:
    department = session.get(Department, dossier.current_department) if dossier.current_department else None
    procedure = procedure_of_process(session, dossier.instance.version_id)  # the dossier's own version
    name_en = procedure.name_en if procedure is not None else dossier.procedure_name
    missing: tuple[str, ...] = ()
    if dossier.status_code == SUPPLEMENT:
        missing = tuple(line.strip(" -•\t") for line in (dossier.missing_documents or "").splitlines()
                        if line.strip(" -•\t"))
    rated = session.scalar(select(Rating.id).where(Rating.dossier_id == dossier.id)) is not None
    vi, en = STATUS_NAMES[dossier.status_code]
    return PublicStatus(
        code=dossier.code,
        procedure_code=dossier.procedure_code,
        procedure_name_vi=dossier.procedure_name,
        procedure_name_en=name_en or dossier.procedure_name,
        applicant=mask_name(dossier.applicant_name),
        status_code=dossier.status_code,
        status_vi=vi,
        status_en=en,
        channel=dossier.channel,
        submitted_at=dossier.submitted_at,
        received_at=dossier.received_at,
        appointment_at=dossier.appointment_at,
        department_vi=department.name_vi if department else None,
        department_en=(department.name_en or department.name_vi) if department else None,
        missing_documents=missing,
        fee_due=dossier.fee_amount if dossier.fee_state == "due" else None,
        result_ready=dossier.status_code == DONE,
        finished_at=dossier.finished_at if dossier.status_code in SURVEY_STATUSES else None,
        returned=dossier.status_code == RETURNED,
        returned_at=dossier.returned_at,
        e_result=dossier.e_result,
        late=dossier.late,
        apologies=tuple(PublicApology(a.issued_at, a.new_appointment_at, a.previous_appointment_at)
                        for a in dossier.apologies if a.state == "issued"),
        survey_open=dossier.status_code in SURVEY_STATUSES and not rated,
        rated=rated,
    )


def lookup(session: Session, code: str) -> PublicStatus | None:
    dossier = find_dossier(session, code)
    return public_status(session, dossier) if dossier is not None else None


# ---------------------------------------------------------------- kiosk submission
def online_procedures(session: Session) -> list[Procedure]:
    return [p for p in all_procedures(session) if p.online]


def online_procedure(session: Session, code: str) -> Procedure:
    """A deployed procedure that may be submitted online (NotFound otherwise, as if it did not exist)."""
    for procedure in online_procedures(session):
        if procedure.code == code:
            return procedure
    raise NotFound(f"procedure {code!r} is not offered online")


def submit_online(session: Session, procedure_code: str, applicant: dict[str, Any],
                  actor: Actor = KIOSK_ACTOR) -> Dossier:
    """Start an online submission (status 1) for a procedure offered online."""
    procedure = online_procedure(session, procedure_code)
    return service.submit(session, procedure_code=procedure.code, channel="online", applicant=applicant,
                          data={}, actor=actor)


# ------------------------------------------------------------------------- survey
def rate(session: Session, dossier: Dossier, score: int, comment: str | None, complaint: bool) -> Rating:
    """The citizen's one rating of a finished dossier (AlreadyRated if there is one already)."""
    if dossier.status_code not in SURVEY_STATUSES:
        raise InvalidState(f"dossier {dossier.code} has no result yet (status {dossier.status_code})")
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise EngineError("score must be 1 to 5", errors={"score": "must be an integer from 1 to 5"})
    comment = (comment or "").strip() or None
    if comment is not None and len(comment) > COMMENT_MAX:
        raise EngineError("comment too long", errors={"comment": f"at most {COMMENT_MAX} characters"})
    if session.scalar(select(Rating.id).where(Rating.dossier_id == dossier.id)) is not None:
        raise AlreadyRated(f"dossier {dossier.code} has already been rated")
    rating = Rating(dossier_id=dossier.id, score=score, comment=comment, complaint=bool(complaint))
    try:
        with session.begin_nested():
            session.add(rating)
    except IntegrityError as exc:  # another submission of the same survey won the race
        raise AlreadyRated(f"dossier {dossier.code} has already been rated") from exc
    return rating
