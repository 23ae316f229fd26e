"""Administration of the integrations: webhook subscriptions and the delivery log (administrators only).

Views are thin: subscriptions are created, changed and read, deliveries read and redelivered through
the same service functions as the REST API (``integrations.webhooks``, see api/webhooks.py). The HMAC
secret is shown once, in the answer to the creation, never stored in the session or listed again.
Every change goes to the audit log (database row + ``motcua.audit`` line), never with the secret.
"""

from __future__ import annotations

import json
import math
import secrets
from typing import Any

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask import session as flask_session
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from dossiers.procedures import all_procedures
from engine.actors import ROLE_ADMIN
from engine.errors import EngineError, Forbidden, InvalidState, NotFound
from integrations import webhooks
from integrations.events import EVENT_TYPES
from integrations.models import (
    DEAD,
    DELIVERED,
    DELIVERY_STATES,
    FAILED,
    PENDING,
    PORTAL_TARGET,
    Delivery,
    OutboxEvent,
    WebhookSubscription,
)
from server.database import db
from ui.security import administrators_only, current_actor, roles_required

bp = Blueprint("integrations_admin", __name__, url_prefix="/admin/integrations")

PAGE_SIZE = 50
URL_MAX = 2000
DESCRIPTION_MAX = 500
ALL_TYPES = "*"
BADGES = {PENDING: "none", DELIVERED: "ok", FAILED: "warned", DEAD: "overdue"}  # .due colours of app.css


bp.before_request(administrators_only)  # every page: signed in, role admin


# ------------------------------------------------------------------- labels
def event_type_labels() -> dict[str, str]:
    """Every event type a subscription may ask for, in the page's language (same order as the docs)."""
    labels = {
        "dossier.submitted": _("Hồ sơ được nộp (trạng thái 1)"),
        "dossier.accepted": _("Tiếp nhận hồ sơ, hẹn ngày trả (trạng thái 2)"),
        "dossier.refused": _("Từ chối tiếp nhận, có lý do (trạng thái 3)"),
        "dossier.processing": _("Bắt đầu hoặc tiếp tục xử lý (trạng thái 4)"),
        "dossier.supplement_requested": _("Yêu cầu bổ sung; tạm dừng tính thời hạn (trạng thái 5)"),
        "dossier.supplement_received": _("Đã nhận bổ sung; tiếp tục tính thời hạn"),
        "dossier.handed_off": _("Chuyển hồ sơ sang phòng khác"),
        "dossier.payment_requested": _("Yêu cầu nộp phí, lệ phí (trạng thái 6)"),
        "dossier.paid": _("Đã nộp phí, lệ phí"),
        "dossier.overdue_warning": _("Cảnh báo: còn một ngày làm việc đến hẹn trả"),
        "dossier.overdue": _("Quá hạn hẹn trả"),
        "dossier.apology_issued": _("Phát hành thư xin lỗi, hẹn lại ngày trả"),
        "dossier.result_issued": _("Có kết quả (trạng thái 9)"),
        "dossier.result_returned": _("Đã trả kết quả (trạng thái 10)"),
        "dossier.withdrawn": _("Công dân rút hồ sơ (trạng thái 7)"),
        "instance.error": _("Một bước của quy trình bị lỗi, chờ xử lý"),
    }
    # a type added to the engine tomorrow still shows, with its English description
    return {name: labels.get(name, EVENT_TYPES[name]) for name in EVENT_TYPES} | {ALL_TYPES: _("Tất cả sự kiện")}


def status_labels() -> dict[str, str]:
    return {PENDING: _("Đang chờ gửi"), DELIVERED: _("Đã gửi"), FAILED: _("Lỗi, sẽ thử lại"),
            DEAD: _("Ngừng gửi")}


def _receiver(delivery: Delivery) -> str:
    if delivery.target == PORTAL_TARGET:
        return _("Cổng Dịch vụ công quốc gia")
    return f"#{delivery.subscription_id} · {delivery.url}"


# ------------------------------------------------------------------- helpers
def _audit(action: str, target: str, **details: Any) -> None:
    webhooks.audit_change(db(), action, target, current_user.username, **details)


