"""One convention for every list endpoint.

* query: ``page`` (from 1), ``page_size`` (1–100, default 50), ``sort`` (a field name, ``-`` for
  descending, e.g. ``-created_at``), filters named like the fields they filter;
* body: ``{"items": [...], "page": 1, "page_size": 50, "total": 123}``;
* headers: RFC 8288 ``Link`` with ``first``, ``prev``, ``next`` and ``last`` page URLs.

An unknown sort field is a 422 naming the field and the sortable ones (the query schema
validates it; the allowed values are in the OpenAPI enum).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from flask import Flask, g, request
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select
from sqlalchemy.orm import Session

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000),
                          metadata={"description": "page number, from 1", "example": 1})
    page_size = fields.Integer(load_default=DEFAULT_PAGE_SIZE, validate=validate.Range(min=1, max=MAX_PAGE_SIZE),
                               metadata={"description": f"items per page, at most {MAX_PAGE_SIZE}", "example": 20})


def sort_field(names: Iterable[str], default: str) -> fields.String:
    """The ``sort`` query parameter: one of ``names``, optionally prefixed with ``-`` (descending)."""
    names = list(names)
    choices = [*names, *(f"-{n}" for n in names)]
    return fields.String(
        load_default=default,
        validate=validate.OneOf(choices, error="unknown sort field {input!r}; sort by one of: " + ", ".join(names)
                                + " (prefix - for descending)"),
        metadata={"description": f"sort field, '-' prefix for descending; one of {', '.join(names)}",
                  "example": default},
    )


def order_clauses(sort: str, columns: Mapping[str, Any], *tiebreak: Any) -> list:
    """ORDER BY for ``sort``; NULLs last either way (portable across SQLite and PostgreSQL)."""
    descending = sort.startswith("-")
    column = columns[sort.lstrip("-")]
    return [column.is_(None), column.desc() if descending else column.asc(), *tiebreak]


def paginate(session: Session, query, page: int, page_size: int) -> dict:
    """A page of an ordered SELECT, with the total; sets the Link header of the response."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    items = list(session.scalars(query.limit(page_size).offset((page - 1) * page_size)))
    _links(page, page_size, total)
    return {"items": items, "page": page, "page_size": page_size, "total": total}


def paginate_list(items: list, page: int, page_size: int, sort: str | None = None,
                  key: Callable[[Any, str], Any] | None = None) -> dict:
    """The same envelope over a list already in memory (small catalogues: processes, procedures)."""
    if sort:
        name = sort.lstrip("-")
        getter = key or (lambda item, field: item.get(field) if isinstance(item, dict) else getattr(item, field))
        present = [i for i in items if getter(i, name) is not None]
        missing = [i for i in items if getter(i, name) is None]
        items = sorted(present, key=lambda i: getter(i, name), reverse=sort.startswith("-")) + missing
    total = len(items)
    start = (page - 1) * page_size
    _links(page, page_size, total)
    return {"items": items[start:start + page_size], "page": page, "page_size": page_size, "total": total}


def _links(page: int, page_size: int, total: int) -> None:
    last = max(1, -(-total // page_size))
    rels = {"first": 1, "last": last}
    if page > 1:
        rels["prev"] = min(page - 1, last)
    if page < last:
        rels["next"] = page + 1
    args = request.args.to_dict(flat=False)
    parts = []
    for rel, number in rels.items():
        query = {**args, "page": [str(number)], "page_size": [str(page_size)]}
        parts.append(f'<{request.base_url}?{urlencode(query, doseq=True)}>; rel="{rel}"')
    g.pagination_link = ", ".join(parts)


LINK_HEADER = {
    "Link": {
        "description": 'RFC 8288 links to the first, prev, next and last pages: `<url>; rel="next"`',
        "schema": {"type": "string"},
    },
}


def init_app(app: Flask) -> None:
    @app.after_request
    def _link_header(response):
        link = g.pop("pagination_link", None)
        if link and response.status_code == 200:
            response.headers["Link"] = link
        return response
