"""OTLP/HTTP trace requests (protobuf or JSON, optionally gzip) decoded into span rows.

The decoder is pure: no database, no HTTP. It returns one batch per OTLP resource (the
resource names the project) holding span rows as tuples in ``ROW_FIELDS`` order, with the
attributes and events already serialized to JSON text (done once, here, off the event
loop), and counts the spans it had to reject (bad ids, no start time, values no database
can store) with a reason for each kind.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from evalplane.core.errors import InvalidInput
from evalplane.db.models.spans import SESSION_ID_MAX
from evalplane.ingest.attributes import nest, unflatten
from evalplane.ingest.compression import UnsupportedMediaType

PROJECT_ATTRIBUTE = "openinference.project.name"
# Older Arize instrumentation names the project with this resource attribute.
LEGACY_PROJECT_ATTRIBUTE = "model_id"
DEFAULT_PROJECT = "default"
SPAN_KIND_ATTRIBUTE = "openinference.span.kind"
SPAN_KINDS = frozenset(
    {
        "LLM",
        "CHAIN",
        "RETRIEVER",
        "EMBEDDING",
        "AGENT",
        "TOOL",
        "RERANKER",
        "GUARDRAIL",
        "EVALUATOR",
        "PROMPT",
        "DECISION",
        "UNKNOWN",
    }
)
_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}
_STATUS_NAMES = {"STATUS_CODE_UNSET": "UNSET", "STATUS_CODE_OK": "OK", "STATUS_CODE_ERROR": "ERROR"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_NAME = 512
_MAX_REASONS = 5
# Stored attributes are served back a few levels down in a response, and the response
# encoder stops at 255 levels. Keys of at most 64 segments holding values nested at most 64
# levels (the protobuf decoder's own limit keeps its values under that) stay well below.
MAX_ATTRIBUTE_DEPTH = 64
_MAX_NANOS = 2**64  # OTLP times are fixed64 nanoseconds

# The fields of a decoded span row, in tuple order (names as in the ``spans`` table).
ROW_FIELDS = (
    "trace_id",
    "span_id",
    "parent_id",
    "name",
    "span_kind",
    "status_code",
    "status_message",
    "start_time",
    "end_time",
    "latency_ms",
    "attributes",
    "events",
    "session_id",
)
SpanRow = tuple[str, str, str | None, str, str, str, str, datetime, datetime, float, str, str, str | None]
_NO_EVENTS = "[]"
_SCALARS = frozenset({"string_value", "int_value", "double_value", "bool_value"})

PROTOBUF = "protobuf"
JSON = "json"


class SpanRejected(Exception):
    """One span cannot be stored; it is reported in partial success and the batch goes on."""


@dataclass
class ResourceBatch:
    """The spans of one OTLP resource, all bound for the same project."""

    project_name: str
    resource_attributes: dict[str, Any]
    rows: list[SpanRow] = field(default_factory=list)
    # The resource attributes as JSON text; None when they hold an integer beyond 64 bits.
    resource_json: str | None = field(init=False)

    def __post_init__(self) -> None:
        self.resource_json = _json_text(self.resource_attributes)


# Applied to each span's nested attributes before they are serialized (storage conventions
# that belong to the spans domain, e.g. metadata strings stored as objects).
Prepare = Callable[[dict[str, Any]], None]


@dataclass
class DecodedRequest:
    batches: list[ResourceBatch]
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)
    prepare: Prepare | None = None

    @property
    def accepted(self) -> int:
        return sum(len(b.rows) for b in self.batches)

    def reject(self, reason: str, count: int = 1) -> None:
        self.rejected += count
        if reason not in self.reasons and len(self.reasons) < _MAX_REASONS:
            self.reasons.append(reason)


def body_format(content_type: str | None) -> str:
    """Which OTLP encoding a Content-Type names; 415 for anything else."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media in ("application/x-protobuf", "application/protobuf", ""):
        return PROTOBUF
    if media == "application/json":
        return JSON
    raise UnsupportedMediaType("Send OTLP traces as application/x-protobuf or application/json.")


def decode(payload: bytes, fmt: str, prepare: Prepare | None = None) -> DecodedRequest:
    """Decode an export request; ``prepare`` may rewrite each span's nested attributes in place."""
    decoded = DecodedRequest(batches=[], prepare=prepare)
    if fmt == PROTOBUF:
        _decode_protobuf(payload, decoded)
    else:
        _decode_json(payload, decoded)
    return decoded


