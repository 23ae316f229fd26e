"""Admin pages of the integrations: webhook subscriptions and the delivery log (real database, real HTTP receiver)."""

from __future__ import annotations

import html as html_module
import logging
import re

import pytest
from sqlalchemy import func, select

from accounts.audit import AuditEntry
from engine.actors import Actor
from integrations import settings, webhooks
from integrations.models import DEAD, FAILED, PENDING, PORTAL_TARGET, Delivery, DeliveryAttempt, WebhookSubscription
from tests.dossiers.conftest import submit
from tests.integrations.conftest import receiver  # noqa: F401 - receiver is a fixture
from tests.ui.helpers import csrf, csrf_of, sign_in

ADMIN = Actor("admin", frozenset({"admin"}))
PAGES = ["/admin/integrations/webhooks", "/admin/integrations/deliveries"]


@pytest.fixture
def admin(app, onestop):
    return sign_in(app, "admin")


@pytest.fixture
def portal_feed():
    """The national portal feed switched on (a closed port: its deliveries wait, they are only looked at)."""
    previous = settings.override(portal_feed_url="http://127.0.0.1:9/portal", portal_feed_secret="portal-secret",
                                 timeout_seconds=2.0)
    yield
    settings.restore(previous)


def _hook(sessions, url: str = "http://127.0.0.1:9/hooks", **kw) -> int:
    with sessions() as s:
        sub = webhooks.create_subscription(s, url=url, event_types=kw.pop("event_types", ["*"]), owner=ADMIN, **kw)
        s.commit()
        return sub.id


def _deliveries(sessions) -> list[Delivery]:
    with sessions() as s:
        rows = list(s.scalars(select(Delivery).order_by(Delivery.id)))
        for row in rows:
            _ = row.event
        return rows


def _ids_on(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr id="delivery-(\d+)"', html)]


# ------------------------------------------------------------------------ access
def test_administrator_sees_the_pages_and_the_tab(admin):
    for path in PAGES:
        r = admin.get(path)
        assert r.status_code == 200, path
        assert 'href="/admin/integrations/webhooks"' in r.get_data(as_text=True)  # the admin tab
    assert 'href="/admin/integrations/webhooks"' in admin.get("/admin/users").get_data(as_text=True)


@pytest.mark.parametrize("username", ["tiepnhan", "chuyenvien", "congdvc", "thietke", "lanhdaotrungtam"])
def test_other_roles_get_403_and_change_nothing(app, onestop, sessions, username):
    sub_id = _hook(sessions)
    with sessions() as s:
        submit(s)
    [delivery] = _deliveries(sessions)
    client = sign_in(app, username)
    for path in [*PAGES, f"/admin/integrations/deliveries/{delivery.id}",
                 f"/admin/integrations/webhooks/{sub_id}/delete"]:
        assert client.get(path).status_code == 403, path
    token = csrf(client, "/inbox")
    for path, data in [("/admin/integrations/webhooks", {"url": "http://127.0.0.1:9/x", "event_types": "*"}),
                       (f"/admin/integrations/webhooks/{sub_id}/active", {"active": "0"}),
                       (f"/admin/integrations/webhooks/{sub_id}/delete", {"confirm": "yes"}),
                       (f"/admin/integrations/deliveries/{delivery.id}/redeliver", {})]:
        assert client.post(path, data={**data, "csrf_token": token}).status_code == 403, path
    with sessions() as s:
        subs = list(s.scalars(select(WebhookSubscription)))
        assert [(x.id, x.active) for x in subs] == [(sub_id, True)]


def test_signed_out_visitor_is_sent_to_sign_in(app, onestop):
    client = app.test_client()
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 302 and r.location.startswith("/login"), path


# ----------------------------------------------------------------- subscriptions
def _form_tokens(client) -> dict:
    """The create form's CSRF token and its one-time value, read from the page."""
    page = client.get("/admin/integrations/webhooks").get_data(as_text=True)
    return {"csrf_token": csrf_of(page), "form_nonce": re.search(r'name="form_nonce" value="([^"]+)"', page).group(1)}


def test_create_shows_the_secret_once_and_never_on_the_list(admin, sessions, caplog):
    caplog.set_level(logging.INFO, logger="motcua.audit")
    page = admin.get("/admin/integrations/webhooks").get_data(as_text=True)
    assert 'value="dossier.accepted"' in page and "Tiếp nhận hồ sơ, hẹn ngày trả" in page
    assert '<option value="9.999001"' in page  # the procedure filter offers the catalogue
    form = {**_form_tokens(admin), "url": "https://dvc.example.vn/motcua/hooks",
            "event_types": ["dossier.accepted", "dossier.paid"], "procedure_code": "9.999001",
            "description": "Cổng DVC tỉnh"}
    r = admin.post("/admin/integrations/webhooks", data=form)
    assert r.status_code == 201
    assert r.headers["Cache-Control"] == "no-store"
    with sessions() as s:
        [sub] = list(s.scalars(select(WebhookSubscription)))
        assert (sub.url, sub.event_types, sub.procedure_codes, sub.owner, sub.active) == (
            "https://dvc.example.vn/motcua/hooks", ["dossier.accepted", "dossier.paid"], ["9.999001"], "admin", True)
        audit_rows = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "webhook.create")))
    html = r.get_data(as_text=True)
    assert sub.secret.startswith("whsec_") and html.count(sub.secret) == 1
    listing = admin.get("/admin/integrations/webhooks").get_data(as_text=True)
    assert sub.secret not in listing and "whsec_" not in listing
    assert "https://dvc.example.vn/motcua/hooks" in listing and "9.999001" in listing
    assert re.search(r"<td>\d{2}/\d{2}/\d{4}</td>", listing)  # created dd/mm/yyyy
    # audited, without the secret
    assert [(a.actor, a.target) for a in audit_rows] == [("admin", f"webhook:{sub.id}")]
    assert sub.secret not in str(audit_rows[0].details)
    assert any("action=webhook.create" in m.getMessage() and sub.secret not in m.getMessage()
               for m in caplog.records if m.name == "motcua.audit")
    # a reload of the answer posts the same form again: refused, no second subscription
    again = admin.post("/admin/integrations/webhooks", data=form)
    assert again.status_code == 303 and again.location.endswith("/admin/integrations/webhooks")
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(WebhookSubscription)) == 1


