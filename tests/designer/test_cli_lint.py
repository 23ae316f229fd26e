"""`flask bpmn validate --lint` prints the studio's findings: warnings do not fail, errors do."""

from __future__ import annotations

from tests.conftest import FIXTURES, LIBRARY
from tests.designer.test_disk_rule import cli


def test_lint_warnings_are_printed_and_errors_fail(app, people):
    r = cli(app, "bpmn", "validate", "--lint", str(FIXTURES / "bpmn" / "lint_findings.bpmn"))
    assert r.exit_code == 1
    assert "lint_findings.bpmn:40: ghost_review: dead end" in r.output
    assert "check: warning: form field 'ghi_chu' has no label" in r.output


def test_plain_validate_ignores_lint_warnings(app, people):
    r = cli(app, "bpmn", "validate", str(FIXTURES / "bpmn" / "lint_findings.bpmn"))
    assert "warning" not in r.output


def test_the_library_has_no_lint_errors(app, people):
    r = cli(app, "bpmn", "validate", "--lint", str(LIBRARY))
    assert r.exit_code == 0, r.output
