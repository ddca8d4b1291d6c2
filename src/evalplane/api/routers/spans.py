"""Spans and traces: list spans (``POST /v2/spans``), delete spans, list traces."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from evalplane.api import wire
from evalplane.api.deps import Caller, State
from evalplane.api.routers.datasets import AnnotateRecords, annotation_items
from evalplane.core.clock import as_utc
from evalplane.core.ids import Kind, decode_id, encode_id
from evalplane.db.models import SessionEvaluation, Span, SpanEvaluation, TraceEvaluation
from evalplane.domains.annotations import spans as span_annotations
from evalplane.domains.annotations.spans import ShownAnnotation
from evalplane.domains.spans import service
from evalplane.domains.spans.columns import ColumnSelection, truncate_strings
from evalplane.domains.spans.service import SpanQuery

router = APIRouter(prefix="/v2")

ALL_COLUMNS = ColumnSelection()
ColumnName = Annotated[str, Field(min_length=1)]
ColumnList = Annotated[list[ColumnName] | None, Field(min_length=1, max_length=1000)]


class ListSpansBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_id: str
    start_time: datetime | None = None
    end_time: datetime | None = None
    filter: str | None = None
    included_columns: ColumnList = None
    excluded_columns: ColumnList = None
    truncate_string_length: int | None = None


class ListTracesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_id: str
    start_time: datetime | None = None
    end_time: datetime | None = None
    filter: str | None = None


class AnnotateSpansBody(AnnotateRecords):
    project_id: str
    start_time: datetime | None = None
    end_time: datetime | None = None
    granularity: str | None = None


class DeleteSpansBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_id: str
    span_ids: Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(min_length=1, max_length=5000)]
    start_time: datetime | None = None
    end_time: datetime | None = None


def timestamp(value: datetime) -> str:
    """RFC 3339 with the microseconds the database keeps (span times are finer than ms)."""
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def evaluation_to_wire(evaluation: SpanEvaluation | TraceEvaluation | SessionEvaluation) -> dict[str, Any]:
    """An evaluation as the SDK's ``Evaluation``; a trace or session result says so in its
    metadata (``scope`` TRACE or SESSION, with the ``trace_id`` or ``session_id``)."""
    out: dict[str, Any] = {"name": evaluation.name}
    if evaluation.label is not None:
        out["label"] = evaluation.label
    if evaluation.score is not None:
        out["score"] = evaluation.score
    if evaluation.explanation is not None:
        out["explanation"] = evaluation.explanation
    metadata = dict(evaluation.metadata_ or {})
    if isinstance(evaluation, TraceEvaluation):
        metadata.update(scope="TRACE", trace_id=evaluation.trace_id)
    elif isinstance(evaluation, SessionEvaluation):
        metadata.update(scope="SESSION", session_id=evaluation.session_id)
    if evaluation.task_id is not None:
        metadata["task_id"] = encode_id(Kind.TASK, evaluation.task_id)
    if evaluation.task_run_id is not None:
        metadata["task_run_id"] = encode_id(Kind.TASK_RUN, evaluation.task_run_id)
    if metadata:
        out["metadata"] = metadata
    return out


def annotation_to_wire(annotation: ShownAnnotation) -> dict[str, Any]:
    """An annotation as the SDK's ``Annotation``: fields without a value are left out."""
    out: dict[str, Any] = {"name": annotation.name}
    for field in ("label", "score", "text"):
        if getattr(annotation, field) is not None:
            out[field] = getattr(annotation, field)
    out["updated_at"] = timestamp(annotation.updated_at)
    if annotation.annotator_id is not None:
        out["annotator"] = {
            "id": encode_id(Kind.USER, annotation.annotator_id),
            "email": annotation.annotator_email or "",
        }
    return out


def span_to_wire(
    span: Span,
    evaluations: Sequence[SpanEvaluation | TraceEvaluation | SessionEvaluation],
    columns: ColumnSelection = ALL_COLUMNS,
    truncate: int | None = None,
    annotations: Sequence[ShownAnnotation] = (),
) -> dict[str, Any]:
    attributes, chosen = columns.apply(span.attributes, [evaluation_to_wire(e) for e in evaluations])
    if truncate is not None:
        attributes = truncate_strings(attributes, truncate)
    out: dict[str, Any] = {
        "name": span.name,
        "context": {"trace_id": span.trace_id, "span_id": span.span_id},
        "kind": span.span_kind,
        "start_time": timestamp(span.start_time),
        "end_time": timestamp(span.end_time),
        "status_code": span.status_code,
        "status_message": span.status_message,
        "attributes": attributes,
        "annotations": [annotation_to_wire(a) for a in annotations],
        "trace_annotations": [],
        "evaluations": chosen,
        "events": span.events,
    }
    if span.parent_id is not None:
        out["parent_id"] = span.parent_id
    return out


