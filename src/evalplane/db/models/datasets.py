"""Datasets, their immutable versions and example revisions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
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
    """An immutable snapshot of a dataset's examples; every write makes a new one."""

    __tablename__ = "dataset_versions"
    __table_args__ = (Index("ix_dataset_versions_dataset_id_id", "dataset_id", "id"),)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)



class DatasetExample(IdMixin, TimestampsMixin, Base):
    """One revision of one example. ``example_id`` is the public id shared by all revisions."""

    __tablename__ = "dataset_examples"
    __table_args__ = (Index("ix_dataset_examples_dataset_id_example_id", "dataset_id", "example_id"),)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False)
    example_id: Mapped[int] = mapped_column(Integer, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False)
    annotations: Mapped[list[Any]] = mapped_column(JSONValue, nullable=False, default=list)



class DatasetVersionExample(Base):
    """Membership: which example revisions make up a version."""

    __tablename__ = "dataset_version_examples"
    version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True)
    example_row_id: Mapped[int] = mapped_column(ForeignKey("dataset_examples.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
