"""A small Python client for the motcua REST API v1 — standard library only.

    from clients.motcua_client import MotcuaClient, ApiError

    api = MotcuaClient("http://127.0.0.1:8000", token="mc_...")
    api.deploy(["bpmn/birth_registration.bpmn"], note="v2")
    instance = api.start_instance("sample_dossier", business_key="HS-1", data={"x": 1})
    for task in api.iter_items("/tasks", instance_id=instance["id"]):
        api.complete_task(task["id"], {"approved": True})

What it does for you:

* errors are raised as :class:`ApiError` built from the ``application/problem+json`` body
  (``status``, ``detail``, per-field ``errors``);
* ``429 Too Many Requests`` and ``503 Service Unavailable`` are retried after the server's
  ``Retry-After`` (a bounded number of times);
* every creating POST carries an ``Idempotency-Key`` (a fresh UUID unless you pass one), so a
  retry after a timeout never creates a second instance, dossier or token — the server answers
  the first result again;
* ``If-Match``: :meth:`MotcuaClient.instance_with_etag` returns the ETag to pass as ``if_match``
  to the instance operations and task completion; a stale one raises ``ApiError`` with status 412.

Copy this one file into your project; it depends on nothing but Python 3.10+.
"""

from __future__ import annotations

import email.utils
import json
import mimetypes
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode
from urllib.request import Request, urlopen

__all__ = ["ApiError", "MotcuaClient", "Response"]

RETRY_STATUSES = (429, 503)


