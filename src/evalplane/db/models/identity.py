"""Who may do what: organizations, spaces, users, API keys, roles and role bindings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from evalplane.db.models.base import Base, IdMixin, TimestampsMixin
from evalplane.db.types import JSONValue, UtcDateTime


class ServerState(Base):
    """Installation-wide values every API process must share (e.g. the cursor signing key)."""

    __tablename__ = "server_state"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


class Organization(IdMixin, TimestampsMixin, Base):
    __tablename__ = "organizations"
    name: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")


class Space(IdMixin, TimestampsMixin, Base):
    __tablename__ = "spaces"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    is_private: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class User(IdMixin, TimestampsMixin, Base):
    """A person or a service key's bot. ``account_role`` ADMIN sees and manages everything."""

    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    email: Mapped[str] = mapped_column(String(320), nullable=False, unique=True)
    account_role: Mapped[str] = mapped_column(String(32), nullable=False, default="MEMBER")
    status: Mapped[str] = mapped_column(String(32), nullable=False, default="ACTIVE")
    is_developer: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    is_bot: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class ApiKey(IdMixin, TimestampsMixin, Base):
    """A bearer credential. Only a SHA-256 digest of the secret is stored."""

    __tablename__ = "api_keys"
    key_type: Mapped[str] = mapped_column(String(16), nullable=False)  # USER | SERVICE
    name: Mapped[str] = mapped_column(String(256), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    redacted_key: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="ACTIVE")
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # After a refresh with a grace period, the replaced secret keeps working until then.
    previous_token_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    previous_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Role(IdMixin, TimestampsMixin, Base):
    """A named set of permissions; the predefined ones are created by the first migration."""

    __tablename__ = "roles"
    name: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    is_predefined: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The coarse level the role grants on a space: ADMIN, MEMBER (read+write) or READ_ONLY.
    level: Mapped[str] = mapped_column(String(32), nullable=False, default="READ_ONLY")
    permissions: Mapped[list[Any]] = mapped_column(JSONValue, nullable=False, default=list)


class RoleBinding(IdMixin, TimestampsMixin, Base):
    """Grants a user a role on one space or project."""

    __tablename__ = "role_bindings"
    __table_args__ = (
        UniqueConstraint("user_id", "resource_type", "resource_id"),
        Index("ix_role_bindings_resource", "resource_type", "resource_id"),
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), nullable=False)
    resource_type: Mapped[str] = mapped_column(String(16), nullable=False)  # SPACE | PROJECT
    resource_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