def _subscription_or_404(subscription_id: int) -> WebhookSubscription:
    try:
        return webhooks.get_subscription(db(), subscription_id, current_actor())
    except NotFound:
        abort(404)


def _delivery_or_404(delivery_id: int) -> Delivery:
    try:
        return webhooks.get_delivery(db(), delivery_id, current_actor())
    except NotFound:
        abort(404)


def _back(default: str) -> str:
    """Where a form of this section came from (its `next` field), only if it is one of our pages."""
    target = request.form.get("next") or ""
    if target.startswith(bp.url_prefix + "/") and "//" not in target and "\\" not in target:
        return target
    return default


def _open_counts(session) -> dict[int, dict[str, int]]:
    """Per subscription: how many deliveries are pending, failed (will retry) and dead."""
    rows = session.execute(select(Delivery.subscription_id, Delivery.status, func.count())
                           .where(Delivery.subscription_id.is_not(None),
                                  Delivery.status.in_((PENDING, FAILED, DEAD)))
                           .group_by(Delivery.subscription_id, Delivery.status))
    counts: dict[int, dict[str, int]] = {}
    for subscription_id, status, n in rows:
        counts.setdefault(subscription_id, {PENDING: 0, FAILED: 0, DEAD: 0})[status] = n
    return counts


def _procedures() -> list:
    return all_procedures(db())


# ------------------------------------------------------------- subscriptions
def _webhooks_page(values: dict | None = None, errors: dict | None = None, created: WebhookSubscription | None = None,
                   status: int = 200):
    session = db()
    subs = list(session.scalars(select(WebhookSubscription)
                                .where(webhooks.subscription_visibility(current_actor()))
                                .order_by(WebhookSubscription.id.desc())))
    response = make_response(render_template(
        "integrations/webhooks.html", subscriptions=subs, counts=_open_counts(session),
        type_labels=event_type_labels(), procedures=_procedures(), values=values or {"event_types": []},
        errors=errors or {}, created=created, form_nonce=_new_form_nonce(), section="integrations"), status)
    if created is not None:
        response.headers["Cache-Control"] = "no-store"  # the secret must not stay in a cache
    return response


def _new_form_nonce() -> str:
    """A one-time value for the create form: the answer to a create is a page (it shows the secret once),
    so a reload would post the form again; a used value is refused instead of making a second subscription."""
    nonce = secrets.token_urlsafe(16)
    flask_session["webhook_form_nonces"] = [*flask_session.get("webhook_form_nonces", [])[-4:], nonce]
    return nonce


def _take_form_nonce() -> bool:
    issued = flask_session.get("webhook_form_nonces", [])
    nonce = request.form.get("form_nonce")
    if nonce not in issued:
        return False
    flask_session["webhook_form_nonces"] = [n for n in issued if n != nonce]
    return True


@bp.get("/webhooks")
@roles_required(ROLE_ADMIN)
def subscriptions():
    return _webhooks_page()


def _read_subscription_form() -> tuple[dict, dict]:
    """The create form as posted, and the errors found in it (the service checks again)."""
    values = {
        "url": (request.form.get("url") or "").strip(),
        "event_types": request.form.getlist("event_types"),
        "procedure_code": (request.form.get("procedure_code") or "").strip(),
        "description": (request.form.get("description") or "").strip(),
    }
    errors: dict[str, str] = {}
    if not values["url"]:
        errors["url"] = _("Trường này là bắt buộc.")
    elif len(values["url"]) > URL_MAX:
        errors["url"] = _("Tối đa %(n)d ký tự.", n=URL_MAX)
    if not values["event_types"]:
        errors["event_types"] = _("Chọn ít nhất một loại sự kiện.")
    elif set(values["event_types"]) - set(EVENT_TYPES) - {ALL_TYPES}:
        errors["event_types"] = _("Loại sự kiện không hợp lệ.")
    if values["procedure_code"] and values["procedure_code"] not in {p.code for p in _procedures()}:
        errors["procedure_code"] = _("Thủ tục không có trong danh mục.")
    if len(values["description"]) > DESCRIPTION_MAX:
        errors["description"] = _("Tối đa %(n)d ký tự.", n=DESCRIPTION_MAX)
    return values, errors


