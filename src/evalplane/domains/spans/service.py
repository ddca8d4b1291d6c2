"""Spans: accepting decoded OTLP batches into projects, and listing, tracing and deleting spans.

Where ingested spans land:
- The space is the ``arize-space-id`` / ``space_id`` header: a space id, or the exact name
  of a space the key can see. Without it, the key's only visible space is used; a key that
  sees several spaces uses the one named ``default``, and otherwise must send the header.
- The project is the resource attribute ``openinference.project.name`` (or the older
  ``model_id``), ``default`` when absent; it is created in that space on first use.
- Writing spans needs MEMBER or ADMIN in the space.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.clock import as_utc, utcnow
from evalplane.core.cursors import CursorCodec
from evalplane.core.errors import InvalidInput, NotFound, UnknownId, Unprocessable
from evalplane.core.ids import Kind, decode_id
from evalplane.db.models import Space, Span, SpanEvaluation
from evalplane.db.paging import PageRequest
from evalplane.domains import common
from evalplane.domains.access.principal import Principal
from evalplane.domains.annotations.spans import ShownAnnotation, annotations_for
from evalplane.domains.spans import filtering, repository, scoped
from evalplane.domains.spans.columns import ColumnSelection
from evalplane.domains.spans.openinference import metadata_as_object
from evalplane.ingest.otlp import DecodedRequest

DEFAULT_SPACE_NAME = "default"
LIST_WINDOW = timedelta(days=7)
DELETE_WINDOW = timedelta(days=730)
MAX_SPANS_PER_TRACE = 1000
TRACE_PAGE_ALLOWANCE = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


# ---------------------------------------------------------------- ingestion

# Storage conventions applied to each span's attributes while decoding, before serialization.
prepare_attributes = metadata_as_object


async def resolve_ingest_space(session: AsyncSession, principal: Principal, hint: str | None) -> int:
    """The space spans go to, by the rule in this module's docstring (404 if not visible)."""
    hint = (hint or "").strip()
    if hint:
        try:
            space_id = decode_id(Kind.SPACE, hint, field="arize-space-id")
        except UnknownId:
            space_id = await _visible_space_named(session, principal, hint)
        await common.visible_space(session, space_id, principal)
        return space_id
    visible = principal.visible_space_ids()
    if visible is not None and len(visible) == 1:
        return next(iter(visible))
    if visible is None and await session.scalar(select(Space.id).limit(2).offset(1)) is None:
        only = await session.scalar(select(Space.id))
        if only is not None:
            return only
    try:
        return await _visible_space_named(session, principal, DEFAULT_SPACE_NAME)
    except NotFound:
        raise InvalidInput(
            "Send the 'arize-space-id' header: this API key can see several spaces and none is named 'default'.",
            field="arize-space-id",
        ) from None


async def _visible_space_named(session: AsyncSession, principal: Principal, name: str) -> int:
    stmt = select(Space.id).where(Space.name == name).order_by(Space.id)
    scope = common.space_scope(Space.id, principal)
    if scope is not None:
        stmt = stmt.where(scope)
    found = await session.scalar(stmt)
    if found is None:
        raise NotFound(f"Space '{name}' was not found.")
    return found


async def ingest_space(session: AsyncSession, principal: Principal, space_hint: str | None) -> int:
    """The space an export's spans go to; the caller must be allowed to write there."""
    space_id = await resolve_ingest_space(session, principal, space_hint)
    principal.require_write(space_id, "Space")
    return space_id


async def store(session: AsyncSession, space_id: int, decoded: DecodedRequest) -> None:
    """Store every decoded span in its project of ``space_id``; spans already stored are left as they are."""
    now = utcnow()
    projects: dict[str, int] = {}
    for batch in decoded.batches:
        if not batch.rows:
            continue
        if len(batch.project_name) > 255:
            decoded.reject(
                "the project name (openinference.project.name) is longer than 255 characters", len(batch.rows)
            )
            batch.rows = []
            continue
        if batch.resource_json is None:
            decoded.reject("resource attribute integers must fit in 64 bits", len(batch.rows))
            batch.rows = []
            continue
        project_id = projects.get(batch.project_name)
        if project_id is None:
            project_id = projects[batch.project_name] = await repository.ensure_project(
                session, space_id, batch.project_name
            )
        await repository.insert_span_rows(session, project_id, batch.resource_json, now, batch.rows)


