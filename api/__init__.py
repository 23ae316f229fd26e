"""REST API v1 for integrators (flask-smorest + marshmallow, OpenAPI 3)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, send_from_directory
from flask_smorest import Api

from api import calendar, deployments, dossiers, errors, indicators, instances, messages, processes, tasks
from server.extensions import csrf


def init_app(app: Flask) -> Api:
    api = Api(app, spec_kwargs={
        "info": {"description": "Deploy BPMN procedures, run dossiers, complete tasks, send messages."},
    })
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    for module in (deployments, processes, instances, tasks, messages, dossiers, calendar, indicators):
        api.register_blueprint(module.blp, url_prefix="/api/v1")
        csrf.exempt(module.blp)  # bearer tokens, not cookies: no cross-site request forgery
    errors.init_app(app)
    _serve_swagger_assets(app)
    return api


def _serve_swagger_assets(app: Flask) -> None:
    """Swagger UI from the swagger-ui-bundle package: the docs page works offline."""
    import swagger_ui_bundle

    assets = Path(swagger_ui_bundle.swagger_ui_path)

    @app.get("/api/v1/docs-assets/<path:filename>")
    def swagger_assets(filename: str):
        return send_from_directory(assets, filename, max_age=86400)
