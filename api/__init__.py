"""REST API v1 for integrators (flask-smorest + marshmallow, OpenAPI 3)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, send_from_directory
from flask_smorest import Api

import integrations
from api import (
    auth,
    calendar,
    deployments,
    designer,
    dossiers,
    errors,
    indicators,
    instances,
    messages,
    pagination,
    payments,
    processes,
    tasks,
    tokens,
    webhooks,
)
from server.extensions import csrf


def init_app(app: Flask) -> Api:
    errors.bound_int_paths(app)  # before any route: huge ids answer 404, not a database overflow
    api = Api(app, spec_kwargs={
        "info": {"description": "Deploy BPMN procedures, run dossiers, complete tasks, send messages."},
    })
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    errors.document_problems(api.spec)  # problem+json error responses on every operation
    for module in (deployments, processes, instances, tasks, messages, dossiers, calendar, indicators, webhooks,
                   payments, designer, tokens):
        api.register_blueprint(module.blp, url_prefix="/api/v1")
        csrf.exempt(module.blp)  # bearer tokens, not cookies: no cross-site request forgery
    errors.init_app(app)
    auth.init_app(app)  # per-token rate-limit headers
    pagination.init_app(app)  # Link headers of list pages
    integrations.init_app(app)  # outbox events follow every step; payment and portal settings
    _serve_swagger_assets(app)
    return api


def _serve_swagger_assets(app: Flask) -> None:
    """Swagger UI from the swagger-ui-bundle package: the docs page works offline."""
    import swagger_ui_bundle

    assets = Path(swagger_ui_bundle.swagger_ui_path)

    @app.get("/api/v1/docs-assets/<path:filename>")
    def swagger_assets(filename: str):
        return send_from_directory(assets, filename, max_age=86400)
