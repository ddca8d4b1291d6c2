"""Reading spans and traces back (POST /v2/spans, POST /v2/traces) and deleting spans."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from arize._generated.api_client.exceptions import ApiException

from tests.support import Api, Server
from tests.support_spans import (
    add_evaluation,
    count_span_rows,
    export,
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

MINUTE_NS = 60_000_000_000


def seed(server: Server, api: Api, http: httpx.Client, spans: list) -> tuple[dict, str, str]:
    """A new space and project holding ``spans``; returns (space, project name, project id)."""
    space = api.space()
    project = new_project_name()
    response = export(server, request_pb(spans, project), space_id=space["id"])
    assert response.status_code == 200, response.text
    return space, project, project_id_named(http, space["id"], project)


def test_sdk_pages_through_spans_newest_first_without_gaps(server: Server, api: Api, http: httpx.Client) -> None:
    base = time.time_ns() - 30 * MINUTE_NS
    same_start = base + 3 * MINUTE_NS
    spans = [span_pb(name=f"s{i}", start_ns=base + i * MINUTE_NS) for i in range(6)]
    spans += [span_pb(name=f"tie{i}", start_ns=same_start) for i in range(3)]
    space, project, _ = seed(server, api, http, spans)
    client = server.sdk()

    seen, cursor = [], None
    while True:
        page = client.spans.list(project=project, space=space["id"], limit=2, cursor=cursor)
        seen.extend(page.spans)
        if not page.pagination.has_more:
            break
        cursor = page.pagination.next_cursor
    keys = [(s.start_time, s.context.trace_id, s.context.span_id) for s in seen]
    assert len(seen) == 9 and len(set(keys)) == 9
    assert keys == sorted(keys, reverse=True)
    assert [s.name for s in seen[:2]] == ["s5", "s4"]


def test_time_window_defaults_to_the_last_week_and_bounds_are_inclusive(
    server: Server, api: Api, http: httpx.Client
) -> None:
    now = time.time_ns()
    old = span_pb(name="old", start_ns=now - 8 * 24 * 60 * MINUTE_NS)
    recent = span_pb(name="recent", start_ns=now - 10 * MINUTE_NS)
    space, project, project_id = seed(server, api, http, [old, recent])
    client = server.sdk()
    assert [s.name for s in client.spans.list(project=project, space=space["id"]).spans] == ["recent"]
    exact = datetime.fromtimestamp(old.start_time_unix_nano // 1000 / 1e6, UTC)
    window = client.spans.list(project=project, space=space["id"], start_time=exact, end_time=exact)
    assert [s.name for s in window.spans] == ["old"]
    backwards = http.post(
        "/v2/spans",
        json={"project_id": project_id, "start_time": "2024-02-01T00:00:00Z", "end_time": "2024-01-01T00:00:00Z"},
    )
    assert backwards.status_code == 400


def test_column_selection_and_truncation(server: Server, api: Api, http: httpx.Client) -> None:
    span = span_pb(attributes=llm_attributes(1))
    space, project, project_id = seed(server, api, http, [span])
    span_id = span.span_id.hex()
    add_evaluation(
        server, project_id, span_id, name="correctness", label="correct", score=1.0, explanation="ok", task_id=7
    )
    add_evaluation(server, project_id, span_id, name="tone", label="polite")
    client = server.sdk()

    included = client.spans.list(
        project=project,
        space=space["id"],
        included_columns=[
            "attributes.llm.model_name",
            "attributes.llm.input_messages",
            "eval.correctness.label",
            "nope",
        ],
    ).spans[0]
    assert set(included.attributes) == {"llm"}
    assert set(included.attributes["llm"]) == {"model_name", "input_messages"}
    assert len(included.attributes["llm"]["input_messages"]) == 2
    assert [(e.name, e.label, e.score) for e in included.evaluations] == [("correctness", "correct", None)]
    assert included.context.span_id == span_id and included.kind == "LLM"  # fixed fields stay

    excluded = client.spans.list(
        project=project,
        space=space["id"],
        excluded_columns=["attributes.output", "attributes.llm.output_messages.0.message.content", "eval.tone", "name"],
        truncate_string_length=10,
    ).spans[0]
    assert "output" not in excluded.attributes
    assert excluded.attributes["llm"]["output_messages"][0]["message"] == {"role": "assistant"}
    assert excluded.attributes["input"]["value"] == "Question …"
    assert excluded.attributes["llm"]["model_name"] == "gpt-4o-mi…"
    assert excluded.name == "llm-call"
    [correctness] = excluded.evaluations
    assert (correctness.name, correctness.label, correctness.score, correctness.explanation) == (
        "correctness",
        "correct",
        1.0,
        "ok",
    )
    assert correctness.metadata["task_id"]


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ({"included_columns": ["attributes"], "excluded_columns": ["attributes.x"]}, 422),
        ({"truncate_string_length": 0}, 422),
        ({"filter": "   "}, 400),
        ({"included_columns": []}, 400),
        ({"unknown": 1}, 400),
    ],
    ids=["both-column-lists", "zero-truncation", "blank-filter", "empty-columns", "unknown-field"],
)
def test_bad_span_queries_are_rejected(server: Server, api: Api, http: httpx.Client, extra: dict, status: int) -> None:
    project = api.project(api.space()["id"])
    response = http.post("/v2/spans", json={"project_id": project["id"], **extra})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_cursors_are_bound_to_their_query(server: Server, api: Api, http: httpx.Client) -> None:
    _, _, project_id = seed(server, api, http, [span_pb() for _ in range(3)])
    first = list_spans(http, project_id, limit=1)
    cursor = first["pagination"]["next_cursor"]
    assert list_spans(http, project_id, limit=2, cursor=cursor)["pagination"] == {"has_more": False}
    changed = http.post(
        "/v2/spans", params={"cursor": cursor}, json={"project_id": project_id, "truncate_string_length": 5}
    )
    assert changed.status_code == 400
    forged = http.post("/v2/spans", params={"cursor": cursor[:-3] + "abc"}, json={"project_id": project_id})
    assert forged.status_code == 400


def test_sdk_deletes_spans_and_their_evaluations(server: Server, api: Api, http: httpx.Client) -> None:
    spans = [span_pb(name=f"s{i}") for i in range(3)]
    space, project, project_id = seed(server, api, http, spans)
    doomed = spans[0].span_id.hex()
    add_evaluation(server, project_id, doomed, name="correctness", label="correct")
    missing = new_span_id()
    result = server.sdk().spans.delete(project=project, space=space["id"], span_ids=[doomed, missing])
    assert result.completed is True
    assert result.deleted_span_ids == [doomed]
    assert result.not_deleted_span_ids == [missing]
    assert sorted(s["name"] for s in list_spans(http, project_id)["spans"]) == ["s1", "s2"]
    again = server.sdk().spans.delete(project=project, space=space["id"], span_ids=[doomed])
    assert again.deleted_span_ids == [] and again.not_deleted_span_ids == [doomed]
    assert count_span_rows(server, project_id) == 2


def test_sdk_lists_traces_with_all_their_spans(server: Server, api: Api, http: httpx.Client) -> None:
    base = time.time_ns() - 20 * MINUTE_NS
    spans = []
    traces = []
    for t in range(3):
        trace, root = new_trace_id(), new_span_id()
        traces.append((trace, root))
        start = base + t * MINUTE_NS
        spans.append(span_pb(trace_id=trace, span_id=root, name=f"agent-{t}", start_ns=start, duration_ms=3000))
        spans += [
            span_pb(trace_id=trace, parent_id=root, name=f"llm-{t}-{c}", start_ns=start + (c + 1) * 1_000_000)
            for c in range(2)
        ]
    space, project, project_id = seed(server, api, http, spans)
    client = server.sdk()

    first = client.traces.list(project=project, space=space["id"], limit=2)
    assert [t.root_span_id for t in first.traces] == [traces[2][1], traces[1][1]]
    assert first.pagination.has_more
    newest = first.traces[0]
    assert newest.trace_id == traces[2][0] and newest.spans_truncated is False
    assert sorted(s.name for s in newest.spans) == ["agent-2", "llm-2-0", "llm-2-1"]
    assert newest.end_time - newest.start_time == timedelta(seconds=3)
    rest = client.traces.list(project=project, space=space["id"], limit=2, cursor=first.pagination.next_cursor)
    assert [t.trace_id for t in rest.traces] == [traces[0][0]] and not rest.pagination.has_more
    assert http.post("/v2/traces", params={"limit": 51}, json={"project_id": project_id}).status_code == 400


def test_span_access_follows_the_projects_space(server: Server, api: Api, http: httpx.Client) -> None:
    span = span_pb()
    space, _project, project_id = seed(server, api, http, [span])
    stranger = user_key(server, api.space()["id"], "ADMIN")
    reader = user_key(server, space["id"], "READ_ONLY")
    with server.http(stranger) as other:
        assert other.post("/v2/spans", json={"project_id": project_id}).status_code == 404
        assert other.post("/v2/traces", json={"project_id": project_id}).status_code == 404
    with server.http(reader) as read_only:
        assert len(list_spans(read_only, project_id)["spans"]) == 1
        denied = read_only.request(
            "DELETE", "/v2/spans", json={"project_id": project_id, "span_ids": [span.span_id.hex()]}
        )
        assert denied.status_code == 403
    with pytest.raises(ApiException) as caught:
        server.sdk(stranger).spans.delete(project=project_id, span_ids=[span.span_id.hex()])
    assert caught.value.status == 404
    assert http.post("/v2/spans", json={"project_id": "not-an-id"}).status_code == 404
    assert http.post("/v2/spans", json={}).status_code == 400
