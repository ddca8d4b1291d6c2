"""Span export over Flight: ``spans.export_to_df`` / ``export_to_parquet`` (GetFlightInfo with
the SDK's ``RecordQueryDescriptor``, then DoGet of the ticket it returns).

An export lists what ``POST /v2/spans`` lists for the same project, window and filter (its
``where`` is a span filter of the same language), each span flattened into the SDK's
columns: ``context.span_id``, ``context.trace_id``, ``parent_id``, ``name``, ``span_kind``,
``status_code``, ``status_message``, ``start_time`` / ``end_time`` (nanoseconds), ``time``,
``events``, ``attributes.<dotted path>`` (lists of objects as lists of JSON texts, metadata
as JSON text), ``eval.<name>.label|score|explanation`` (``trace_eval.`` / ``session_eval.``
on the root spans that show those) and ``annotation.<name>.label|score|text``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
from pyarrow import flight
from sqlalchemy import func, select

from evalplane.api.routers.spans import span_to_wire
from evalplane.core.clock import as_utc
from evalplane.core.errors import InvalidInput, NotFound
from evalplane.core.ids import Kind, decode_id, encode_id
from evalplane.db.models import Project, Span
from evalplane.db.paging import PageRequest
from evalplane.domains import common
from evalplane.domains.spans import repository, service
from evalplane.engine.sampling import sampled
from evalplane.flight.protocol import Fields
from evalplane.flight.registry import UNWRAPPED, FlightCall, Routes, record_stream
from evalplane.ingest.arrow_spans import LIST_OF_OBJECTS

routes = Routes()

EXPORT_KIND = "export_spans"
MAX_CHUNK = 5000
DEFAULT_CHUNK = 1000
# Objects exported whole as JSON text (the SDK parses them into dicts).
_JSON_COLUMNS = frozenset({"attributes.metadata", "attributes.llm.prompt_template.variables"})
_ALWAYS = ("context.span_id", "context.trace_id", "time")
_FIXED_TYPES = {
    "context.span_id": pa.string(),
    "context.trace_id": pa.string(),
    "parent_id": pa.string(),
    "name": pa.string(),
    "span_kind": pa.string(),
    "status_code": pa.string(),
    "status_message": pa.string(),
    "start_time": pa.int64(),
    "end_time": pa.int64(),
    "time": pa.timestamp("ns", tz="UTC"),
    "events": pa.string(),
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@routes.info(UNWRAPPED)
def export_info(call: FlightCall, fields: Fields, descriptor: flight.FlightDescriptor) -> flight.FlightInfo:
    """Plan an export: check access, count the spans, and hand out a ticket that DoGet redeems
    (the ticket is checked again there, so it grants nothing by itself)."""
    environment = (fields.text("environment", required=False) or "").upper()
    if environment != "TRACING":
        raise InvalidInput("Only tracing data (spans) can be exported from this server.")
    query = _Query.of(call, fields)
    total = call.run(query.count(call))
    ticket = orjson.dumps({EXPORT_KIND: query.ticket()})
    schema = pa.schema([pa.field(name, kind) for name, kind in _FIXED_TYPES.items()])
    endpoint = flight.FlightEndpoint(ticket, [])
    return flight.FlightInfo(schema, descriptor, [endpoint], total, -1)


@routes.get(EXPORT_KIND)
def export_spans(call: FlightCall, fields: Fields) -> flight.FlightDataStream:
    query = _Query.from_ticket(call, fields)
    call.run(query.check(call))
    schema = _schema(_Columns(query.columns), query.pages(call))
    return record_stream(schema, (_batch(chunk, schema) for chunk in query.pages(call)))


class _Query:
    """One export: the project, the window (end exclusive, as the SDK documents it), the filter,
    the columns asked for, the chunk size and the share of traces to keep."""

    def __init__(
        self,
        project_id: int,
        start: datetime,
        end: datetime,
        where: str | None,
        columns: list[str] | None,
        chunk: int,
        sample_rate: float | None,
    ) -> None:
        self.project_id = project_id
        self.start = start
        self.end = end
        self.where = where
        self.columns = columns
        self.chunk = chunk
        self.sample_rate = sample_rate
        self.span_query = service.SpanQuery(project_id=project_id, start_time=start, end_time=end, filter=where)
        service.validate_query(self.span_query)

    @classmethod
    def of(cls, call: FlightCall, fields: Fields) -> _Query:
        space_hint = fields.require("space_id")
        name = fields.require("model_id")
        start = _timestamp(fields.values.get("start_time"), "start_time")
        end = _timestamp(fields.values.get("end_time"), "end_time") - timedelta(microseconds=1)
        if start > end:
            raise InvalidInput("'start_time' must be before 'end_time'.")
        where = (fields.text("filter_expression", required=False) or "").strip() or None
        columns = _columns(fields.values.get("projected_columns"))
        chunk = _chunk(fields.values.get("stream_chunk_size"))
        rate = _rate(fields.values.get("sample_rate"))

        async def project() -> int:
            async with call.state.db.session() as session:
                space_id = await service.resolve_ingest_space(session, call.principal, space_hint)
                found = await session.scalar(
                    select(Project.id).where(Project.space_id == space_id, Project.name == name)
                )
                if found is None:
                    raise NotFound(f"Project '{name}' was not found in this space.")
                await common.visible_project(session, found, call.principal)
                return found

        return cls(call.run(project()), start, end, where, columns, chunk, rate)

    def ticket(self) -> dict[str, Any]:
        return {
            "project_id": encode_id(Kind.PROJECT, self.project_id),
            "start_us": _micros(self.start),
            "end_us": _micros(self.end),
            "where": self.where,
            "columns": self.columns,
            "chunk": self.chunk,
            "sample_rate": self.sample_rate,
        }

    @classmethod
    def from_ticket(cls, call: FlightCall, fields: Fields) -> _Query:
        raw = fields.values
        try:
            return cls(
                decode_id(Kind.PROJECT, str(raw["project_id"]), field="project_id"),
                _EPOCH + timedelta(microseconds=int(raw["start_us"])),
                _EPOCH + timedelta(microseconds=int(raw["end_us"])),
                raw.get("where"),
                _columns(raw.get("columns")),
                _chunk(raw.get("chunk")),
                _rate(raw.get("sample_rate")),
            )
        except (KeyError, TypeError, ValueError, OverflowError):
            raise InvalidInput("The export ticket is not valid.") from None

    async def check(self, call: FlightCall) -> None:
        async with call.state.db.session() as session:
            await common.visible_project(session, self.project_id, call.principal)

    async def count(self, call: FlightCall) -> int:
        async with call.state.db.session() as session:
            await common.visible_project(session, self.project_id, call.principal)
            stmt = repository.in_window(self.project_id, self.start, self.end)
            if self.where is not None:
                stmt = repository.apply_filter(stmt, self.where, session.get_bind().dialect.name)
            if self.sample_rate is None:
                counted = select(func.count()).select_from(stmt.with_only_columns(Span.id).subquery())
                return int(await session.scalar(counted) or 0)
            traces = (await session.execute(stmt.with_only_columns(Span.trace_id))).scalars()
            return sum(1 for trace_id in traces if sampled(trace_id, self.sample_rate))

    def pages(self, call: FlightCall) -> Iterator[list[dict[str, Any]]]:
        """The spans as records, a page at a time, in the order ``/v2/spans`` lists them."""
        cursor: str | None = None
        while True:
            page, cursor = call.run(self._page(call, cursor))
            if page:
                yield page
            if cursor is None:
                return

    async def _page(self, call: FlightCall, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        async with call.state.db.session() as session:
            page = await service.list_spans(
                session, call.principal, self.span_query, PageRequest(self.chunk, cursor), call.state.cursors
            )
        records = [
            _record(
                span,
                [*page.evaluations.get(span.id, []), *page.scoped.get(span.id, [])],
                page.annotations.get(span.id, []),
            )
            for span in page.spans
            if sampled(span.trace_id, self.sample_rate)
        ]
        return [_Columns(self.columns).pick(r) for r in records], page.next_cursor if page.has_more else None


def _record(span: Span, evaluations: list[Any], annotations: list[Any]) -> dict[str, Any]:
    """One span in the SDK's export columns, from the same wire form ``/v2/spans`` answers with."""
    wire = span_to_wire(span, evaluations, annotations=annotations)
    record: dict[str, Any] = {
        "context.span_id": wire["context"]["span_id"],
        "context.trace_id": wire["context"]["trace_id"],
        "parent_id": wire.get("parent_id"),
        "name": wire["name"],
        "span_kind": wire["kind"],
        "status_code": wire["status_code"],
        "status_message": wire["status_message"],
        "start_time": _nanos(span.start_time),
        "end_time": _nanos(span.end_time),
        "time": as_utc(span.start_time),
        "events": orjson.dumps(wire["events"]).decode() if wire["events"] else None,
    }
    _flatten("attributes", wire["attributes"], record)
    for evaluation in wire["evaluations"]:
        metadata = evaluation.get("metadata") or {}
        prefix = {"TRACE": "trace_eval", "SESSION": "session_eval"}.get(str(metadata.get("scope")), "eval")
        for part in ("label", "score", "explanation"):
            if part in evaluation:
                record[f"{prefix}.{evaluation['name']}.{part}"] = evaluation[part]
    for annotation in wire.get("annotations") or []:
        if isinstance(annotation, dict) and "name" in annotation:
            for part in ("label", "score", "text"):
                if annotation.get(part) is not None:
                    record[f"annotation.{annotation['name']}.{part}"] = annotation[part]
    return record