@bp.post("/webhooks")
@roles_required(ROLE_ADMIN)
def subscription_create():
    if not _take_form_nonce():
        flash(_("Biểu mẫu này đã được gửi (hoặc đã cũ): không tạo thêm đăng ký nào. Kiểm tra danh sách bên dưới."),
              "error")
        return redirect(url_for(".subscriptions"), 303)
    values, errors = _read_subscription_form()
    if not errors:
        session = db()
        try:
            sub = webhooks.create_subscription(
                session, url=values["url"], event_types=values["event_types"], owner=current_actor(),
                procedure_codes=[values["procedure_code"]] if values["procedure_code"] else [],
                description=values["description"] or None)
        except EngineError as exc:
            session.rollback()
            found = (exc.detail or {}).get("errors") or {}
            errors = {"url": _("Nhập địa chỉ đầy đủ bắt đầu bằng http:// hoặc https://.")} if "url" in found else {}
            if "event_types" in found or not errors:
                errors["event_types"] = _("Loại sự kiện không hợp lệ.")
        else:
            _audit("webhook.create", f"webhook:{sub.id}", url=sub.url, event_types=sub.event_types,
                   procedure_codes=sub.procedure_codes)
            session.commit()
            flash(_("Đã tạo đăng ký webhook #%(id)d.", id=sub.id), "success")
            return _webhooks_page(created=sub, status=201)
    flash(_("Vui lòng sửa các trường được đánh dấu."), "error")
    return _webhooks_page(values, errors, status=422)


@bp.post("/webhooks/<int:subscription_id>/active")
@roles_required(ROLE_ADMIN)
def subscription_active(subscription_id: int):
    """Enable (active=1) or pause (active=0): a paused subscription's deliveries wait for it."""
    sub = _subscription_or_404(subscription_id)
    wanted = request.form.get("active")
    if wanted not in ("0", "1"):
        flash(_("Yêu cầu không hợp lệ: thiếu trạng thái bật/tắt."), "error")
        return redirect(url_for(".subscriptions"), 303)
    session = db()
    webhooks.update_subscription(session, sub, {"active": wanted == "1"})
    _audit("webhook.enable" if sub.active else "webhook.disable", f"webhook:{sub.id}", url=sub.url)
    session.commit()
    flash(_("Đã bật đăng ký #%(id)d.", id=sub.id) if sub.active else _("Đã tạm dừng đăng ký #%(id)d.", id=sub.id),
          "success")
    return redirect(url_for(".subscriptions"), 303)


@bp.get("/webhooks/<int:subscription_id>/delete")
@roles_required(ROLE_ADMIN)
def subscription_delete_confirm(subscription_id: int):
    sub = _subscription_or_404(subscription_id)
    session = db()
    total = session.scalar(select(func.count()).select_from(Delivery).where(Delivery.subscription_id == sub.id))
    return render_template("integrations/webhook_delete.html", sub=sub, deliveries=total or 0,
                           type_labels=event_type_labels(), section="integrations")


@bp.post("/webhooks/<int:subscription_id>/delete")
@roles_required(ROLE_ADMIN)
def subscription_delete(subscription_id: int):
    sub = _subscription_or_404(subscription_id)
    if request.form.get("confirm") != "yes":
        flash(_("Hãy xác nhận việc xóa đăng ký."), "error")
        return redirect(url_for(".subscription_delete_confirm", subscription_id=sub.id), 303)
    session = db()
    _audit("webhook.delete", f"webhook:{sub.id}", url=sub.url)
    session.delete(sub)  # its deliveries and their attempts go with it (ON DELETE CASCADE), as in the API
    session.commit()
    flash(_("Đã xóa đăng ký webhook #%(id)d.", id=subscription_id), "success")
    return redirect(url_for(".subscriptions"), 303)


