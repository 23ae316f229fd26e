"""Request and response shapes of the designer studio API (api/designer.py)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.schemas import DeployedProcessSchema


class VersionEntrySchema(Schema):
    version = fields.Integer(metadata={"example": 2})
    id = fields.Integer(metadata={"example": 14})
    name = fields.String(allow_none=True)
    created_at = fields.DateTime()
    deployed_by = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    source = fields.String(metadata={"description": "disk (bpmn/ via the CLI), ui (browser modeler) or api"})
    content_hash = fields.String()
    file_name = fields.String()
    file_sha256 = fields.String()
    running_instances = fields.Integer(metadata={"description": "instances not finished on this version"})
    base_version = fields.Integer(allow_none=True, metadata={"description": "the version the edit started from"})
    rollback_of = fields.Integer(allow_none=True, metadata={"description": "the version a rollback deployed again"})
    exported_at = fields.DateTime(allow_none=True, metadata={"description": "when `flask bpmn export` wrote it"})
    latest = fields.Boolean()


class DiffArgsSchema(Schema):
    from_ = fields.Integer(data_key="from", required=True, validate=validate.Range(min=1))
    to = fields.Integer(required=True, validate=validate.Range(min=1))


class DiffElementSchema(Schema):
    id = fields.String(metadata={"example": "opinion_split"})
    type = fields.String(metadata={"example": "parallelGateway"})
    name = fields.String(allow_none=True, metadata={"example": "Xin ý kiến song song"})
    changes = fields.List(fields.String(), metadata={"example": ["to: 'record_birth' → 'opinion_split'"]})


class DiffSchema(Schema):
    process_id = fields.String(metadata={"example": "birth_registration"})
    from_version = fields.Integer(metadata={"example": 1})
    to_version = fields.Integer()
    added = fields.List(fields.Nested(DiffElementSchema))
    removed = fields.List(fields.Nested(DiffElementSchema))
    changed = fields.List(fields.Nested(DiffElementSchema))
    moved = fields.List(fields.String(), metadata={"description": "elements whose diagram position changed"})
    xml_diff = fields.String(metadata={"description": "unified diff of the two XML files"})


class LintProblemSchema(Schema):
    file = fields.String(metadata={"example": "ward_birth_registration.bpmn"})
    line = fields.Integer(allow_none=True, metadata={"example": 42})
    element = fields.String(allow_none=True)
    message = fields.String()
    severity = fields.String(metadata={"description": "error (blocks a deploy) or warning"})


class LintResultSchema(Schema):
    valid = fields.Boolean(metadata={"description": "true when no problem is an error"})
    problems = fields.List(fields.Nested(LintProblemSchema))
    lines = fields.List(fields.String(), metadata={"description": "FILE:LINE: ELEMENT: message"})


class RollbackSchema(Schema):
    EXAMPLE = {"version": 1, "note": "Quay lại phiên bản 1: bỏ bước xin ý kiến"}

    version = fields.Integer(required=True, validate=validate.Range(min=1))
    note = fields.String(load_default=None, validate=validate.Length(max=2000))


class RollbackResultSchema(Schema):
    deployment_id = fields.Integer(allow_none=True)
    processes = fields.List(fields.Nested(DeployedProcessSchema))


class MigrationRequestSchema(Schema):
    EXAMPLE = {"to_version": 2, "dry_run": True}

    to_version = fields.Integer(required=True, validate=validate.Range(min=1))
    instance_ids = fields.List(fields.String(), load_default=None, validate=validate.Length(max=10000))
    dry_run = fields.Boolean(load_default=True)


class MigrationEntrySchema(Schema):
    instance_id = fields.String()
    business_key = fields.String(allow_none=True)
    from_version = fields.Integer(allow_none=True)
    to_version = fields.Integer()
    status = fields.String(allow_none=True)
    can_move = fields.Boolean()
    reason = fields.String()
    reason_code = fields.String(metadata={"description": "the reason as a code (can_move, step_removed, …): "
                                                         "word it in your own language with reason_params",
                                          "example": "step_removed"})
    reason_params = fields.Dict(metadata={"example": {"step": "'Thẩm định' (review)", "version": 2}})
    notes = fields.List(fields.Dict(), metadata={"description": "remarks on a move: [{code, params}]"})


class MigrationResultSchema(Schema):
    dry_run = fields.Boolean(metadata={"example": True})
    to_version = fields.Integer(metadata={"example": 2})
    plan = fields.List(fields.Nested(MigrationEntrySchema), metadata={"description": "dry run: every instance"})
    moved = fields.List(fields.Nested(MigrationEntrySchema))
    skipped = fields.List(fields.Nested(MigrationEntrySchema))
