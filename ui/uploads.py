"""Scanned documents attached through task forms: checked, content-addressed, kept under instance/."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from flask import current_app
from werkzeug.datastructures import FileStorage

MAX_BYTES = 10 * 1024 * 1024
# extension -> (content type, magic prefix)
ALLOWED = {
    "pdf": ("application/pdf", b"%PDF-"),
    "png": ("image/png", b"\x89PNG\r\n\x1a\n"),
    "jpg": ("image/jpeg", b"\xff\xd8\xff"),
    "jpeg": ("image/jpeg", b"\xff\xd8\xff"),
}


class UploadRejected(ValueError):
    pass


def upload_dir() -> Path:
    path = Path(current_app.config["INSTANCE_DIR"]) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def safe_name(name: str) -> str:
    """Keep a readable file name but no path, no control characters (path traversal is refused)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = re.sub(r"[^\w.\- ]+", "_", base, flags=re.UNICODE).strip(" .")
    return base[:120] or "tai_lieu"


def save_upload(storage: FileStorage) -> dict:
    name = safe_name(storage.filename or "")
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in ALLOWED:
        raise UploadRejected(f"only {', '.join(sorted(ALLOWED))} files can be attached")
    data = storage.stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise UploadRejected(f"a file may be at most {MAX_BYTES // (1024 * 1024)} MB")
    if not data:
        raise UploadRejected("the file is empty")
    content_type, magic = ALLOWED[extension]
    if not data.startswith(magic):
        raise UploadRejected(f"the file is not a real .{extension} file")
    digest = hashlib.sha256(data).hexdigest()
    target = upload_dir() / digest
    if not target.exists():
        target.write_bytes(data)
    return {"name": name, "sha256": digest, "size": len(data), "content_type": content_type}


def stored_path(digest: str) -> Path | None:
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        return None
    path = upload_dir() / digest
    return path if path.exists() else None
