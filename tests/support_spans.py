"""Arrangement helpers for span tests: OTLP payload builders and direct database set-up."""

from __future__ import annotations

import gzip
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import (
    ResourceSpans,
    ScopeSpans,
    Span,
    Status,
)

from evalplane.domains.spans import service
from evalplane.ingest import otlp
from tests.arrange import in_db, user_key  # noqa: F401 - user_key is re-exported for the span tests
from tests.support import Server, unique

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def new_trace_id() -> str:
    return secrets.token_hex(16)


def new_span_id() -> str:
    return secrets.token_hex(8)


def llm_attributes(i: int = 0, *, model: str = "gpt-4o-mini") -> dict[str, Any]:
    """Flat OpenInference attributes of a typical LLM span (about 2 KB)."""
    question = f"Question {i}: " + "what does the span filter language support? " * 12
    answer = f"Answer {i}: " + "it supports comparisons, IN, LIKE and boolean logic. " * 12
    return {
        "openinference.span.kind": "LLM",
        "llm.model_name": model,
        "llm.provider": "openai",
        "llm.invocation_parameters": '{"temperature": 0.2}',
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "You are a helpful assistant.",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.content": question,
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": answer,
        "llm.token_count.prompt": 120 + i,
        "llm.token_count.completion": 80,
        "llm.token_count.total": 200 + i,
        "input.value": question,
        "output.value": answer,
        "metadata.score": 0.5,
        "metadata.cached": False,
        "tag.tags": ["a", "b"],
    }


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, (list, tuple)):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    return AnyValue(string_value=str(value))


def key_values(attributes: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attributes.items()]


def span_pb(
    *,
    trace_id: str | bytes | None = None,
    span_id: str | bytes | None = None,
    parent_id: str | None = None,
    name: str = "llm-call",
    start_ns: int | None = None,
    duration_ms: float = 250.0,
    attributes: dict[str, Any] | None = None,
    error: str | None = None,
) -> Span:
    start_ns = start_ns or time.time_ns() - 60_000_000_000
    span = Span(
        trace_id=trace_id if isinstance(trace_id, bytes) else bytes.fromhex(trace_id or new_trace_id()),
        span_id=span_id if isinstance(span_id, bytes) else bytes.fromhex(span_id or new_span_id()),
        name=name,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + int(duration_ms * 1_000_000),
        attributes=key_values(attributes if attributes is not None else llm_attributes()),
    )
    if parent_id:
        span.parent_span_id = bytes.fromhex(parent_id)
    if error:
        span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=error))
    return span


def request_pb(spans: list[Span], project: str | None) -> bytes:
    resource_attributes = {"service.name": "tests"}
    if project is not None:
        resource_attributes["openinference.project.name"] = project
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])])
    request.resource_spans[0].resource.attributes.extend(key_values(resource_attributes))
    return request.SerializeToString()


def export(
    server: Server, body: bytes, *, space_id: str | None, key: str | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    """POST /v1/traces the way an OTLP exporter does (key without 'Bearer', like arize-otel)."""
    sent = dict(PROTOBUF)
    sent["authorization"] = server.admin_key if key is None else key
    if space_id:
        sent["arize-space-id"] = space_id
    sent.update(headers or {})
    return httpx.post(f"{server.base_url}/v1/traces", content=body, headers=sent, timeout=30)


def export_response(response: httpx.Response) -> ExportTraceServiceResponse:
    assert response.status_code == 200, response.text
    return ExportTraceServiceResponse.FromString(response.content)


def send_spans(
    server: Server, space_id: str, project: str, outputs: list[str | None], *, age: timedelta = timedelta(minutes=5)
) -> None:
    """One LLM span per output, ``age`` ago and a millisecond apart; None leaves the output out."""
    start_ns = int((datetime.now(UTC) - age).timestamp() * 1e9)
    spans = []
    for i, output in enumerate(outputs):
        attributes = llm_attributes(i)
        if output is None:
            attributes.pop("output.value")
        else:
            attributes["output.value"] = output
        spans.append(span_pb(start_ns=start_ns + i * 1_000_000, attributes=attributes))
    export_response(export(server, request_pb(spans, project), space_id=space_id))


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1)


def list_spans(http: httpx.Client, project_id: str, **body: Any) -> dict[str, Any]:
    params = {k: body.pop(k) for k in ("limit", "cursor") if k in body}
    response = http.post("/v2/spans", params=params, json={"project_id": project_id, **body})
    assert response.status_code == 200, response.text
    return response.json()


def evaluations(http: httpx.Client, project_id: str) -> list[list[dict[str, Any]]]:
    """The evaluations on each span of a project (up to 500 spans), in the order the API lists them."""
    response = http.post("/v2/spans", params={"limit": 500}, json={"project_id": project_id})
    assert response.status_code == 200, response.text
    return [span["evaluations"] for span in response.json()["spans"]]


def project_id_named(http: httpx.Client, space_id: str, name: str) -> str:
    projects = http.get("/v2/projects", params={"space_id": space_id, "name": name}).json()["projects"]
    return next(p["id"] for p in projects if p["name"] == name)


def new_project_name() -> str:
    return unique("proj")


# ---------------------------------------------------------------- direct database arrangement


# One way to reach the server's database and to make a user with a key: tests/arrange.py.
_run_db = in_db


def add_evaluation(server: Server, project_id: str, span_id: str, **values: Any) -> None:
    """Write an evaluation result on a span, as the engine will."""
    from sqlalchemy import select

    from evalplane.core.ids import Kind, decode_id
    from evalplane.db.models import Span as SpanRow
    from evalplane.db.models import SpanEvaluation

    async def work(session: Any) -> None:
        row_id = await session.scalar(
            select(SpanRow.id).where(
                SpanRow.project_id == decode_id(Kind.PROJECT, project_id), SpanRow.span_id == span_id
            )
        )
        session.add(SpanEvaluation(span_row_id=row_id, **values))

    _run_db(server, work)


def count_span_rows(server: Server, project_id: str) -> int:
    from sqlalchemy import func, select

    from evalplane.core.ids import Kind, decode_id
    from evalplane.db.models import Span as SpanRow

    async def work(session: Any) -> int:
        return await session.scalar(
            select(func.count()).select_from(SpanRow).where(SpanRow.project_id == decode_id(Kind.PROJECT, project_id))
        )

    return _run_db(server, work)


# Without a server: decoded exports for writer-level tests (a space: tests.arrange.a_space).


def decoded(spans: int) -> otlp.DecodedRequest:
    body = request_pb([span_pb(name=f"s{i}") for i in range(spans)], new_project_name())
    return otlp.decode(body, otlp.PROTOBUF, service.prepare_attributes)
