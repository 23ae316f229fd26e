"""Version history, semantic diff, browser deploys, rollback and the disk-vs-browser rule.

Every deploy — `flask bpmn deploy` from bpmn/ (source "disk"), the browser modeler
("ui") or the REST API ("api") — lands in the same per-process version history.
Which one wins (bpmn/README.md, "Disk and browser"):

- a browser/API deploy names the version it started from (``base_version``); if that is
  no longer the latest, it is refused with a Conflict naming who deployed what since;
- a disk deploy never silently overwrites a browser version: when the latest version
  did not come from disk (nor was exported to disk), a file that is unchanged since the
  last disk deploy/export is skipped, and a changed one is refused until the designer
  runs ``flask bpmn export``, merges, and deploys again (or passes ``--force``);
- the same holds for DMN tables (fee schedules) uploaded in the browser: ``bpmn deploy`` keeps them
  over an older file in bpmn/, refuses a file changed on both sides, and ``bpmn export`` writes them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.db import utcnow
from engine.deployments import DeployResult, deploy, latest_version, sha256
from engine.errors import Conflict, DeploymentInvalid, FormInvalid, InvalidState, NotFound
from engine.models import FINISHED_STATUSES, DecisionVersion, Deployment, Instance, ProcessVersion
from engine.parser import BPMN_NS, XmlRejected, load_source, parse_xml
from engine.validation import Problem

SOURCES = ("disk", "ui", "api")
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"


# --------------------------------------------------------------------- history
def _versions(session: Session, process_id: str) -> list[ProcessVersion]:
    query = select(ProcessVersion).where(ProcessVersion.process_id == process_id)
    rows = list(session.scalars(query.order_by(ProcessVersion.version.desc())))
    if not rows:
        raise NotFound(f"process {process_id!r} is not deployed")
    return rows


def get_version(session: Session, process_id: str, version: int) -> ProcessVersion:
    """One version of a process; NotFound when either is unknown."""
    row = session.scalars(
        select(ProcessVersion).where(ProcessVersion.process_id == process_id, ProcessVersion.version == version)
    ).first()
    if row is None:
        _versions(session, process_id)  # NotFound for an unknown process first
        raise NotFound(f"process {process_id!r} has no version {version}")
    return row


def version_history(session: Session, process_id: str) -> list[dict]:
    """Every version of a process, newest first: who, when, note, source, hash, file, running instances.

    Raises NotFound for a process that was never deployed.
    """
    rows = _versions(session, process_id)
    counts = dict(
        session.execute(
            select(Instance.version_id, func.count())
            .where(Instance.process_id == process_id, Instance.status.not_in(FINISHED_STATUSES))
            .group_by(Instance.version_id)
        ).all()
    )
    return [
        {
            "version": pv.version,
            "id": pv.id,
            "name": pv.name,
            "created_at": pv.created_at,
            "deployed_by": pv.deployment.deployed_by,
            "note": pv.deployment.note,
            "source": pv.deployment.source,
            "content_hash": pv.content_hash,
            "file_name": pv.file.name,
            "file_sha256": pv.file.sha256,
            "running_instances": counts.get(pv.id, 0),
            "base_version": pv.base_version,
            "rollback_of": pv.rollback_of,
            "exported_at": pv.exported_at,
            "latest": i == 0,
        }
        for i, pv in enumerate(rows)
    ]


def version_xml(session: Session, process_id: str, version: int) -> tuple[str, str]:
    """(file name, BPMN XML text) of one version, exactly as deployed; NotFound when unknown."""
    pv = get_version(session, process_id, version)
    return pv.file.name, pv.file.content


# ------------------------------------------------------------------------ diff
@dataclass
class _Element:
    id: str
    type: str
    name: str | None
    el: etree._Element
    lane: str | None = None
    facts: dict[str, str] = field(default_factory=dict)


def _local(el) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _text(el) -> str:
    return " ".join((el.text or "").split())


def _process_element(root, process_id: str):
    found = root.xpath("//bpmn:process[@id=$id]", id=process_id, namespaces={"bpmn": BPMN_NS})
    return found[0] if found else None


def _facts(el) -> dict[str, str]:
    """What a designer means by an element's content, as comparable 'key: value' facts."""
    facts: dict[str, str] = {}
    ns = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS}
    kind = _local(el)
    for attr, value in el.attrib.items():
        qname = etree.QName(attr)
        if qname.localname in ("id", "name"):
            continue
        if qname.namespace == CAMUNDA_NS:
            facts[f"camunda:{qname.localname}"] = value
        elif qname.namespace is None:
            facts[qname.localname] = value
    if kind == "sequenceFlow":
        for cond in el.xpath("./bpmn:conditionExpression", namespaces=ns):
            facts["condition"] = _text(cond)
    for prop in el.xpath("./bpmn:extensionElements/camunda:properties/camunda:property", namespaces=ns):
        facts[f"property {prop.get('name')!r}"] = prop.get("value", "")
    for ff in el.xpath("./bpmn:extensionElements/camunda:formData/camunda:formField", namespaces=ns):
        parts = [f"type={ff.get('type')}", f"label={ff.get('label')!r}"]
        if ff.get("defaultValue") is not None:
            parts.append(f"default={ff.get('defaultValue')!r}")
        for c in ff.xpath("./camunda:validation/camunda:constraint", namespaces=ns):
            parts.append(f"{c.get('name')}" + (f"={c.get('config')}" if c.get("config") is not None else ""))
        options = [f"{v.get('id')}" for v in ff.xpath("./camunda:value", namespaces=ns)]
        if options:
            parts.append("options=" + "|".join(options))
        facts[f"form field {ff.get('id')!r}"] = ", ".join(parts)
    for io in el.xpath("./bpmn:extensionElements/camunda:in | ./bpmn:extensionElements/camunda:out", namespaces=ns):
        facts[f"camunda:{_local(io)} {io.get('variables') or io.get('source') or io.get('sourceExpression')}"] = (
            io.get("target") or io.get("variables") or ""
        )
    for definition in el:
        dkind = _local(definition)
        if not dkind.endswith("EventDefinition"):
            continue
        label = dkind.removesuffix("EventDefinition")
        if dkind == "timerEventDefinition":
            for child in definition:
                if _local(child):
                    facts[f"timer {_local(child)}"] = _text(child)
        elif definition.get("messageRef"):
            facts[f"{label} event"] = _message_name(el, definition.get("messageRef"))
        elif definition.get("errorRef") or definition.get("signalRef") or definition.get("escalationRef"):
            facts[f"{label} event"] = (
                definition.get("errorRef") or definition.get("signalRef") or definition.get("escalationRef")
            )
        else:
            facts[f"{label} event"] = "yes"
    if el.get("messageRef"):
        facts["messageRef"] = _message_name(el, el.get("messageRef"))
    for script in el.xpath("./bpmn:script", namespaces=ns):
        facts["script"] = (script.text or "").strip()
    for doc in el.xpath("./bpmn:documentation", namespaces=ns):
        facts["documentation"] = _text(doc)
    if kind == "businessRuleTask":
        facts.setdefault("camunda:decisionRef", el.get(f"{{{CAMUNDA_NS}}}decisionRef", ""))
    return facts


