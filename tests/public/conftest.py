"""Fixtures of the citizens' side: procedures deployed (one offered online, one of another department),
clients of their own addresses (lookups and submissions are rate-limited per address), dossier helpers."""

from __future__ import annotations

import itertools

import pytest

from dossiers import service
from engine.actors import Actor
from engine.deployments import deploy
from engine.runtime import Runtime
from tests.conftest import fixture_bytes
from tests.dossiers.conftest import APPLICANT, DESK, LEADER, PORTAL, SPECIALIST

ONLINE_CODE = "9.999101"  # the one-stop test procedure, offered online
TRANSPORT_CODE = "9.999102"  # the same, handled by the Department of Transport (SGTVT)
COUNTER_CODE = "9.999001"  # tests/fixtures/bpmn/onestop_fixture.bpmn: not offered online
TRANSPORT_SPECIALIST = Actor("giaothong", frozenset({"specialist", "leader"}), frozenset({"SGTVT", "LD_SGTVT"}))
_addresses = itertools.count(1)


def variant(process_id: str, code: str, name_vi: str, name_en: str, *, online: bool, transport: bool = False) -> bytes:
    xml = fixture_bytes("onestop_fixture.bpmn").decode()
    xml = (xml.replace('id="onestop_fixture"', f'id="{process_id}"')
              .replace('value="9.999001"', f'value="{code}"')
              .replace('value="Thủ tục thử nghiệm một cửa"', f'value="{name_vi}"')
              .replace('value="One-stop test procedure"', f'value="{name_en}"')
              .replace('name="online" value="false"', f'name="online" value="{"true" if online else "false"}"'))
    if transport:
        xml = (xml.replace("Sở Xây dựng", "Sở Giao thông vận tải")
                  .replace('name="department" value="SXD"', 'name="department" value="SGTVT"'))
    return xml.encode()


@pytest.fixture
def procedures(sessions, people):
    """Three procedures: 9.999001 (counter only), 9.999101 (online), 9.999102 (online, Department of Transport)."""
    with sessions() as s:
        deploy(s, [
            ("onestop_fixture.bpmn", fixture_bytes("onestop_fixture.bpmn")),
            ("onestop_online.bpmn", variant("onestop_online", ONLINE_CODE, "Thủ tục thử nghiệm trực tuyến",
                                            "Online test procedure", online=True)),
            ("onestop_transport.bpmn", variant("onestop_transport", TRANSPORT_CODE, "Thủ tục thử nghiệm giao thông",
                                               "Transport test procedure", online=True, transport=True)),
        ], "tests")
        s.commit()
    return sessions


def client_of_own_address(app):
    """A browser with an address of its own: the per-address rate limits of other tests do not count."""
    client = app.test_client()
    n = next(_addresses)
    client.environ_base["REMOTE_ADDR"] = f"10.77.{n // 250}.{n % 250 + 1}"
    return client


def complete(session, dossier_id: str, element_id: str, data: dict, actor: Actor) -> None:
    rt = Runtime(session)
    [task] = [t for t in rt.open_tasks(dossier_id) if t.element_id == element_id]
    rt.complete_task(task.id, data, actor)
    session.commit()


def submitted(session, code: str = COUNTER_CODE, applicant: dict | None = None):
    dossier = service.submit(session, procedure_code=code, channel="in_person", applicant=applicant or APPLICANT,
                             data={}, actor=PORTAL)
    session.commit()
    return dossier


def accepted(session, code: str = COUNTER_CODE):
    dossier = submitted(session, code)
    complete(session, dossier.id, "reception", {"reception_outcome": "accept"}, DESK)
    return dossier


def done(session, code: str = COUNTER_CODE, *, returned: bool = False):
    """Through reception, review and approval: status 9 (or 10 after the return step)."""
    dossier = accepted(session, code)
    specialist, leader = (TRANSPORT_SPECIALIST, TRANSPORT_SPECIALIST) if code == TRANSPORT_CODE else (SPECIALIST,
                                                                                                        LEADER)
    complete(session, dossier.id, "review", {"review_outcome": "ok"}, specialist)
    complete(session, dossier.id, "approve", {}, leader)
    if returned:
        complete(session, dossier.id, "return_step", {"result_channel": "electronic"}, DESK)
    session.refresh(dossier)
    return dossier
