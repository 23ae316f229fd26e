"""Request and response shapes of the REST API (marshmallow, documented in OpenAPI)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, post_dump, validate, validates_schema

from accounts.service import SCOPES
from api.pagination import PageArgs, sort_field
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
    process_id = fields.String(metadata={"example": "ward_birth_registration"})
    name = fields.String(allow_none=True)
    version = fields.Integer()
    version_id = fields.Integer()
    changed = fields.Boolean(metadata={"description": "false when the content equals the latest version"})


class DeploymentResultSchema(Schema):
    deployment_id = fields.Integer(allow_none=True)
    processes = fields.List(fields.Nested(DeployedProcessSchema))
    decisions = fields.List(fields.String())


class ProcessVersionSchema(Schema):
    version = fields.Integer(metadata={"example": 2})
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
    process_id = fields.String(metadata={"example": "ward_birth_registration"})
    name = fields.String(allow_none=True, metadata={"example": "Đăng ký khai sinh"})
    latest_version = fields.Integer(metadata={"example": 2})
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
    id = fields.String(metadata={"example": "0d9a3c8e-2b7f-4c51-8f3e-6a1b2c3d4e5f"})
    instance_id = fields.String(metadata={"example": "6f1c2b9e-8d6a-4a43-9a8e-2f1f4f7c9b10"})
    process_id = fields.String(metadata={"example": "sample_dossier"})
    element_id = fields.String(metadata={"description": "the BPMN element id", "example": "review"})
    name = fields.String(allow_none=True, metadata={"example": "Thẩm định hồ sơ"})
    lane = fields.String(allow_none=True, metadata={"example": "SXD"})
    state = fields.String(metadata={"example": "ready"})
    candidate_groups = fields.List(fields.String())
    candidate_users = fields.List(fields.String())
    assignee = fields.String(allow_none=True, metadata={"example": "chuyenvien"})
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
    id = fields.String(metadata={"example": "6f1c2b9e-8d6a-4a43-9a8e-2f1f4f7c9b10"})
    process_id = fields.String(metadata={"example": "sample_dossier"})
    version = fields.Integer(attribute="version.version", metadata={"example": 3})
    status = fields.String(validate=validate.OneOf(INSTANCE_STATUSES), metadata={"example": "waiting"})
    business_key = fields.String(allow_none=True, metadata={"example": "HS-2026-0001"})
    data = fields.Dict(metadata={"example": {"applicant_name": "Nguyễn Văn A", "fee": 0}})
    error = fields.Dict(allow_none=True)
    started_by = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    lock_version = fields.Integer(metadata={"description": "changes with every stored step (the ETag)", "example": 4})


class InstanceDetailSchema(InstanceSchema):
    tasks = fields.List(fields.Nested(TaskSchema), metadata={"description": "open user tasks"})
    events = fields.List(fields.Nested(EventSchema), metadata={"description": "the event log, oldest first "
                                                                          "(after a step: the latest 20)"})


class PageSchema(Schema):
    page = fields.Integer()
    page_size = fields.Integer()
    total = fields.Integer()


class InstancePageSchema(PageSchema):
    items = fields.List(fields.Nested(InstanceSchema))


class TaskPageSchema(PageSchema):
    items = fields.List(fields.Nested(TaskSchema))


class ProcessPageSchema(PageSchema):
    items = fields.List(fields.Nested(ProcessSchema))


INSTANCE_SORTS = ("created_at", "updated_at", "finished_at", "status", "process_id", "business_key")
TASK_SORTS = ("due_at", "created_at", "completed_at", "name", "lane", "process_id")
DOSSIER_SORTS = ("submitted_at", "received_at", "appointment_date", "code", "status_code", "procedure_code")
PROCESS_SORTS = ("process_id", "name", "latest_version")
PROCEDURE_SORTS = ("code", "name", "department", "process_id")


class InstanceQuerySchema(PageArgs):
    process_id = fields.String(validate=validate.Length(max=255), metadata={"example": "sample_dossier"})
    status = fields.String(validate=validate.OneOf(INSTANCE_STATUSES), metadata={"example": "waiting"})
    business_key = fields.String(validate=validate.Length(max=255), metadata={"example": "HS-2026-0001"})
    sort = sort_field(INSTANCE_SORTS, "-created_at")


class TaskQuerySchema(PageArgs):
    instance_id = fields.UUID(metadata={"example": "6f1c2b9e-8d6a-4a43-9a8e-2f1f4f7c9b10"})
    state = fields.String(load_default="ready", validate=validate.OneOf(["ready", "completed", "cancelled", "all"]),
                          metadata={"example": "ready"})
    lane = fields.String(validate=validate.Length(max=255), metadata={"example": "SXD"})
    assignee = fields.String(validate=validate.Length(max=100), metadata={"example": "chuyenvien"})
    process_id = fields.String(validate=validate.Length(max=255), metadata={"example": "sample_dossier"})
    sort = sort_field(TASK_SORTS, "due_at")


class ProcessQuerySchema(PageArgs):
    sort = sort_field(PROCESS_SORTS, "process_id")


class ProcedureQuerySchema(PageArgs):
    department = fields.String(validate=validate.Length(max=50), metadata={"example": "SXD"})
    online = fields.Boolean(metadata={"description": "only procedures that can (or cannot) be submitted online"})
    sort = sort_field(PROCEDURE_SORTS, "code")


class StartInstanceSchema(Schema):
    EXAMPLE = {"business_key": "HS-2026-0001", "data": {"applicant_name": "Nguyễn Văn A", "fee": 0}}

    business_key = fields.String(allow_none=True, validate=validate.Length(max=255))
    data = fields.Dict(keys=fields.String(), load_default=dict)
    version = fields.Integer(allow_none=True, metadata={"description": "a specific version; default latest"})


class CompleteTaskSchema(Schema):
    EXAMPLE = {"data": {"review_outcome": "ok", "note": "Hồ sơ đầy đủ"}}

    data = fields.Dict(keys=fields.String(), load_default=dict)


class ClaimSchema(Schema):
    EXAMPLE = {"assignee": "chuyenvien"}

    assignee = fields.String(allow_none=True, metadata={"description": "give the task to this user (leaders)"})


class MessageSchema(Schema):
    EXAMPLE = {"name": "payment_confirmed", "business_key": "HS-2026-0001",
               "payload": {"amount": 500000, "transaction_id": "VNPAY-20261124-0042"}}

    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    business_key = fields.String(allow_none=True)
    correlation = fields.Dict(keys=fields.String(), allow_none=True)
    payload = fields.Raw(allow_none=True)


class MessageResultSchema(Schema):
    name = fields.String(metadata={"example": "payment_confirmed"})
    instances = fields.List(fields.Nested(InstanceSchema))
    buffered = fields.Boolean(metadata={"description": "true (HTTP 202): nobody waits yet; kept until expires_at"})
    expires_at = fields.DateTime(metadata={"description": "when a buffered message is dropped if still unclaimed"})


class TerminateSchema(Schema):
    EXAMPLE = {"reason": "hồ sơ nộp trùng"}

    reason = fields.String(allow_none=True, validate=validate.Length(max=2000))


class DataUpdateSchema(Schema):
    EXAMPLE = {"data": {"fee": 150000}}

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
    EXAMPLE = {"procedure_code": "1.001193", "channel": "online",
               "applicant": {"kind": "person", "name": "Nguyễn Văn A", "id_number": "001203004567",
                             "phone": "0912345678", "email": "a.nguyen@example.vn", "address": "12 Hàng Bài, Hà Nội"},
               "data": {"child_name": "Nguyễn Văn B"}, "attachments": [{"name": "to_khai.pdf"}]}

    procedure_code = fields.String(required=True, validate=validate.Length(min=1, max=50))
    channel = fields.String(required=True, validate=validate.OneOf(["online", "in_person", "postal"]))
    applicant = fields.Nested(ApplicantSchema, required=True)
    data = fields.Dict(keys=fields.String(), load_default=dict)
    attachments = fields.List(fields.Nested(AttachmentSchema), load_default=list)
    received_at = fields.AwareDateTime(allow_none=True, metadata={
        "description": "for postal and synchronized dossiers: when the dossier was actually received"})


class ApologySchema(Schema):
    id = fields.Integer(metadata={"example": 12})
    state = fields.String(metadata={"example": "issued"})
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


class ProcedurePageSchema(PageSchema):
    items = fields.List(fields.Nested(ProcedureSchema))


class DossierQuerySchema(PageArgs):
    status_code = fields.Integer(validate=validate.Range(min=1, max=10), metadata={"example": 4})
    procedure_code = fields.String(validate=validate.Length(max=50), metadata={"example": "1.001193"})
    department = fields.String(validate=validate.Length(max=50), metadata={
        "description": "the department that has the dossier now", "example": "SXD"})
    overdue = fields.Boolean(metadata={"example": False})
    q = fields.String(validate=validate.Length(max=255), metadata={
        "description": "tracking code or applicant name (prefix)", "example": "Nguyễn"})
    sort = sort_field(DOSSIER_SORTS, "-submitted_at")


class SupplementSchema(Schema):
    EXAMPLE = {"documents": [{"name": "ban_sao_cccd.pdf"}], "note": "bổ sung bản sao CCCD"}

    documents = fields.List(fields.Nested(AttachmentSchema), load_default=list)
    note = fields.String(allow_none=True, validate=validate.Length(max=5000))


class WithdrawSchema(Schema):
    EXAMPLE = {"reason": "công dân xin rút hồ sơ"}

    reason = fields.String(allow_none=True, validate=validate.Length(max=2000))


class IssueApologySchema(Schema):
    EXAMPLE = {"new_appointment_at": "2026-12-02T16:00:00+07:00", "reason": "cần xác minh thêm tại địa phương"}

    new_appointment_at = fields.AwareDateTime(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=3, max=5000))


class SlipQuerySchema(Schema):
    format = fields.String(load_default="html", validate=validate.OneOf(["html", "pdf"]))


class RegisterQuerySchema(SlipQuerySchema):
    from_ = fields.Date(data_key="from", required=True)
    to = fields.Date(required=True)
    department = fields.String()


class CalendarDaySchema(Schema):
    EXAMPLE = {"day": "2026-12-31", "working": False, "note": "nghỉ theo quyết định"}

    day = fields.Date(required=True, metadata={"example": "2026-12-31"})
    working = fields.Boolean(required=True, metadata={"description": "true: make-up working day; false: day off",
                                                      "example": False})
    note = fields.String(allow_none=True, validate=validate.Length(max=500))
    updated_by = fields.String(dump_only=True)


class CalendarDayPageSchema(PageSchema):
    items = fields.List(fields.Nested(CalendarDaySchema))


class CalendarQuerySchema(PageArgs):
    sort = sort_field(("day",), "day")


# ------------------------------------------------------------------ API tokens
TOKEN_SORTS = ("created_at", "last_used_at", "name")
RATE_LIMIT_PATTERN = r"^\d{1,7}\s*(/|per)\s*(second|minute|hour|day)$"


class TokenSchema(Schema):
    id = fields.Integer(metadata={"example": 7})
    name = fields.String(metadata={"example": "national portal sync"})
    owner = fields.String(attribute="user.username", metadata={"example": "congdvc"})
    prefix = fields.String(metadata={"description": "the first characters, to recognise a token",
                                     "example": "mc_Q3v9kT"})
    scopes = fields.List(fields.String(), metadata={"example": ["read", "start", "messages"]})
    rate_limit = fields.String(metadata={"description": "requests allowed per window", "example": "600/minute"})
    created_at = fields.DateTime(metadata={"example": "2026-11-23T08:15:00+00:00"})
    last_used_at = fields.DateTime(allow_none=True, metadata={
        "description": "updated at most once a minute", "example": "2026-11-24T02:01:00+00:00"})
    revoked_at = fields.DateTime(allow_none=True, metadata={"example": None})
    parent_id = fields.Integer(allow_none=True, metadata={
        "description": "the token that created this one; revoking it revokes this one too", "example": None})

    @post_dump(pass_original=True)
    def _default_limit(self, data: dict, original, **kwargs) -> dict:
        from flask import current_app

        if not data.get("rate_limit"):
            data["rate_limit"] = current_app.config.get("API_RATE_LIMIT", "600/minute")
        return data


class NewTokenSchema(TokenSchema):
    token = fields.String(allow_none=True, metadata={
        "description": "the secret: shown this once, stored only as a hash (null in a replayed answer)",
        "example": "mc_Q3v9kTz2m0b6cH1yVq8hY3QeD7pX1fJ2a9uWlRkS0nE"})


class TokenPageSchema(PageSchema):
    items = fields.List(fields.Nested(TokenSchema))


class TokenQuerySchema(PageArgs):
    all = fields.Boolean(load_default=False, metadata={
        "description": "administrators: everyone's tokens, not only mine", "example": False})
    owner = fields.String(validate=validate.Length(max=100), metadata={
        "description": "administrators: the tokens of this user", "example": "congdvc"})
    revoked = fields.Boolean(metadata={"description": "only revoked (true) or only active (false) tokens"})
    sort = sort_field(TOKEN_SORTS, "-created_at")


class RevokeTokenQuerySchema(Schema):
    keep_children = fields.Boolean(load_default=False, metadata={
        "description": "revoke this token only and detach the tokens it created (e.g. when rotating: the new "
                       "token was made with the old one), so a later revocation of it leaves them alone too. By "
                       "default they are revoked with it, so a leaked token leaves no working child behind.",
        "example": False})


class CreateTokenSchema(Schema):
    EXAMPLE = {"name": "national portal sync", "scopes": ["read", "start", "messages"]}

    name = fields.String(required=True, validate=validate.Length(min=1, max=255),
                         metadata={"example": "national portal sync"})
    scopes = fields.List(fields.String(validate=validate.OneOf(SCOPES)),
                         validate=validate.Length(min=1, max=len(SCOPES)),
                         metadata={"description": "default: every scope the caller's own token has",
                                   "example": ["read", "start", "messages"]})
    rate_limit = fields.String(validate=validate.Regexp(RATE_LIMIT_PATTERN, error="must look like '600/minute'"),
                               metadata={"description": "administrators only; default from MOTCUA_API_RATE_LIMIT",
                                         "example": "600/minute"})
