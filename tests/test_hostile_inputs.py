"""Odd input that once crashed a request (a 500 and a dropped connection) gets a 4xx, or an
OTLP partial success, changes nothing else, and never slows /healthz down."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.support import Api, Server, unique
from tests.support_responsive import HEALTHZ_BUDGET_S, during_attack
from tests.support_spans import (
    export,
    export_response,
    list_spans,
    new_span_id,
    new_trace_id,
    project_id_named,
    request_pb,
    span_pb,
)


def _problem(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()["detail"]


def _refused_fast(server: Server, attack, status: int = 400) -> str:
    response, slowest = during_attack(server, attack, repeat_for=0.5)
    assert slowest < HEALTHZ_BUDGET_S
    return _problem(response, status)


def _send(client: httpx.Client, method: str, url: str, body: Any) -> httpx.Response:
    """JSON with non-ASCII escaped, as a lone surrogate must be sent (it has no UTF-8 form)."""
    return client.request(method, url, content=json.dumps(body), headers={"content-type": "application/json"})


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


# ---------------------------------------------------------------- ids and raw JSON


@pytest.mark.parametrize("raw", ["OnlineTask:²", "OnlineTask:²:abcd", "OnlineTask:١٢"])
def test_an_id_with_non_ascii_digits_is_a_404(server: Server, http: httpx.Client, raw: str) -> None:
    task_id = base64.b64encode(raw.encode()).decode()
    detail = _refused_fast(server, lambda: http.get(f"/v2/tasks/{task_id}"), 404)
    assert "task_id" in detail


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v2/task-runs/x/cancel"),
        ("PUT", "/v2/api-keys/x/revoke"),
        ("POST", "/v2/api-keys/x/refresh"),
        ("POST", "/v2/datasets"),
    ],
)
def test_five_thousand_deep_json_is_a_400_even_without_a_key(server: Server, method: str, path: str) -> None:
    body = "[" * 5000 + "]" * 5000
    with httpx.Client(base_url=server.base_url, timeout=30) as anonymous:
        detail = _refused_fast(
            server, lambda: anonymous.request(method, path, content=body, headers={"content-type": "application/json"})
        )
    assert "nested too deeply" in detail


def test_a_body_nested_deeper_than_the_cap_is_a_400_naming_the_field(api: Api) -> None:
    space = api.space()
    body = {"space_id": space["id"], "name": unique("ds"), "examples": [{"question": _nested(100)}]}
    detail = _problem(api.client.post("/v2/datasets", json=body), 400)
    assert "nested too deeply" in detail and "question" in detail
    assert api.client.get("/v2/datasets", params={"space_id": space["id"]}).json()["datasets"] == []


# ---------------------------------------------------------------- stored JSON that could not be served back


@pytest.mark.parametrize(
    ("value", "says"),
    [(_nested(254), "nested too deeply"), ("caf\ud800", "lone surrogate"), ({"\udc00": 1}, "lone surrogate")],
    ids=["254-deep", "surrogate-value", "surrogate-key"],
)
def test_an_example_that_could_not_be_served_back_is_refused_at_write_time(api: Api, value: Any, says: str) -> None:
    space = api.space()
    created = api.ok(
        api.client.post(
            "/v2/datasets", json={"space_id": space["id"], "name": unique("ds"), "examples": [{"q": "ok"}]}
        ),
        201,
    )
    examples = f"/v2/datasets/{created['id']}/examples"
    existing = api.ok(api.client.get(examples))["examples"]
    writes = [
        _send(
            api.client,
            "POST",
            "/v2/datasets",
            {"space_id": space["id"], "name": unique("ds"), "examples": [{"q": value}]},
        ),
        _send(api.client, "POST", examples, {"examples": [{"q": value}]}),
        _send(api.client, "PATCH", examples, {"examples": [{"id": existing[0]["id"], "q": value}]}),
    ]
    for response in writes:
        assert says in _problem(response, 400)
    listed = api.client.get(examples)
    assert listed.status_code == 200, listed.text
    assert [e["q"] for e in listed.json()["examples"]] == ["ok"]


def test_an_experiment_run_or_evaluator_holding_a_lone_surrogate_is_refused(api: Api) -> None:
    space = api.space()
    dataset = api.ok(
        api.client.post("/v2/datasets", json={"space_id": space["id"], "name": unique("ds"), "examples": [{"q": "a"}]}),
        201,
    )
    example_id = api.ok(api.client.get(f"/v2/datasets/{dataset['id']}/examples"))["examples"][0]["id"]
    run = {"example_id": example_id, "output": "\ud800"}
    experiment = {"name": unique("exp"), "dataset_id": dataset["id"], "experiment_runs": [run]}
    assert "lone surrogate" in _problem(_send(api.client, "POST", "/v2/experiments", experiment), 400)
    evaluator = {
        "space_id": space["id"],
        "name": unique("ev"),
        "description": "\ud800",
        "type": "CODE",
        "version": {"commit_message": "x", "code_config": {}},
    }
    assert "lone surrogate" in _problem(_send(api.client, "POST", "/v2/evaluators", evaluator), 400)


# ---------------------------------------------------------------- record filters


@pytest.mark.parametrize(
    ("filter_text", "says"),
    [
        ("q = " + "9" * 5000, "number out of range at position 4"),
        ("(" * 3000 + "q = 'a'" + ")" * 3000, "nests too deeply"),
        ("NOT " * 200 + "q = 'a'", "nests too deeply"),
    ],
    ids=["5000-digits", "3000-parentheses", "200-nots"],
)
def test_a_hostile_record_filter_is_a_400_with_its_position(
    server: Server, api: Api, filter_text: str, says: str
) -> None:
    space = api.space()
    dataset = api.ok(
        api.client.post("/v2/datasets", json={"space_id": space["id"], "name": unique("ds"), "examples": [{"q": "a"}]}),
        201,
    )
    search = f"/v2/datasets/{dataset['id']}/examples/search"
    detail = _refused_fast(server, lambda: api.client.post(search, json={"filter": filter_text}))
    assert says in detail and "position" in detail


# ---------------------------------------------------------------- OTLP: the bad span alone is rejected


def _json_span(**fields: Any) -> dict[str, Any]:
    start = time.time_ns() - 60_000_000_000
    return {
        "traceId": new_trace_id(),
        "spanId": new_span_id(),
        "name": "call",
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 1000),
        **fields,
    }


def _kvlist(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"stringValue": "leaf"}
    for _ in range(depth):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    return value


def _export_json(server: Server, space_id: str, project: str, spans: list[dict[str, Any]]) -> httpx.Response:
    resource = {"attributes": [{"key": "openinference.project.name", "value": {"stringValue": project}}]}
    body = json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}).encode()
    return export(server, body, space_id=space_id, headers={"Content-Type": "application/json"})


def test_otlp_json_spans_out_of_range_are_rejected_alone_through_partial_success(server: Server, api: Api) -> None:
    space = api.space()
    project = unique("proj")
    bad = [
        _json_span(startTimeUnixNano="1" * 5000),
        _json_span(endTimeUnixNano=str(2**64)),
        _json_span(status={"code": "²"}),
        _json_span(attributes=[{"key": "n", "value": {"intValue": "7" * 5000}}]),
        _json_span(attributes=[{"key": ".".join(["a"] * 100), "value": {"stringValue": "deep"}}]),
        _json_span(attributes=[{"key": "k", "value": _kvlist(70)}]),
        _json_span(events=[{"name": "e", "timeUnixNano": "9" * 30}]),
    ]
    good = _json_span(status={"code": "STATUS_CODE_OK"})

    def attack() -> httpx.Response:
        return _export_json(server, space["id"], project, [*bad, good])

    response, slowest = during_attack(server, attack)
    assert slowest < HEALTHZ_BUDGET_S
    assert response.status_code == 200, response.text
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == len(bad)
    assert "out of range" in partial["errorMessage"] and "status.code" in partial["errorMessage"]
    stored = list_spans(api.client, project_id_named(api.client, space["id"], project))["spans"]
    assert [s["context"]["span_id"] for s in stored] == [good["spanId"]]


def test_otlp_protobuf_span_nested_too_deep_is_rejected_alone(server: Server, api: Api) -> None:
    space = api.space()
    project = unique("proj")
    deep = span_pb(attributes={".".join(["a"] * 100): "deep"})
    good = span_pb()
    answer: ExportTraceServiceResponse = export_response(
        export(server, request_pb([deep, good], project), space_id=space["id"])
    )
    assert answer.partial_success.rejected_spans == 1
    assert "nest" in answer.partial_success.error_message
    stored = list_spans(api.client, project_id_named(api.client, space["id"], project))["spans"]
    assert [s["context"]["span_id"] for s in stored] == [good.span_id.hex()]


def test_deep_nesting_below_the_cap_is_still_stored_and_served(server: Server, api: Api) -> None:
    space = api.space()
    project = unique("proj")
    key = ".".join(f"l{i}" for i in range(60))
    answer = _export_json(
        server, space["id"], project, [_json_span(attributes=[{"key": key, "value": {"intValue": "5"}}])]
    )
    assert answer.status_code == 200 and json.loads(answer.content) == {}
    stored = list_spans(api.client, project_id_named(api.client, space["id"], project))["spans"]
    node = stored[0]["attributes"]
    for i in range(60):
        node = node[f"l{i}"]
    assert node == 5
