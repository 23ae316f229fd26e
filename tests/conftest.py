"""Shared fixtures: a real database (SQLite file, or PostgreSQL via TEST_DATABASE_URL), the app, users, tokens."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text

import accounts.audit  # noqa: F401 - register tables
import accounts.models  # noqa: F401 - register tables
import dossiers.models  # noqa: F401
import engine.models  # noqa: F401
import integrations.models  # noqa: F401
from engine.db import Base, make_engine
from engine.serialization import spec_cache

FIXTURES = Path(__file__).parent / "fixtures"
LIBRARY = Path(__file__).parent.parent / "bpmn"


def fixture_bytes(name: str) -> bytes:
    """A BPMN file from the procedure library (bpmn/) or, failing that, the test fixtures."""
    path = LIBRARY / name
    return (path if path.exists() else FIXTURES / "bpmn" / name).read_bytes()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    from server.migrate import upgrade

    upgrade(url)
    return url


@pytest.fixture(scope="session")
def is_postgres(database_url) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    os.environ.pop("DATABASE_URL", None)
    from server import create_app

    app = create_app(
        {"DATABASE_URL": database_url, "INSTANCE_DIR": str(tmp_path_factory.mktemp("instance")), "TESTING": True}
    )
    yield app
    app.extensions["motcua.engine"].dispose()


@pytest.fixture(autouse=True)
def _clean_database(request):
    """Every test starts with empty tables (only for tests that use the database)."""
    if "app" not in request.fixturenames and "sessions" not in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    engine = app.extensions["motcua.engine"]
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                accounts.audit.empty_table(conn, name)  # audit_log is append-only
    spec_cache.clear()
    yield


@pytest.fixture
def sessions(app):
    return app.extensions["motcua.sessions"]


@pytest.fixture
def session(sessions):
    with sessions() as s:
        yield s


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing():
    """scrypt is slow on purpose; the same demo password is hashed once per test session."""
    import functools

    import accounts.service as service

    original = service.generate_password_hash
    service.generate_password_hash = functools.lru_cache(maxsize=32)(original)
    yield
    service.generate_password_hash = original


@pytest.fixture
def people(sessions, app):
    """Demo departments and users; returns {username: api token}."""
    from accounts.service import create_token, get_user
    from server.demo import USERS, seed

    tokens = {}
    with sessions() as s:
        seed(s, Path(app.config["INSTANCE_DIR"]), "correct-horse-battery")
        for username, *_ in USERS:
            tokens[username] = create_token(s, get_user(s, username), "tests")
        s.commit()
    return tokens


@pytest.fixture
def live_server(database_url, tmp_path, people):
    """gunicorn (2 workers) on the test database, as scripts/serve.sh runs it; its base URL."""
    from tests.live import Platform

    platform = Platform(database_url, tmp_path, web_workers=2)
    platform.start_web()
    yield platform.url
    platform.stop()


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def onestop(sessions, people):
    """The one-stop test procedure (tests/fixtures/bpmn/onestop_fixture.bpmn) deployed, people seeded."""
    from engine.deployments import deploy

    with sessions() as s:
        deploy(s, [("onestop_fixture.bpmn", fixture_bytes("onestop_fixture.bpmn"))], "tests")
        s.commit()
    return sessions