class ApiError(Exception):
    """An HTTP error answered by the API (problem+json), or a transport failure (status 0)."""

    def __init__(self, status: int, detail: str, *, title: str | None = None, errors: dict | None = None,
                 body: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {title or ''}: {detail}".strip())
        self.status = status
        self.title = title
        self.detail = detail
        self.errors: dict = errors or {}
        self.body = body
        self.headers = headers or {}


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any
    links: dict[str, str] = field(default_factory=dict)

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")


class MotcuaClient:
    """One API token talking to one motcua server.

    ``base_url`` is the server root (``http://host:8000``); ``/api/v1`` is added.
    ``max_retries`` bounds the retries of 429/503 answers and of connection failures of
    safe requests (GET, and POSTs sent with an idempotency key); ``max_wait`` caps one wait.
    """

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0, max_retries: int = 3,
                 max_wait: float = 60.0, user_agent: str = "motcua-client/1") -> None:
        self.base_url = base_url.rstrip("/")
        self.api_root = self.base_url + "/api/v1"
        self.token = token
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.user_agent = user_agent

    # ------------------------------------------------------------------ transport
    def request(self, method: str, path: str, *, json_body: Any = None, params: dict | None = None,
                headers: dict[str, str] | None = None, data: bytes | None = None,
                content_type: str | None = None, idempotency_key: str | None = None,
                if_match: str | None = None) -> Response:
        """Send one request; return the decoded answer or raise :class:`ApiError`."""
        url = self.api_root + path
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        if query:
            url += "?" + urlencode(query)
        sent = {"Authorization": f"Bearer {self.token}", "Accept": "application/json, application/problem+json",
                "User-Agent": self.user_agent, **(headers or {})}
        if json_body is not None:
            data = json.dumps(json_body).encode()
            content_type = "application/json"
        if content_type:
            sent["Content-Type"] = content_type
        if idempotency_key:
            sent["Idempotency-Key"] = idempotency_key
        if if_match:
            sent["If-Match"] = if_match
        # a GET is safe to repeat; a POST only when the server can recognise the repeat
        retry_transport = method == "GET" or bool(idempotency_key)
        attempt = 0
        while True:
            attempt += 1
            try:
                with urlopen(Request(url, data=data, headers=sent, method=method), timeout=self.timeout) as r:  # noqa: S310
                    return _response(r.status, dict(r.headers.items()), r.read())
            except HTTPError as exc:
                response = _response(exc.code, dict(exc.headers.items()), exc.read())
                if exc.code in RETRY_STATUSES and attempt <= self.max_retries:
                    time.sleep(self._wait(response.headers.get("retry-after"), attempt))
                    continue
                raise _error(response) from None
            except (URLError, TimeoutError, ConnectionError) as exc:
                if retry_transport and attempt <= self.max_retries:
                    time.sleep(self._wait(None, attempt))
                    continue
                raise ApiError(0, f"cannot reach {self.base_url}: {getattr(exc, 'reason', exc)}") from exc

    def _wait(self, retry_after: str | None, attempt: int) -> float:
        seconds: float = min(2 ** (attempt - 1), 8)  # backoff when the server gives no hint
        if retry_after:
            if retry_after.strip().isdigit():
                seconds = float(retry_after)
            else:
                parsed = email.utils.parsedate_to_datetime(retry_after)
                seconds = max(0.0, parsed.timestamp() - time.time()) if parsed else seconds
        return min(seconds, self.max_wait)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params).body

    def post(self, path: str, body: Any = None, *, idempotency_key: str | None = None,
             if_match: str | None = None, creating: bool = False) -> Any:
        """POST JSON; ``creating=True`` adds an automatic Idempotency-Key when none is given."""
        if creating and idempotency_key is None:
            idempotency_key = str(uuid.uuid4())
        return self.request("POST", path, json_body=body if body is not None else {},
                            idempotency_key=idempotency_key, if_match=if_match).body

    def iter_items(self, path: str, *, page_size: int = 100, **params: Any) -> Iterator[dict]:
        """Every item of a list endpoint, following the ``Link: rel="next"`` headers."""
        response = self.request("GET", path, params={**params, "page_size": page_size})
        while True:
            yield from response.body["items"]
            next_url = response.links.get("next")
            if not next_url:
                return
            response = self.request("GET", _relative(next_url, self.api_root))

    # ------------------------------------------------------------------ deployments and processes
    def deploy(self, files: Iterable[str | Path | tuple[str, bytes]], note: str | None = None) -> dict:
        """Deploy .bpmn/.dmn files (paths, or (name, content) pairs). 422 lists one problem per line."""
        parts: list[tuple[str, str | None, bytes]] = []
        for item in files:
            if isinstance(item, tuple):
                parts.append(("files", item[0], item[1]))
            else:
                path = Path(item)
                parts.append(("files", path.name, path.read_bytes()))
        if note:
            parts.append(("note", None, note.encode()))
        body, content_type = _multipart(parts)
        return self.request("POST", "/deployments", data=body, content_type=content_type,
                            idempotency_key=str(uuid.uuid4())).body

    def processes(self, **params: Any) -> dict:
        return self.get("/processes", **params)

    def process(self, process_id: str) -> dict:
        return self.get(f"/processes/{_seg(process_id)}")

    # ------------------------------------------------------------------ instances
    def start_instance(self, process_id: str, *, business_key: str | None = None, data: dict | None = None,
                       version: int | None = None, idempotency_key: str | None = None) -> dict:
        body: dict[str, Any] = {"business_key": business_key, "data": data or {}}
        if version is not None:
            body["version"] = version
        return self.post(f"/processes/{_seg(process_id)}/instances", body, idempotency_key=idempotency_key,
                         creating=True)

    def instances(self, **params: Any) -> dict:
        """One page: ``process_id``, ``status``, ``business_key``, ``sort``, ``page``, ``page_size``."""
        return self.get("/instances", **params)

    def instance(self, instance_id: str) -> dict:
        return self.get(f"/instances/{_seg(instance_id)}")

    def instance_with_etag(self, instance_id: str) -> tuple[dict, str | None]:
        """The instance and its ETag, to pass as ``if_match`` so a concurrent change answers 412."""
        response = self.request("GET", f"/instances/{_seg(instance_id)}")
        return response.body, response.etag

    def suspend(self, instance_id: str, *, if_match: str | None = None) -> dict:
        return self.post(f"/instances/{_seg(instance_id)}/suspend", if_match=if_match)

    def resume(self, instance_id: str, *, if_match: str | None = None) -> dict:
        return self.post(f"/instances/{_seg(instance_id)}/resume", if_match=if_match)

    def terminate(self, instance_id: str, reason: str | None = None, *, if_match: str | None = None) -> dict:
        return self.post(f"/instances/{_seg(instance_id)}/terminate", {"reason": reason}, if_match=if_match)

    def retry(self, instance_id: str, *, if_match: str | None = None) -> dict:
        return self.post(f"/instances/{_seg(instance_id)}/retry", if_match=if_match)

    def update_data(self, instance_id: str, data: dict, *, if_match: str | None = None) -> dict:
        return self.post(f"/instances/{_seg(instance_id)}/update_data", {"data": data}, if_match=if_match)

    # ------------------------------------------------------------------ tasks
    def tasks(self, **params: Any) -> dict:
        """One page: ``instance_id``, ``state``, ``lane``, ``assignee``, ``process_id``, ``sort``."""
        return self.get("/tasks", **params)

    def task(self, task_id: str) -> dict:
        return self.get(f"/tasks/{_seg(task_id)}")

    def claim(self, task_id: str, assignee: str | None = None) -> dict:
        return self.post(f"/tasks/{_seg(task_id)}/claim", {"assignee": assignee} if assignee else {})

    def release(self, task_id: str) -> dict:
        return self.post(f"/tasks/{_seg(task_id)}/release")

    def save_draft(self, task_id: str, data: dict) -> dict:
        return self.request("PUT", f"/tasks/{_seg(task_id)}/draft", json_body={"data": data}).body

    def complete_task(self, task_id: str, data: dict | None = None, *, if_match: str | None = None) -> dict:
        """Complete with form data; 422 names each invalid field in ``ApiError.errors``."""
        return self.post(f"/tasks/{_seg(task_id)}/complete", {"data": data or {}}, if_match=if_match)

    # ------------------------------------------------------------------ messages
    def send_message(self, name: str, *, business_key: str | None = None, correlation: dict | None = None,
                     payload: Any = None, idempotency_key: str | None = None) -> dict:
        body = {"name": name, "business_key": business_key, "correlation": correlation, "payload": payload}
        return self.post("/messages", body, idempotency_key=idempotency_key, creating=True)

    # ------------------------------------------------------------------ one-stop dossiers
    def procedures(self, **params: Any) -> dict:
        return self.get("/procedures", **params)

    def submit_dossier(self, procedure_code: str, applicant: dict, *, channel: str = "online",
                       data: dict | None = None, attachments: list[dict] | None = None,
                       received_at: str | None = None, idempotency_key: str | None = None) -> dict:
        body: dict[str, Any] = {"procedure_code": procedure_code, "channel": channel, "applicant": applicant,
                                "data": data or {}, "attachments": attachments or []}
        if received_at:
            body["received_at"] = received_at
        return self.post("/dossiers", body, idempotency_key=idempotency_key, creating=True)

    def dossier(self, code: str) -> dict:
        return self.get(f"/dossiers/{_seg(code)}")

    def dossier_with_etag(self, code: str) -> tuple[dict, str | None]:
        response = self.request("GET", f"/dossiers/{_seg(code)}")
        return response.body, response.etag

    def dossiers(self, **params: Any) -> dict:
        """One page: ``status_code``, ``procedure_code``, ``department``, ``overdue``, ``q``, ``sort``."""
        return self.get("/dossiers", **params)

    def supplement(self, code: str, documents: list[dict] | None = None, note: str | None = None, *,
                   idempotency_key: str | None = None, if_match: str | None = None) -> dict:
        return self.post(f"/dossiers/{_seg(code)}/supplement", {"documents": documents or [], "note": note},
                         idempotency_key=idempotency_key, if_match=if_match, creating=True)

    def withdraw(self, code: str, reason: str | None = None, *, if_match: str | None = None) -> dict:
        return self.post(f"/dossiers/{_seg(code)}/withdraw", {"reason": reason}, if_match=if_match)

    def issue_apology(self, code: str, new_appointment_at: str, reason: str, *,
                      idempotency_key: str | None = None) -> dict:
        return self.post(f"/dossiers/{_seg(code)}/apologies",
                         {"new_appointment_at": new_appointment_at, "reason": reason},
                         idempotency_key=idempotency_key, creating=True)

    # ------------------------------------------------------------------ tokens
    def tokens(self, **params: Any) -> dict:
        """My tokens (administrators: ``all=true`` for everyone's); never the secret itself."""
        return self.get("/tokens", **params)

    def create_token(self, name: str, scopes: list[str] | None = None, *, rate_limit: str | None = None,
                     idempotency_key: str | None = None) -> dict:
        """A new token for the caller; the answer's ``token`` is shown this once."""
        body: dict[str, Any] = {"name": name}
        if scopes is not None:
            body["scopes"] = scopes
        if rate_limit is not None:
            body["rate_limit"] = rate_limit
        return self.post("/tokens", body, idempotency_key=idempotency_key, creating=True)

    def revoke_token(self, token_id: int) -> None:
        self.request("DELETE", f"/tokens/{int(token_id)}")

    # ------------------------------------------------------------------ webhook subscriptions
    def subscriptions(self, **params: Any) -> dict:
        """One page of my webhook subscriptions (``active``, ``page``, ``page_size``)."""
        return self.get("/webhooks", **params)

    def create_subscription(self, url: str, event_types: list[str], *, procedure_codes: list[str] | None = None,
                            description: str | None = None, idempotency_key: str | None = None) -> dict:
        """Subscribe an HTTPS URL to events; the answer's ``secret`` signs deliveries (shown once)."""
        body: dict[str, Any] = {"url": url, "event_types": event_types}
        if procedure_codes is not None:
            body["procedure_codes"] = procedure_codes
        if description is not None:
            body["description"] = description
        return self.post("/webhooks", body, idempotency_key=idempotency_key, creating=True)

    def update_subscription(self, subscription_id: int, **changes: Any) -> dict:
        return self.request("PATCH", f"/webhooks/{int(subscription_id)}", json_body=changes).body

    def delete_subscription(self, subscription_id: int) -> None:
        self.request("DELETE", f"/webhooks/{int(subscription_id)}")

    def deliveries(self, **params: Any) -> dict:
        return self.get("/deliveries", **params)