# ---------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class SpanQuery:
    project_id: int
    start_time: datetime | None = None
    end_time: datetime | None = None
    filter: str | None = None
    columns: ColumnSelection = field(default_factory=ColumnSelection)
    truncate_string_length: int | None = None

    def cursor_filters(self) -> dict[str, Any]:
        return {
            "project": self.project_id,
            "start": _micros(self.start_time) if self.start_time else None,
            "end": _micros(self.end_time) if self.end_time else None,
            "filter": self.filter,
            "included": list(self.columns.included) if self.columns.included is not None else None,
            "excluded": list(self.columns.excluded) if self.columns.excluded is not None else None,
            "truncate": self.truncate_string_length,
        }


@dataclass(frozen=True, slots=True)
class SpanPage:
    spans: list[Span]
    evaluations: dict[int, list[SpanEvaluation]]
    has_more: bool
    next_cursor: str | None
    # trace and session evaluations, on root spans only (see ``scoped``)
    scoped: dict[int, list[scoped.ScopedEvaluation]] = field(default_factory=dict)
    annotations: dict[int, list[ShownAnnotation]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TraceEntry:
    root: Span
    spans: list[Span]
    truncated: bool


@dataclass(frozen=True, slots=True)
class TracePage:
    traces: list[TraceEntry]
    evaluations: dict[int, list[SpanEvaluation]]
    has_more: bool
    next_cursor: str | None
    scoped: dict[int, list[scoped.ScopedEvaluation]] = field(default_factory=dict)
    annotations: dict[int, list[ShownAnnotation]] = field(default_factory=dict)


def validate_query(query: SpanQuery) -> None:
    if query.filter is not None and not query.filter.strip():
        raise InvalidInput("'filter' must not be empty; omit it to apply no filter.", field="filter")
    if query.filter is not None:
        filtering.parse_span_filter(query.filter)  # a bad filter is a 400 before any other work
    if query.columns.included is not None and query.columns.excluded is not None:
        raise Unprocessable("Send either 'included_columns' or 'excluded_columns', not both.")
    if query.truncate_string_length is not None and query.truncate_string_length < 1:
        raise Unprocessable("'truncate_string_length' must be a positive integer.")


def _window(query: SpanQuery, default_span: timedelta) -> tuple[datetime, datetime]:
    end = as_utc(query.end_time) if query.end_time else utcnow()
    start = as_utc(query.start_time) if query.start_time else end - default_span
    if start > end:
        raise InvalidInput("'start_time' must not be after 'end_time'.", field="start_time")
    return start, end


def _resume(
    codec: CursorCodec, page: PageRequest, scope: str, query: SpanQuery, default_span: timedelta
) -> tuple[datetime, datetime, tuple[datetime, str, str] | None]:
    """The window and position to continue from: a cursor pins the window it was issued for."""
    if not page.cursor:
        start, end = _window(query, default_span)
        return start, end, None
    position = codec.decode(page.cursor, scope, query.cursor_filters())
    try:
        start_us, end_us, last_us, trace_id, span_id = position
        return _from_micros(start_us), _from_micros(end_us), (_from_micros(last_us), str(trace_id), str(span_id))
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput("The 'cursor' is not valid.", field="cursor") from None


def _next_cursor(codec: CursorCodec, scope: str, query: SpanQuery, start: datetime, end: datetime, last: Span) -> str:
    position = [_micros(start), _micros(end), _micros(last.start_time), last.trace_id, last.span_id]
    return codec.encode(scope, query.cursor_filters(), position)


async def list_spans(
    session: AsyncSession, principal: Principal, query: SpanQuery, page: PageRequest, codec: CursorCodec
) -> SpanPage:
    validate_query(query)
    await common.visible_project(session, query.project_id, principal)
    start, end, after = _resume(codec, page, "spans", query, LIST_WINDOW)
    stmt = repository.in_window(query.project_id, start, end)
    if query.filter is not None:
        stmt = repository.apply_filter(stmt, query.filter, session.get_bind().dialect.name)
    spans = await repository.fetch(session, repository.newest_first(stmt, after).limit(page.limit + 1))
    has_more = len(spans) > page.limit
    spans = spans[: page.limit]
    cursor = _next_cursor(codec, "spans", query, start, end, spans[-1]) if has_more else None
    evaluations = await repository.evaluations_for(session, (s.id for s in spans))
    on_roots = await scoped.on_roots(session, query.project_id, spans)
    notes = await annotations_for(session, (s.id for s in spans))
    return SpanPage(
        spans=spans, evaluations=evaluations, has_more=has_more, next_cursor=cursor, scoped=on_roots, annotations=notes
    )


async def list_traces(
    session: AsyncSession, principal: Principal, query: SpanQuery, page: PageRequest, codec: CursorCodec
) -> TracePage:
    """Traces anchored on their root spans in the window, newest root first; a filter keeps
    the traces with at least one matching span in the window."""
    validate_query(query)
    await common.visible_project(session, query.project_id, principal)
    start, end, after = _resume(codec, page, "traces", query, LIST_WINDOW)
    roots_stmt = repository.in_window(query.project_id, start, end).where(Span.parent_id.is_(None))
    if query.filter is not None:
        matching = repository.in_window(query.project_id, start, end).with_only_columns(Span.trace_id)
        matching = repository.apply_filter(matching, query.filter, session.get_bind().dialect.name)
        roots_stmt = roots_stmt.where(Span.trace_id.in_(matching))
    roots = await repository.fetch(session, repository.newest_first(roots_stmt, after).limit(page.limit + 1))
    has_more = len(roots) > page.limit
    roots = roots[: page.limit]
    trace_ids = sorted({root.trace_id for root in roots})
    members = await repository.spans_of_traces(
        session, query.project_id, trace_ids, start, end, TRACE_PAGE_ALLOWANCE + 1
    )
    by_trace: dict[str, list[Span]] = defaultdict(list)
    for span in members:
        by_trace[span.trace_id].append(span)
    entries = []
    for root in roots:
        spans = by_trace.get(root.trace_id) or [root]
        entries.append(
            TraceEntry(root=root, spans=spans[:MAX_SPANS_PER_TRACE], truncated=len(spans) > MAX_SPANS_PER_TRACE)
        )
    shown = {span.id for entry in entries for span in entry.spans}
    evaluations = await repository.evaluations_for(session, shown)
    on_roots = await scoped.on_roots(session, query.project_id, (span for entry in entries for span in entry.spans))
    notes = await annotations_for(session, shown)
    cursor = _next_cursor(codec, "traces", query, start, end, roots[-1]) if has_more else None
    return TracePage(
        traces=entries,
        evaluations=evaluations,
        has_more=has_more,
        next_cursor=cursor,
        scoped=on_roots,
        annotations=notes,
    )


async def delete_spans(
    session: AsyncSession,
    principal: Principal,
    project_id: int,
    span_ids: list[str],
    start_time: datetime | None,
    end_time: datetime | None,
) -> tuple[list[str], list[str]]:
    """Delete spans by id inside the window; returns (deleted, not deleted) in request order."""
    project = await common.visible_project(session, project_id, principal)
    principal.require_write(project.space_id, "Project")
    start, end = _window(SpanQuery(project_id=project_id, start_time=start_time, end_time=end_time), DELETE_WINDOW)
    requested = list(dict.fromkeys(s.strip().lower() for s in span_ids))
    deleted = await repository.delete_spans(session, project_id, requested, start, end)
    await scoped.forget_emptied(session, project_id, deleted.trace_ids, deleted.session_ids)
    return [s for s in requested if s in deleted.span_ids], [s for s in requested if s not in deleted.span_ids]


def _micros(value: datetime) -> int:
    return (as_utc(value) - _EPOCH) // _US


def _from_micros(value: Any) -> datetime:
    if not isinstance(value, int):
        raise TypeError(value)
    return _EPOCH + timedelta(microseconds=value)