def _message_name(el, ref: str) -> str:
    found = el.getroottree().getroot().xpath(
        "//bpmn:message[@id=$id]", id=ref, namespaces={"bpmn": BPMN_NS}
    )
    return (found[0].get("name") or ref) if found else ref


_SKIP_CHILDREN = {"laneSet", "extensionElements", "documentation", "incoming", "outgoing", "ioSpecification",
                  "dataInputAssociation", "dataOutputAssociation", "multiInstanceLoopCharacteristics",
                  "standardLoopCharacteristics", "conditionExpression", "script", "text"}


def _elements(process) -> dict[str, _Element]:
    """Flow nodes, sequence flows and lanes of a process (nested subprocesses included), by id."""
    out: dict[str, _Element] = {}
    lane_of: dict[str, str] = {}
    for lane in process.iter(f"{{{BPMN_NS}}}lane"):
        name = lane.get("name") or lane.get("id")
        members = sorted((ref.text or "").strip() for ref in lane.iter(f"{{{BPMN_NS}}}flowNodeRef"))
        for ref in members:
            lane_of[ref] = name
        facts = {"elements": ", ".join(members)}
        out[lane.get("id")] = _Element(lane.get("id"), "lane", lane.get("name"), lane, facts=facts)

    def walk(container) -> None:
        for el in container:
            kind = _local(el)
            if not kind or kind in _SKIP_CHILDREN or not el.get("id") or kind.endswith("EventDefinition"):
                continue
            out[el.get("id")] = _Element(el.get("id"), kind, el.get("name"), el, lane_of.get(el.get("id")),
                                         _facts(el))
            if kind in ("subProcess", "transaction", "adHocSubProcess"):
                walk(el)

    walk(process)
    return out


