"""Command line: ``flask --app wsgi <group> <command>``."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from sqlalchemy.exc import OperationalError

from server.database import new_session


def database_errors(command):
    """Say what is wrong with the database in one line instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except OperationalError as exc:
            raise click.ClickException(
                f"the database is not reachable or not migrated ({str(exc.orig).splitlines()[0]}); "
                "run: flask --app wsgi db upgrade"
            ) from None

    return wrapper


def init_app(app: Flask) -> None:
    for group in (db_cli, bpmn_cli, tokens_cli, users_cli, demo_cli, calendar_cli):
        app.cli.add_command(group)
    app.cli.add_command(worker_command)


# ------------------------------------------------------------------------ db
@click.group("db", help="Database schema (Alembic migrations).")
def db_cli() -> None:
    pass


@db_cli.command("upgrade", help="Migrate the database to the newest schema.")
def db_upgrade() -> None:
    from server.migrate import upgrade

    upgrade(current_app.config["DATABASE_URL"])
    click.echo("database is up to date")


# ---------------------------------------------------------------------- bpmn
@click.group("bpmn", help="Validate and deploy BPMN/DMN files.")
def bpmn_cli() -> None:
    pass


def _collect(paths: tuple[str, ...]) -> list[tuple[str, bytes]]:
    files: list[tuple[str, bytes]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".bpmn", ".dmn"))
        elif path.exists():
            candidates = [path]
        else:
            raise click.ClickException(f"{raw}: no such file or directory")
        files.extend((p.name, p.read_bytes()) for p in candidates)
    return files


@bpmn_cli.command("validate", help="Check files; prints FILE:LINE: ELEMENT: message per problem (exit 1 if any).")
@click.argument("paths", nargs=-1, required=True)
def bpmn_validate(paths: tuple[str, ...]) -> None:
    from engine.deployments import validate
    from engine.validation import validate_files

    files = _collect(paths)
    try:
        with new_session() as session:
            problems = validate(session, files)
    except Exception:  # noqa: BLE001 - no database yet: validate the files on their own
        problems = validate_files(files).problems
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(f"{len(problems)} problem(s) in {len(files)} file(s)", err=True)
        sys.exit(1)
    click.echo(f"{len(files)} file(s) valid", err=True)


@bpmn_cli.command("deploy", help="Deploy files (default: the bpmn/ folder); unchanged processes keep their version.")
@click.argument("paths", nargs=-1)
@click.option("--note", default=None, help="change note for the version history")
@click.option("--by", "deployed_by", default="cli", show_default=True)
@database_errors
def bpmn_deploy(paths: tuple[str, ...], note: str | None, deployed_by: str) -> None:
    from engine.deployments import deploy
    from engine.errors import DeploymentInvalid

    files = _collect(paths or (current_app.config["BPMN_DIR"],))
    if not files:
        raise click.ClickException("no .bpmn or .dmn files found")
    with new_session() as session:
        try:
            result = deploy(session, files, deployed_by, note=note, source="disk")
        except DeploymentInvalid as exc:
            for line in exc.lines():
                click.echo(line)
            sys.exit(1)
        session.commit()
    for p in result.processes:
        state = "new version" if p.changed else "unchanged"
        click.echo(f"{p.process_id}: version {p.version} ({state})")


# -------------------------------------------------------------------- tokens
@click.group("tokens", help="API tokens (shown once, stored hashed).")
def tokens_cli() -> None:
    pass


@tokens_cli.command("create")
@click.option("--user", "username", required=True)
@click.option("--name", default="cli", show_default=True, help="what the token is for")
@click.option("--scope", "scopes", multiple=True, help="read, start, complete, messages, deploy, admin (default all)")
@database_errors
def tokens_create(username: str, name: str, scopes: tuple[str, ...]) -> None:
    from accounts.service import create_token, get_user
    from engine.errors import EngineError

    with new_session() as session:
        try:
            token = create_token(session, get_user(session, username), name, list(scopes) or None)
        except EngineError as exc:
            raise click.ClickException(exc.message) from None
        session.commit()
    click.echo(token)


@tokens_cli.command("revoke")
@click.argument("token_id", type=int)
@database_errors
def tokens_revoke(token_id: int) -> None:
    from accounts.service import revoke_token
    from engine.errors import EngineError

    with new_session() as session:
        try:
            revoke_token(session, token_id)
        except EngineError as exc:
            raise click.ClickException(exc.message) from None
        session.commit()
    click.echo(f"token {token_id} revoked")


# --------------------------------------------------------------------- users
@click.group("users", help="People who sign in or own API tokens.")
def users_cli() -> None:
    pass


@users_cli.command("create")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True)
@click.option("--department", "departments", multiple=True)
@click.option("--full-name", default=None)
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@database_errors
def users_create(username, roles, departments, full_name, password_stdin) -> None:
    from accounts.service import create_user
    from engine.errors import EngineError

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    with new_session() as session:
        try:
            create_user(session, username, password, list(roles), list(departments), full_name)
        except EngineError as exc:
            raise click.ClickException(exc.message) from None
        session.commit()
    click.echo(f"user {username} created")


