"""A stored span as evaluators and filters see it, read from plain rows (no ORM objects per unit)."""

from __future__ import annotations

from typing import Any

from evalplane.core.clock import isoformat
from evalplane.db.models import Span

# The columns a span document is built from (plain rows: no ORM objects per unit).
SPAN_COLUMNS = (
    Span.id,
    Span.name,
    Span.span_kind,
    Span.status_code,
    Span.status_message,
    Span.latency_ms,
    Span.start_time,
    Span.end_time,
    Span.parent_id,
    Span.trace_id,
    Span.span_id,
    Span.attributes,
    Span.events,
    Span.resource_attributes,
)


def span_document(row: Any) -> dict[str, Any]:
    """A span as evaluator variables and filters see it."""
    return {
        "name": row.name,
        "span_kind": row.span_kind,
        "status_code": row.status_code,
        "status_message": row.status_message,
        "latency_ms": row.latency_ms,
        "start_time": isoformat(row.start_time),
        "end_time": isoformat(row.end_time),
        "parent_id": row.parent_id,
        "context": {"trace_id": row.trace_id, "span_id": row.span_id},
        "attributes": row.attributes or {},
        "events": row.events or [],
        "resource": row.resource_attributes or {},
    }