def _describe(value: str | None) -> str:
    return repr(value) if value not in (None, "") else "(none)"


def _changes(old: _Element, new: _Element) -> list[str]:
    out: list[str] = []
    if old.type != new.type:
        out.append(f"type: {old.type} → {new.type}")
    if (old.name or "") != (new.name or ""):
        out.append(f"name: {_describe(old.name)} → {_describe(new.name)}")
    if old.type != "lane" and (old.lane or "") != (new.lane or ""):
        out.append(f"lane: {_describe(old.lane)} → {_describe(new.lane)}")
    for key in sorted(set(old.facts) | set(new.facts)):
        before, after = old.facts.get(key), new.facts.get(key)
        if before == after:
            continue
        if key in ("sourceRef", "targetRef"):
            out.append(f"{'from' if key == 'sourceRef' else 'to'}: {before!r} → {after!r}")
        elif key == "script":
            out.append("script changed")
        elif key == "documentation":
            out.append("documentation changed")
        elif key.startswith("form field"):
            if before is None:
                out.append(f"{key} added")
            elif after is None:
                out.append(f"{key} removed")
            else:
                out.append(f"{key} changed: {before} → {after}")
        elif key == "elements":
            gone = sorted(set((before or "").split(", ")) - set((after or "").split(", ")) - {""})
            came = sorted(set((after or "").split(", ")) - set((before or "").split(", ")) - {""})
            if came:
                out.append("now also holds: " + ", ".join(came))
            if gone:
                out.append("no longer holds: " + ", ".join(gone))
        elif before is None:
            out.append(f"{key} added: {after!r}")
        elif after is None:
            out.append(f"{key} removed (was {before!r})")
        else:
            out.append(f"{key}: {before!r} → {after!r}")
    return out


def _bounds(root) -> dict[str, tuple]:
    out = {}
    for shape in root.iter(f"{{{BPMNDI_NS}}}BPMNShape"):
        b = shape.find(f"{{{DC_NS}}}Bounds")
        if b is not None:
            out[shape.get("bpmnElement")] = tuple(b.get(k) for k in ("x", "y", "width", "height"))
    for edge in root.iter(f"{{{BPMNDI_NS}}}BPMNEdge"):
        out[edge.get("bpmnElement")] = tuple(
            (p.get("x"), p.get("y")) for p in edge if _local(p) == "waypoint"
        )
    return out


_BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"


