"""Datasets, their versions and example revisions.

An example has a stable public ``example_id``; each edit of its content writes a new
revision row. A version is a set of (example_id -> revision) memberships, so versions
share unchanged revisions and an older version keeps reading the revisions it had.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from evalplane.db.models.base import Base, IdMixin, TimestampsMixin
from evalplane.db.types import JSONValue


class Dataset(IdMixin, TimestampsMixin, Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("space_id", "name"),)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class DatasetVersion(IdMixin, TimestampsMixin, Base):
    """A named set of example revisions; the newest version is the dataset's current content."""

    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "name"),
        Index("ix_dataset_versions_dataset_id_id", "dataset_id", "id"),
    )
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)


class DatasetExample(IdMixin, TimestampsMixin, Base):
    """One revision of one example. ``example_id`` is the id of the example's first revision.

    ``created_at`` is the example's creation time (copied into later revisions);
    ``updated_at`` is when this revision was written. Annotations belong to the example,
    so every revision of it carries the same list.
    """

    __tablename__ = "dataset_examples"
    __table_args__ = (Index("ix_dataset_examples_dataset_id_example_id", "dataset_id", "example_id"),)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False)
    example_id: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # Plain JSON, not JSONB: it keeps the caller's column order.
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    annotations: Mapped[list[Any]] = mapped_column(JSONValue, nullable=False, default=list)


class DatasetVersionExample(Base):
    """Membership: the revision of each example that a version holds."""

    __tablename__ = "dataset_version_examples"
    version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True)
    example_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    example_row_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_examples.id", ondelete="CASCADE"), nullable=False, index=True
    )
