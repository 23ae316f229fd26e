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


@db_cli.command("backup", help="Write a consistent backup of the database to FILE (while the platform runs).")
@click.argument("file", type=click.Path(dir_okay=False))
def db_backup(file: str) -> None:
    from server.backup import BackupError, backup

    try:
        path = backup(current_app.config["DATABASE_URL"], Path(file))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backup written to {path} ({path.stat().st_size:,} bytes)")


@db_cli.command("restore", help="Replace the database's content with the backup FILE (stop web and worker first).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def db_restore(file: str, yes: bool) -> None:
    from server.backup import BackupError, restore

    if not yes:
        click.confirm("This replaces everything in the database. Continue?", abort=True)
    try:
        restore(current_app.config["DATABASE_URL"], Path(file))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    current_app.extensions["motcua.engine"].dispose()
    click.echo(f"database restored from {file}; run: flask --app wsgi db upgrade")


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


@bpmn_cli.command("validate", help="Check files; prints FILE:LINE: ELEMENT: message per problem (exit 1 on errors). "
                   "With --lint also the designer's lint warnings (the same list the studio shows).")
@click.argument("paths", nargs=-1, required=True)
@click.option("--lint", "with_lint", is_flag=True, help="add lint findings (lanes, budgets, labels, dead ends...)")
def bpmn_validate(paths: tuple[str, ...], with_lint: bool) -> None:
    from engine.deployments import validate
    from engine.lint import lint
    from engine.validation import validate_files

    files = _collect(paths)
    try:
        with new_session() as session:
            problems = lint(session, files) if with_lint else validate(session, files)
    except Exception:  # noqa: BLE001 - no database yet: validate the files on their own
        problems = lint(None, files) if with_lint else validate_files(files).problems
    for problem in problems:
        click.echo(str(problem))
    errors = [p for p in problems if p.severity == "error"]
    if problems:
        click.echo(f"{len(errors)} error(s), {len(problems) - len(errors)} warning(s) in {len(files)} file(s)",
                   err=True)
    if errors:
        sys.exit(1)
    if not problems:
        click.echo(f"{len(files)} file(s) valid", err=True)


@bpmn_cli.command("deploy", help="Deploy files (default: the bpmn/ folder); unchanged processes keep their version. "
                   "A file changed on disk is refused when the latest version came from the browser (see --force).")
@click.argument("paths", nargs=-1)
@click.option("--note", default=None, help="change note for the version history")
@click.option("--by", "deployed_by", default="cli", show_default=True)
@click.option("--force", is_flag=True, help="deploy files on disk even over newer versions made in the browser")
@database_errors
def bpmn_deploy(paths: tuple[str, ...], note: str | None, deployed_by: str, force: bool) -> None:
    from engine.deployments import deploy
    from engine.errors import DeploymentInvalid
    from engine.versions import plan_disk_deploy

    files = _collect(paths or (current_app.config["BPMN_DIR"],))
    if not files:
        raise click.ClickException("no .bpmn or .dmn files found")
    with new_session() as session:
        plan = plan_disk_deploy(session, files, force=force)  # disk vs browser: never a silent overwrite
        for line in plan.skipped:
            click.echo(f"skipped: {line}", err=True)
        for line in plan.refused:
            click.echo(line, err=True)
        result = None
        if plan.deploy:
            try:
                result = deploy(session, plan.deploy, deployed_by, note=note, source="disk")
            except DeploymentInvalid as exc:
                for line in exc.lines():
                    click.echo(line)
                sys.exit(1)
            session.commit()
    for p in result.processes if result else []:
        state = "new version" if p.changed else "unchanged"
        click.echo(f"{p.process_id}: version {p.version} ({state})")
    if plan.refused:
        sys.exit(1)


@bpmn_cli.command("export", help="Write the latest versions made in the browser or API into bpmn/ so they can be "
                                 "committed; a file changed on disk since its last deploy is kept (see --force).")
@click.argument("process_ids", nargs=-1)
@click.option("--dir", "directory", default=None, help="target folder (default: the bpmn/ folder)")
@click.option("--force", is_flag=True, help="overwrite files changed on disk")
@database_errors
def bpmn_export(process_ids: tuple[str, ...], directory: str | None, force: bool) -> None:
    from engine.errors import EngineError
    from engine.versions import export_versions

    with new_session() as session:
        try:
            written = export_versions(session, directory or current_app.config["BPMN_DIR"],
                                      list(process_ids) or None, force=force)
        except EngineError as exc:
            raise click.ClickException(exc.message) from None
        session.commit()
    for path, process_id, version in written:
        click.echo(f"{process_id}: version {version} -> {path}")
    if not written:
        click.echo("nothing to export: bpmn/ already holds the latest version of every process", err=True)


# -------------------------------------------------------------------- tokens
@click.group("tokens", help="API tokens (shown once, stored hashed).")
def tokens_cli() -> None:
    pass


@tokens_cli.command("create")
@click.option("--user", "username", required=True)
@click.option("--name", default="cli", show_default=True, help="what the token is for")
@click.option("--scope", "scopes", multiple=True, help="read, start, complete, messages, deploy, admin (default all)")
@click.option("--rate-limit", default=None, help="requests per window, e.g. 600/minute (default MOTCUA_API_RATE_LIMIT)")
@database_errors
def tokens_create(username: str, name: str, scopes: tuple[str, ...], rate_limit: str | None) -> None:
    from accounts.service import create_token, get_user
    from engine.errors import EngineError

    with new_session() as session:
        try:
            token = create_token(session, get_user(session, username), name, list(scopes) or None, rate_limit)
        except EngineError as exc:
            raise click.ClickException(exc.message) from None
        session.commit()
    click.echo(token)


@tokens_cli.command("list", help="Tokens (never the secret): id, owner, name, scopes, rate limit, last use.")
@click.option("--user", "username", default=None, help="only this user's tokens")
@click.option("--all", "show_revoked", is_flag=True, help="include revoked tokens")
@database_errors
def tokens_list(username: str | None, show_revoked: bool) -> None:
    from accounts.models import ApiToken
    from accounts.service import get_user, tokens_query
    from engine.errors import EngineError

    with new_session() as session:
        try:
            owner = get_user(session, username) if username else None
        except EngineError as exc:
            raise click.ClickException(exc.message) from None
        query = tokens_query(owner, None if show_revoked else False).order_by(ApiToken.id)
        for row in session.scalars(query):
            used = row.last_used_at.isoformat(timespec="minutes") if row.last_used_at else "never"
            state = f"revoked {row.revoked_at.isoformat(timespec='minutes')}" if row.revoked_at else "active"
            click.echo(f"{row.id}\t{row.user.username}\t{row.name}\t{row.prefix}…\t{','.join(row.scopes or ())}"
                       f"\t{row.rate_limit or 'default'}\tlast used {used}\t{state}")


@tokens_cli.command("revoke")
@click.argument("token_id", type=int)
@click.option("--keep-children", is_flag=True, help="do not revoke the tokens created through this one")
@database_errors
def tokens_revoke(token_id: int, keep_children: bool) -> None:
    """Revoke a token and, unless --keep-children, every token created through it."""
    from accounts.service import revoke_token
    from engine.errors import EngineError

    with new_session() as session:
        try:
            revoke_token(session, token_id, children=not keep_children)
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
        webhook_deliveries(sessions)
        integration_purge(sessions)
        idempotency_purge(sessions)
        return
    run_worker(sessions, current_app.config["WORKER_POLL_SECONDS"],
               periodic=[(60.0, dossier_deadlines), (1.0, webhook_deliveries), (300.0, integration_purge),
                         (3600.0, idempotency_purge)])


def idempotency_purge(sessions) -> None:
    """Forget API Idempotency-Keys older than IDEMPOTENCY_KEY_HOURS (every hour)."""
    from datetime import timedelta

    from engine.idempotency import purge

    with sessions() as session:
        purged = purge(session, timedelta(hours=current_app.config.get("IDEMPOTENCY_KEY_HOURS", 24)))
        session.commit()
    if purged:
        click.echo(f"expired idempotency keys purged: {purged}")


def webhook_deliveries(sessions) -> None:
    """Send due webhook and portal-feed deliveries, with retries (every second)."""
    from integrations.webhooks import send_due

    counts = send_due(sessions)
    if any(counts.values()):
        click.echo(f"deliveries: {counts}")


def integration_purge(sessions) -> None:
    """Drop buffered messages whose time ran out (every five minutes)."""
    from engine.db import utcnow
    from engine.messages import purge_expired

    with sessions() as session:
        purged = purge_expired(session, utcnow())
        session.commit()
    if purged:
        click.echo(f"expired buffered messages purged: {purged}")


def dossier_deadlines(sessions) -> None:
    """Warn, draft apologies and flag overdue dossiers (every minute)."""
    from dossiers.lateness import check_deadlines

    with sessions() as session:
        counts = check_deadlines(session)
        session.commit()
    if any(counts.values()):
        click.echo(f"deadlines: {counts}")