def encode_response(decoded: DecodedRequest, fmt: str) -> bytes:
    """An ExportTraceServiceResponse; ``partial_success`` only when spans were rejected."""
    message = "; ".join(decoded.reasons)
    if fmt == PROTOBUF:
        response = ExportTraceServiceResponse()
        if decoded.rejected:
            response.partial_success.CopyFrom(
                ExportTracePartialSuccess(rejected_spans=decoded.rejected, error_message=message)
            )
        return response.SerializeToString()
    if not decoded.rejected:
        return b"{}"
    return orjson.dumps({"partialSuccess": {"rejectedSpans": decoded.rejected, "errorMessage": message}})


# ---------------------------------------------------------------- shared helpers


def _time(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1000)


def _project_name(resource: dict[str, Any]) -> str:
    name = resource.get(PROJECT_ATTRIBUTE) or resource.get(LEGACY_PROJECT_ATTRIBUTE) or DEFAULT_PROJECT
    return _storable(str(name).strip()) or DEFAULT_PROJECT


def _storable(text: str) -> str:
    # PostgreSQL refuses NUL in text and JSONB; keep the rest of the span.
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _json_text(value: Any) -> str | None:
    """``value`` as JSON text with NULs replaced, or None when it holds an integer beyond
    64 bits (only the OTLP JSON mapping can carry one)."""
    try:
        text = orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return None
    if "\\u0000" in text:  # an escaped NUL somewhere: rewrite the strings that hold one
        text = orjson.dumps(_without_nul(value)).decode()
    return text


def _without_nul(value: Any) -> Any:
    if type(value) is str:
        return _storable(value)
    if type(value) is dict:
        return {_storable(k): _without_nul(v) for k, v in value.items()}
    if type(value) is list:
        return [_without_nul(v) for v in value]
    return value


def span_row(
    decoded: DecodedRequest,
    trace_id: str | None,
    span_id: str | None,
    parent_id: str | Literal[False] | None,  # False: present but not 8 bytes
    name: str,
    start_ns: int,
    end_ns: int,
    status_code: str,
    status_message: str,
    span_kind: Any,
    attributes: dict[str, Any],
    events: list[dict[str, Any]],
) -> SpanRow | None:
    if trace_id is None:
        decoded.reject("trace_id must be 16 non-zero bytes")
        return None
    if span_id is None:
        decoded.reject("span_id must be 8 non-zero bytes")
        return None
    if parent_id is False:
        decoded.reject("parent_span_id must be empty or 8 bytes")
        return None
    if start_ns <= 0:
        decoded.reject("start_time_unix_nano is missing")
        return None
    if decoded.prepare is not None:
        decoded.prepare(attributes)
    attributes_json = _json_text(attributes)
    events_json = _json_text(events) if events else _NO_EVENTS
    if attributes_json is None or events_json is None:
        decoded.reject("attribute integers must fit in 64 bits")
        return None
    end_ns = max(end_ns, start_ns)
    kind = span_kind.upper() if isinstance(span_kind, str) else "UNKNOWN"
    return (
        trace_id,
        span_id,
        parent_id or None,
        _storable(name[:_MAX_NAME]),
        kind if kind in SPAN_KINDS else "UNKNOWN",
        status_code,
        _storable(status_message),
        _time(start_ns),
        _time(end_ns),
        (end_ns - start_ns) / 1_000_000,
        attributes_json,
        events_json,
        session_id_of(attributes),
    )


def session_id_of(attributes: dict[str, Any]) -> str | None:
    """``session.id`` when it is a string short enough to group spans by; else no session."""
    session = attributes.get("session")
    value = session.get("id") if type(session) is dict else None
    if type(value) is not str or len(value) > SESSION_ID_MAX:
        return None
    return _storable(value)


def nested_attributes(flat: dict[str, Any]) -> dict[str, Any]:
    _check_key_depth(flat)
    return unflatten(flat)


def _check_key_depth(keys: Any) -> None:
    """Refuse dotted keys with more segments than a span may nest, before nesting them."""
    if max(map(len, keys), default=0) >= MAX_ATTRIBUTE_DEPTH and any(
        key.count(".") >= MAX_ATTRIBUTE_DEPTH for key in keys
    ):
        raise SpanRejected(f"attributes must not nest more than {MAX_ATTRIBUTE_DEPTH} levels deep")


def _hex_id(raw: bytes, size: int) -> str | None:
    if len(raw) != size or not any(raw):
        return None
    return raw.hex()


def event_time(ns: int) -> str:
    return _time(ns).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------- protobuf


