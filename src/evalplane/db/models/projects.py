"""Projects: where traced spans land."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from evalplane.db.models.base import Base, IdMixin, TimestampsMixin


class Project(IdMixin, TimestampsMixin, Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("space_id", "name"),)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