def _flatten(prefix: str, value: Any, into: dict[str, Any]) -> None:
    if prefix in _JSON_COLUMNS:
        into[prefix] = value if isinstance(value, str) else orjson.dumps(value).decode()
    elif prefix in LIST_OF_OBJECTS and isinstance(value, list):
        into[prefix] = [orjson.dumps(_flat_object(v)).decode() if isinstance(v, dict) else str(v) for v in value]
    elif isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}", item, into)
    else:
        into[prefix] = value


def _flat_object(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"message": {"role": "user"}}`` as OpenInference writes one list item: ``{"message.role": "user"}``."""
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            flat.update(_flat_object(item, f"{name}."))
        else:
            flat[name] = item
    return flat


class _Columns:
    """The columns an export keeps: all, or those named (a name also keeps the columns below it)."""

    def __init__(self, names: list[str] | None) -> None:
        self.names = names

    def pick(self, record: dict[str, Any]) -> dict[str, Any]:
        if self.names is None:
            return record
        return {k: v for k, v in record.items() if k in _ALWAYS or any(_under(k, n) for n in self.names)}


def _under(column: str, name: str) -> bool:
    return column == name or column.startswith(name + ".")


def _schema(columns: _Columns, pages: Iterable[list[dict[str, Any]]]) -> pa.Schema:
    """One Arrow type per column, learnt from every record (a first pass over the pages)."""
    kinds: dict[str, set[str]] = {}
    for page in pages:
        for record in page:
            for name, value in record.items():
                seen = kinds.setdefault(name, set())
                if value is not None and name not in _FIXED_TYPES:
                    seen.add(_kind(value))
    fields = [pa.field(name, kind) for name, kind in _FIXED_TYPES.items() if name in kinds or name in _ALWAYS]
    for name, seen in kinds.items():
        if name not in _FIXED_TYPES:
            fields.append(pa.field(name, _type_for(seen)))
    return pa.schema(fields)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if -(2**63) <= value < 2**63 else "json"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "strings"
    return "json"


def _type_for(kinds: set[str]) -> pa.DataType:
    if not kinds:
        return pa.null()
    if kinds == {"bool"}:
        return pa.bool_()
    if kinds == {"int"}:
        return pa.int64()
    if kinds <= {"int", "float"}:
        return pa.float64()
    if kinds == {"strings"}:
        return pa.list_(pa.string())
    return pa.string()


def _batch(records: list[dict[str, Any]], schema: pa.Schema) -> pa.RecordBatch:
    arrays = [pa.array([_cell(r.get(f.name), f.type) for r in records], type=f.type) for f in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _cell(value: Any, kind: pa.DataType) -> Any:
    """``value`` as a cell of type ``kind``; a value of another kind (a span stored between the
    two passes) is left empty rather than failing the export."""
    if value is None or pa.types.is_null(kind):
        return None
    if pa.types.is_string(kind):
        return value if isinstance(value, str) else orjson.dumps(value).decode()
    if pa.types.is_floating(kind):
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    if pa.types.is_integer(kind):
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if pa.types.is_boolean(kind):
        return value if isinstance(value, bool) else None
    if pa.types.is_list(kind):
        return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None
    return value


# ---------------------------------------------------------------- reading the descriptor


def _timestamp(value: Any, name: str) -> datetime:
    """A protobuf Timestamp as its JSON form writes it (RFC 3339 text), or seconds."""
    if isinstance(value, str) and value:
        try:
            return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            pass
    if isinstance(value, dict) and "seconds" in value:
        value = value["seconds"]
    if isinstance(value, int | str) and str(value).lstrip("-").isdigit() and len(str(value)) < 15:
        return _EPOCH + timedelta(seconds=int(value))
    raise InvalidInput(f"'{name}' is required and must be a time.")


def _wrapped(value: Any) -> Any:
    """A protobuf wrapper (Int64Value, DoubleValue) as JSON writes it: the bare value, or {value: ...}."""
    return value.get("value") if isinstance(value, dict) else value


def _chunk(value: Any) -> int:
    value = _wrapped(value)
    if value is None:
        return DEFAULT_CHUNK
    try:
        size = int(value)
    except (TypeError, ValueError):
        raise InvalidInput("'stream_chunk_size' must be an integer.") from None
    if not 1 <= size <= MAX_CHUNK:
        raise InvalidInput(f"'stream_chunk_size' must be between 1 and {MAX_CHUNK}.")
    return min(size, 500)  # pages come from /v2's listing, which serves at most 500 spans at once


def _rate(value: Any) -> float | None:
    value = _wrapped(value)
    if value is None:
        return None
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise InvalidInput("'sample_rate' must be a number.") from None
    if not 1e-6 <= rate <= 1:
        raise InvalidInput("'sample_rate' must be between 0.000001 and 1.")
    return None if rate == 1 else rate


def _columns(value: Any) -> list[str] | None:
    if value is None or value == []:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value) or len(value) > 1000:
        raise InvalidInput("'projected_columns' must be a list of column names.")
    return list(value)


def _micros(value: datetime) -> int:
    return (as_utc(value) - _EPOCH) // timedelta(microseconds=1)


def _nanos(value: datetime) -> int:
    return _micros(value) * 1000