@pytest.mark.parametrize(("data", "field"), [
    ({"url": "", "event_types": "*"}, "url"),
    ({"url": "ftp://example.vn/x", "event_types": "*"}, "url"),
    ({"url": "not a url", "event_types": "*"}, "url"),
    ({"url": "http://127.0.0.1:9/x"}, "event_types"),
    ({"url": "http://127.0.0.1:9/x", "event_types": "dossier.nope"}, "event_types"),
    ({"url": "http://127.0.0.1:9/x", "event_types": "*", "procedure_code": "0.000000"}, "procedure_code"),
])
def test_create_refuses_bad_input_next_to_the_field(admin, sessions, data, field):
    r = admin.post("/admin/integrations/webhooks", data={**data, **_form_tokens(admin)})
    assert r.status_code == 422
    assert f'id="e-{field}"' in r.get_data(as_text=True)
    with sessions() as s:
        assert s.scalar(select(WebhookSubscription.id)) is None


def test_enable_disable_and_delete_with_confirmation(admin, sessions):
    sub_id = _hook(sessions)
    with sessions() as s:
        submit(s)
    token = csrf(admin, "/admin/integrations/webhooks")
    r = admin.post(f"/admin/integrations/webhooks/{sub_id}/active", data={"csrf_token": token, "active": "0"})
    assert r.status_code == 303
    with sessions() as s:
        assert s.get(WebhookSubscription, sub_id).active is False
    assert admin.post(f"/admin/integrations/webhooks/{sub_id}/active",
                      data={"csrf_token": token, "active": "1"}).status_code == 303
    with sessions() as s:
        assert s.get(WebhookSubscription, sub_id).active is True
    # the confirmation page names what goes with it; a POST without the confirmation deletes nothing
    page = admin.get(f"/admin/integrations/webhooks/{sub_id}/delete").get_data(as_text=True)
    assert "http://127.0.0.1:9/hooks" in page and 'name="confirm" value="yes"' in page
    r = admin.post(f"/admin/integrations/webhooks/{sub_id}/delete", data={"csrf_token": token})
    assert r.status_code == 303
    with sessions() as s:
        assert s.get(WebhookSubscription, sub_id) is not None
    r = admin.post(f"/admin/integrations/webhooks/{sub_id}/delete", data={"csrf_token": token, "confirm": "yes"})
    assert r.status_code == 303
    with sessions() as s:
        assert s.get(WebhookSubscription, sub_id) is None
        assert s.scalar(select(Delivery.id)) is None  # its deliveries went with it
        actions = [a.action for a in s.scalars(select(AuditEntry).where(AuditEntry.target == f"webhook:{sub_id}")
                                              .order_by(AuditEntry.id))]
    assert actions == ["webhook.disable", "webhook.enable", "webhook.delete"]
    assert admin.post(f"/admin/integrations/webhooks/{sub_id}/delete",
                      data={"csrf_token": token, "confirm": "yes"}).status_code == 404


