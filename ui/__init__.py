"""The web app for civil servants, designers and citizens (grows with the web-app issue)."""

from __future__ import annotations

from flask import Flask, render_template_string
from sqlalchemy import func, select

from engine.models import Instance, ProcessVersion
from server.database import db

_HOME = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>motcua — Một cửa</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b2733}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #dde;padding:.4rem;text-align:left}</style>
</head><body>
<h1>motcua — Hệ thống một cửa / One-stop platform</h1>
<p>Quy trình đã triển khai / Deployed processes: <strong>{{ processes|length }}</strong> ·
Hồ sơ đang xử lý / Open instances: <strong>{{ open_count }}</strong></p>
<table><tr><th>Mã quy trình / Process</th><th>Tên / Name</th><th>Phiên bản / Version</th></tr>
{% for p in processes %}
<tr><td>{{ p.process_id }}</td><td>{{ p.name or '' }}</td><td>{{ p.version }}</td></tr>
{% endfor %}
</table>
<p><a href="/api/v1/docs">API v1 (OpenAPI)</a> · <a href="/healthz">/healthz</a></p>
</body></html>"""


def init_app(app: Flask) -> None:
    @app.get("/")
    def home():
        session = db()
        latest = {}
        for pv in session.scalars(select(ProcessVersion).order_by(ProcessVersion.process_id, ProcessVersion.version)):
            latest[pv.process_id] = pv
        open_count = session.scalar(
            select(func.count()).select_from(Instance).where(Instance.status.in_(("running", "waiting", "error")))
        )
        return render_template_string(_HOME, processes=list(latest.values()), open_count=open_count)