def _pb_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "array_value":
        return [_pb_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None


def _pb_attributes(attributes: Any) -> dict[str, Any]:
    return {kv.key: _pb_value(kv.value) for kv in attributes}


def _pb_nested(attributes: Any) -> tuple[dict[str, Any], Any]:
    """The span's attributes nested, and its ``openinference.span.kind`` value."""
    keys: list[str] = []
    values: list[Any] = []
    plain = True
    for kv in attributes:
        value = kv.value
        kind = value.WhichOneof("value")
        if kind in _SCALARS:
            values.append(getattr(value, kind))
        else:
            item = _pb_value(value)
            plain = plain and type(item) is not dict
            values.append(item)
        keys.append(kv.key)
    _check_key_depth(keys)
    if not plain:
        flat = dict(zip(keys, values, strict=True))
        return unflatten(flat), flat.get(SPAN_KIND_ATTRIBUTE)
    span_kind = None
    if SPAN_KIND_ATTRIBUTE in keys:
        # the last one wins, as in a dict
        span_kind = values[len(keys) - 1 - keys[::-1].index(SPAN_KIND_ATTRIBUTE)]
    return nest(tuple(keys), values), span_kind


def _decode_protobuf(payload: bytes, decoded: DecodedRequest) -> None:
    try:
        request = ExportTraceServiceRequest.FromString(payload)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise InvalidInput("The request body is not a valid OTLP ExportTraceServiceRequest protobuf.") from exc
    status_names = _STATUS
    for resource_spans in request.resource_spans:
        resource = _pb_attributes(resource_spans.resource.attributes)
        batch = ResourceBatch(project_name=_project_name(resource), resource_attributes=resource)
        rows = batch.rows
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                parent = span.parent_span_id
                status = span.status
                try:
                    attributes, span_kind = _pb_nested(span.attributes)
                except SpanRejected as exc:
                    decoded.reject(str(exc))
                    continue
                row = span_row(
                    decoded,
                    _hex_id(span.trace_id, 16),
                    _hex_id(span.span_id, 8),
                    (parent.hex() if len(parent) == 8 else False) if parent else None,
                    span.name,
                    span.start_time_unix_nano,
                    span.end_time_unix_nano,
                    status_names.get(status.code, "UNSET"),
                    status.message,
                    span_kind,
                    attributes,
                    [
                        {
                            "name": e.name,
                            "timestamp": event_time(e.time_unix_nano),
                            "attributes": _pb_attributes(e.attributes),
                        }
                        for e in span.events
                    ],
                )
                if row is not None:
                    rows.append(row)
        decoded.batches.append(batch)


# ---------------------------------------------------------------- JSON (OTLP JSON mapping)


class _Shape(Exception):
    pass


def _get(obj: dict[str, Any], camel: str, snake: str, default: Any = None) -> Any:
    value = obj.get(camel)
    if value is None:
        value = obj.get(snake, default)
    return default if value is None else value


def _list(obj: dict[str, Any], camel: str, snake: str) -> list[Any]:
    value = _get(obj, camel, snake, [])
    if not isinstance(value, list):
        raise _Shape(f"'{camel}' must be an array")
    return value


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Shape(f"{what} must be an object")
    return value


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise _Shape(f"'{what}' must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        digits = text.removeprefix("-")
        # ASCII only ('²' is a digit to str.isdigit) and short: int() of 5,000 digits raises
        if digits.isascii() and digits.isdigit():
            if len(digits) > 20:
                raise SpanRejected(f"'{what}' is out of range")
            return int(text)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise _Shape(f"'{what}' must be an integer")


def _nanos(value: Any, what: str) -> int:
    """A time in nanoseconds since the epoch; out of the fixed64 range rejects the span."""
    number = _int(value, what)
    if not 0 <= number < _MAX_NANOS:
        raise SpanRejected(f"'{what}' is out of range")
    return number


def _json_value(value: Any, depth: int) -> Any:
    value = _dict(value, "an attribute value")
    if "stringValue" in value or "string_value" in value:
        return _get(value, "stringValue", "string_value", "")
    if "intValue" in value or "int_value" in value:
        return _int(_get(value, "intValue", "int_value", 0), "intValue")
    if "doubleValue" in value or "double_value" in value:
        raw = _get(value, "doubleValue", "double_value", 0.0)
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise _Shape("'doubleValue' must be a number") from None
    if "boolValue" in value or "bool_value" in value:
        return bool(_get(value, "boolValue", "bool_value", False))
    if "arrayValue" in value or "array_value" in value:
        array = _dict(_get(value, "arrayValue", "array_value", {}), "'arrayValue'")
        _check_depth(depth)
        return [_json_value(v, depth + 1) for v in _list(array, "values", "values")]
    if "kvlistValue" in value or "kvlist_value" in value:
        kvlist = _dict(_get(value, "kvlistValue", "kvlist_value", {}), "'kvlistValue'")
        _check_depth(depth)
        return _json_attributes(_list(kvlist, "values", "values"), depth + 1)
    if "bytesValue" in value or "bytes_value" in value:
        return _get(value, "bytesValue", "bytes_value", "")
    return None


def _check_depth(depth: int) -> None:
    if depth >= MAX_ATTRIBUTE_DEPTH:
        raise SpanRejected(f"attributes must not nest more than {MAX_ATTRIBUTE_DEPTH} levels deep")


def _json_attributes(items: list[Any], depth: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        item = _dict(item, "an attribute")
        key = item.get("key")
        if not isinstance(key, str):
            raise _Shape("an attribute 'key' must be a string")
        out[key] = _json_value(item.get("value") or {}, depth)
    return out


def _json_id(value: Any, size: int) -> str | None:
    if not isinstance(value, str) or len(value) != size * 2:
        return None
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return None
    return raw.hex() if any(raw) else None


def _json_status(status: dict[str, Any]) -> str:
    code = status.get("code", 0)
    if isinstance(code, str):
        name = _STATUS_NAMES.get(code.upper())
        if name is not None:
            return name
        if code.isascii() and code.isdigit() and len(code) <= 10:
            return _STATUS.get(int(code), "UNSET")
        raise SpanRejected("'status.code' must be a status code name (STATUS_CODE_OK) or number")
    return _STATUS.get(code, "UNSET") if isinstance(code, int) else "UNSET"


def _json_span(decoded: DecodedRequest, span: dict[str, Any]) -> SpanRow | None:
    span = _dict(span, "a span")
    parent_raw = _get(span, "parentSpanId", "parent_span_id", "")
    parent: str | Literal[False] | None = None
    if parent_raw:
        parent = _json_id(parent_raw, 8) or False
    status = _dict(span.get("status") or {}, "'status'")
    name = span.get("name", "")
    flat = _json_attributes(_list(span, "attributes", "attributes"))
    events = []
    for event in _list(span, "events", "events"):
        event = _dict(event, "an event")
        events.append(
            {
                "name": str(event.get("name", "")),
                "timestamp": event_time(_nanos(_get(event, "timeUnixNano", "time_unix_nano", 0), "timeUnixNano")),
                "attributes": _json_attributes(_list(event, "attributes", "attributes")),
            }
        )
    return span_row(
        decoded,
        _json_id(_get(span, "traceId", "trace_id"), 16),
        _json_id(_get(span, "spanId", "span_id"), 8),
        parent,
        name if isinstance(name, str) else str(name),
        _nanos(_get(span, "startTimeUnixNano", "start_time_unix_nano", 0), "startTimeUnixNano"),
        _nanos(_get(span, "endTimeUnixNano", "end_time_unix_nano", 0), "endTimeUnixNano"),
        _json_status(status),
        str(status.get("message", "")),
        flat.get(SPAN_KIND_ATTRIBUTE),
        nested_attributes(flat),
        events,
    )


def _decode_json(payload: bytes, decoded: DecodedRequest) -> None:
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput("The request body is not valid JSON.") from exc
    try:
        document = _dict(document, "The request body")
        for resource_spans in _list(document, "resourceSpans", "resource_spans"):
            resource_spans = _dict(resource_spans, "a resourceSpans entry")
            resource_obj = _dict(resource_spans.get("resource") or {}, "'resource'")
            resource = _json_attributes(_list(resource_obj, "attributes", "attributes"))
            batch = ResourceBatch(project_name=_project_name(resource), resource_attributes=resource)
            for scope_spans in _list(resource_spans, "scopeSpans", "scope_spans"):
                scope_spans = _dict(scope_spans, "a scopeSpans entry")
                for span in _list(scope_spans, "spans", "spans"):
                    try:
                        row = _json_span(decoded, span)
                    except SpanRejected as exc:
                        decoded.reject(str(exc))
                        continue
                    if row is not None:
                        batch.rows.append(row)
            decoded.batches.append(batch)
    except _Shape as exc:
        raise InvalidInput(f"The request body is not an OTLP ExportTraceServiceRequest: {exc}.") from exc
    except SpanRejected as exc:  # outside any span: the resource itself
        raise InvalidInput(f"The request body's resource cannot be stored: {exc}.") from exc
    except (binascii.Error, OverflowError) as exc:
        raise InvalidInput("The request body is not an OTLP ExportTraceServiceRequest.") from exc
