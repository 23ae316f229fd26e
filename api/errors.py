"""Every API error as application/problem+json (RFC 9457), never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from engine.errors import EngineError

log = logging.getLogger("motcua.api")


class ApiProblem(Exception):
    """An error answered as problem+json; ``headers`` go on the response (e.g. Retry-After)."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None, **extra):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def problem(status: int, detail: str, title: str | None = None, headers: dict[str, str] | None = None, **extra):
    body = {"type": "about:blank", "title": title or _TITLES.get(status, "Error"), "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    response = jsonify(body)
    response.status_code = status
    response.content_type = "application/problem+json"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    428: "Precondition Required",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _is_api() -> bool:
    return request.path.startswith("/api/")


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiProblem)
    def _api_problem(exc: ApiProblem):
        return problem(exc.status, exc.detail, headers=exc.headers, **exc.extra)

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
        return database_unavailable()

    @app.errorhandler(DBAPIError)
    @app.errorhandler(SQLAlchemyTimeoutError)
    def _db_connection_lost(exc: Exception):
        # a connection dropped mid-request (InterfaceError, invalidated) or the pool is exhausted
        if isinstance(exc, (InterfaceError, SQLAlchemyTimeoutError)) or getattr(exc, "connection_invalidated", False):
            log.error("database unavailable: %s", exc.__class__.__name__)
            return database_unavailable()
        return _unexpected(exc)

    @app.errorhandler(OverflowError)
    @app.errorhandler(DataError)
    def _out_of_range(exc: Exception):
        # a number or text the database column cannot hold (SQLite OverflowError, PostgreSQL DataError)
        if not _is_api():
            raise exc
        log.info("value out of range on %s %s: %s", request.method, request.path, exc)
        return problem(422, "a value in the request is out of range (a number too large, or text too long)")

    @app.errorhandler(UnicodeError)
    def _unencodable(exc: UnicodeError):
        # JSON may carry lone surrogates ("\ud800"): valid JSON, but no UTF-8 text to store
        if not _is_api():
            raise exc
        log.info("text that is not valid Unicode on %s %s", request.method, request.path)
        return problem(422, "the request contains text that is not valid Unicode (e.g. a lone surrogate)")

    @app.errorhandler(IntegrityError)
    def _integrity(exc: IntegrityError):
        log.warning("integrity error: %s", exc.orig)
        return problem(409, "the request conflicts with data stored at the same time; retry it")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if not _is_api():
            return exc
        return http_problem(exc)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        if _is_api():
            return problem(500, "an internal error occurred; it has been logged")
        return "Internal error; it has been logged.", 500


RETRY_AFTER_S = 5


def database_unavailable():
    """503 + Retry-After while the database is down: problem+json for the API, a page that needs no
    database (no template, no signed-in user) for people. The pool reconnects by itself afterwards."""
    headers = {"Retry-After": str(RETRY_AFTER_S)}
    if _is_api() or request.path == "/healthz":
        return problem(503, "the database is not reachable; try again shortly", headers=headers)
    body = ("<!doctype html><html lang=\"vi\"><meta charset=\"utf-8\"><title>503</title>"
            "<h1>503</h1><p>Hệ thống tạm thời không truy cập được cơ sở dữ liệu. Vui lòng thử lại sau ít phút.</p>"
            "<p lang=\"en\">The database is temporarily unreachable. Please try again in a few minutes.</p></html>")
    return body, 503, {**headers, "Content-Type": "text/html; charset=utf-8"}


def http_problem(exc: HTTPException):
    """An HTTP error (routing 404/405, webargs 422, size limits) as problem+json.

    Also called by the web app's page-level 403/404/429 handlers for paths under /api/."""
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
    headers = {}
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(exc.valid_methods)
    return problem(exc.code or 500, detail, headers=headers, **extra)


def _flatten(msgs) -> list[str]:
    if isinstance(msgs, list):
        return [m if isinstance(m, str) else str(m) for m in msgs]
    if isinstance(msgs, dict):
        return [f"{k}: {'; '.join(_flatten(v))}" for k, v in msgs.items()]
    return [str(msgs)]