# -------------------------------------------------------------------- deliveries
def test_delivery_log_detail_and_redeliver_resets_to_pending(admin, sessions, receiver):  # noqa: F811
    receiver.status = 503
    sub_id = _hook(sessions, receiver.url)
    with sessions() as s:
        dossier = submit(s)
    counts = webhooks.send_due(sessions)
    assert counts["failed"] == 1 and len(receiver.received) == 1
    [d] = _deliveries(sessions)
    assert d.status == FAILED and d.attempts == 1

    html = admin.get("/admin/integrations/deliveries").get_data(as_text=True)
    assert _ids_on(html) == [d.id]
    assert f'href="/dossiers/{dossier.code}"' in html and "dossier.submitted" in html
    assert "HTTP 503" in html and 'data-status="failed"' in html
    assert re.search(r"\d{2}:\d{2} \d{2}/\d{2}/\d{4}", html)  # next attempt, Vietnam time
    listing = admin.get("/admin/integrations/webhooks").get_data(as_text=True)
    assert re.search(rf'receiver={sub_id}&amp;status=failed[^>]*>1</a>', listing)  # failed count on the list

    detail = html_module.unescape(admin.get(f"/admin/integrations/deliveries/{d.id}").get_data(as_text=True))
    assert f'"code": "{dossier.code}"' in detail and f'"id": "{d.event_id}"' in detail  # the payload, pretty
    assert "<td>503</td>" in detail  # the attempt history
    assert 'HMAC-SHA256 của "<timestamp>.<nội dung>"' in detail  # what to sign, not swallowed as tags

    r = admin.post(f"/admin/integrations/deliveries/{d.id}/redeliver", data={
        "csrf_token": csrf(admin, "/admin/integrations/deliveries"),
        "next": "/admin/integrations/deliveries?status=failed"})
    assert r.status_code == 303 and r.location.endswith("/admin/integrations/deliveries?status=failed")
    [after] = _deliveries(sessions)
    assert (after.status, after.attempts, after.body) == (PENDING, 0, d.body)
    assert after.next_attempt_at <= d.next_attempt_at
    with sessions() as s:
        assert s.scalar(select(AuditEntry.target).where(AuditEntry.action == "webhook.redeliver")) == f"delivery:{d.id}"
        assert len(list(s.scalars(select(DeliveryAttempt)))) == 1  # the history is kept
    receiver.status = 200
    assert webhooks.send_due(sessions)["delivered"] == 1
    [sent] = _deliveries(sessions)
    assert sent.delivered_at is not None
    html = admin.get("/admin/integrations/deliveries?status=delivered").get_data(as_text=True)
    assert _ids_on(html) == [d.id] and 'data-status="delivered"' in html


def test_redeliver_of_a_paused_subscription_is_refused_and_an_open_redirect_ignored(admin, sessions):
    sub_id = _hook(sessions)
    with sessions() as s:
        submit(s)
        sub = s.get(WebhookSubscription, sub_id)
        webhooks.update_subscription(s, sub, {"active": False})
        s.commit()
    [d] = _deliveries(sessions)
    with sessions() as s:
        row = s.get(Delivery, d.id)
        row.status, row.attempts = DEAD, 20
        s.commit()
    r = admin.post(f"/admin/integrations/deliveries/{d.id}/redeliver", data={
        "csrf_token": csrf(admin, "/admin/integrations/deliveries"), "next": "https://evil.example/"})
    assert r.status_code == 303 and r.location.endswith("/admin/integrations/deliveries")
    [after] = _deliveries(sessions)
    assert (after.status, after.attempts) == (DEAD, 20)
    assert "tạm dừng" in admin.get(r.location).get_data(as_text=True)
    assert admin.post("/admin/integrations/deliveries/987654/redeliver", data={
        "csrf_token": csrf(admin, "/admin/integrations/deliveries")}).status_code == 404


