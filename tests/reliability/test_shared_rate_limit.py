"""The sign-in limit holds across gunicorn workers when the counters live in Redis.

With the default memory:// storage each worker counts on its own (N workers allow N x 10 guesses
a minute); production sets MOTCUA_RATELIMIT_STORAGE_URI=redis://... This runs a real gunicorn
with four workers against the Redis of CI (127.0.0.1:6379) and guesses a password over fresh
connections, which gunicorn spreads over its workers."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.live import Platform

REDIS_DB = 15  # a database of its own, flushed first


def _redis():
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379 (CI has one)")
    return client


def _attempt(url: str, password: str) -> int:
    """One sign-in from a fresh browser: GET the form (cookie + CSRF token), POST it."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = opener.open(f"{url}/login", timeout=30).read().decode()  # noqa: S310 - loopback
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"csrf_token": token, "username": "tiepnhan", "password": password}).encode()
    try:
        return opener.open(urllib.request.Request(f"{url}/login", data=form), timeout=30).status  # noqa: S310
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.reliability
def test_sign_in_limit_is_shared_by_all_workers(database_url, tmp_path, people):
    _redis().flushdb()
    live = Platform(database_url, tmp_path, web_workers=4,
                    env_extra={"MOTCUA_RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:6379/{REDIS_DB}"})
    live.start_web()
    try:
        codes = [_attempt(live.url, f"guess-{n}") for n in range(14)]
    finally:
        live.stop()
    # 10 wrong guesses a minute from one address in all, whichever worker answers
    assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}, codes
