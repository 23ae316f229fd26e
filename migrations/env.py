"""Alembic environment: the URL comes from the caller (server.migrate) or DATABASE_URL."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import pool

import accounts.audit  # noqa: F401 - register tables
import accounts.models  # noqa: F401 - register tables
import dossiers.models  # noqa: F401 - register tables
import engine.models  # noqa: F401 - register tables
import integrations.models  # noqa: F401 - register tables
from engine.db import Base, make_engine
from server.migrate import compare_type, include_object

config = context.config
target_metadata = Base.metadata
# autogenerate compares like tests/engine/test_schema_drift.py does
COMPARE = {"compare_type": compare_type, "include_object": include_object}


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL")
    if not url:
        from server.config import default_database_url

        url = default_database_url()
    return url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True,
                      **COMPARE)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True, **COMPARE)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url(), poolclass=pool.NullPool) if not _url().startswith("sqlite") else make_engine(_url())
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True, **COMPARE)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
