"""Every API error as application/problem+json (RFC 9457), never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from engine.errors import EngineError

log = logging.getLogger("motcua.api")


class ApiProblem(Exception):
    def __init__(self, status: int, detail: str, **extra):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.extra = extra


def problem(status: int, detail: str, title: str | None = None, **extra):
    body = {"type": "about:blank", "title": title or _TITLES.get(status, "Error"), "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    response = jsonify(body)
    response.status_code = status
    response.content_type = "application/problem+json"
    return response


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _is_api() -> bool:
    return request.path.startswith("/api/")


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiProblem)
    def _api_problem(exc: ApiProblem):
        return problem(exc.status, exc.detail, **exc.extra)

    @app.errorhandler(EngineError)
    def _engine_error(exc: EngineError):
        return problem(exc.status, exc.message, **exc.detail)

    @app.errorhandler(StaleDataError)
    def _stale(exc: StaleDataError):
        return problem(409, "the instance was changed by someone else at the same time; reload and try again")

    @app.errorhandler(OperationalError)
    def _db_down(exc: OperationalError):
        if getattr(exc.orig, "sqlstate", None) in ("40001", "40P01"):  # serialization failure, deadlock
            return problem(409, "the request collided with a concurrent change; retry it")
        log.error("database unavailable: %s", exc.orig)
        return problem(503, "the database is not reachable; try again shortly")

    @app.errorhandler(IntegrityError)
    def _integrity(exc: IntegrityError):
        log.warning("integrity error: %s", exc.orig)
        return problem(409, "the request conflicts with data stored at the same time; retry it")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if not _is_api():
            return exc
        extra = {}
        data = getattr(exc, "data", None) or {}
        messages = data.get("messages") if isinstance(data, dict) else None
        if messages:
            # webargs/marshmallow: {"json": {"field": ["msg"]}} -> {"field": "msg"}
            errors = {}
            for location in messages.values():
                for field, msgs in (location.items() if isinstance(location, dict) else []):
                    errors[field] = "; ".join(_flatten(msgs))
            extra["errors"] = errors
            detail = "invalid request: " + "; ".join(f"{k}: {v}" for k, v in errors.items())
        else:
            detail = exc.description or exc.name
        return problem(exc.code or 500, detail, **extra)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        if _is_api():
            return problem(500, "an internal error occurred; it has been logged")
        return "Internal error; it has been logged.", 500


def _flatten(msgs) -> list[str]:
    if isinstance(msgs, list):
        return [m if isinstance(m, str) else str(m) for m in msgs]
    if isinstance(msgs, dict):
        return [f"{k}: {'; '.join(_flatten(v))}" for k, v in msgs.items()]
    return [str(msgs)]
