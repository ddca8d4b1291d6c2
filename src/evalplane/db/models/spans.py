"""Spans received over OTLP, and the evaluation results attached to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from evalplane.db.models.base import Base, IdMixin, TimestampsMixin
from evalplane.db.types import JSONDocument, UtcDateTime

# OpenInference's `session.id` is free text; longer ids are not treated as sessions.
SESSION_ID_MAX = 256


class Span(IdMixin, Base):
    """One span. The fixed OpenTelemetry fields are columns; OpenInference attributes are a
    nested JSON document (dotted keys unflattened, values keep their types)."""

    __tablename__ = "spans"
    __table_args__ = (
        # A re-sent batch inserts nothing twice: (trace, span) identifies a span in a project.
        UniqueConstraint("project_id", "trace_id", "span_id"),
        # Newest-first keyset listing inside a project and a time window.
        Index("ix_spans_project_start", "project_id", "start_time"),
        # The fixed columns filters most often narrow on.
        Index("ix_spans_project_kind_start", "project_id", "span_kind", "start_time"),
        Index("ix_spans_project_status_start", "project_id", "status_code", "start_time"),
        Index("ix_spans_project_name_start", "project_id", "name", "start_time"),
        Index("ix_spans_project_latency", "project_id", "latency_ms"),
        Index("ix_spans_project_span_id", "project_id", "span_id"),
        # Continuous evaluation reads a project's newly stored spans by row id.
        Index("ix_spans_project_id_id", "project_id", "id"),
        # Session-scope tasks select and load a project's sessions by id.
        Index("ix_spans_project_session_start", "project_id", "session_id", "start_time"),
    )

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    trace_id: Mapped[str] = mapped_column(String(32), nullable=False)  # 32 lower-case hex digits
    span_id: Mapped[str] = mapped_column(String(16), nullable=False)  # 16 lower-case hex digits
    parent_id: Mapped[str | None] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(512), nullable=False)  # kept short enough for a btree index
    span_kind: Mapped[str] = mapped_column(String(32), nullable=False)  # openinference.span.kind, upper case
    status_code: Mapped[str] = mapped_column(String(8), nullable=False)  # UNSET | OK | ERROR
    status_message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    start_time: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    end_time: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    latency_ms: Mapped[float] = mapped_column(Float, nullable=False)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False)
    events: Mapped[list[Any]] = mapped_column(JSONDocument, nullable=False)
    resource_attributes: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False)
    ingested_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    # attributes.session.id when it is a string of at most SESSION_ID_MAX characters.
    session_id: Mapped[str | None] = mapped_column(String(SESSION_ID_MAX))


class SpanEvaluation(IdMixin, TimestampsMixin, Base):
    """The latest result of one named evaluation on one span (written by the engine)."""

    __tablename__ = "span_evaluations"
    __table_args__ = (
        UniqueConstraint("span_row_id", "name"),
        Index("ix_span_evaluations_name_label", "name", "label"),
    )

    span_row_id: Mapped[int] = mapped_column(ForeignKey("spans.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    label: Mapped[str | None] = mapped_column(String(1024))
    score: Mapped[float | None] = mapped_column(Float)
    explanation: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONDocument)
    task_id: Mapped[int | None] = mapped_column(BigInteger)
    task_run_id: Mapped[int | None] = mapped_column(BigInteger)


class TraceEvaluation(IdMixin, TimestampsMixin, Base):
    """The latest result of one named trace-level evaluation (written by the engine).

    Keyed by the trace id, not a span row: it is shown on the trace's root span and
    filterable as ``trace_eval.<name>.*`` on every span of the trace."""

    __tablename__ = "trace_evaluations"
    __table_args__ = (
        UniqueConstraint("project_id", "trace_id", "name"),
        Index("ix_trace_evaluations_project_name_label", "project_id", "name", "label"),
    )

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    trace_id: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    label: Mapped[str | None] = mapped_column(String(1024))
    score: Mapped[float | None] = mapped_column(Float)
    explanation: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONDocument)
    task_id: Mapped[int | None] = mapped_column(BigInteger)
    task_run_id: Mapped[int | None] = mapped_column(BigInteger)


class SessionEvaluation(IdMixin, TimestampsMixin, Base):
    """The latest result of one named session-level evaluation (``attributes.session.id``),
    shown on the root span of the session's first trace and filterable as ``session_eval.<name>.*``."""

    __tablename__ = "session_evaluations"
    __table_args__ = (
        UniqueConstraint("project_id", "session_id", "name"),
        Index("ix_session_evaluations_project_name_label", "project_id", "name", "label"),
    )

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    session_id: Mapped[str] = mapped_column(String(SESSION_ID_MAX), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    label: Mapped[str | None] = mapped_column(String(1024))
    score: Mapped[float | None] = mapped_column(Float)
    explanation: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONDocument)
    task_id: Mapped[int | None] = mapped_column(BigInteger)
    task_run_id: Mapped[int | None] = mapped_column(BigInteger)
