"""OTLP/HTTP ingestion (POST /v1/traces) driven by real exporters and raw requests."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import openai
import pytest
from openinference.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.support import Api, LlmServer, Server
from tests.support_spans import (
    export,
    export_response,
    gzipped,
    list_spans,
    new_project_name,
    new_span_id,
    new_trace_id,
    project_id_named,
    request_pb,
    span_pb,
    user_key,
)


@contextmanager
def instrumented(provider: TracerProvider) -> Iterator[None]:
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield
    finally:
        instrumentor.uninstrument()


def ask(llm: LlmServer, question: str) -> openai.types.chat.ChatCompletion:
    client = openai.OpenAI(base_url=llm.openai_base_url, api_key="sk-test")
    return client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])


def assert_llm_span(span, question: str, reply) -> None:
    assert span.kind == "LLM"
    assert span.status_code in ("OK", "UNSET")
    assert span.parent_id is None
    llm_attrs = span.attributes["llm"]
    assert llm_attrs["input_messages"][0]["message"] == {"role": "user", "content": question}
    assert llm_attrs["output_messages"][0]["message"]["content"] == reply.choices[0].message.content
    assert llm_attrs["token_count"]["prompt"] == reply.usage.prompt_tokens
    assert llm_attrs["token_count"]["total"] == reply.usage.total_tokens
    assert isinstance(llm_attrs["token_count"]["total"], int)
    assert span.attributes["openinference"]["span"]["kind"] == "LLM"


def test_otel_exporter_spans_of_an_openai_call_come_back_through_the_sdk(
    server: Server, api: Api, llm: LlmServer
) -> None:
    space = api.space()
    project = new_project_name()
    provider = TracerProvider(resource=Resource.create({"openinference.project.name": project}))
    exporter = OTLPSpanExporter(
        endpoint=f"{server.base_url}/v1/traces",
        headers={"authorization": f"Bearer {server.admin_key}", "arize-space-id": space["id"]},
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with instrumented(provider):
        reply = ask(llm, "What is evalplane?")
    provider.shutdown()

    client = server.sdk()
    assert [p.name for p in client.projects.list(space=space["id"]).projects] == [project]
    spans = client.spans.list(project=project, space=space["id"]).spans
    assert len(spans) == 1
    assert_llm_span(spans[0], "What is evalplane?", reply)
    assert spans[0].evaluations == []


def test_arize_otel_register_exports_to_evalplane(server: Server, api: Api, llm: LlmServer) -> None:
    from arize.otel import Transport, register

    space = api.space()
    project = new_project_name()
    provider = register(
        space_id=space["id"],
        api_key=server.admin_key,
        project_name=project,
        endpoint=f"{server.base_url}/v1/traces",
        transport=Transport.HTTP,
        batch=False,
        set_global_tracer_provider=False,
        verbose=False,
    )
    with instrumented(provider):
        first = ask(llm, "first question")
        second = ask(llm, "second question")
    provider.shutdown()

    spans = server.sdk().spans.list(project=project, space=space["name"]).spans
    assert len(spans) == 2
    assert_llm_span(spans[0], "second question", second)  # newest first
    assert_llm_span(spans[1], "first question", first)


def test_resending_a_batch_stores_each_span_once(server: Server, api: Api, http: httpx.Client) -> None:
    space = api.space()
    project = new_project_name()
    trace = new_trace_id()
    root = new_span_id()
    body = request_pb(
        [span_pb(trace_id=trace, span_id=root, name="agent")]
        + [span_pb(trace_id=trace, parent_id=root, name=f"llm-{i}") for i in range(3)],
        project,
    )
    for _ in range(3):
        assert not export_response(export(server, body, space_id=space["id"])).HasField("partial_success")
    project_id = project_id_named(http, space["id"], project)
    spans = list_spans(http, project_id)["spans"]
    assert sorted(s["name"] for s in spans) == ["agent", "llm-0", "llm-1", "llm-2"]
    assert len({s["context"]["span_id"] for s in spans}) == 4


def test_json_export_with_gzip_keeps_nested_typed_attributes_and_events(
    server: Server, api: Api, http: httpx.Client
) -> None:
    space = api.space()
    project = new_project_name()
    trace, span_id = new_trace_id(), new_span_id()
    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "openinference.project.name", "value": {"stringValue": project}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace.upper(),
                                "spanId": span_id,
                                "name": "retrieve",
                                "startTimeUnixNano": "1700000000123456789",
                                "endTimeUnixNano": 1700000000623456789,
                                "status": {"code": 2, "message": "boom"},
                                "attributes": [
                                    {"key": "openinference.span.kind", "value": {"stringValue": "retriever"}},
                                    {"key": "retrieval.documents.0.document.score", "value": {"doubleValue": 0.75}},
                                    {"key": "retrieval.documents.0.document.id", "value": {"intValue": "42"}},
                                    {"key": "retrieval.documents.1.document.content", "value": {"stringValue": "doc"}},
                                    {"key": "metadata.flag", "value": {"boolValue": True}},
                                    {
                                        "key": "tag.tags",
                                        "value": {"arrayValue": {"values": [{"stringValue": "x"}, {"intValue": 2}]}},
                                    },
                                ],
                                "events": [
                                    {
                                        "name": "exception",
                                        "timeUnixNano": "1700000000500000000",
                                        "attributes": [{"key": "exception.message", "value": {"stringValue": "boom"}}],
                                    }
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    response = httpx.post(
        f"{server.base_url}/v1/traces",
        content=gzipped(json.dumps(document).encode()),
        headers={
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "api_key": server.admin_key,
            "space_id": space["id"],
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {}

    stored = list_spans(http, project_id_named(http, space["id"], project), start_time="2023-11-01T00:00:00Z")["spans"]
    assert len(stored) == 1
    span = stored[0]
    assert span["context"] == {"trace_id": trace, "span_id": span_id}
    assert span["kind"] == "RETRIEVER"
    assert (span["status_code"], span["status_message"]) == ("ERROR", "boom")
    assert span["start_time"] == "2023-11-14T22:13:20.123456Z"
    assert span["end_time"] == "2023-11-14T22:13:20.623456Z"
    assert span["attributes"]["retrieval"]["documents"] == [
        {"document": {"score": 0.75, "id": 42}},
        {"document": {"content": "doc"}},
    ]
    assert span["attributes"]["metadata"] == {"flag": True}
    assert span["attributes"]["tag"] == {"tags": ["x", 2]}
    assert span["events"] == [
        {"name": "exception", "timestamp": "2023-11-14T22:13:20.500000Z", "attributes": {"exception.message": "boom"}}
    ]


def test_spans_with_invalid_ids_are_rejected_the_otlp_way(server: Server, api: Api, http: httpx.Client) -> None:
    space = api.space()
    project = new_project_name()
    good = [span_pb(name="good-1"), span_pb(name="good-2")]
    bad = [span_pb(name="zero-trace", trace_id=bytes(16)), span_pb(name="short-span", span_id=b"\x01\x02")]
    result = export_response(export(server, request_pb(good + bad, project), space_id=space["id"]))
    assert result.partial_success.rejected_spans == 2
    assert "trace_id" in result.partial_success.error_message
    assert "span_id" in result.partial_success.error_message
    names = {s["name"] for s in list_spans(http, project_id_named(http, space["id"], project))["spans"]}
    assert names == {"good-1", "good-2"}


@pytest.mark.parametrize(
    ("content_type", "body", "encoding"),
    [
        ("application/x-protobuf", b"not a protobuf \xff\xff", None),
        ("application/json", b"{not json", None),
        ("application/json", b'{"resourceSpans": {"oops": 1}}', None),
        ("application/json", b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": "x"}]}]}]}', None),
        ("application/x-protobuf", b"\x1f\x8b\x08\x00garbage", "gzip"),
    ],
    ids=["protobuf", "json-syntax", "json-shape", "json-attributes", "gzip"],
)
def test_malformed_exports_are_400(server: Server, content_type: str, body: bytes, encoding: str | None) -> None:
    headers = {"Content-Type": content_type, **({"Content-Encoding": encoding} if encoding else {})}
    response = export(server, body, space_id=None, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_exports_without_a_valid_key_are_401(server: Server, api: Api) -> None:
    space = api.space()
    body = request_pb([span_pb()], new_project_name())
    missing = httpx.post(
        f"{server.base_url}/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"}
    )
    assert missing.status_code == 401
    assert export(server, body, space_id=space["id"], key="ep_not_a_key").status_code == 401


def test_read_only_members_cannot_export_and_strangers_do_not_see_the_space(server: Server, api: Api) -> None:
    space = api.space()
    body = request_pb([span_pb()], new_project_name())
    reader = user_key(server, space["id"], "READ_ONLY")
    assert export(server, body, space_id=space["id"], key=reader).status_code == 403
    stranger = user_key(server, api.space()["id"], "MEMBER")
    assert export(server, body, space_id=space["id"], key=stranger).status_code == 404
    member = user_key(server, space["id"], "MEMBER")
    assert export(server, body, space_id=space["id"], key=f"Bearer {member}").status_code == 200


def test_without_a_space_header_spans_go_to_the_keys_only_space(server: Server, api: Api, http: httpx.Client) -> None:
    space = api.space()
    member = user_key(server, space["id"], "MEMBER")
    response = export(server, request_pb([span_pb()], None), space_id=None, key=member)
    assert response.status_code == 200, response.text
    projects = http.get("/v2/projects", params={"space_id": space["id"]}).json()["projects"]
    assert [p["name"] for p in projects] == ["default"]


def test_oversize_bodies_and_gzip_bombs_are_413(server: Server, api: Api) -> None:
    space = api.space()
    bomb = gzip.compress(b"\0" * (40 * 1024 * 1024), compresslevel=9)
    response = export(server, bomb, space_id=space["id"], headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413
    huge = export(server, b"\0" * (33 * 1024 * 1024), space_id=space["id"])
    assert huge.status_code == 413


@pytest.mark.slow
def test_a_span_acknowledged_with_200_survives_sigkill(fresh_server: Server, tmp_path: Path) -> None:
    with fresh_server.http() as http:
        space = Api(http).space()
    project = new_project_name()
    body = request_pb([span_pb(name=f"durable-{i}") for i in range(50)], project)
    assert export(fresh_server, body, space_id=space["id"]).status_code == 200
    fresh_server.process.kill()  # SIGKILL right after the acknowledgement
    fresh_server.process.wait()
    fresh_server.start()
    with fresh_server.http() as http:
        spans = list_spans(http, project_id_named(http, space["id"], project), limit=100)["spans"]
    assert len(spans) == 50


def test_json_partial_success_and_unsupported_media(server: Server, api: Api) -> None:
    space = api.space()
    span = {"traceId": "zz" * 16, "spanId": new_span_id(), "name": "bad", "startTimeUnixNano": "1"}
    document = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    response = export(
        server, json.dumps(document).encode(), space_id=space["id"], headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == 1 and "trace_id" in partial["errorMessage"]
    text = export(server, b"hello", space_id=space["id"], headers={"Content-Type": "text/plain"})
    assert text.status_code == 415
