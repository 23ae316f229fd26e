"""One page envelope for every list endpoint."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session


def paginate(session: Session, query, page: int, page_size: int) -> dict:
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    items = list(session.scalars(query.limit(page_size).offset((page - 1) * page_size)))
    return {"items": items, "page": page, "page_size": page_size, "total": total}
