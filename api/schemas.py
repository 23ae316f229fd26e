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


# ------------------------------------------------------------------ one-stop dossiers
class ProcessingTimeSchema(Schema):
    value = fields.Float()
    unit = fields.String(metadata={"description": "working_days | working_hours | months"})


class ProcedureSchema(Schema):
    code = fields.String(metadata={"example": "1.001193"})
    name = fields.String()
    name_vi = fields.String()
    name_en = fields.String()
    department = fields.String(allow_none=True)
    desk = fields.String(allow_none=True)
    agency_code = fields.String()
    processing_time = fields.Nested(ProcessingTimeSchema)
    fee = fields.Integer(metadata={"description": "VND"})
    process_id = fields.String()
    version = fields.Integer()
    level = fields.String(allow_none=True)
    online = fields.Boolean()
    required_documents = fields.List(fields.String())


class ApplicantSchema(Schema):
    kind = fields.String(load_default="person", validate=validate.OneOf(["person", "business"]))
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    id_number = fields.String(allow_none=True, validate=validate.Regexp(
        r"^(\d{9}|\d{10}|\d{12}|\d{10}-\d{3}|\d{13})$",
        error="must be a 9/12-digit ID number or a 10/13-digit tax code"))
    phone = fields.String(allow_none=True, validate=validate.Regexp(
        r"^(?:0|\+84)(?:[35789]\d{8}|2\d{9})$",
        error="must be a Vietnamese phone number (mobile 0xxxxxxxxx, landline 02xxxxxxxxx, or +84...)"))
    email = fields.Email(allow_none=True)
    address = fields.String(allow_none=True, validate=validate.Length(max=500))


class AttachmentSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    url = fields.String(allow_none=True, validate=validate.Length(max=2000))
    sha256 = fields.String(allow_none=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))


class SubmitDossierSchema(Schema):
    procedure_code = fields.String(required=True, validate=validate.Length(min=1, max=50))
    channel = fields.String(required=True, validate=validate.OneOf(["online", "in_person", "postal"]))
    applicant = fields.Nested(ApplicantSchema, required=True)
    data = fields.Dict(keys=fields.String(), load_default=dict)
    attachments = fields.List(fields.Nested(AttachmentSchema), load_default=list)
    received_at = fields.AwareDateTime(allow_none=True, metadata={
        "description": "for postal and synchronized dossiers: when the dossier was actually received"})


class ApologySchema(Schema):
    id = fields.Integer()
    state = fields.String()
    department = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    previous_appointment_at = fields.DateTime(allow_none=True)
    new_appointment_at = fields.DateTime(allow_none=True)
    drafted_at = fields.DateTime()
    issued_at = fields.DateTime(allow_none=True)
    issued_by = fields.String(allow_none=True)


class DossierSchema(Schema):
    code = fields.String(metadata={"example": "H15.01-261123-0001"})
    instance_id = fields.String(attribute="id")
    procedure_code = fields.String()
    procedure_name = fields.String()
    process_id = fields.String()
    status_code = fields.Integer(metadata={"description": "national portal status 1-10"})
    status_name = fields.String(attribute="status_name_vi")
    status_name_en = fields.String()
    channel = fields.String()
    channel_code = fields.Integer(metadata={"description": "1 in person, 2 online, 3 postal"})
    applicant = fields.Method("_applicant")
    submitted_at = fields.DateTime()
    received_at = fields.DateTime(allow_none=True)
    appointment_date = fields.DateTime(attribute="appointment_at", allow_none=True)
    original_appointment_date = fields.DateTime(attribute="original_appointment_at", allow_none=True)
    current_department = fields.String(allow_none=True)
    responsible_department = fields.String(allow_none=True)
    due_state = fields.Method("_due_state")
    remaining_working_hours = fields.Method("_remaining")
    supplement_count = fields.Integer()
    missing_documents = fields.String(allow_none=True)
    refusal_reason = fields.String(allow_none=True)
    paused_working_hours = fields.Float(attribute="paused_hours")
    fee_amount = fields.Integer()
    fee_state = fields.String()
    paid_at = fields.DateTime(allow_none=True)
    result_channel = fields.String(allow_none=True)
    e_result = fields.Boolean()
    finished_at = fields.DateTime(allow_none=True)
    returned_at = fields.DateTime(allow_none=True)
    late = fields.Boolean()
    attachments = fields.List(fields.Dict())
    apologies = fields.List(fields.Nested(ApologySchema))

    def _applicant(self, dossier) -> dict:
        return {
            "kind": dossier.applicant_kind, "name": dossier.applicant_name, "id_number": dossier.applicant_id_number,
            "phone": dossier.applicant_phone, "email": dossier.applicant_email, "address": dossier.applicant_address,
        }

    def _due_state(self, dossier) -> str:
        from dossiers.lateness import due_state

        return due_state(dossier).state

    def _remaining(self, dossier) -> float | None:
        from dossiers.lateness import due_state

        remaining = due_state(dossier).remaining_hours
        return round(remaining, 2) if remaining is not None else None


class DossierPageSchema(PageSchema):
    items = fields.List(fields.Nested(DossierSchema))


class DossierQuerySchema(PageArgs):
    status_code = fields.Integer(validate=validate.Range(min=1, max=10))
    procedure_code = fields.String()
    department = fields.String()
    overdue = fields.Boolean()
    q = fields.String(metadata={"description": "tracking code or applicant name (prefix)"})


class SupplementSchema(Schema):
    documents = fields.List(fields.Nested(AttachmentSchema), load_default=list)
    note = fields.String(allow_none=True, validate=validate.Length(max=5000))


class WithdrawSchema(Schema):
    reason = fields.String(allow_none=True, validate=validate.Length(max=2000))


class IssueApologySchema(Schema):
    new_appointment_at = fields.AwareDateTime(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=3, max=5000))


class SlipQuerySchema(Schema):
    format = fields.String(load_default="html", validate=validate.OneOf(["html", "pdf"]))


class RegisterQuerySchema(SlipQuerySchema):
    from_ = fields.Date(data_key="from", required=True)
    to = fields.Date(required=True)
    department = fields.String()


class CalendarDaySchema(Schema):
    day = fields.Date(required=True)
    working = fields.Boolean(required=True, metadata={"description": "true: make-up working day; false: day off"})
    note = fields.String(allow_none=True, validate=validate.Length(max=500))
    updated_by = fields.String(dump_only=True)
