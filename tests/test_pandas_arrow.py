"""POST /v1/pandas_arrow: spans and evaluations logged from DataFrames by the real arize SDK
(``spans.log`` and ``update_evaluations(force_http=True)``), read back through /v2/spans."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pytest
from arize.exceptions.auth import AuthenticationError
from arize.exceptions.http import APIError

from tests.support import Api, Server
from tests.support_spans import (
    count_span_rows,
    list_spans,
    new_project_name,
    new_span_id,
    new_trace_id,
    project_id_named,
    user_key,
)


def spans_frame(count: int, *, trace_id: str | None = None, session: str | None = None) -> pd.DataFrame:
    """A DataFrame of spans as users build it for ``spans.log``: one root and its children."""
    trace_id = trace_id or new_trace_id()
    start = datetime.now(UTC) - timedelta(minutes=10)
    ids = [new_span_id() for _ in range(count)]
    rows = []
    for i, span_id in enumerate(ids):
        rows.append(
            {
                "context.trace_id": trace_id,
                "context.span_id": span_id,
                "parent_id": None if i == 0 else ids[0],
                "name": "agent" if i == 0 else f"llm-{i}",
                "span_kind": "AGENT" if i == 0 else "LLM",
                "start_time": start + timedelta(seconds=i),
                "end_time": start + timedelta(seconds=i, milliseconds=250),
                "status_code": "OK" if i % 2 == 0 else "ERROR",
                "status_message": "" if i % 2 == 0 else "timeout",
                "attributes.input.value": f"question {i}",
                "attributes.output.value": f"answer {i}",
                "attributes.llm.model_name": "gpt-4o-mini",
                "attributes.llm.token_count.total": 100 + i,
                "attributes.llm.input_messages": [
                    {"message.role": "system", "message.content": "be brief"},
                    {"message.role": "user", "message.content": f"question {i}"},
                ],
                "attributes.metadata": {"tenant": "acme", "attempt": i},
                "attributes.session.id": session,
            }
        )
    return pd.DataFrame(rows)


def sdk_log(server: Server, space_id: str, project: str, frame: pd.DataFrame, **kwargs: Any) -> Any:
    return server.sdk().spans.log(space_id=space_id, project_name=project, dataframe=frame, **kwargs)


def by_name(http: httpx.Client, space_id: str, project: str) -> dict[str, dict[str, Any]]:
    project_id = project_id_named(http, space_id, project)
    return {s["name"]: s for s in list_spans(http, project_id, limit=500)["spans"]}


def test_spans_log_stores_spans_readable_through_v2(server: Server, api: Api, http: httpx.Client) -> None:
    space = api.space()
    project = new_project_name()
    frame = spans_frame(3, session="chat-1")
    response = sdk_log(server, space["id"], project, frame)
    assert response.status_code == 200
    assert response.json()["spans_accepted"] == 3

    spans = by_name(http, space["id"], project)
    assert sorted(spans) == ["agent", "llm-1", "llm-2"]
    root, child = spans["agent"], spans["llm-1"]
    assert root["kind"] == "AGENT" and "parent_id" not in root
    assert child["parent_id"] == root["context"]["span_id"] == frame["context.span_id"][0]
    assert child["context"]["trace_id"] == frame["context.trace_id"][0]
    assert (child["status_code"], child["status_message"]) == ("ERROR", "timeout")
    assert child["start_time"].startswith(frame["start_time"][1].strftime("%Y-%m-%dT%H:%M:%S.%f")[:23])
    attributes = child["attributes"]
    assert attributes["input"]["value"] == "question 1"
    assert attributes["llm"]["token_count"]["total"] == 101
    assert attributes["llm"]["input_messages"] == [
        {"message": {"role": "system", "content": "be brief"}},
        {"message": {"role": "user", "content": "question 1"}},
    ]
    assert attributes["metadata"] == {"tenant": "acme", "attempt": 1}
    assert attributes["session"]["id"] == "chat-1"
    # stored like an OTLP span: filters reach into it
    project_id = project_id_named(http, space["id"], project)
    found = list_spans(http, project_id, filter="metadata.attempt = 2 AND status_code = 'OK'")["spans"]
    assert [s["name"] for s in found] == ["llm-2"]


def test_spans_log_with_evaluations_attaches_them_and_a_resend_duplicates_nothing(
    server: Server, api: Api, http: httpx.Client
) -> None:
    space = api.space()
    project = new_project_name()
    frame = spans_frame(3)
    evals = pd.DataFrame(
        {
            "context.span_id": frame["context.span_id"][1:].tolist(),
            "eval.correctness.label": ["correct", "incorrect"],
            "eval.correctness.score": [1.0, 0.0],
            "eval.correctness.explanation": ["matches", "wrong city"],
        }
    )
    for _ in range(2):
        sdk_log(server, space["id"], project, frame, evals_dataframe=evals)
    spans = by_name(http, space["id"], project)
    assert spans["agent"]["evaluations"] == []
    assert spans["llm-1"]["evaluations"] == [
        {"name": "correctness", "label": "correct", "score": 1.0, "explanation": "matches"}
    ]
    assert spans["llm-2"]["evaluations"] == [
        {"name": "correctness", "label": "incorrect", "score": 0.0, "explanation": "wrong city"}
    ]
    assert count_span_rows(server, project_id_named(http, space["id"], project)) == 3
    project_id = project_id_named(http, space["id"], project)
    found = list_spans(http, project_id, filter="eval.correctness.label = 'incorrect'")["spans"]
    assert [s["name"] for s in found] == ["llm-2"]


def test_update_evaluations_over_http_replaces_results_and_reports_unknown_spans(
    server: Server, api: Api, http: httpx.Client
) -> None:
    space = api.space()
    project = new_project_name()
    frame = spans_frame(2, session="s-7")
    sdk_log(server, space["id"], project, frame)
    span_ids = frame["context.span_id"].tolist()
    client = server.sdk()

    def update(rows: dict[str, list[Any]]) -> Any:
        return client.spans.update_evaluations(
            space_id=space["id"], project_name=project, dataframe=pd.DataFrame(rows), force_http=True
        )

    update({"context.span_id": span_ids, "eval.tone.label": ["calm", "rude"], "eval.tone.score": [1.0, 0.0]})
    ghost = new_span_id()
    response = update(
        {
            "context.span_id": [span_ids[1], ghost],
            "eval.tone.label": ["polite", "calm"],
            "trace_eval.coherent.label": ["yes", None],
            "session_eval.resolved.score": [0.5, None],
        }
    )
    assert response.json()["unmatched_ids"] == [ghost]

    spans = by_name(http, space["id"], project)
    assert spans["agent"]["evaluations"][0] == {"name": "tone", "label": "calm", "score": 1.0}
    child = spans["llm-1"]["evaluations"]
    assert child == [{"name": "tone", "label": "polite"}]  # the newer result replaces the older
    root_scoped = {e["name"]: e for e in spans["agent"]["evaluations"][1:]}
    assert root_scoped["coherent"]["label"] == "yes" and root_scoped["coherent"]["metadata"]["scope"] == "TRACE"
    assert root_scoped["resolved"]["score"] == 0.5 and root_scoped["resolved"]["metadata"]["session_id"] == "s-7"


def test_keys_roles_and_spaces_are_enforced(server: Server, api: Api, http: httpx.Client) -> None:
    space = api.space()
    project = new_project_name()
    frame = spans_frame(1)
    with pytest.raises(AuthenticationError):
        server.sdk("ep_not_a_key").spans.log(space_id=space["id"], project_name=project, dataframe=frame)
    reader = user_key(server, space["id"], "READ_ONLY")
    with pytest.raises(AuthenticationError) as denied:
        server.sdk(reader).spans.log(space_id=space["id"], project_name=project, dataframe=frame)
    assert denied.value.status_code == 403
    stranger = user_key(server, api.space()["id"], "MEMBER")
    with pytest.raises(APIError) as hidden:
        server.sdk(stranger).spans.log(space_id=space["id"], project_name=project, dataframe=frame)
    assert hidden.value.status_code == 404
    assert http.get("/v2/projects", params={"space_id": space["id"]}).json()["projects"] == []
    member = user_key(server, space["id"], "MEMBER")
    assert server.sdk(member).spans.log(space_id=space["id"], project_name=project, dataframe=frame).ok


def arrow_body(table: pa.Table, project: str | None) -> bytes:
    """An upload built by hand, to send what the SDK's own validation would stop."""
    metadata = {}
    if project is not None:
        # arize Schema: constants { model_id = project, environment = TRACING }, arize_spans {}
        name = project.encode()
        constants = b"\x0a" + bytes([len(name)]) + name + b"\x20\x05"
        schema = b"\x0a" + bytes([len(constants)]) + constants + b"\x42\x00"
        metadata[b"arize-schema"] = base64.b64encode(schema)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema.with_metadata(metadata)) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def post(server: Server, body: bytes, space_id: str) -> httpx.Response:
    headers = {"authorization": server.admin_key, "arize-space-id": space_id}
    return httpx.post(f"{server.base_url}/v1/pandas_arrow", content=body, headers=headers, timeout=30)


