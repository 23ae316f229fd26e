"""Deploying BPMN/DMN files as new process versions.

A process gets a new version only when its content changed: the hash covers
its own file and every file it depends on (called processes, DMN tables), so a
change to a shared "collect fee" subprocess reaches its callers on the next
deploy. Running instances keep the version they started on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.errors import DeploymentInvalid
from engine.models import DecisionVersion, Deployment, DeploymentFile, ProcessVersion
from engine.parser import SourceFile, load_source
from engine.serialization import serialize_specs
from engine.validation import ParsedProcess, Problem, validate_files


@dataclass
class DeployedProcess:
    process_id: str
    name: str | None
    version: int
    version_id: int
    changed: bool

    def to_dict(self) -> dict:
        return self.__dict__.copy()


@dataclass
class DeployResult:
    deployment_id: int | None
    processes: list[DeployedProcess] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(p.changed for p in self.processes) or bool(self.decisions)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def latest_version(session: Session, process_id: str) -> ProcessVersion | None:
    return session.scalars(
        select(ProcessVersion).where(ProcessVersion.process_id == process_id).order_by(ProcessVersion.version.desc())
    ).first()


def latest_versions(session: Session) -> list[ProcessVersion]:
    """The newest version of every deployed process."""
    latest: dict[str, ProcessVersion] = {}
    for row in session.scalars(select(ProcessVersion).order_by(ProcessVersion.process_id, ProcessVersion.version)):
        latest[row.process_id] = row
    return list(latest.values())


def _resolver(session: Session):
    """Find already-deployed files for processes and decisions the upload calls."""

    def resolve(process_ids: set[str], decision_ids: set[str]) -> list[SourceFile]:
        files: dict[int, DeploymentFile] = {}
        for pid in process_ids:
            pv = latest_version(session, pid)
            if pv is not None:
                files[pv.file_id] = pv.file
        for did in decision_ids:
            dv = session.scalars(
                select(DecisionVersion).where(DecisionVersion.decision_id == did).order_by(DecisionVersion.id.desc())
            ).first()
            if dv is not None:
                files[dv.file_id] = dv.file
        return [load_source(f.name, f.content.encode("utf-8")) for f in files.values()]

    return resolve


def validate(session: Session, files: list[tuple[str, bytes]]) -> list[Problem]:
    return validate_files(files, _resolver(session)).problems


def deploy(
    session: Session,
    files: list[tuple[str, bytes]],
    deployed_by: str | None,
    note: str | None = None,
    source: str = "api",
    *,
    force: frozenset[str] = frozenset(),
    base_versions: dict[str, int] | None = None,
    rollback_of: dict[str, int] | None = None,
) -> DeployResult:
    """Validate and store; raises DeploymentInvalid with every problem. Caller commits.

    ``force``: process ids that get a new version even when the content equals the latest (a rollback);
    ``base_versions`` / ``rollback_of``: recorded on the new versions (designer studio, engine.versions).
    """
    result = validate_files(files, _resolver(session))
    if not result.ok:
        raise DeploymentInvalid(result.problems)

    deployment = Deployment(deployed_by=deployed_by, note=note, source=source)
    file_rows: dict[str, DeploymentFile] = {}

    def file_row(src: SourceFile) -> DeploymentFile:
        digest = sha256(src.content)
        if src.name not in file_rows:
            existing = session.scalars(
                select(DeploymentFile).where(DeploymentFile.sha256 == digest, DeploymentFile.name == src.name)
            ).first()
            if existing is not None:
                file_rows[src.name] = existing
            else:
                row = DeploymentFile(
                    name=src.name, kind=src.kind, sha256=digest, content=src.content.decode("utf-8")
                )
                row.deployment = deployment
                file_rows[src.name] = row
        return file_rows[src.name]

    out = DeployResult(deployment_id=None)
    for parsed in result.processes:
        out.processes.append(_store_version(
            session, parsed, file_row, deployment, force=parsed.process_id in force,
            base_version=(base_versions or {}).get(parsed.process_id),
            rollback_of=(rollback_of or {}).get(parsed.process_id),
        ))
    for src in result.sources:
        if src.kind != "dmn":
            continue
        for decision_id in src.decision_ids():
            latest = session.scalars(
                select(DecisionVersion)
                .where(DecisionVersion.decision_id == decision_id)
                .order_by(DecisionVersion.id.desc())
            ).first()
            if latest is None or latest.file.sha256 != sha256(src.content):
                session.add(DecisionVersion(decision_id=decision_id, file=file_row(src)))
                out.decisions.append(decision_id)
    if out.changed:
        session.add(deployment)
        session.flush()
        out.deployment_id = deployment.id
    return out


def _content_hash(parsed: ParsedProcess) -> str:
    parts = [sha256(parsed.source.content)]
    parts += sorted(f"{f.name}:{sha256(f.content)}" for f in parsed.dependency_files)
    return sha256("\n".join(parts).encode())


def _store_version(
    session: Session, parsed: ParsedProcess, file_row, deployment, *, force: bool = False,
    base_version: int | None = None, rollback_of: int | None = None,
) -> DeployedProcess:
    digest = _content_hash(parsed)
    latest = latest_version(session, parsed.process_id)
    if latest is not None and latest.content_hash == digest and not force:
        return DeployedProcess(parsed.process_id, latest.name, latest.version, latest.id, changed=False)
    number = (
        session.scalar(select(func.max(ProcessVersion.version)).where(ProcessVersion.process_id == parsed.process_id))
        or 0
    ) + 1
    row = ProcessVersion(
        process_id=parsed.process_id,
        version=number,
        name=parsed.name,
        content_hash=digest,
        properties=parsed.properties,
        start_messages=parsed.start_messages,
        lanes=parsed.lanes,
        spec_json=serialize_specs(parsed.spec, parsed.subprocess_specs),
        base_version=base_version,
        rollback_of=rollback_of,
    )
    row.file = file_row(parsed.source)
    row.deployment = deployment
    for dep in parsed.dependency_files:
        file_row(dep)
    session.add(row)
    session.flush()
    return DeployedProcess(parsed.process_id, parsed.name, number, row.id, changed=True)
