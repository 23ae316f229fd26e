"""Fixtures of the procedure tests (plain helpers are in helpers.py)."""

from __future__ import annotations

import pytest

from engine.deployments import deploy


@pytest.fixture
def deployed(request, sessions, people):
    """The test module's PROCEDURE deployed with the shared files of bpmn/common; the demo people seeded."""
    procedure = request.module.PROCEDURE
    with sessions() as s:
        result = deploy(s, procedure.library_files(), "tests")
        s.commit()
        assert procedure.process_id in {p.process_id for p in result.processes}
