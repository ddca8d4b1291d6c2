"""Evaluators and their immutable versions."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from evalplane.db.models.base import Base, IdMixin, TimestampsMixin
from evalplane.db.types import JSONValue


class Evaluator(IdMixin, TimestampsMixin, Base):
    __tablename__ = "evaluators"
    __table_args__ = (UniqueConstraint("space_id", "name"), Index("ix_evaluators_space_id_id", "space_id", "id"))
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(32), nullable=False)  # TEMPLATE | CODE
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class EvaluatorVersion(IdMixin, TimestampsMixin, Base):
    """An immutable configuration of an evaluator; the newest one is what tasks use by default."""

    __tablename__ = "evaluator_versions"
    __table_args__ = (Index("ix_evaluator_versions_evaluator_id_id", "evaluator_id", "id"),)
    evaluator_id: Mapped[int] = mapped_column(ForeignKey("evaluators.id", ondelete="CASCADE"), nullable=False)
    # The service derives it from the config; rows written any other way still get a unique one.
    commit_hash: Mapped[str] = mapped_column(
        String(64), nullable=False, unique=True, default=lambda: secrets.token_hex(20)
    )
    commit_message: Mapped[str | None] = mapped_column(Text)
    # Normalized for the engine: ids as integers, enums upper-case (see domains/evaluators/configs.py).
    config: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
