"""Demo departments and users for a fresh installation."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import User
from accounts.service import create_user, ensure_department

DEPARTMENTS = [
    ("MOTCUA", "Bộ phận Một cửa", "One-stop desk"),
    ("SXD", "Sở Xây dựng", "Department of Construction"),
    ("LD_SXD", "Lãnh đạo Sở Xây dựng", "Leadership, Department of Construction"),
    ("STNMT", "Sở Tài nguyên và Môi trường", "Department of Natural Resources and Environment"),
    ("SKHDT", "Sở Kế hoạch và Đầu tư", "Department of Planning and Investment"),
    ("LD_SKHDT", "Lãnh đạo Sở Kế hoạch và Đầu tư", "Leadership, Department of Planning and Investment"),
    ("SGTVT", "Sở Giao thông vận tải", "Department of Transport"),
    ("LD_SGTVT", "Lãnh đạo Sở Giao thông vận tải", "Leadership, Department of Transport"),
    ("CUCTHUE", "Cục Thuế", "Tax Department"),
    ("LD_CUCTHUE", "Lãnh đạo Cục Thuế", "Leadership, Tax Department"),
    ("MOTCUA_PHUONG", "Bộ phận Một cửa UBND phường", "Ward one-stop desk"),
    ("TUPHAP_HOTICH", "Công chức Tư pháp - Hộ tịch", "Ward justice and civil-status officer"),
    ("LD_PHUONG", "Lãnh đạo UBND phường", "Ward People's Committee leadership"),
]

# username, roles, departments, full name
USERS = [
    ("admin", ["admin"], [], "Quản trị hệ thống"),
    ("tiepnhan", ["clerk"], ["MOTCUA"], "Nguyễn Thị Lan (Một cửa)"),
    ("chuyenvien", ["specialist"], ["SXD"], "Trần Văn Minh (Sở Xây dựng)"),
    ("lanhdao", ["leader"], ["SXD", "LD_SXD"], "Lê Quốc Hùng (Lãnh đạo Sở Xây dựng)"),
    ("tainguyen", ["specialist"], ["STNMT"], "Đỗ Thị Mai (Sở Tài nguyên và Môi trường)"),
    ("kehoach", ["specialist", "leader"], ["SKHDT", "LD_SKHDT"], "Vũ Đức Thắng (Sở Kế hoạch và Đầu tư)"),
    ("giaothong", ["specialist", "leader"], ["SGTVT", "LD_SGTVT"], "Hoàng Văn Nam (Sở Giao thông vận tải)"),
    ("thue", ["specialist", "leader"], ["CUCTHUE", "LD_CUCTHUE"], "Phan Thị Hoa (Cục Thuế)"),
    ("motcuaphuong", ["clerk"], ["MOTCUA_PHUONG"], "Bùi Thị Hạnh (Một cửa phường)"),
    ("hotich", ["specialist"], ["TUPHAP_HOTICH"], "Ngô Văn Tuấn (Tư pháp - Hộ tịch)"),
    ("chutich", ["leader"], ["LD_PHUONG"], "Đặng Minh Quang (Chủ tịch UBND phường)"),
    ("lanhdaotrungtam", ["center_leader"], ["LD_SXD"], "Trịnh Thu Trang (Lãnh đạo Trung tâm)"),
    ("thietke", ["designer"], [], "Phạm Thu Hà (Thiết kế quy trình)"),
    ("congdvc", ["integrator"], [], "Cổng Dịch vụ công quốc gia (tích hợp)"),
]


def seed(session: Session, instance_dir: Path, password: str | None = None) -> list[tuple[str, str]]:
    """Create what is missing; returns (username, password) of users created now.

    Passwords: MOTCUA_DEMO_PASSWORD for all if set, else a random one per user,
    also written to instance/demo-passwords.txt (readable by the owner only).
    """
    for code, vi, en in DEPARTMENTS:
        ensure_department(session, code, vi, en)
    session.flush()
    created = []
    for username, roles, departments, full_name in USERS:
        if session.scalar(select(User).where(User.username == username)) is not None:
            continue
        pw = password or secrets.token_urlsafe(12)
        create_user(session, username, pw, roles, departments, full_name)
        created.append((username, pw))
    if created:
        path = instance_dir / "demo-passwords.txt"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as fh:
            for username, pw in created:
                fh.write(f"{username}\t{pw}\n")
    return created
