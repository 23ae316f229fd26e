"""Fixtures of the designer studio tests: the birth registration procedure of bpmn/ and its edited copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.actors import Actor
from engine.deployments import deploy
from engine.models import Department

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "bpmn"
FIXTURES = ROOT / "tests" / "fixtures" / "bpmn"
V1_FILE = "ward_birth_registration.bpmn"
PROCESS = "birth_registration"
DESIGNER = "thietke"

WARD_CLERK = Actor("motcuaphuong", frozenset({"clerk"}), frozenset({"MOTCUA_PHUONG"}))
OFFICER = Actor("hotich", frozenset({"specialist"}), frozenset({"TUPHAP_HOTICH"}))
CHAIRMAN = Actor("chutich", frozenset({"leader"}), frozenset({"LD_PHUONG"}))
POLICE = Actor("congan", frozenset({"specialist"}), frozenset({"CA_PHUONG"}))

START_DATA = {"desk": "MOTCUA_PHUONG", "procedure_code": "1.001193", "channel": "in_person",
              "applicant_name": "Nguyễn Thị Thu"}
RECEPTION = {"applicant_name": "Nguyễn Thị Thu", "applicant_id_number": "092190001234",
             "applicant_relationship": "mother", "applicant_phone": "0907 123 456", "reception_outcome": "accept"}
RECORD = {
    "child_full_name": "Trần Minh Khang", "child_date_of_birth": "2025-09-28",
    "child_place_of_birth": "Bệnh viện Phụ sản thành phố Cần Thơ", "child_sex": "male", "child_ethnicity": "Kinh",
    "child_nationality": "Việt Nam", "mother_full_name": "Nguyễn Thị Thu", "mother_id_number": "092190001234",
    "father_full_name": "Trần Văn Hải", "father_id_number": "092088004321",
    "birth_certificate_file": {"name": "giay_chung_sinh_0975.pdf", "size": 182044}, "register_number": "125/2025",
}
SIGN = {"decision": "approve", "signed_on": "2025-10-08"}
RETURN = {"result_channel": "in_person", "e_result": True, "returned_on": "2025-10-08",
          "receiver_name": "Nguyễn Thị Thu"}
OPINION = {"residence_confirmed": True, "police_note": "Thông tin cư trú của cha mẹ đúng."}


def common_files() -> list[tuple[str, bytes]]:
    common = LIBRARY / "common"
    return [(p.name, p.read_bytes()) for p in sorted(common.glob("*.bpmn"))] + [
        ("fee_schedule.dmn", (common / "fee_schedule.dmn").read_bytes())
    ]


def v1_xml() -> bytes:
    return (LIBRARY / V1_FILE).read_bytes()


def opinion_xml() -> bytes:
    """The same procedure with the ward police's opinion asked in parallel to the civil-status officer."""
    return (FIXTURES / "ward_birth_registration_opinion.bpmn").read_bytes()


@pytest.fixture
def library(sessions, people):
    """bpmn/common and the birth registration deployed from disk (version 1); the ward police department exists."""
    with sessions() as s:
        deploy(s, common_files() + [(V1_FILE, v1_xml())], "cli", note="thư viện thủ tục", source="disk")
        s.add(Department(code="CA_PHUONG", name_vi="Công an phường", name_en="Ward police"))
        s.commit()
    return sessions
