"""Signing in through the real sign-in form and reading CSRF tokens, with the Flask test client."""

from __future__ import annotations

import itertools
import re

PASSWORD = "correct-horse-battery"  # what the `people` fixture gives every demo user
_addresses = itertools.count(1)


def new_client(app):
    """A browser of its own address: the sign-in rate limit is per address, so other tests' sign-ins do not count."""
    client = app.test_client()
    n = next(_addresses)
    client.environ_base["REMOTE_ADDR"] = f"10.80.{n // 250}.{n % 250 + 1}"
    return client


def csrf_of(html: str) -> str:
    """The value of the page's first csrf_token field."""
    tag = re.search(r'<input[^>]*name="csrf_token"[^>]*>', html).group(0)
    return re.search(r'value="([^"]+)"', tag).group(1)


def csrf(client, path: str) -> str:
    """The CSRF token of the page at `path`."""
    return csrf_of(client.get(path).get_data(as_text=True))


def post_login(client, username: str, password: str = PASSWORD, remember: bool = False):
    """GET /login, read its csrf_token, POST the form with it; returns the response."""
    data = {"csrf_token": csrf(client, "/login"), "username": username, "password": password}
    if remember:
        data["remember"] = "y"
    return client.post("/login", data=data)


def sign_in(app, username: str, password: str = PASSWORD, remember: bool = False):
    """A new client, from an address of its own, signed in through the real form."""
    client = new_client(app)
    r = post_login(client, username, password, remember)
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    return client
