"""AI integrations: LLM provider credentials and where they may be used."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from evalplane.db.models.base import Base, IdMixin, TimestampsMixin
from evalplane.db.types import JSONValue


class AiIntegration(IdMixin, TimestampsMixin, Base):
    """Credentials and settings for an LLM provider; the API key is encrypted at rest."""

    __tablename__ = "ai_integrations"
    # Names are unique across the installation (the account).
    __table_args__ = (UniqueConstraint("name"),)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    provider: Mapped[str] = mapped_column(String(64), nullable=False)
    base_url: Mapped[str | None] = mapped_column(Text)
    model_names: Mapped[list[str] | None] = mapped_column(JSONValue)
    # Sealed: {"sealed:v1": <Fernet token of the headers>} (see domains/ai_integrations/credentials.py).
    headers: Mapped[dict[str, str] | None] = mapped_column(JSONValue)
    api_key_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    enable_default_models: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    function_calling_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    auth_type: Mapped[str] = mapped_column(String(32), nullable=False, default="DEFAULT")
    provider_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class AiIntegrationScoping(IdMixin, Base):
    """Where an integration may be used: the whole account (both null), an organization, or a space."""

    __tablename__ = "ai_integration_scopings"
    integration_id: Mapped[int] = mapped_column(
        ForeignKey("ai_integrations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    space_id: Mapped[int | None] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), index=True)
