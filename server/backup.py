"""Backup and restore of the whole database: ``flask --app wsgi db backup FILE`` / ``db restore FILE``.

PostgreSQL: ``pg_dump -Fc`` (a consistent snapshot taken while the platform runs) and
``pg_restore --clean --if-exists`` (the client tools must be at least the server's version).
SQLite: the online backup API of the sqlite3 module, page by page, consistent while writers
go on. A restore replaces everything in the target database: stop the web and worker
processes first, restore, start them again (docs/operations.md). The password, if the URL
has one, goes to pg_dump through PGPASSWORD, never on a command line other users can see.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    """A backup or restore that could not be done, with the reason in one line."""


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _pg_args(url: str) -> tuple[list[str], dict[str, str]]:
    parsed = make_url(url)
    args = ["--dbname", parsed.database or "postgres", "--no-password"]
    if parsed.host:
        args += ["--host", parsed.host]
    if parsed.port:
        args += ["--port", str(parsed.port)]
    if parsed.username:
        args += ["--username", parsed.username]
    env = {**os.environ}
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    return args, env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return path


def _run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)  # noqa: S603
    if result.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {(result.stderr or result.stdout).strip()[-500:]}")


def backup(url: str, target: Path) -> Path:
    """Write a consistent copy of the database at ``url`` to ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        source = _sqlite_path(url)
        if not source.exists():
            raise BackupError(f"{source} does not exist")
        partial = target.with_name(target.name + ".partial")
        # closing(): sqlite3's own context manager only commits, it does not close
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(partial)) as dest:
            src.backup(dest)
        partial.replace(target)  # a backup file is either complete or absent
        return target
    if url.startswith("postgresql"):
        args, env = _pg_args(url)
        partial = target.with_name(target.name + ".partial")
        _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(partial), *args], env)
        partial.replace(target)
        return target
    raise BackupError(f"no backup method for {make_url(url).get_backend_name()} databases")


def restore(url: str, source: Path) -> None:
    """Replace the content of the database at ``url`` with the backup ``source``."""
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"{source} does not exist")
    if url.startswith("sqlite"):
        target = _sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with closing(sqlite3.connect(source)) as src:
                if src.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                    raise BackupError(f"{source} is not a sound SQLite backup")
                with closing(sqlite3.connect(target)) as dest:
                    src.backup(dest)
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{source} is not an SQLite backup ({exc})") from None
        return
    if url.startswith("postgresql"):
        args, env = _pg_args(url)
        _run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
              "--exit-on-error", *args, str(source)], env)
        return
    raise BackupError(f"no restore method for {make_url(url).get_backend_name()} databases")