# ---------------------------------------------------------------------- demo
@click.group("demo", help="Demo data for trying the platform.")
def demo_cli() -> None:
    pass


@demo_cli.command("seed", help="Create demo departments and users (safe to run again).")
@database_errors
def demo_seed() -> None:
    from server.demo import seed

    with new_session() as session:
        created = seed(session, Path(current_app.config["INSTANCE_DIR"]), os.environ.get("MOTCUA_DEMO_PASSWORD"))
        session.commit()
    for username, password in created:
        click.echo(f"created {username} (password: {password})")
    if not created:
        click.echo("demo users already exist")


@demo_cli.command("generate", help="Fill the database with a year of realistic dossiers of the deployed procedures.")
@click.option("--dossiers", "count", default=20_000, show_default=True, type=click.IntRange(min=1))
@click.option("--year", default=2026, show_default=True, type=int, help="year of submission (up to today)")
@click.option("--seed", default=1, show_default=True, type=int, help="random seed (same seed, same data)")
@click.option("--open", "open_count", default=None, type=click.IntRange(min=0),
              help="dossiers left open, made through the runtime (default 1 %, between 5 and 200)")
@click.option("--append", is_flag=True, help="add to data generated before instead of refusing")
@database_errors
def demo_generate(count: int, year: int, seed: int, open_count: int | None, append: bool) -> None:
    import logging

    from dossiers.demo_data import GenerateError, Options, generate, preflight

    options = Options(dossiers=count, year=year, seed=seed, append=append, open=open_count)
    spiff = logging.getLogger("spiff")
    level = spiff.level
    spiff.setLevel(logging.WARNING)  # the open dossiers run through the engine: no line per task state
    try:
        with new_session() as session:
            try:
                preflight(session, options)
                session.rollback()
                with click.progressbar(length=count, label="dossiers", show_pos=True) as bar:
                    summary = generate(session, options, progress=bar.update)
            except GenerateError as exc:
                raise click.ClickException(str(exc)) from None
    finally:
        spiff.setLevel(level)
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(summary.by_status.items()))
    click.echo(f"{summary.dossiers} dossiers ({summary.finished} finished, {summary.open} open) "
               f"of {', '.join(summary.procedures)}; national status codes {statuses}")
    click.echo(f"finished dossiers: {summary.human_tasks} tasks, {summary.events} events, "
               f"{summary.ratings} ratings, {summary.late} late")
    for note in summary.notes:
        click.echo(note)


# ------------------------------------------------------------------ calendar
@click.group("calendar", help="Working-day calendar: extra days off and make-up working days.")
def calendar_cli() -> None:
    pass


@calendar_cli.command("set", help="Mark DAY (YYYY-MM-DD) as a day off (--off) or a make-up working day (--working).")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--off/--working", "off", required=True)
@click.option("--note", default=None)
@database_errors
def calendar_set(day, off: bool, note: str | None) -> None:
    from engine import calendar_days

    with new_session() as session:
        calendar_days.set_day(session, day.date(), not off, note, "cli")
        session.commit()
    click.echo(f"{day:%d/%m/%Y}: {'day off' if off else 'working day'}")


@calendar_cli.command("show", help="Working days and holidays of a month (YYYY-MM).")
@click.argument("month", type=click.DateTime(formats=["%Y-%m"]))
@database_errors
def calendar_show(month) -> None:
    import calendar as cal
    from datetime import date

    from engine import calendar_days

    with new_session() as session:
        working = calendar_days.load(session)
    for day in range(1, cal.monthrange(month.year, month.month)[1] + 1):
        d = date(month.year, month.month, day)
        reason = working.why(d)
        mark = "làm việc" if working.is_working_day(d) else "nghỉ"
        click.echo(f"{d:%d/%m/%Y} {d:%a}  {mark:<9} {reason or ''}")


# -------------------------------------------------------------------- worker
@click.command("worker", help="Fire due timers until stopped (SIGTERM/SIGINT).")
@click.option("--once", is_flag=True, help="one pass, then exit")
def worker_command(once: bool) -> None:
    from engine.worker import fire_due_timers, run_worker

    sessions = current_app.extensions["motcua.sessions"]
    if once:
        click.echo(f"fired timers of {fire_due_timers(sessions)} instance(s)")
        dossier_deadlines(sessions)
        return
    run_worker(sessions, current_app.config["WORKER_POLL_SECONDS"], periodic=[(60.0, dossier_deadlines)])


def dossier_deadlines(sessions) -> None:
    """Warn, draft apologies and flag overdue dossiers (every minute)."""
    from dossiers.lateness import check_deadlines

    with sessions() as session:
        counts = check_deadlines(session)
        session.commit()
    if any(counts.values()):
        click.echo(f"deadlines: {counts}")