def test_filters_pagination_and_the_portal_feed(admin, sessions, portal_feed):
    first = _hook(sessions, "http://127.0.0.1:9/first", event_types=["dossier.submitted"])
    second = _hook(sessions, "http://127.0.0.1:9/second")
    with sessions() as s:
        for _ in range(3):
            submit(s)
    rows = _deliveries(sessions)
    by_target: dict[str, list[int]] = {}
    for row in rows:
        by_target.setdefault(row.target, []).append(row.id)
    assert len(by_target[PORTAL_TARGET]) == 3 and len(by_target[f"sub:{first}"]) == 3
    with sessions() as s:
        dead = s.get(Delivery, by_target[f"sub:{second}"][0])
        dead.status = DEAD
        s.commit()

    everything = admin.get("/admin/integrations/deliveries").get_data(as_text=True)
    assert _ids_on(everything) == sorted((r.id for r in rows), reverse=True)  # newest first
    assert "Cổng Dịch vụ công quốc gia" in everything
    portal = admin.get("/admin/integrations/deliveries?receiver=portal").get_data(as_text=True)
    assert _ids_on(portal) == sorted(by_target[PORTAL_TARGET], reverse=True)
    assert _ids_on(admin.get(f"/admin/integrations/deliveries?receiver={first}").get_data(as_text=True)) == \
        sorted(by_target[f"sub:{first}"], reverse=True)
    assert _ids_on(admin.get("/admin/integrations/deliveries?status=dead").get_data(as_text=True)) == [dead.id]
    typed = [r.id for r in rows if r.event.type == "dossier.submitted" and r.target == f"sub:{second}"]
    assert _ids_on(admin.get(f"/admin/integrations/deliveries?type=dossier.submitted&receiver={second}")
                   .get_data(as_text=True)) == sorted(typed, reverse=True)
    assert _ids_on(admin.get("/admin/integrations/deliveries?type=dossier.paid").get_data(as_text=True)) == []
    # the portal's deliveries open and redeliver like the others
    assert "Cổng Dịch vụ công quốc gia" in admin.get(
        f"/admin/integrations/deliveries/{by_target[PORTAL_TARGET][0]}").get_data(as_text=True)
    # bad filters are named, not a stack trace
    for query in ("status=lost", "receiver=abc", "type=dossier.nope", "page=0"):
        r = admin.get(f"/admin/integrations/deliveries?{query}")
        assert r.status_code == 400, query
        assert "Bộ lọc không hợp lệ" in r.get_data(as_text=True)


def test_pages_of_fifty(admin, sessions, monkeypatch):
    from ui import integrations as page_module

    monkeypatch.setattr(page_module, "PAGE_SIZE", 2)
    _hook(sessions)
    with sessions() as s:
        for _ in range(5):
            submit(s)
    ids = sorted((r.id for r in _deliveries(sessions)), reverse=True)
    assert len(ids) == 5
    seen = [_ids_on(admin.get(f"/admin/integrations/deliveries?page={n}").get_data(as_text=True)) for n in (1, 2, 3)]
    assert seen == [ids[:2], ids[2:4], ids[4:]]
    assert "page=2" in admin.get("/admin/integrations/deliveries").get_data(as_text=True)
    assert _ids_on(admin.get("/admin/integrations/deliveries?page=9").get_data(as_text=True)) == []


# ---------------------------------------------------------------------- CSRF and language
def test_forms_without_the_csrf_token_are_refused(admin, sessions):
    sub_id = _hook(sessions)
    with sessions() as s:
        submit(s)
    [d] = _deliveries(sessions)
    with sessions() as s:
        s.get(Delivery, d.id).status = DEAD
        s.commit()
    for path, data in [("/admin/integrations/webhooks", {"url": "http://127.0.0.1:9/x", "event_types": "*"}),
                       (f"/admin/integrations/webhooks/{sub_id}/active", {"active": "0"}),
                       (f"/admin/integrations/webhooks/{sub_id}/delete", {"confirm": "yes"}),
                       (f"/admin/integrations/deliveries/{d.id}/redeliver", {})]:
        assert admin.post(path, data=data).status_code == 400, path
        assert admin.post(path, data={**data, "csrf_token": "gia-mao"}).status_code == 400, path
    with sessions() as s:
        assert [(x.id, x.active) for x in s.scalars(select(WebhookSubscription))] == [(sub_id, True)]
        assert s.get(Delivery, d.id).status == DEAD


def test_english_pages(admin, sessions):
    _hook(sessions)
    with sessions() as s:
        submit(s)
    admin.post("/language/en", data={"csrf_token": csrf(admin, "/inbox"), "next": "/inbox"})
    webhooks_page = admin.get("/admin/integrations/webhooks").get_data(as_text=True)
    assert "Webhook subscriptions" in webhooks_page and "Accepted at the desk" in webhooks_page
    assert "Delivery log" in admin.get("/admin/integrations/deliveries").get_data(as_text=True)
