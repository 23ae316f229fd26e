"""People, departments and API tokens."""

from __future__ import annotations

import hashlib
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.db import Base, BigIntPK, JSONText, UTCDateTime, utcnow
from engine.models import Department

user_departments = Table(
    "user_departments",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("department_code", ForeignKey("departments.code", ondelete="CASCADE"), primary_key=True),
)


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    full_name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str | None] = mapped_column(Text)
    roles: Mapped[list[str]] = mapped_column(JSONText, default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    departments: Mapped[list[Department]] = relationship(secondary=user_departments, lazy="selectin")
    language: Mapped[str | None] = mapped_column(String(5))

    def get_id(self) -> str:
        """What Flask-Login keeps in the signed session cookie: changing the password ends old sessions."""
        fingerprint = hashlib.sha256((self.password_hash or "").encode()).hexdigest()[:16]
        return f"{self.id}.{fingerprint}"


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored (tokens are 256-bit random)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSONText, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # requests per window for this token ("600/minute"); None: the server default
    rate_limit: Mapped[str | None] = mapped_column(String(50))
    # the token that created this one over the API (None: made by a person at the CLI or a page); revoking
    # a token revokes what it created, so a leaked token cannot leave a working child behind
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id", ondelete="SET NULL"), index=True)

    user: Mapped[User] = relationship(lazy="joined")
