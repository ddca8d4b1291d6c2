"""Arrow tables of spans, evaluations, annotations and metadata patches, as the ``arize`` SDK
sends them from DataFrames, turned into what the spans domain stores.

Pure: no database, no transport. ``POST /v1/pandas_arrow`` (``spans.log``,
``update_evaluations(force_http=True)``) and the span Flight calls (``update_evaluations``,
``update_annotations``, ``update_metadata``) both read their tables through this module.

The SDK's columns: ``context.trace_id``, ``context.span_id``, ``parent_id``, ``name``,
``start_time`` / ``end_time`` (nanoseconds), ``status_code``, ``status_message``, ``events``
(JSON objects), ``attributes.<dotted path>`` (lists of objects arrive as lists of JSON
texts); ``eval.<name>.label|score|explanation`` (also ``trace_eval.`` and ``session_eval.``);
``annotation.<name>.label|score|text|updated_by|updated_at`` and ``annotation.notes``;
``patch_document`` (a JSON object merged into ``attributes.metadata``).

A table is taken whole or refused: the first row that cannot be stored is named in an
``InvalidInput`` and nothing of the table is kept.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from evalplane.core.errors import InvalidInput
from evalplane.ingest import otlp

TRACE_ID = "context.trace_id"
SPAN_ID = "context.span_id"
PARENT_ID = "parent_id"
ATTRIBUTES_PREFIX = "attributes."
NOTES = "annotation.notes"
PATCH_DOCUMENT = "patch_document"
SPAN_COLUMNS = ("name", "start_time", "end_time")

_EVAL_COLUMN = re.compile(r"^(eval|trace_eval|session_eval)\.(.+)\.(label|score|explanation)$", re.DOTALL)
_ANNOTATION_COLUMN = re.compile(r"^annotation\.(.+)\.(label|score|text|updated_by|updated_at)$", re.DOTALL)
_HEX = frozenset("0123456789abcdef")
_STATUS = {"OK": "OK", "ERROR": "ERROR", "UNSET": "UNSET", "STATUS_CODE_OK": "OK", "STATUS_CODE_ERROR": "ERROR"}
_NAME_MAX = 255
_LABEL_MAX = 1024
_MAX_NANOS = 2**63
# A JSON text nested deeper than this (objects in lists in objects...) is refused.
_MAX_DEPTH = otlp.MAX_ATTRIBUTE_DEPTH


# ---------------------------------------------------------------- what a table holds


@dataclass(frozen=True, slots=True)
class EvaluationRecord:
    """One named result for the span ``span_id``; ``scope`` says whether it is the span's own
    (``eval.``), its trace's (``trace_eval.``) or its session's (``session_eval.``)."""

    span_id: str
    scope: str  # "span" | "trace" | "session"
    name: str
    label: str | None
    score: float | None
    explanation: str | None


@dataclass(frozen=True, slots=True)
class AnnotationRecord:
    """One named human annotation for the span ``span_id``."""

    span_id: str
    name: str
    label: str | None
    score: float | None
    text: str | None
    updated_by: str | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class NoteRecord:
    span_id: str
    text: str
    updated_by: str | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class MetadataPatch:
    """Keys to set in the span's ``attributes.metadata`` (objects merge, anything else replaces)."""

    span_id: str
    patch: dict[str, Any]


@dataclass
class SpanUpload:
    """What ``spans.log`` sent: the spans, and the evaluations joined to them."""

    spans: otlp.DecodedRequest
    evaluations: list[EvaluationRecord] = field(default_factory=list)


@dataclass
class AnnotationUpload:
    annotations: list[AnnotationRecord] = field(default_factory=list)
    notes: list[NoteRecord] = field(default_factory=list)


# ---------------------------------------------------------------- rows


