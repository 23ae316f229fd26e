"""Configuration from environment variables, with safe defaults."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("MOTCUA_INSTANCE_DIR", ROOT / "instance"))


def _secret_key(instance_dir: Path) -> str:
    """SECRET_KEY from the environment, else one generated once and kept in instance/."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = instance_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def _instance_secret(instance_dir: Path, name: str) -> str:
    """A shared secret generated once into instance/<name> (mode 600); web and worker read the same file."""
    path = instance_dir / name
    if not path.exists():
        draft = instance_dir / f".{name}.{os.getpid()}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
        try:
            os.link(draft, path)  # atomic: a reader never sees a half-written file
        except FileExistsError:
            pass  # another process (web or worker) wrote it first
        finally:
            draft.unlink()
    return path.read_text().strip()


def default_database_url(instance_dir: Path = INSTANCE_DIR) -> str:
    return f"sqlite:///{instance_dir / 'motcua.sqlite3'}"


def load_config(overrides: dict | None = None) -> dict:
    overrides = dict(overrides or {})
    instance_dir = Path(overrides.pop("INSTANCE_DIR", INSTANCE_DIR))
    instance_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "INSTANCE_DIR": str(instance_dir),
        "DATABASE_URL": os.environ.get("DATABASE_URL") or default_database_url(instance_dir),
        "SECRET_KEY": overrides.pop("SECRET_KEY", None) or _secret_key(instance_dir),
        # uploads: BPMN files and scanned documents
        "MAX_CONTENT_LENGTH": int(os.environ.get("MOTCUA_MAX_UPLOAD_MB", "20")) * 1024 * 1024,
        "BPMN_DIR": os.environ.get("MOTCUA_BPMN_DIR", str(ROOT / "bpmn")),
        # where citizens reach this server (links in notifications and QR codes)
        "PUBLIC_BASE_URL": os.environ.get("MOTCUA_PUBLIC_URL", "http://127.0.0.1:8000"),
        "WORKER_POLL_SECONDS": float(os.environ.get("MOTCUA_WORKER_POLL_SECONDS", "1.0")),
        # integrations (docs/integrations.md): payment platform's shared secret, national portal feed,
        # how long a message nobody waits for yet is kept
        "PAYMENT_WEBHOOK_SECRET": os.environ.get("MOTCUA_PAYMENT_WEBHOOK_SECRET")
        or _instance_secret(instance_dir, "payment_webhook_secret"),
        "PORTAL_FEED_URL": os.environ.get("MOTCUA_PORTAL_FEED_URL") or None,
        "PORTAL_FEED_SECRET": os.environ.get("MOTCUA_PORTAL_FEED_SECRET") or None,
        "MESSAGE_BUFFER_SECONDS": int(os.environ.get("MOTCUA_MESSAGE_BUFFER_SECONDS", str(24 * 3600))),
        # REST API: requests per token unless the token has its own limit; idempotency keys kept
        "API_RATE_LIMIT": os.environ.get("MOTCUA_API_RATE_LIMIT", "600/minute"),
        # Where rate-limit counters live. memory:// counts per gunicorn worker (fine for one desk's
        # machine); production sets redis://host:6379/0 so every worker and node shares one count.
        "RATELIMIT_STORAGE_URI": os.environ.get("MOTCUA_RATELIMIT_STORAGE_URI", "memory://"),
        "IDEMPOTENCY_KEY_HOURS": int(os.environ.get("MOTCUA_IDEMPOTENCY_KEY_HOURS", "24")),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": os.environ.get("MOTCUA_SECURE_COOKIES", "0") == "1",
        "JSON_SORT_KEYS": False,
        # flask-smorest / OpenAPI
        "API_TITLE": "motcua API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "/api/v1/docs-assets/",
    }
    # webhook sender tuning (integrations/settings.py): MOTCUA_WEBHOOK_LEASE_SECONDS=120 -> WEBHOOK_LEASE_SECONDS
    config.update({name.removeprefix("MOTCUA_"): value for name, value in os.environ.items()
                   if name.startswith("MOTCUA_WEBHOOK_")})
    config.update(overrides)
    return config
