"""A call activity shared across files and a DMN fee table, deployed in separate steps."""

from __future__ import annotations

from engine.actors import SYSTEM
from engine.deployments import deploy
from engine.errors import DeploymentInvalid
from engine.runtime import Runtime
from tests.conftest import fixture_bytes


def files(*names):
    return [(n, fixture_bytes(n)) for n in names]


def test_caller_deployed_later_resolves_deployed_subprocess_and_dmn(sessions):
    with sessions() as s:
        try:
            deploy(s, files("licence_renewal.bpmn"), "tests")
            raise AssertionError("a missing called process must be refused")
        except DeploymentInvalid as exc:
            assert exc.lines() == ["licence_renewal.bpmn:5: call_fee: called process 'collect_fee' is not deployed"]
        s.rollback()
        result = deploy(s, files("fee_table.dmn", "collect_fee.bpmn"), "tests")
        assert result.decisions == ["fee_table"]
        s.commit()
        result = deploy(s, files("licence_renewal.bpmn"), "tests")  # resolves collect_fee and fee_table from the DB
        s.commit()
        assert [(p.process_id, p.version) for p in result.processes] == [("licence_renewal", 1)]

        rt = Runtime(s)
        inst = rt.start("licence_renewal", data={"kind": "renew"}, actor=SYSTEM)
        s.commit()
        assert inst.status == "waiting"
        assert inst.data["fee"] == 115000 and inst.data["fee_due"] is True
        [task] = rt.open_tasks(inst.id)
        assert task.element_id == "issue"
        kinds = [(e.kind, e.element_id) for e in rt.events(inst.id)]
        assert ("step_completed", "lookup_fee") in kinds and ("step_completed", "call_fee") in kinds


def test_changed_dependency_gives_callers_a_new_version(sessions):
    with sessions() as s:
        deploy(s, files("fee_table.dmn", "collect_fee.bpmn", "licence_renewal.bpmn"), "tests")
        s.commit()
        cheaper = fixture_bytes("fee_table.dmn").replace(b"115000", b"100000")
        result = deploy(s, [("fee_table.dmn", cheaper), *files("collect_fee.bpmn", "licence_renewal.bpmn")], "tests")
        s.commit()
        versions = {p.process_id: (p.version, p.changed) for p in result.processes}
        assert versions == {"collect_fee": (2, True), "licence_renewal": (2, True)}
        inst = Runtime(s).start("licence_renewal", data={"kind": "renew"}, actor=SYSTEM)
        assert inst.data["fee"] == 100000