# ---------------------------------------------------------------------- helpers
def _seg(value: str) -> str:
    return quote(str(value), safe="")


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _relative(url: str, api_root: str) -> str:
    """A Link target as a path under /api/v1 (the server may write it absolute)."""
    if url.startswith(api_root):
        return url[len(api_root):]
    marker = "/api/v1"
    return url[url.index(marker) + len(marker):] if marker in url else url


def _response(status: int, headers: dict[str, str], raw: bytes) -> Response:
    lowered = {k.lower(): v for k, v in headers.items()}
    ctype = lowered.get("content-type", "")
    body: Any = raw
    if "json" in ctype and raw:
        body = json.loads(raw)
    elif ctype.startswith("text/"):
        body = raw.decode("utf-8", "replace")
    elif not raw:
        body = None
    return Response(status, lowered, body, _links(lowered.get("link", "")))


def _links(header: str) -> dict[str, str]:
    """RFC 8288 ``Link: <url>; rel="next", <url>; rel="prev"`` → {"next": url, "prev": url}."""
    out: dict[str, str] = {}
    for part in header.split(","):
        if ";" not in part:
            continue
        target, _, params = part.partition(";")
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "rel":
                out[value.strip('"')] = target.strip().strip("<>")
    return out


def _error(response: Response) -> ApiError:
    body = response.body
    if isinstance(body, dict):
        return ApiError(response.status, str(body.get("detail") or body.get("title") or "error"),
                        title=body.get("title"), errors=body.get("errors"), body=body, headers=response.headers)
    return ApiError(response.status, str(body)[:500] if body else "no detail", body=body, headers=response.headers)


def _multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    boundary = "motcua-" + uuid.uuid4().hex
    chunks: list[bytes] = []
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        header = ""
        if filename is not None:
            disposition += f'; filename="{filename}"'
            header = f"Content-Type: {mimetypes.guess_type(filename)[0] or 'application/octet-stream'}\r\n"
        chunks.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n{header}\r\n".encode())
        chunks.append(content)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"
