"""The administrators' page of API tokens: who holds what, last use, revocation with or without children."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from accounts.audit import AuditEntry
from accounts.models import ApiToken
from tests.conftest import auth
from tests.ui.helpers import csrf_of, sign_in

PAGE = "/admin/integrations/tokens"


@pytest.fixture
def admin(app, people):
    return sign_in(app, "admin")


def _make(client, parent_token: str, name: str) -> dict:
    r = client.post("/api/v1/tokens", json={"name": name, "scopes": ["read"]}, headers=auth(parent_token))
    assert r.status_code == 201, r.json
    return r.json


def _works(client, token: dict) -> bool:
    return client.get("/api/v1/processes", headers=auth(token["token"])).status_code == 200


def test_the_list_shows_tokens_without_their_secrets(app, admin, people):
    api = app.test_client()
    portal = _make(api, people["congdvc"], "Cổng DVC đồng bộ")
    api.get("/api/v1/processes", headers=auth(portal["token"]))  # last used: now
    child = _make(api, portal["token"], "ki-ốt tầng 1")
    page = html.unescape(admin.get(PAGE).get_data(as_text=True))
    assert "Cổng DVC đồng bộ" in page and "ki-ốt tầng 1" in page and f'id="token-{child["id"]}"' in page
    assert portal["token"] not in page and child["token"] not in page and portal["prefix"] in page
    assert f"#{portal['id']}" in page  # the child shows which token made it
    # the people's tokens from the seed are listed too; a filter by owner narrows it
    only = html.unescape(admin.get(PAGE, query_string={"owner": "congdvc"}).get_data(as_text=True))
    assert "Cổng DVC đồng bộ" in only and 'id="token-' in only
    row_link = 'owner={0}">{0}</a>'.format
    assert row_link("tiepnhan") in page and row_link("tiepnhan") not in only and row_link("congdvc") in only
    assert admin.get(PAGE, query_string={"state": "bogus"}).status_code == 400
    r = admin.post("/language/en", data={"csrf_token": csrf_of(admin.get(PAGE).get_data(as_text=True)), "next": PAGE})
    english = html.unescape(admin.get(r.location).get_data(as_text=True))
    assert "API tokens" in english and "Last used" in english and "Khóa API" not in english


def test_revoking_from_the_page_reaches_the_children_unless_kept(app, admin, people, sessions):
    api = app.test_client()
    leaked = _make(api, people["congdvc"], "leaked")
    child = _make(api, leaked["token"], "made by the leak")
    page = admin.get(PAGE).get_data(as_text=True)
    assert 'name="keep_children"' in page  # offered where a token has children
    r = admin.post(f"{PAGE}/{leaked['id']}/revoke", data={"csrf_token": csrf_of(page), "state": "active"})
    assert r.status_code == 303
    assert not _works(api, leaked) and not _works(api, child)

    old = _make(api, people["congdvc"], "old")
    new = _make(api, old["token"], "new")
    page = admin.get(PAGE).get_data(as_text=True)
    r = admin.post(f"{PAGE}/{old['id']}/revoke", data={"csrf_token": csrf_of(page), "keep_children": "1"})
    assert r.status_code == 303
    assert not _works(api, old) and _works(api, new)
    with sessions() as s:
        actors = {row.target: row.actor for row in s.scalars(select(AuditEntry).where(AuditEntry.action == "token.revoke"))}
        assert {actors[f"token:{t['id']}"] for t in (leaked, child, old)} == {"admin"}
        assert s.get(ApiToken, new["id"]).revoked_at is None
    revoked = html.unescape(admin.get(PAGE, query_string={"state": "revoked"}).get_data(as_text=True))
    assert "made by the leak" in revoked and ">new<" not in revoked


def test_only_administrators_and_never_without_the_form_token(app, admin, people):
    clerk = sign_in(app, "tiepnhan")
    assert clerk.get(PAGE).status_code == 403
    token = _make(app.test_client(), people["congdvc"], "target")
    page = admin.get(PAGE).get_data(as_text=True)
    assert clerk.post(f"{PAGE}/{token['id']}/revoke", data={"csrf_token": csrf_of(page)}).status_code in (400, 403)
    assert admin.post(f"{PAGE}/{token['id']}/revoke").status_code == 400  # no CSRF token
    assert admin.post(f"{PAGE}/987654321/revoke", data={"csrf_token": csrf_of(page)}).status_code == 404
    assert _works(app.test_client(), token)