# ------------------------------------------------------------------ deliveries
def _delivery_filters() -> tuple[dict[str, str], dict[str, str]]:
    """The log's filters from the query string, and what is wrong with them."""
    args = {name: (request.args.get(name) or "").strip() for name in ("status", "receiver", "type", "page")}
    errors: dict[str, str] = {}
    if args["status"] and args["status"] not in DELIVERY_STATES:
        errors["status"] = _("Trạng thái không hợp lệ.")
    receiver = args["receiver"]
    if receiver and receiver != PORTAL_TARGET and not (receiver.isdigit() and 0 < int(receiver) < 2**62):
        errors["receiver"] = _("Nơi nhận không hợp lệ.")
    if args["type"] and args["type"] not in EVENT_TYPES:
        errors["type"] = _("Loại sự kiện không hợp lệ.")
    if args["page"] and not (args["page"].isdigit() and 0 < int(args["page"]) < 100_000):
        errors["page"] = _("Số trang không hợp lệ.")
    return args, errors


@bp.get("/deliveries")
@roles_required(ROLE_ADMIN)
def deliveries():
    """The delivery log, newest first: webhooks and the national portal feed."""
    args, errors = _delivery_filters()
    session = db()
    query = select(Delivery).where(webhooks.delivery_visibility(current_actor()))
    if args["status"] and "status" not in errors:
        query = query.where(Delivery.status == args["status"])
    if args["receiver"] and "receiver" not in errors:
        query = query.where(Delivery.target == PORTAL_TARGET if args["receiver"] == PORTAL_TARGET
                            else Delivery.subscription_id == int(args["receiver"]))
    if args["type"] and "type" not in errors:
        query = query.where(Delivery.event_id.in_(select(OutboxEvent.id).where(OutboxEvent.type == args["type"])))
    page = int(args["page"]) if args["page"] and "page" not in errors else 1
    if errors:
        rows, total = [], 0
        flash(_("Bộ lọc không hợp lệ: %(problems)s", problems=" ".join(errors.values())), "error")
    else:
        total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
        rows = list(session.scalars(query.order_by(Delivery.id.desc()).limit(PAGE_SIZE)
                                    .offset((page - 1) * PAGE_SIZE)))
    subs = list(session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)))
    return render_template(
        "integrations/deliveries.html", deliveries=rows, total=total, page=page,
        pages=max(1, math.ceil(total / PAGE_SIZE)), filters=args, errors=errors, subscriptions=subs,
        type_labels=event_type_labels(), status_labels=status_labels(), badges=BADGES,
        portal=PORTAL_TARGET, section="integrations"), 400 if errors else 200


@bp.get("/deliveries/<int:delivery_id>")
@roles_required(ROLE_ADMIN)
def delivery_detail(delivery_id: int):
    delivery = _delivery_or_404(delivery_id)
    try:
        body = json.dumps(json.loads(delivery.body), ensure_ascii=False, indent=2)
    except ValueError:
        body = delivery.body  # shown as stored: it is what was sent
    return render_template(
        "integrations/delivery.html", d=delivery, body=body, attempts=webhooks.attempts_of(db(), delivery.id),
        type_labels=event_type_labels(), status_labels=status_labels(), badges=BADGES,
        receiver=_receiver(delivery), section="integrations")


@bp.post("/deliveries/<int:delivery_id>/redeliver")
@roles_required(ROLE_ADMIN)
def delivery_redeliver(delivery_id: int):
    """Send it again at the worker's next pass: same event id and body, attempts from zero."""
    delivery = _delivery_or_404(delivery_id)
    session = db()
    back = _back(url_for(".deliveries"))
    try:
        webhooks.redeliver(session, delivery, current_actor())
    except InvalidState:
        session.rollback()
        flash(_("Đăng ký #%(id)d đang tạm dừng; hãy bật lại trước khi gửi lại.", id=delivery.subscription_id),
              "error")
        return redirect(back, 303)
    except Forbidden:
        abort(403)
    session.commit()
    flash(_("Lần gửi #%(id)d sẽ được gửi lại trong lượt tới.", id=delivery.id), "success")
    return redirect(back, 303)
