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
    config.update(overrides)
    return config