def _comparable_lines(root) -> list[str]:
    """The document as canonical, pretty-printed lines, without the diagram layout.

    Modelers rewrite the whole file on save (attribute order, indentation, line breaks) and
    move shapes; comparing the canonical form keeps the XML diff to real changes (moves are
    listed apart). C14N sorts attributes and namespace declarations.
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)
    copy = etree.fromstring(etree.tostring(root), parser)
    for diagram in copy.findall(f"{{{_BPMNDI}}}BPMNDiagram"):
        copy.remove(diagram)
    for el in copy.iter():
        if el.text is not None and not el.text.strip():
            el.text = None
        if el.tail is not None and not el.tail.strip():
            el.tail = None
    canonical = etree.tostring(copy, method="c14n")
    pretty = etree.tostring(etree.fromstring(canonical, parser), pretty_print=True, encoding="unicode")
    return pretty.splitlines(keepends=True)


def diff_xml(process_id: str, old_xml: str | bytes, new_xml: str | bytes, *, old_label: str = "a",
             new_label: str = "b") -> dict:
    """Semantic diff of one process between two BPMN documents (no database).

    ``added`` / ``removed`` / ``changed``: lists of {"id", "type", "name", "changes": [...]} over flow
    nodes, sequence flows and lanes, compared by element id; diagram coordinates are ignored
    there and reported apart in ``moved`` (ids only). ``xml_diff`` is a unified text diff.
    """
    def parse(xml, label):
        data = xml.encode("utf-8") if isinstance(xml, str) else xml
        try:
            root = parse_xml(data, label).getroot()
        except XmlRejected as exc:
            raise DeploymentInvalid([Problem(label, exc.line, None, str(exc))]) from None
        return root

    old_root = parse(old_xml, old_label)
    new_root = parse(new_xml, new_label)
    old_proc, new_proc = _process_element(old_root, process_id), _process_element(new_root, process_id)
    old_els = _elements(old_proc) if old_proc is not None else {}
    new_els = _elements(new_proc) if new_proc is not None else {}

    def summary(e: _Element, changes: list[str] | None = None) -> dict:
        return {"id": e.id, "type": e.type, "name": e.name, "changes": changes or []}

    added = [summary(new_els[i]) for i in new_els if i not in old_els]
    removed = [summary(old_els[i]) for i in old_els if i not in new_els]
    changed = []
    for i in old_els:
        if i in new_els:
            changes = _changes(old_els[i], new_els[i])
            if changes:
                changed.append(summary(new_els[i], changes))
    old_b, new_b = _bounds(old_root), _bounds(new_root)
    moved = sorted(i for i in old_els if i in new_els and i in old_b and i in new_b and old_b[i] != new_b[i])
    xml_diff = "".join(
        difflib.unified_diff(
            _comparable_lines(old_root), _comparable_lines(new_root), fromfile=old_label, tofile=new_label,
        )
    )
    return {"process_id": process_id, "added": added, "removed": removed, "changed": changed, "moved": moved,
            "xml_diff": xml_diff}


def diff_versions(session: Session, process_id: str, from_version: int, to_version: int) -> dict:
    """Semantic diff of two versions of a process (see ``diff_xml``) plus ``from_version`` / ``to_version``.

    Raises NotFound for an unknown process or version.
    """
    old, new = get_version(session, process_id, from_version), get_version(session, process_id, to_version)
    out = diff_xml(
        process_id, old.file.content, new.file.content,
        old_label=f"{old.file.name} (version {old.version})", new_label=f"{new.file.name} (version {new.version})",
    )
    out.update(from_version=from_version, to_version=to_version)
    return out


# ------------------------------------------------------------- browser deploys
def _executable_ids(filename: str, xml: bytes) -> list[str]:
    try:
        root = parse_xml(xml, filename).getroot()
    except XmlRejected as exc:
        raise DeploymentInvalid([Problem(filename, exc.line, None, str(exc))]) from None
    return [
        p.get("id") for p in root.iter(f"{{{BPMN_NS}}}process")
        if p.get("id") and p.get("isExecutable", "true").lower() != "false"
    ]


def _who(pv: ProcessVersion) -> str:
    when = pv.created_at.strftime("%d/%m/%Y %H:%M") if pv.created_at else "?"
    source = {"disk": "from disk (bpmn/)", "ui": "from the browser", "api": "through the API"}.get(
        pv.deployment.source, pv.deployment.source
    )
    return f"version {pv.version} was deployed {source} by {pv.deployment.deployed_by or '?'} at {when}"


def _clean_filename(filename: str) -> str:
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name.lower().endswith(".bpmn"):
        raise FormInvalid({"filename": "must be a .bpmn file name"})
    return name


def deploy_edited(
    session: Session,
    filename: str,
    xml: bytes,
    actor: str,
    note: str | None,
    base_version: int | dict[str, int] | None,
    source: str = "ui",
) -> DeployResult:
    """Deploy a diagram edited in the browser (or sent by an API client) as a new version.

    ``base_version`` is the version the editor opened (None for a new process), per process id when a
    dict. Raises FormInvalid without a change note, Conflict when a process's latest version is not
    the base (someone deployed meanwhile), DeploymentInvalid with the lint errors (warnings never
    block). Caller commits. An unchanged diagram creates no version (``result.changed`` is False).
    """
    if not (note or "").strip():
        raise FormInvalid({"note": "a change note is required: say what changed and why"})
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    name = _clean_filename(filename)
    xml = xml.encode("utf-8") if isinstance(xml, str) else xml
    process_ids = _executable_ids(name, xml)
    bases: dict[str, int] = {}
    for pid in process_ids:
        base = base_version.get(pid) if isinstance(base_version, dict) else base_version
        latest = latest_version(session, pid)
        if latest is None:
            if base is not None:
                raise Conflict(f"process {pid!r} is not deployed, so it cannot be based on version {base}")
            continue
        if base is None:
            raise Conflict(
                f"process {pid!r} already exists ({_who(latest)}); open that version to edit it", latest=latest.version
            )
        if base != latest.version:
            raise Conflict(
                f"{_who(latest)} after you opened version {base} in the editor; reload it, apply your change "
                "again and deploy", process_id=pid, latest=latest.version, base_version=base,
            )
        bases[pid] = base
    from engine.lint import blocking, lint

    errors = blocking(lint(session, [(name, xml)]))
    if errors:
        raise DeploymentInvalid(errors)
    return deploy(session, [(name, xml)], actor, note=note.strip(), source=source, base_versions=bases)


def rollback(session: Session, process_id: str, version: int, actor: str, note: str | None,
             source: str = "ui") -> DeployResult:
    """Deploy an older version's file again as a NEW version (even when its content equals the latest).

    Raises NotFound for an unknown process/version, InvalidState when ``version`` is the latest.
    Instances keep their version; move them with engine.migration. Caller commits.
    """
    target = get_version(session, process_id, version)
    latest = latest_version(session, process_id)
    if latest.version == target.version:
        raise InvalidState(f"version {version} is already the latest version of {process_id!r}")
    # the old file is deployed whole: any other process it declares would be reverted along, silently
    others = sorted(set(session.scalars(select(ProcessVersion.process_id).where(
        ProcessVersion.file_id == target.file_id, ProcessVersion.process_id != process_id))))
    if others:
        raise InvalidState(f"version {version} of {process_id!r} is in a file that also declares "
                           f"{', '.join(others)}: a rollback would change those too; deploy the file you want "
                           "instead (upload or the modeler)")
    text = f"rollback to version {version}" + (f": {note.strip()}" if (note or "").strip() else "")
    return deploy(
        session, [(target.file.name, target.file.content.encode("utf-8"))], actor, note=text, source=source,
        force=frozenset({process_id}), base_versions={process_id: latest.version},
        rollback_of={process_id: version},
    )


# ------------------------------------------------------------- disk vs browser
@dataclass
class DiskPlan:
    """What `flask bpmn deploy` will do with each file under the disk-vs-browser rule."""

    deploy: list[tuple[str, bytes]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)   # messages: disk unchanged, browser version kept
    refused: list[str] = field(default_factory=list)   # messages: disk changed under a browser version


def _disk_base(session: Session, process_id: str) -> ProcessVersion | None:
    """The newest version that bpmn/ is known to hold: deployed from disk or exported to it."""
    rows = session.scalars(
        select(ProcessVersion).join(Deployment, ProcessVersion.deployment_id == Deployment.id)
        .where(ProcessVersion.process_id == process_id)
        .where((Deployment.source == "disk") | ProcessVersion.exported_at.is_not(None))
        .order_by(ProcessVersion.version.desc())
    )
    return rows.first()


def plan_disk_deploy(session: Session, files: list[tuple[str, bytes]], force: bool = False) -> DiskPlan:
    """Apply the disk-vs-browser rule to files read from bpmn/ (see the module docstring)."""
    plan = DiskPlan()
    for name, content in files:
        if name.lower().endswith(".dmn"):
            verdict, messages = _dmn_verdict(session, name, content)
            _plan_file(plan, name, content, "deploy" if force else verdict, messages)
            continue
        if not name.lower().endswith(".bpmn"):
            plan.deploy.append((name, content))
            continue
        try:
            process_ids = _executable_ids(name, content)
        except DeploymentInvalid:
            plan.deploy.append((name, content))  # deploy reports the problem with its line
            continue
        digest = sha256(content)
        verdict = "deploy"
        messages: list[str] = []
        for pid in process_ids:
            latest = latest_version(session, pid)
            if latest is None or latest.deployment.source == "disk" or latest.exported_at is not None:
                continue
            if latest.file.sha256 == digest:
                continue  # the disk holds exactly the latest version
            base = _disk_base(session, pid)
            if base is not None and base.file.sha256 == digest:
                verdict = "skip" if verdict == "deploy" else verdict
                messages.append(
                    f"{name}: {pid}: kept version {latest.version} ({_who(latest)}); the file is unchanged "
                    f"since version {base.version}. Run `flask --app wsgi bpmn export` to write it to bpmn/ "
                    "and commit it"
                )
            else:
                verdict = "refuse"
                messages.append(
                    f"{name}: {pid}: refused: {_who(latest)} and the file on disk changed too; a deploy "
                    f"would silently overwrite it. Run `flask --app wsgi bpmn export {pid}` (writes version "
                    f"{latest.version} to bpmn/), merge your changes with git, then deploy again — "
                    "or deploy with --force to replace it with the file on disk"
                )
        _plan_file(plan, name, content, "deploy" if force else verdict, messages)
    return plan


def _plan_file(plan: DiskPlan, name: str, content: bytes, verdict: str, messages: list[str]) -> None:
    if verdict == "deploy":
        plan.deploy.append((name, content))
    elif verdict == "skip":
        plan.skipped.extend(messages)
    else:
        plan.refused.extend(messages)


def _decision_history(session: Session, decision_id: str) -> list[DecisionVersion]:
    return list(session.scalars(select(DecisionVersion).where(DecisionVersion.decision_id == decision_id)
                                .order_by(DecisionVersion.id)))


def _dmn_verdict(session: Session, name: str, content: bytes) -> tuple[str, list[str]]:
    """The disk-vs-browser rule for a fee table: a table uploaded in the studio is not replaced by an
    older or different file from bpmn/ without --force (before, the next disk deploy restored the old
    fees silently)."""
    try:
        decision_ids = load_source(name, content).decision_ids()
    except XmlRejected:
        return "deploy", []  # deploy reports the problem with its line
    digest = sha256(content)
    verdict, messages = "deploy", []
    for decision_id in decision_ids:
        history = _decision_history(session, decision_id)
        if not history:
            continue
        latest = history[-1]
        if latest.file.sha256 == digest or latest.file.deployment.source == "disk" or latest.exported_at:
            continue
        who = (f"uploaded in the browser by {latest.file.deployment.deployed_by or '?'} "
               f"({latest.created_at:%Y-%m-%d %H:%M})")
        if any(row.file.sha256 == digest for row in history[:-1]):
            verdict = "skip" if verdict == "deploy" else verdict
            messages.append(f"{name}: {decision_id}: kept the table {who}; the file holds an older one. Run "
                            "`flask --app wsgi bpmn export` to write it to bpmn/ and commit it")
        else:
            verdict = "refuse"
            messages.append(f"{name}: {decision_id}: refused: the table was {who} and the file on disk changed "
                            "too; a deploy would silently overwrite it. Run `flask --app wsgi bpmn export`, merge "
                            "with git, then deploy again — or deploy with --force")
    return verdict, messages


def export_versions(session: Session, directory: str | Path, process_ids: list[str] | None = None,
                    force: bool = False) -> list[tuple[Path, str, int]]:
    """Write the latest versions made in the browser/API into ``directory`` (bpmn/) for git.

    A file goes where a file of that name already lives under ``directory`` (else at its top). A file
    on disk that changed since the last disk deploy/export is not overwritten unless ``force``
    (raises Conflict naming it). Marks the versions exported. Returns (path, process id, version).
    Caller commits.
    """
    from engine.deployments import latest_versions

    root = Path(directory)
    existing = {p.name: p for p in sorted(root.rglob("*.bpmn"))} if root.exists() else {}
    wanted = [pv for pv in latest_versions(session) if process_ids is None or pv.process_id in process_ids]
    if process_ids:
        missing = set(process_ids) - {pv.process_id for pv in wanted}
        if missing:
            raise NotFound(f"process {sorted(missing)[0]!r} is not deployed")
    written: list[tuple[Path, str, int]] = []
    for pv in wanted:
        if pv.deployment.source == "disk" or pv.exported_at is not None:
            continue
        path = existing.get(pv.file.name, root / pv.file.name)
        if path.exists() and not force:
            on_disk = sha256(path.read_bytes())
            base = _disk_base(session, pv.process_id)
            if on_disk != pv.file.sha256 and (base is None or on_disk != base.file.sha256):
                raise Conflict(
                    f"{path} changed on disk since it was last deployed; commit or stash it before exporting "
                    f"version {pv.version} of {pv.process_id!r} (or export with --force)"
                )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pv.file.content.encode("utf-8"))
        pv.exported_at = utcnow()
        written.append((path, pv.process_id, pv.version))
    if process_ids is None:
        written.extend(_export_decisions(session, root, force))
    return written


def _export_decisions(session: Session, root: Path, force: bool) -> list[tuple[Path, str, int]]:
    """The fee tables uploaded in the browser, written into bpmn/ beside the processes."""
    existing = {p.name: p for p in sorted(root.rglob("*.dmn"))} if root.exists() else {}
    latest: dict[str, tuple[DecisionVersion, int]] = {}
    for row in session.scalars(select(DecisionVersion).order_by(DecisionVersion.id)):
        latest[row.decision_id] = (row, (latest.get(row.decision_id, (None, 0))[1]) + 1)
    written: list[tuple[Path, str, int]] = []
    done: set[int] = set()
    for decision_id, (row, number) in sorted(latest.items()):
        if row.file.deployment.source == "disk" or row.exported_at is not None:
            continue
        path = existing.get(row.file.name, root / row.file.name)
        if row.file_id not in done:
            if path.exists() and not force:
                on_disk = sha256(path.read_bytes())
                known = {r.file.sha256 for r in _decision_history(session, decision_id)}
                if on_disk != row.file.sha256 and on_disk not in known:
                    raise Conflict(f"{path} changed on disk since it was last deployed; commit or stash it before "
                                   f"exporting the table {decision_id!r} (or export with --force)")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(row.file.content.encode("utf-8"))
            done.add(row.file_id)
        row.exported_at = utcnow()
        written.append((path, decision_id, number))
    return written