# ---------------------------------------------------------------------- OpenAPI: documented errors
PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string", "example": "about:blank"},
        "title": {"type": "string", "example": "Unprocessable Content"},
        "status": {"type": "integer", "example": 422},
        "detail": {"type": "string", "example": "invalid request: data.fee: Not a valid number."},
        "errors": {"type": "object", "additionalProperties": {"type": "string"},
                   "description": "field → message, for validation errors", "example": {"fee": "Not a valid number."}},
    },
    "required": ["type", "title", "status", "detail"],
    "additionalProperties": True,
}
ERROR_DESCRIPTIONS = {
    400: "the request is malformed (bad JSON, a bad header, a missing part)",
    401: "no API token, or an unknown or revoked one",
    403: "the token lacks the scope, or its owner the role, for this",
    404: "no such resource, or one the caller may not see",
    409: "conflicts with the current state (already done, changed concurrently, Idempotency-Key reused)",
    412: "If-Match names a version that is no longer current",
    413: "the request body is too large",
    415: "a file or content type this endpoint does not take",
    422: "the input is invalid; `errors` names each field",
    429: "this token's rate limit is used up; retry after Retry-After seconds",
    503: "the database is unreachable; retry shortly",
}
_ERROR_EXAMPLES = {
    400: "send an API token as 'Authorization: Bearer <token>'",
    401: "the API token is unknown or revoked",
    403: "this token lacks the 'start' scope",
    404: "instance 6f1c2b9e-8d6a-4a43-9a8e-2f1f4f7c9b10 not found",
    409: "the task was already completed",
    412: 'the instance changed since you read it (its ETag is now "v13"); reload it and try again',
    413: "the request body is larger than the 20 MB limit",
    415: "notes.txt: only .bpmn and .dmn files can be deployed",
    422: "invalid request: page_size: Must be greater than or equal to 1 and less than or equal to 100.",
    429: "this token's rate limit of 600/minute is used up; retry in 12 s",
    503: "the database is not reachable; try again shortly",
}


def _error_codes(method: str, path: str, operation: dict) -> list[int]:
    """The error statuses an operation can answer, from what it takes and does."""
    params = operation.get("parameters", [])
    names = {p.get("name") for p in params if isinstance(p, dict)}
    codes = {400, 401, 403, 429, 503}
    if "{" in path or method != "get":
        codes.add(404)
    if params or "requestBody" in operation or "{" in path:
        codes.add(422)
    if method in ("post", "put", "patch", "delete"):
        codes.update({409, 413, 415})
    if "If-Match" in names:
        codes.add(412)
    return sorted(codes)


def _problem_response(code: int) -> dict:
    return {
        "description": ERROR_DESCRIPTIONS.get(code, _TITLES.get(code, "Error")),
        "content": {"application/problem+json": {
            "schema": {"$ref": "#/components/schemas/Problem"},
            "example": {"type": "about:blank", "title": _TITLES.get(code, "Error"), "status": code,
                        "detail": _ERROR_EXAMPLES.get(code, _TITLES.get(code, "Error"))},
        }},
        **({"headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}}
           if code in (429, 503) else {}),
    }


def document_problems(spec) -> None:
    """An apispec plugin: every operation documents its problem+json errors (replacing flask-smorest's
    generic `default` and JSON 422 responses, which do not describe what the API sends)."""
    from apispec import BasePlugin

    class ProblemPlugin(BasePlugin):
        def operation_helper(self, path=None, operations=None, **kwargs) -> None:
            for method, operation in (operations or {}).items():
                responses = operation.setdefault("responses", {})
                responses.pop("default", None)
                for code in _error_codes(method, path or "", operation):
                    existing = responses.get(str(code)) or responses.get(code)
                    responses.pop(code, None)
                    documented = _problem_response(code)
                    if isinstance(existing, dict) and existing.get("content", {}).get("application/json", {}).get(
                            "schema", {}) not in ({}, {"$ref": "#/components/schemas/Error"}):
                        # a specific problem shape (e.g. deployment lines): keep its schema under problem+json
                        documented["content"]["application/problem+json"]["schema"] = \
                            existing["content"]["application/json"]["schema"]
                    if isinstance(existing, dict) and existing.get("description") and \
                            existing["description"] not in ("Unprocessable Entity", "Default error response"):
                        documented["description"] = existing["description"]
                    responses[str(code)] = documented

    spec.components.schema("Problem", PROBLEM_SCHEMA)
    plugin = ProblemPlugin()
    plugin.init_spec(spec)
    spec.plugins.append(plugin)


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` within a 64-bit column: a larger number is an unknown URL (404), not a database error."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = 2**63 - 1,
                 signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def bound_int_paths(app: Flask) -> None:
    """Install the bounded ``int`` converter (before any route is added)."""
    app.url_map.converters["int"] = BoundedIntConverter