def _query(body: ListSpansBody | ListTracesBody) -> SpanQuery:
    included = getattr(body, "included_columns", None)
    excluded = getattr(body, "excluded_columns", None)
    return SpanQuery(
        project_id=decode_id(Kind.PROJECT, body.project_id, field="project_id"),
        start_time=body.start_time,
        end_time=body.end_time,
        filter=body.filter,
        columns=ColumnSelection(
            included=tuple(included) if included is not None else None,
            excluded=tuple(excluded) if excluded is not None else None,
        ),
        truncate_string_length=getattr(body, "truncate_string_length", None),
    )


@router.post("/spans", tags=["Spans"], summary="List spans")
async def list_spans(
    body: ListSpansBody,
    state: State,
    caller: Caller,
    limit: Annotated[int, wire.limit_param(500)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> wire.JSONResponse:
    query = _query(body)
    async with state.db.session() as session:
        page = await service.list_spans(session, caller, query, wire.page_request(limit, cursor), state.cursors)
    spans = [
        span_to_wire(
            s, _all_evaluations(page, s), query.columns, query.truncate_string_length, page.annotations.get(s.id, ())
        )
        for s in page.spans
    ]
    return wire.JSONResponse({"spans": spans, "pagination": _pagination(page.has_more, page.next_cursor)})


@router.post("/spans/annotate", tags=["Spans"], status_code=202, response_class=Response, summary="Annotate spans")
async def annotate_spans(body: AnnotateSpansBody, state: State, caller: Caller) -> Response:
    project_id = decode_id(Kind.PROJECT, body.project_id, field="project_id")
    async with state.db.session() as session:
        await span_annotations.annotate(
            session,
            caller,
            project_id,
            annotation_items(body),
            granularity=body.granularity,
            start_time=body.start_time,
            end_time=body.end_time,
        )
    return Response(status_code=202)


@router.delete("/spans", tags=["Spans"], summary="Delete spans")
async def delete_spans(body: DeleteSpansBody, state: State, caller: Caller) -> wire.JSONResponse:
    project_id = decode_id(Kind.PROJECT, body.project_id, field="project_id")
    async with state.db.session() as session:
        deleted, kept = await service.delete_spans(
            session, caller, project_id, body.span_ids, body.start_time, body.end_time
        )
    return wire.JSONResponse({"completed": True, "deleted_span_ids": deleted, "not_deleted_span_ids": kept})


@router.post("/traces", tags=["Traces"], summary="List traces")
async def list_traces(
    body: ListTracesBody,
    state: State,
    caller: Caller,
    limit: Annotated[int, wire.limit_param(50)] = 25,
    cursor: Annotated[str | None, Query()] = None,
) -> wire.JSONResponse:
    query = _query(body)
    async with state.db.session() as session:
        page = await service.list_traces(session, caller, query, wire.page_request(limit, cursor), state.cursors)
    traces = []
    for entry in page.traces:
        traces.append(
            {
                "trace_id": entry.root.trace_id,
                "root_span_id": entry.root.span_id,
                "start_time": timestamp(min(s.start_time for s in entry.spans)),
                "end_time": timestamp(max(s.end_time for s in entry.spans)),
                "spans_truncated": entry.truncated,
                "spans": [
                    span_to_wire(s, _all_evaluations(page, s), annotations=page.annotations.get(s.id, ()))
                    for s in entry.spans
                ],
            }
        )
    return wire.JSONResponse({"traces": traces, "pagination": _pagination(page.has_more, page.next_cursor)})


def _all_evaluations(
    page: service.SpanPage | service.TracePage, span: Span
) -> list[SpanEvaluation | TraceEvaluation | SessionEvaluation]:
    """The span's own evaluations, then those of its trace and its session when it shows them."""
    return [*page.evaluations.get(span.id, []), *page.scoped.get(span.id, [])]


def _pagination(has_more: bool, next_cursor: str | None) -> dict[str, Any]:
    return {"next_cursor": next_cursor, "has_more": True} if has_more and next_cursor else {"has_more": False}
