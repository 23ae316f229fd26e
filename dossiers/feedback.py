"""Negative ratings and complaints, for the leaders who must follow them up.

A rating is *negative* when its score is 1-2 or the citizen marked it as a complaint
(``Rating.negative``). A department leader sees those of the dossiers of their
departments (responsible department, desk or current department among their groups);
the center's leaders and administrators see all. A follow-up records the note, who
wrote it and when on the rating, and an entry in the dossier's history.
"""

from __future__ import annotations

from sqlalchemy import Select, false, or_, select, true
from sqlalchemy.orm import Session, joinedload

from dossiers.models import Dossier, Rating
from engine.actors import ROLE_ADMIN, ROLE_CENTER_LEADER, ROLE_LEADER, Actor
from engine.db import utcnow
from engine.errors import EngineError, NotFound
from engine.models import EventLogEntry

FEEDBACK_ROLES = (ROLE_LEADER, ROLE_CENTER_LEADER, ROLE_ADMIN)
NOTE_MAX = 2000


def sees_all(actor: Actor) -> bool:
    return actor.is_admin or ROLE_CENTER_LEADER in actor.roles


def may_see_feedback(actor: Actor) -> bool:
    return bool(set(FEEDBACK_ROLES) & actor.roles)


def negative_condition():
    return or_(Rating.score <= 2, Rating.complaint.is_(True))


def visibility(actor: Actor):
    """Which ratings' dossiers the actor answers for."""
    if sees_all(actor):
        return true()
    if ROLE_LEADER not in actor.roles or not actor.groups:
        return false()
    groups = sorted(actor.groups)
    return or_(Dossier.responsible_department.in_(groups), Dossier.desk.in_(groups),
               Dossier.current_department.in_(groups))


def negative_ratings_query(actor: Actor, *, pending_only: bool = False) -> Select:
    """Negative ratings and complaints the actor may see, newest first."""
    query = (select(Rating).join(Rating.dossier).options(joinedload(Rating.dossier))
             .where(negative_condition(), visibility(actor)))
    if pending_only:
        query = query.where(Rating.followed_up_at.is_(None))
    return query.order_by(Rating.created_at.desc(), Rating.id.desc())


def negative_ratings(session: Session, actor: Actor, *, pending_only: bool = False, limit: int = 200) -> list[Rating]:
    return list(session.scalars(negative_ratings_query(actor, pending_only=pending_only).limit(limit)))


def visible_rating(session: Session, rating_id: int, actor: Actor) -> Rating:
    rating = session.scalar(select(Rating).join(Rating.dossier)
                            .where(Rating.id == rating_id, negative_condition(), visibility(actor)))
    if rating is None:
        raise NotFound(f"rating {rating_id} not found")  # also for another department's rating
    return rating


def follow_up(session: Session, rating_id: int, note: str, actor: Actor) -> Rating:
    """Record what was done about a negative rating or complaint: the note, who and when."""
    if not may_see_feedback(actor):
        raise NotFound(f"rating {rating_id} not found")
    rating = visible_rating(session, rating_id, actor)
    note = (note or "").strip()
    if not note:
        raise EngineError("write what was done", errors={"note": "is required"})
    if len(note) > NOTE_MAX:
        raise EngineError("note too long", errors={"note": f"at most {NOTE_MAX} characters"})
    now = utcnow()
    rating.follow_up = note
    rating.followed_up_by = actor.username
    rating.followed_up_at = now
    session.add(EventLogEntry(instance_id=rating.dossier_id, at=now, kind="rating_follow_up", actor=actor.username,
                              detail={"rating_id": rating.id, "score": rating.score, "complaint": rating.complaint,
                                      "note": note}))
    session.flush()
    return rating
