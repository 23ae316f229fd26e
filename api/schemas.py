"""Request and response shapes of the REST API (marshmallow, documented in OpenAPI)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from engine.models import INSTANCE_STATUSES


class ProblemSchema(Schema):
    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.String())


class ValidationProblemSchema(ProblemSchema):
    problems = fields.List(fields.Dict(), metadata={"description": "file, line, element, message per problem"})
    lines = fields.List(fields.String(), metadata={"description": "FILE:LINE: ELEMENT_ID: message"})


class DeployedProcessSchema(Schema):
    process_id = fields.String()
    name = fields.String(allow_none=True)
    version = fields.Integer()
    version_id = fields.Integer()
    changed = fields.Boolean(metadata={"description": "false when the content equals the latest version"})


class DeploymentResultSchema(Schema):
    deployment_id = fields.Integer(allow_none=True)
    processes = fields.List(fields.Nested(DeployedProcessSchema))
    decisions = fields.List(fields.String())


class ProcessVersionSchema(Schema):
    version = fields.Integer()
    id = fields.Integer()
    name = fields.String(allow_none=True)
    content_hash = fields.String()
    created_at = fields.DateTime()
    deployed_by = fields.String(attribute="deployment.deployed_by", allow_none=True)
    file_name = fields.String(attribute="file.name")
    properties = fields.Dict()
    lanes = fields.List(fields.String())
    start_messages = fields.List(fields.String())


class ProcessSchema(Schema):
    process_id = fields.String()
    name = fields.String(allow_none=True)
    latest_version = fields.Integer()
    properties = fields.Dict()
    lanes = fields.List(fields.String())
    start_messages = fields.List(fields.String())
    versions = fields.List(fields.Nested(ProcessVersionSchema), required=False)
    bpmn_xml = fields.String(required=False, metadata={"description": "BPMN source of the latest version"})


class FormFieldSchema(Schema):
    id = fields.String()
    label = fields.String()
    label_vi = fields.String()
    label_en = fields.String()
    type = fields.String()
    required = fields.Boolean()
    default = fields.Raw(allow_none=True)
    options = fields.List(fields.Dict())
    min = fields.Raw(allow_none=True)
    max = fields.Raw(allow_none=True)
    minlength = fields.Integer(allow_none=True)
    maxlength = fields.Integer(allow_none=True)
    pattern = fields.String(allow_none=True)
    readonly = fields.Boolean()
    properties = fields.Dict()


class TaskSchema(Schema):
    id = fields.String()
    instance_id = fields.String()
    process_id = fields.String()
    element_id = fields.String(metadata={"description": "the BPMN element id"})
    name = fields.String(allow_none=True)
    lane = fields.String(allow_none=True)
    state = fields.String()
    candidate_groups = fields.List(fields.String())
    candidate_users = fields.List(fields.String())
    assignee = fields.String(allow_none=True)
    form = fields.List(fields.Nested(FormFieldSchema))
    draft = fields.Dict(allow_none=True)
    created_at = fields.DateTime()
    due_at = fields.DateTime(allow_none=True)
    claimed_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    completed_by = fields.String(allow_none=True)


class EventSchema(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    kind = fields.String()
    element_id = fields.String(allow_none=True)
    element_name = fields.String(allow_none=True)
    element_type = fields.String(allow_none=True)
    task_id = fields.String(allow_none=True)
    actor = fields.String(allow_none=True)
    from_lane = fields.String(allow_none=True)
    to_lane = fields.String(allow_none=True)
    detail = fields.Dict(allow_none=True)


class InstanceSchema(Schema):
    id = fields.String()
    process_id = fields.String()
    version = fields.Integer(attribute="version.version")
    status = fields.String(validate=validate.OneOf(INSTANCE_STATUSES))
    business_key = fields.String(allow_none=True)
    data = fields.Dict()
    error = fields.Dict(allow_none=True)
    started_by = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    lock_version = fields.Integer(metadata={"description": "changes with every stored step"})


class InstanceDetailSchema(InstanceSchema):
    tasks = fields.List(fields.Nested(TaskSchema), metadata={"description": "open user tasks"})
    events = fields.List(fields.Nested(EventSchema), metadata={"description": "the event log, oldest first"})


class PageSchema(Schema):
    page = fields.Integer()
    page_size = fields.Integer()
    total = fields.Integer()


class InstancePageSchema(PageSchema):
    items = fields.List(fields.Nested(InstanceSchema))


class TaskPageSchema(PageSchema):
    items = fields.List(fields.Nested(TaskSchema))


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class InstanceQuerySchema(PageArgs):
    process_id = fields.String()
    status = fields.String(validate=validate.OneOf(INSTANCE_STATUSES))
    business_key = fields.String()


class TaskQuerySchema(PageArgs):
    instance_id = fields.UUID()
    state = fields.String(load_default="ready", validate=validate.OneOf(["ready", "completed", "cancelled", "all"]))
    lane = fields.String()
    assignee = fields.String()
    process_id = fields.String()


class StartInstanceSchema(Schema):
    business_key = fields.String(allow_none=True, validate=validate.Length(max=255))
    data = fields.Dict(keys=fields.String(), load_default=dict)
    version = fields.Integer(allow_none=True, metadata={"description": "a specific version; default latest"})


class CompleteTaskSchema(Schema):
    data = fields.Dict(keys=fields.String(), load_default=dict)


class ClaimSchema(Schema):
    assignee = fields.String(allow_none=True, metadata={"description": "give the task to this user (leaders)"})


class MessageSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    business_key = fields.String(allow_none=True)
    correlation = fields.Dict(keys=fields.String(), allow_none=True)
    payload = fields.Raw(allow_none=True)


class MessageResultSchema(Schema):
    name = fields.String()
    instances = fields.List(fields.Nested(InstanceSchema))


class TerminateSchema(Schema):
    reason = fields.String(allow_none=True, validate=validate.Length(max=2000))


class DataUpdateSchema(Schema):
    data = fields.Dict(keys=fields.String(), required=True)

    @validates_schema
    def _not_empty(self, values, **kwargs):
        if not values.get("data"):
            raise ValidationError("give at least one variable", "data")
