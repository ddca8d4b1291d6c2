"""Annotation configs (what a human may record, per space) and the annotations on spans."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from evalplane.db.models.base import Base, IdMixin, TimestampsMixin
from evalplane.db.types import JSONDocument


class AnnotationConfig(IdMixin, TimestampsMixin, Base):
    """A named kind of human annotation in a space: CATEGORICAL (a label from ``values``, each
    with an optional score), CONTINUOUS (a score within bounds) or FREEFORM (text)."""

    __tablename__ = "annotation_configs"
    __table_args__ = (
        UniqueConstraint("space_id", "name"),
        Index("ix_annotation_configs_space_id_id", "space_id", "id"),
    )

    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    config_type: Mapped[str] = mapped_column(String(16), nullable=False)
    # CATEGORICAL: [{"label": str, "score": float | None}, ...]
    values: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONDocument)
    minimum_score: Mapped[float | None] = mapped_column(Float)
    maximum_score: Mapped[float | None] = mapped_column(Float)
    optimization_direction: Mapped[str] = mapped_column(String(16), nullable=False, default="NONE")


class SpanAnnotation(IdMixin, TimestampsMixin, Base):
    """The latest human annotation of one name on one span (upserted by name)."""

    __tablename__ = "span_annotations"
    __table_args__ = (
        UniqueConstraint("span_row_id", "name"),
        Index("ix_span_annotations_name_label", "name", "label"),
    )

    span_row_id: Mapped[int] = mapped_column(ForeignKey("spans.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    label: Mapped[str | None] = mapped_column(String(1024))
    score: Mapped[float | None] = mapped_column(Float)
    text: Mapped[str | None] = mapped_column(Text)
    # The user who wrote it through the API (None for bulk loads that name no user) ...
    annotator_id: Mapped[int | None] = mapped_column(BigInteger)
    # ... or who a bulk load says wrote it (the SDK's ``annotation.<name>.updated_by``).
    updated_by: Mapped[str | None] = mapped_column(String(255))