def rows(batches: Iterable[pa.RecordBatch]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each row as a dict of Python values, numbered from 0 across the batches."""
    number = 0
    for batch in batches:
        columns = batch.to_pydict()
        names = list(columns)
        for i in range(batch.num_rows):
            yield number, {name: columns[name][i] for name in names}
            number += 1


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _text(value: Any, row: int, column: str) -> str | None:
    if _missing(value):
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"Row {row}: '{column}' must be text.")
    if "\x00" in value:
        raise InvalidInput(f"Row {row}: '{column}' must not contain NUL characters.")
    return value


def _number(value: Any, row: int, column: str) -> float | None:
    if _missing(value):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"Row {row}: '{column}' must be a number.")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInput(f"Row {row}: '{column}' must be a finite number.")
    return number


def span_id_of(value: Any, row: int, column: str = SPAN_ID) -> str:
    return _hex_id(value, 16, row, column)


def _hex_id(value: Any, digits: int, row: int, column: str) -> str:
    text = value.strip().lower() if isinstance(value, str) else None
    if not text or len(text) != digits or not set(text) <= _HEX or set(text) == {"0"}:
        raise InvalidInput(
            f"Row {row}: '{column}' must be {digits} hexadecimal digits, not all zero "
            "(OpenTelemetry ids; evalplane stores spans by them)."
        )
    return text


def _json_object(text: Any, row: int, column: str) -> Any:
    if isinstance(text, (dict, list)):
        return text
    if not isinstance(text, str):
        raise InvalidInput(f"Row {row}: '{column}' must hold JSON text.")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidInput(f"Row {row}: '{column}' is not valid JSON.") from None


def _flatten(prefix: str, value: Any, into: dict[str, Any], depth: int, row: int, column: str) -> None:
    """Objects (and lists of objects) become dotted keys, as OpenTelemetry attributes are sent."""
    if depth > _MAX_DEPTH:
        raise InvalidInput(f"Row {row}: '{column}' nests more than {_MAX_DEPTH} levels.")
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}", item, into, depth + 1, row, column)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, item in enumerate(value):
            _flatten(f"{prefix}.{i}", item, into, depth + 1, row, column)
    elif not _missing(value):
        into[prefix] = _plain(value, row, column)


def _plain(value: Any, row: int, column: str) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"Row {row}: '{column}' must hold finite numbers.")
    if isinstance(value, datetime):
        return otlp.event_time(_nanos(value, row, column))
    if isinstance(value, bytes):
        raise InvalidInput(f"Row {row}: '{column}' holds bytes; send text.")
    if isinstance(value, list):
        return [_plain(v, row, column) for v in value]
    return value


def _nanos(value: Any, row: int, column: str) -> int:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < _MAX_NANOS:
        raise InvalidInput(f"Row {row}: '{column}' must be a time (nanoseconds since 1970, or a timestamp).")
    return value


# ---------------------------------------------------------------- spans (spans.log)


def spans_from(batches: Iterable[pa.RecordBatch], project_name: str, prepare: otlp.Prepare | None) -> SpanUpload:
    """The spans of a ``spans.log`` table (and the evaluations merged into its rows)."""
    decoded = otlp.DecodedRequest(batches=[], prepare=prepare)
    batch = otlp.ResourceBatch(project_name=project_name, resource_attributes={otlp.PROJECT_ATTRIBUTE: project_name})
    decoded.batches.append(batch)
    upload = SpanUpload(spans=decoded)
    checked = False
    for number, row in rows(batches):
        if not checked:
            _require(row, (TRACE_ID, SPAN_ID, *SPAN_COLUMNS))
            checked = True
        span = _span_row(decoded, number, row)
        batch.rows.append(span)
        upload.evaluations.extend(_evaluations(span[1], number, row))
    return upload


def _require(row: dict[str, Any], columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in row]
    if missing:
        raise InvalidInput(f"The table lacks the column(s) {', '.join(repr(c) for c in missing)}.")


def _span_row(decoded: otlp.DecodedRequest, number: int, row: dict[str, Any]) -> otlp.SpanRow:
    trace_id = _hex_id(row[TRACE_ID], 32, number, TRACE_ID)
    span_id = span_id_of(row[SPAN_ID], number)
    parent_raw = row.get(PARENT_ID)
    parent = None if _missing(parent_raw) or parent_raw == "" else _hex_id(parent_raw, 16, number, PARENT_ID)
    name = _text(row["name"], number, "name")
    if not name:
        raise InvalidInput(f"Row {number}: 'name' is required.")
    start = _nanos(row["start_time"], number, "start_time")
    end = _nanos(row["end_time"], number, "end_time") if not _missing(row["end_time"]) else start
    status_raw = _text(row.get("status_code"), number, "status_code")
    status = _STATUS.get((status_raw or "UNSET").strip().upper())
    if status is None:
        raise InvalidInput(f"Row {number}: 'status_code' must be OK, ERROR or UNSET.")
    flat: dict[str, Any] = {}
    for column, value in row.items():
        if column.startswith(ATTRIBUTES_PREFIX) and len(column) > len(ATTRIBUTES_PREFIX):
            _flatten(column[len(ATTRIBUTES_PREFIX) :], _decoded_json(column, value, number), flat, 0, number, column)
    span_kind = row.get("span_kind") if otlp.SPAN_KIND_ATTRIBUTE not in flat else flat[otlp.SPAN_KIND_ATTRIBUTE]
    try:
        attributes = otlp.nested_attributes(flat)
    except otlp.SpanRejected as exc:
        raise InvalidInput(f"Row {number}: {exc}.") from None
    before = decoded.rejected
    span = otlp.span_row(
        decoded,
        trace_id,
        span_id,
        parent,
        name,
        start,
        end,
        status,
        _text(row.get("status_message"), number, "status_message") or "",
        span_kind,
        attributes,
        _events(row.get("events"), number, start),
    )
    if span is None or decoded.rejected != before:
        raise InvalidInput(f"Row {number}: the span cannot be stored ({'; '.join(decoded.reasons) or 'invalid'}).")
    return span


# Columns whose values the SDK sends as lists of JSON texts, each an object (one message, one
# document...); the span export sends them back the same way.
LIST_OF_OBJECTS = frozenset(
    {
        "attributes.llm.input_messages",
        "attributes.llm.output_messages",
        "attributes.llm.tools",
        "attributes.retrieval.documents",
        "attributes.reranker.input_documents",
        "attributes.reranker.output_documents",
        "attributes.embedding.embeddings",
    }
)


def _decoded_json(column: str, value: Any, row: int) -> Any:
    """Lists of JSON objects are opened so their keys nest like OTLP's; other JSON text
    (metadata, invocation parameters, template variables) stays text, as instrumentors send it."""
    if column in LIST_OF_OBJECTS and isinstance(value, list):
        return [_json_object(v, row, column) if isinstance(v, str) else v for v in value]
    return value


def _events(value: Any, row: int, start_ns: int) -> list[dict[str, Any]]:
    if _missing(value) or value == []:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"Row {row}: 'events' must be a list of JSON objects.")
    events = []
    for item in value:
        event = _json_object(item, row, "events") if isinstance(item, str) else item
        if not isinstance(event, dict):
            raise InvalidInput(f"Row {row}: each event must be a JSON object.")
        when = event.get("timestamp", event.get("time_unix_nano"))
        if isinstance(when, int) and not isinstance(when, bool) and 0 < when < _MAX_NANOS:
            stamp = otlp.event_time(when)
        elif isinstance(when, str) and when:
            stamp = when
        else:
            stamp = otlp.event_time(start_ns)
        attributes = event.get("attributes")
        if isinstance(attributes, str):
            attributes = _json_object(attributes, row, "events")
        events.append(
            {
                "name": str(event.get("name", "")),
                "timestamp": stamp,
                "attributes": attributes if isinstance(attributes, dict) else {},
            }
        )
    return events


# ---------------------------------------------------------------- evaluations


def evaluations_from(batches: Iterable[pa.RecordBatch]) -> list[EvaluationRecord]:
    """The evaluations of an ``update_evaluations`` table: ``context.span_id`` and eval columns."""
    found: list[EvaluationRecord] = []
    checked = False
    for number, row in rows(batches):
        if not checked:
            _require(row, (SPAN_ID,))
            if not any(_EVAL_COLUMN.match(c) for c in row):
                raise InvalidInput("The table has no evaluation columns (eval.<name>.label|score|explanation).")
            checked = True
        found.extend(_evaluations(span_id_of(row[SPAN_ID], number), number, row))
    return found


def _evaluations(span_id: str, number: int, row: dict[str, Any]) -> list[EvaluationRecord]:
    parts: dict[tuple[str, str], dict[str, Any]] = {}
    for column, value in row.items():
        match = _EVAL_COLUMN.match(column)
        if match is not None:
            prefix, name, part = match.groups()
            parts.setdefault((prefix, name.strip()), {})[part] = value
    records = []
    for (prefix, name), values in parts.items():
        column = f"{prefix}.{name}"
        label = _text(values.get("label"), number, f"{column}.label")
        score = _number(values.get("score"), number, f"{column}.score")
        explanation = _text(values.get("explanation"), number, f"{column}.explanation")
        if label is None and score is None and explanation is None:
            continue  # this row carries no result of that evaluation
        if not name or len(name) > _NAME_MAX:
            raise InvalidInput(f"Row {number}: evaluation names must be 1 to {_NAME_MAX} characters.")
        if label is not None and len(label) > _LABEL_MAX:
            raise InvalidInput(f"Row {number}: an evaluation label is longer than {_LABEL_MAX} characters.")
        scope = {"eval": "span", "trace_eval": "trace", "session_eval": "session"}[prefix]
        records.append(EvaluationRecord(span_id, scope, name, label, score, explanation))
    return records


# ---------------------------------------------------------------- annotations


def annotations_from(batches: Iterable[pa.RecordBatch]) -> AnnotationUpload:
    """The annotations (and notes) of an ``update_annotations`` table."""
    upload = AnnotationUpload()
    checked = False
    for number, row in rows(batches):
        if not checked:
            _require(row, (SPAN_ID,))
            if not any(_ANNOTATION_COLUMN.match(c) for c in row) and NOTES not in row:
                raise InvalidInput("The table has no annotation columns (annotation.<name>.label|score|text).")
            checked = True
        span_id = span_id_of(row[SPAN_ID], number)
        upload.annotations.extend(_annotations(span_id, number, row))
        upload.notes.extend(_notes(span_id, number, row.get(NOTES)))
    return upload


def _annotations(span_id: str, number: int, row: dict[str, Any]) -> list[AnnotationRecord]:
    parts: dict[str, dict[str, Any]] = {}
    for column, value in row.items():
        match = _ANNOTATION_COLUMN.match(column)
        if match is not None:
            parts.setdefault(match.group(1).strip(), {})[match.group(2)] = value
    records = []
    for name, values in parts.items():
        label = _text(values.get("label"), number, f"annotation.{name}.label")
        score = _number(values.get("score"), number, f"annotation.{name}.score")
        text = _text(values.get("text"), number, f"annotation.{name}.text")
        if label is None and score is None and text is None:
            continue
        if not name or len(name) > _NAME_MAX:
            raise InvalidInput(f"Row {number}: annotation names must be 1 to {_NAME_MAX} characters.")
        if label is not None and len(label) > _LABEL_MAX:
            raise InvalidInput(f"Row {number}: an annotation label is longer than {_LABEL_MAX} characters.")
        updated_by = _text(values.get("updated_by"), number, f"annotation.{name}.updated_by")
        records.append(
            AnnotationRecord(span_id, name, label, score, text, updated_by, _millis(values.get("updated_at")))
        )
    return records


def _notes(span_id: str, number: int, value: Any) -> list[NoteRecord]:
    if _missing(value):
        return []
    items = value if isinstance(value, list) else [value]
    notes = []
    for item in items:
        note = _json_object(item, number, NOTES) if isinstance(item, str) and item.lstrip().startswith("{") else item
        if isinstance(note, str):
            note = {"text": note}
        if not isinstance(note, dict) or not isinstance(note.get("text"), str) or "\x00" in note["text"]:
            raise InvalidInput(f"Row {number}: '{NOTES}' must hold notes with a 'text'.")
        by = note.get("updated_by")
        notes.append(
            NoteRecord(span_id, note["text"], by if isinstance(by, str) else None, _millis(note.get("updated_at")))
        )
    return notes


def _millis(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 < value < 2**47:
        return datetime.fromtimestamp(value / 1000, UTC)
    return None


# ---------------------------------------------------------------- metadata


def metadata_patches_from(batches: Iterable[pa.RecordBatch]) -> list[MetadataPatch]:
    """The patches of an ``update_metadata`` table: ``context.span_id`` and ``patch_document``."""
    patches: list[MetadataPatch] = []
    checked = False
    for number, row in rows(batches):
        if not checked:
            _require(row, (SPAN_ID, PATCH_DOCUMENT))
            checked = True
        span_id = span_id_of(row[SPAN_ID], number)
        value = row[PATCH_DOCUMENT]
        patch = {} if _missing(value) else _json_object(value, number, PATCH_DOCUMENT)
        if not isinstance(patch, dict):
            raise InvalidInput(f"Row {number}: '{PATCH_DOCUMENT}' must be a JSON object.")
        _check_storable(patch, number, 0)
        patches.append(MetadataPatch(span_id, patch))
    return patches


def _check_storable(value: Any, row: int, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise InvalidInput(f"Row {row}: '{PATCH_DOCUMENT}' nests more than {_MAX_DEPTH} levels.")
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput(f"Row {row}: '{PATCH_DOCUMENT}' must not contain NUL characters.")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"Row {row}: '{PATCH_DOCUMENT}' must hold finite numbers.")
    elif isinstance(value, int) and not isinstance(value, bool):
        if not -(2**63) <= value < 2**63:
            raise InvalidInput(f"Row {row}: '{PATCH_DOCUMENT}' holds an integer beyond 64 bits.")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_storable(key, row, depth + 1)
            _check_storable(item, row, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_storable(item, row, depth + 1)


def merge_metadata(current: Any, patch: dict[str, Any]) -> dict[str, Any]:
    """``current`` with ``patch`` applied: objects merge key by key, any other value (null
    included, which the SDK documents as "set to null") replaces."""
    merged = dict(current) if isinstance(current, dict) else {}
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_metadata(merged[key], value)
        else:
            merged[key] = value
    return merged
