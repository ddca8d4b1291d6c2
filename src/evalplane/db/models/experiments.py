"""Experiments (in a space, optionally over a dataset version) and their runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from evalplane.db.models.base import Base, IdMixin, TimestampsMixin
from evalplane.db.types import JSONDocument, JSONValue, UtcDateTime

_STANDALONE = text("dataset_id IS NULL")


class Experiment(IdMixin, TimestampsMixin, Base):
    """Names are unique per dataset, and per space among experiments without a dataset."""

    __tablename__ = "experiments"
    __table_args__ = (
        UniqueConstraint("dataset_id", "name"),
        Index("ix_experiments_space_id_id", "space_id", "id"),
        Index(
            "ux_experiments_standalone_space_id_name",
            "space_id",
            "name",
            unique=True,
            sqlite_where=_STANDALONE,
            postgresql_where=_STANDALONE,
        ),
    )
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), nullable=False)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    dataset_version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ExperimentRun(IdMixin, TimestampsMixin, Base):
    """One task output. ``example_id`` is the caller's correlation id (not validated);
    ``data`` holds every other column the caller sent (evals, latency, trace ids...)."""

    __tablename__ = "experiment_runs"
    __table_args__ = (Index("ix_experiment_runs_experiment_id_id", "experiment_id", "id"),)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False)
    example_id: Mapped[str | None] = mapped_column(String(255))
    output: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    # Plain JSON, not JSONB: it keeps the caller's column order.
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    annotations: Mapped[list[Any]] = mapped_column(JSONValue, nullable=False, default=list)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Engine results, shown as eval.<name>.* columns; loaded with every query of runs.
    evaluations: Mapped[list[ExperimentRunEvaluation]] = relationship(
        lazy="selectin", passive_deletes=True, order_by="ExperimentRunEvaluation.id"
    )


class ExperimentRunEvaluation(IdMixin, TimestampsMixin, Base):
    """The latest result of one named evaluation on one experiment run (written by the engine)."""

    __tablename__ = "experiment_run_evaluations"
    __table_args__ = (UniqueConstraint("experiment_run_id", "name"),)

    experiment_run_id: Mapped[int] = mapped_column(ForeignKey("experiment_runs.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    label: Mapped[str | None] = mapped_column(String(1024))
    score: Mapped[float | None] = mapped_column(Float)
    explanation: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONDocument)
    task_id: Mapped[int | None] = mapped_column(BigInteger)
    task_run_id: Mapped[int | None] = mapped_column(BigInteger)
