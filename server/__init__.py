"""The Flask application factory: configuration, database, API, UI, CLI."""

from __future__ import annotations

import logging
import os

from flask import Flask
from sqlalchemy import text

import accounts.audit  # noqa: F401 - audit rows for every flushed change
import dossiers
from engine.sandbox import apply_memory_cap
from server import database
from server.config import ROOT, load_config


def create_app(overrides: dict | None = None) -> Flask:
    config = load_config(overrides)
    app = Flask(__name__, instance_path=config["INSTANCE_DIR"], static_folder=None,
                template_folder=str(ROOT / "ui" / "templates"))
    app.config.update(config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    # MOTCUA_MEMORY_LIMIT_MB: address-space cap of this web/worker process (see docs/operations.md)
    apply_memory_cap(int(os.environ.get("MOTCUA_MEMORY_LIMIT_MB", "0") or 0))
    database.init_app(app)
    dossiers.install()  # dossier rules react to every persisted step

    import api
    import ui
    from server import cli

    api.init_app(app)
    ui.init_app(app)
    cli.init_app(app)

    @app.get("/healthz")
    def healthz():
        try:
            with app.extensions["motcua.engine"].connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
            app.logger.warning("health check failed: %s", exc.__class__.__name__)
            return {"status": "unavailable", "database": "unreachable"}, 503, {"Retry-After": "5"}
        return {"status": "ok", "database": "ok"}

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return app
