"""OTLP/gRPC ingestion (TraceService/Export) driven by the real OpenTelemetry gRPC exporter
and a raw gRPC stub, against a real server process on each database."""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Sequence
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support import Api, Server
from tests.support_spans import (
    count_span_rows,
    list_spans,
    llm_attributes,
    new_project_name,
    new_span_id,
    new_trace_id,
    project_id_named,
    request_pb,
    span_pb,
    user_key,
)


def recorded_spans(project: str, names: Sequence[str]) -> tuple[ReadableSpan, ...]:
    """Finished SDK spans (a root and its children), as an exporter receives them."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"openinference.project.name": project}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span(names[0], attributes={"openinference.span.kind": "AGENT"}):
        for name in names[1:]:
            with tracer.start_as_current_span(name, attributes=llm_attributes()) as span:
                span.set_attribute("metadata.step", name)
    provider.shutdown()
    return memory.get_finished_spans()


def exporter(server: Server, key: str | None, space_id: str | None, **options: Any) -> OTLPSpanExporter:
    headers = {}
    if key is not None:
        headers["authorization"] = key
    if space_id is not None:
        headers["arize-space-id"] = space_id
    return OTLPSpanExporter(endpoint=server.otlp_grpc_endpoint, insecure=True, headers=headers, timeout=10, **options)


@pytest.fixture
def stub(server: Server) -> Iterator[TraceServiceStub]:
    """A raw TraceService client, to see the status codes exporters only log."""
    channel = grpc.insecure_channel(
        server.otlp_grpc_endpoint, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
    )
    yield TraceServiceStub(channel)
    channel.close()


def call(
    stub: TraceServiceStub, body: bytes, key: str | None, space_id: str | None = None, **options: Any
) -> ExportTraceServiceResponse:
    metadata = []
    if key is not None:
        metadata.append(("authorization", key))
    if space_id is not None:
        metadata.append(("arize-space-id", space_id))
    request = ExportTraceServiceRequest.FromString(body)
    return stub.Export(request, metadata=metadata, timeout=30, **options)


def refused(
    stub: TraceServiceStub, body: bytes, key: str | None, space_id: str | None, **options: Any
) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(stub, body, key, space_id, **options)
    return caught.value


def stored_names(http: httpx.Client, space_id: str, project: str) -> list[str]:
    projects = http.get("/v2/projects", params={"space_id": space_id, "name": project}).json()["projects"]
    if not projects:
        return []
    return sorted(s["name"] for s in list_spans(http, project_id_named(http, space_id, project), limit=500)["spans"])


def test_grpc_exporter_with_gzip_stores_spans_readable_through_v2(server: Server, api: Api, http: httpx.Client) -> None:
    space = api.space()
    project = new_project_name()
    spans = recorded_spans(project, ["agent", "llm-1", "llm-2"])
    sender = exporter(server, f"Bearer {server.admin_key}", space["id"], compression=grpc.Compression.Gzip)
    assert sender.export(spans) is SpanExportResult.SUCCESS
    sender.shutdown()

    stored = list_spans(http, project_id_named(http, space["id"], project))["spans"]
    by_name = {s["name"]: s for s in stored}
    assert sorted(by_name) == ["agent", "llm-1", "llm-2"]
    root = by_name["agent"]
    assert root["kind"] == "AGENT" and "parent_id" not in root
    child = by_name["llm-1"]
    assert child["parent_id"] == root["context"]["span_id"]
    assert child["context"]["trace_id"] == root["context"]["trace_id"]
    assert child["kind"] == "LLM"
    assert child["attributes"]["llm"]["model_name"] == "gpt-4o-mini"
    assert child["attributes"]["llm"]["token_count"]["total"] == 200
    assert child["attributes"]["metadata"]["step"] == "llm-1"


def test_the_sdk_experiment_headers_are_accepted(server: Server, api: Api, http: httpx.Client) -> None:
    """The arize SDK exports experiment traces with the bare key and the space id."""
    space = api.space()
    project = new_project_name()
    sender = exporter(server, server.admin_key, space["id"])
    assert sender.export(recorded_spans(project, ["task"])) is SpanExportResult.SUCCESS
    sender.shutdown()
    assert stored_names(http, space["id"], project) == ["task"]


def test_resending_an_export_stores_each_span_once(
    server: Server, api: Api, http: httpx.Client, stub: TraceServiceStub
) -> None:
    space = api.space()
    project = new_project_name()
    trace, root = new_trace_id(), new_span_id()
    body = request_pb(
        [span_pb(trace_id=trace, span_id=root, name="agent")]
        + [span_pb(trace_id=trace, parent_id=root, name=f"llm-{i}") for i in range(3)],
        project,
    )
    for _ in range(3):
        assert not call(stub, body, server.admin_key, space["id"]).HasField("partial_success")
    assert stored_names(http, space["id"], project) == ["agent", "llm-0", "llm-1", "llm-2"]
    assert count_span_rows(server, project_id_named(http, space["id"], project)) == 4


def test_keys_roles_and_spaces_are_enforced_like_v1_traces(
    server: Server, api: Api, http: httpx.Client, stub: TraceServiceStub
) -> None:
    space = api.space()
    project = new_project_name()
    body = request_pb([span_pb(name="guarded")], project)

    missing = refused(stub, body, None, space["id"])
    assert missing.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "authorization" in (missing.details() or "")
    assert refused(stub, body, "ep_not_a_key", space["id"]).code() is grpc.StatusCode.UNAUTHENTICATED

    reader = user_key(server, space["id"], "READ_ONLY")
    read_only = refused(stub, body, reader, space["id"])
    assert read_only.code() is grpc.StatusCode.PERMISSION_DENIED

    stranger = user_key(server, api.space()["id"], "MEMBER")
    assert refused(stub, body, stranger, space["id"]).code() is grpc.StatusCode.NOT_FOUND
    assert stored_names(http, space["id"], project) == []

    # The real exporter gives up on these at once (they are not retryable) and reports failure.
    assert exporter(server, reader, space["id"]).export(recorded_spans(project, ["x"])) is SpanExportResult.FAILURE
    assert stored_names(http, space["id"], project) == []

    member = user_key(server, space["id"], "MEMBER")
    assert not call(stub, body, f"Bearer {member}", space["id"]).HasField("partial_success")
    assert stored_names(http, space["id"], project) == ["guarded"]


def test_without_a_space_the_keys_only_space_is_used(server: Server, api: Api, http: httpx.Client) -> None:
    space = api.space()
    member = user_key(server, space["id"], "MEMBER")
    project = new_project_name()
    sender = exporter(server, member, None)
    assert sender.export(recorded_spans(project, ["solo"])) is SpanExportResult.SUCCESS
    assert stored_names(http, space["id"], project) == ["solo"]


def test_bad_spans_are_reported_as_partial_success_and_the_rest_stored(
    server: Server, api: Api, http: httpx.Client, stub: TraceServiceStub
) -> None:
    space = api.space()
    project = new_project_name()
    good = [span_pb(name="good-1"), span_pb(name="good-2")]
    bad = [span_pb(name="zero-trace", trace_id=bytes(16)), span_pb(name="short-span", span_id=b"\x01\x02")]
    result = call(stub, request_pb(good + bad, project), server.admin_key, space["id"])
    assert result.partial_success.rejected_spans == 2
    assert "trace_id" in result.partial_success.error_message
    assert stored_names(http, space["id"], project) == ["good-1", "good-2"]


def test_a_message_that_is_not_an_export_is_invalid_argument(server: Server, api: Api) -> None:
    space = api.space()
    channel = grpc.insecure_channel(server.otlp_grpc_endpoint)
    export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
    with pytest.raises(grpc.RpcError) as caught:
        export(
            b"not a protobuf \xff\xff",
            metadata=[("authorization", server.admin_key), ("arize-space-id", space["id"])],
            timeout=10,
        )
    channel.close()
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details()


def test_oversize_messages_and_gzip_bombs_are_resource_exhausted(
    server: Server, api: Api, http: httpx.Client, stub: TraceServiceStub
) -> None:
    space = api.space()
    project = new_project_name()
    # ~40 MB once inflated, a few dozen KB on the wire: the limit (32 MiB) holds after gzip too.
    attributes = {"input.value": "x" * (40 * 1024 * 1024)}
    bomb = request_pb([span_pb(name="bomb", attributes=attributes)], project)
    assert len(gzip.compress(bomb)) < 1024 * 1024
    inflated = refused(stub, bomb, server.admin_key, space["id"], compression=grpc.Compression.Gzip)
    assert inflated.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    plain = refused(stub, bomb, server.admin_key, space["id"])
    assert plain.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert stored_names(http, space["id"], project) == []
    # The receiver is still there for well-sized exports.
    assert not call(stub, request_pb([span_pb(name="fine")], project), server.admin_key, space["id"]).HasField(
        "partial_success"
    )


@pytest.mark.slow
def test_spans_acknowledged_over_grpc_survive_sigkill(fresh_server: Server) -> None:
    with fresh_server.http() as http:
        space = Api(http).space()
    project = new_project_name()
    sender = exporter(fresh_server, fresh_server.admin_key, space["id"])
    for batch in range(5):
        spans = recorded_spans(project, [f"root-{batch}", *(f"child-{batch}-{i}" for i in range(19))])
        assert sender.export(spans) is SpanExportResult.SUCCESS
    assert fresh_server.process is not None
    fresh_server.process.kill()  # SIGKILL right after the last acknowledgement
    fresh_server.process.wait()
    fresh_server.start()
    with fresh_server.http() as http:
        names = stored_names(http, space["id"], project)
    assert len(names) == 100 and len(set(names)) == 100