def good_span(span_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp() * 1e9)
    row = {
        "context.trace_id": new_trace_id(),
        "context.span_id": span_id or new_span_id(),
        "name": "ok",
        "start_time": now - 5_000_000_000,
        "end_time": now - 4_000_000_000,
        "status_code": "OK",
    }
    row.update(overrides)
    return row


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (lambda project: b"not arrow at all", "Arrow"),
        (lambda project: arrow_body(pa.Table.from_pylist([good_span()]), None), "arize-schema"),
        (lambda project: arrow_body(pa.Table.from_pylist([good_span()]), project)[:-40], "Arrow"),
        (
            lambda project: arrow_body(pa.Table.from_pylist([good_span(), good_span("not-hex-id-123")]), project),
            "Row 1",
        ),
        (
            lambda project: arrow_body(pa.Table.from_pylist([good_span(), good_span(status_code="MAYBE")]), project),
            "status_code",
        ),
        (lambda project: arrow_body(pa.Table.from_pylist([{"context.span_id": new_span_id()}]), project), "eval"),
        (
            lambda project: arrow_body(pa.Table.from_pylist([{**good_span(), "eval.x.score": float("inf")}]), project),
            "finite",
        ),
    ],
    ids=["not-arrow", "no-schema", "truncated", "bad-span-id", "bad-status", "no-eval-columns", "infinite-score"],
)
def test_bad_tables_are_400_and_store_nothing(
    server: Server, api: Api, http: httpx.Client, body: Any, fragment: str
) -> None:
    space = api.space()
    project = new_project_name()
    response = post(server, body(project), space["id"])
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert fragment in response.json()["detail"]
    assert http.get("/v2/projects", params={"space_id": space["id"]}).json()["projects"] == []


def test_evaluations_for_a_project_that_does_not_exist_are_404(server: Server, api: Api) -> None:
    space = api.space()
    table = pa.Table.from_pylist([{"context.span_id": new_span_id(), "eval.x.label": "y"}])
    response = post(server, arrow_body(table, new_project_name()), space["id"])
    assert response.status_code == 404
    assert json.loads(response.text)["status"] == 404


def test_an_upload_over_the_span_body_limit_is_413(server: Server, api: Api) -> None:
    space = api.space()
    response = post(server, b"\0" * (33 * 1024 * 1024), space["id"])
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
