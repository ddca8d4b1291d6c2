"""Durable work units: one row per (task, evaluator, target, evaluator config)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from evalplane.db.models.base import Base, IdMixin, TimestampsMixin
from evalplane.db.types import JSONValue, UtcDateTime


class WorkUnit(IdMixin, TimestampsMixin, Base):
    """One evaluation (or generation) of one target, claimed by workers under a lease.

    ``state`` answers "why did (or didn't) my evaluator run on this span?": PENDING, LEASED,
    SUCCEEDED, ERRORED, SKIPPED (a mapped variable was null), SAMPLED_OUT, FILTERED_OUT,
    CANCELLED. The unique key means a target is evaluated once per evaluator config, whether
    a continuous run or a backfill reached it first.
    """

    __tablename__ = "work_units"
    __table_args__ = (
        UniqueConstraint("task_id", "evaluator_key", "target_kind", "target_id", "fingerprint"),
        Index("ix_work_units_run_id_state", "run_id", "state"),
        # Claiming scans only claimable rows, oldest first.
        Index(
            "ix_work_units_claimable",
            "not_before",
            "id",
            sqlite_where=text("state = 'PENDING'"),
            postgresql_where=text("state = 'PENDING'"),
        ),
        # Claiming one task's units, and listing the tasks that have any (fair claims).
        Index(
            "ix_work_units_claimable_by_task",
            "task_id",
            "not_before",
            "id",
            sqlite_where=text("state = 'PENDING'"),
            postgresql_where=text("state = 'PENDING'"),
        ),
        Index(
            "ix_work_units_leased",
            "lease_expires_at",
            sqlite_where=text("state = 'LEASED'"),
            postgresql_where=text("state = 'LEASED'"),
        ),
    )
    run_id: Mapped[int] = mapped_column(ForeignKey("task_runs.id", ondelete="CASCADE"), nullable=False)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False)
    # The evaluator id for evaluations; 0 for a run_experiment generation unit.
    evaluator_key: Mapped[int] = mapped_column(BigInteger, nullable=False)
    target_kind: Mapped[str] = mapped_column(String(16), nullable=False)  # SPAN | EXPERIMENT_RUN | EXAMPLE
    target_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(32), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="PENDING")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    not_before: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    detail: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
