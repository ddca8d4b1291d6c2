"""The bulk write path of POST /v1/traces: large and concurrent batches, exact timestamps,
and values a database could not store."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.dialects.sqlite import aiosqlite as sqlite_aiosqlite

from evalplane.db.models import Span
from evalplane.db.types import UtcDateTime
from evalplane.ingest import otlp
from tests.support import Api, Server
from tests.support_spans import (
    count_span_rows,
    export,
    export_response,
    list_spans,
    llm_attributes,
    new_project_name,
    new_span_id,
    new_trace_id,
    project_id_named,
    request_pb,
    span_pb,
)

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("dialect", [sqlite_aiosqlite.dialect(), pg_asyncpg.dialect()], ids=["sqlite", "postgres"])
def test_bulk_timestamps_are_stored_exactly_as_the_orm_stores_them(dialect) -> None:
    slow = Span.__table__.c.start_time.type.dialect_impl(dialect).bind_processor(dialect)
    fast = UtcDateTime.bulk_bind_processor(dialect)
    for value in (
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 5, 6, 7, 8, 9, 12, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ):
        assert (fast(value) if fast else value) == (slow(value) if slow else value)


def test_concurrent_batches_and_their_resends_store_every_span_once(
    server: Server, api: Api, http: httpx.Client
) -> None:
    space = api.space()
    project = new_project_name()
    bodies = [request_pb([span_pb(name=f"b{b}-{i}") for i in range(200)], project) for b in range(6)]
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda body: export(server, body, space_id=space["id"]), bodies * 2))
    assert [r.status_code for r in responses] == [200] * 12
    assert count_span_rows(server, project_id_named(http, space["id"], project)) == 1200


def test_spans_of_several_projects_in_one_request_land_in_their_projects(
    server: Server, api: Api, http: httpx.Client
) -> None:
    space = api.space()
    first, second = new_project_name(), new_project_name()
    one = otlp.ExportTraceServiceRequest.FromString(request_pb([span_pb(name="one")], first))
    two = otlp.ExportTraceServiceRequest.FromString(request_pb([span_pb(name="two"), span_pb(name="three")], second))
    one.resource_spans.extend(two.resource_spans)
    export_response(export(server, one.SerializeToString(), space_id=space["id"]))
    assert [s["name"] for s in list_spans(http, project_id_named(http, space["id"], first))["spans"]] == ["one"]
    names = sorted(s["name"] for s in list_spans(http, project_id_named(http, space["id"], second))["spans"])
    assert names == ["three", "two"]


def test_whole_second_and_fractional_times_order_and_filter_by_the_window(
    server: Server, api: Api, http: httpx.Client
) -> None:
    space = api.space()
    project = new_project_name()
    whole = 1_700_000_000 * 10**9  # exactly on a second: no fractional digits
    body = request_pb([span_pb(name="whole", start_ns=whole), span_pb(name="later", start_ns=whole + 1_000)], project)
    export_response(export(server, body, space_id=space["id"]))
    project_id = project_id_named(http, space["id"], project)
    at = "2023-11-14T22:13:20Z"
    spans = list_spans(http, project_id, start_time=at, end_time="2023-11-14T22:13:21Z")["spans"]
    assert [s["name"] for s in spans] == ["later", "whole"]
    assert spans[1]["start_time"].startswith("2023-11-14T22:13:20")
    assert [s["name"] for s in list_spans(http, project_id, start_time=at, end_time=at)["spans"]] == ["whole"]


def test_nul_characters_are_replaced_so_the_span_is_kept(server: Server, api: Api, http: httpx.Client) -> None:
    space = api.space()
    project = new_project_name()
    attributes = {**llm_attributes(), "output.value": "before\x00after", "tag.tags": ["x\x00y"]}
    body = request_pb([span_pb(name="nul\x00name", attributes=attributes, error="bad\x00status")], project)
    assert not export_response(export(server, body, space_id=space["id"])).HasField("partial_success")
    span = list_spans(http, project_id_named(http, space["id"], project))["spans"][0]
    assert span["name"] == "nul\ufffdname"
    assert span["status_message"] == "bad\ufffdstatus"
    assert span["attributes"]["output"]["value"] == "before\ufffdafter"
    assert span["attributes"]["tag"]["tags"] == ["x\ufffdy"]


def test_json_integers_beyond_64_bits_reject_only_that_span(server: Server, api: Api, http: httpx.Client) -> None:
    space = api.space()
    project = new_project_name()

    def span(name: str, value: str) -> dict:
        return {
            "traceId": new_trace_id(),
            "spanId": new_span_id(),
            "name": name,
            "startTimeUnixNano": "1700000000000000000",
            "attributes": [{"key": "llm.token_count.total", "value": {"intValue": value}}],
        }

    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "openinference.project.name", "value": {"stringValue": project}}]},
                "scopeSpans": [{"spans": [span("huge", str(2**70)), span("fine", "12")]}],
            }
        ]
    }
    response = export(server, json.dumps(document).encode(), space_id=space["id"], headers=JSON)
    assert response.status_code == 200
    assert response.json()["partialSuccess"]["rejectedSpans"] == 1
    spans = list_spans(
        http,
        project_id_named(http, space["id"], project),
        start_time="2023-11-14T00:00:00Z",
        end_time="2023-11-15T00:00:00Z",
    )["spans"]
    assert [(s["name"], s["attributes"]["llm"]["token_count"]["total"]) for s in spans] == [("fine", 12)]


def test_kvlist_attributes_and_repeated_keys_nest_like_before(server: Server, api: Api, http: httpx.Client) -> None:
    from opentelemetry.proto.common.v1.common_pb2 import (
        AnyValue,
        KeyValue,
        KeyValueList,
    )

    space = api.space()
    project = new_project_name()
    span = span_pb(name="kv", attributes={"openinference.span.kind": "chain", "a.b": 1, "a.c": "x"})
    span.attributes.append(KeyValue(key="a.b", value=AnyValue(int_value=2)))  # repeated: the last one wins
    span.attributes.append(
        KeyValue(
            key="m",
            value=AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key="0", value=AnyValue(string_value="zero"))])),
        )
    )
    export_response(export(server, request_pb([span], project), space_id=space["id"]))
    stored = list_spans(http, project_id_named(http, space["id"], project))["spans"][0]
    assert stored["kind"] == "CHAIN"
    assert stored["attributes"]["a"] == {"b": 2, "c": "x"}
    assert stored["attributes"]["m"] in ({"0": "zero"}, ["zero"])


def test_a_nul_in_the_project_name_is_replaced_too(server: Server, api: Api, http: httpx.Client) -> None:
    space = api.space()
    project = new_project_name()
    export_response(export(server, request_pb([span_pb(name="p")], project + "\x00x"), space_id=space["id"]))
    spans = list_spans(http, project_id_named(http, space["id"], project + "\ufffdx"))["spans"]
    assert [s["name"] for s in spans] == ["p"]
