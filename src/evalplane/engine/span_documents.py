"""A stored span as evaluators and filters see it, read from plain rows (no ORM objects per unit)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Text, type_coerce

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


# The same columns with the JSON ones left as the database returns them (text on SQLite), for
# readers that decode a span only if it is used (``decoded_span_document``).
RAW_SPAN_COLUMNS = tuple(
    type_coerce(column, Text).label(column.key)
    if column.key in ("attributes", "events", "resource_attributes")
    else column
    for column in SPAN_COLUMNS
)


def decoded_span_document(row: Any) -> dict[str, Any]:
    """``span_document`` of a row read with ``RAW_SPAN_COLUMNS``."""
    document = span_document(row)
    for key in ("attributes", "events", "resource"):
        value = document[key]
        if isinstance(value, str | bytes):
            document[key] = orjson.loads(value) or ({} if key != "events" else [])
    return document


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
