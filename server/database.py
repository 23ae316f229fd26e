"""One SQLAlchemy session per request, closed (rolled back if uncommitted) at teardown."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from engine.db import make_engine, make_session_factory


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["motcua.engine"] = engine
    app.extensions["motcua.sessions"] = make_session_factory(engine)

    @app.teardown_appcontext
    def _close_session(_exc):
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


def db() -> Session:
    if "db_session" not in g:
        g.db_session = current_app.extensions["motcua.sessions"]()
    return g.db_session


def new_session() -> Session:
    """A session outside the request (CLI, worker)."""
    return current_app.extensions["motcua.sessions"]()
