"""Tasks, the evaluators attached to them, and their runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from evalplane.db.models.base import Base, IdMixin, TimestampsMixin
from evalplane.db.types import JSONValue, UtcDateTime

ACTIVE_RUN_STATUSES = ("PENDING", "RUNNING")


class Task(IdMixin, TimestampsMixin, Base):
    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("space_id", "name"),
        # Keyset pagination walks id descending under each list filter.
        Index("ix_tasks_space_id_id", "space_id", "id"),
        Index("ix_tasks_project_id_id", "project_id", "id"),
        Index("ix_tasks_dataset_id_id", "dataset_id", "id"),
        Index("ix_tasks_type_id", "type", "id"),
    )
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    sampling_rate: Mapped[float | None] = mapped_column(Float)
    is_continuous: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    query_filter: Mapped[str | None] = mapped_column(Text)
    query_filters: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    run_configuration: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    experiment_ids: Mapped[list[int]] = mapped_column(JSONValue, nullable=False, default=list)
    last_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Continuous evaluation has looked at this project's spans up to this span row id.
    continuous_cursor: Mapped[int | None] = mapped_column(BigInteger)


class TaskEvaluator(IdMixin, Base):
    """One evaluator attached to a task, with its own filter and column mappings."""

    __tablename__ = "task_evaluators"
    __table_args__ = (UniqueConstraint("task_id", "evaluator_id"),)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    evaluator_id: Mapped[int] = mapped_column(
        ForeignKey("evaluators.id", ondelete="CASCADE"), nullable=False, index=True
    )
    evaluator_version_id: Mapped[int | None] = mapped_column(ForeignKey("evaluator_versions.id", ondelete="SET NULL"))
    query_filter: Mapped[str | None] = mapped_column(Text)
    column_mappings: Mapped[dict[str, str] | None] = mapped_column(JSONValue)
    query_mappings: Mapped[list[Any] | None] = mapped_column(JSONValue)


class TaskRun(IdMixin, TimestampsMixin, Base):
    __tablename__ = "task_runs"
    __table_args__ = (
        Index("ix_task_runs_task_id_id", "task_id", "id"),
        # At most one PENDING or RUNNING run of each kind per task, enforced by the database
        # itself: a triggered backfill, and the run continuous evaluation records into.
        Index(
            "uq_task_runs_one_active",
            "task_id",
            "kind",
            unique=True,
            sqlite_where=text("status IN ('PENDING', 'RUNNING')"),
            postgresql_where=text("status IN ('PENDING', 'RUNNING')"),
        ),
    )
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="PENDING")
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="BACKFILL")  # BACKFILL | CONTINUOUS
    experiment_id: Mapped[int | None] = mapped_column(ForeignKey("experiments.id", ondelete="SET NULL"))
    run_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    run_finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    data_start_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    data_end_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    max_spans: Mapped[int | None] = mapped_column(Integer)
    override_evaluations: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    num_successes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    num_errors: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    num_skipped: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
