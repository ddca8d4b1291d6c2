"""Trace and session evaluations read back (POST /v2/spans, POST /v2/traces, the SDK) and
filtered on (``trace_eval.`` / ``session_eval.``), arranged directly in their tables as the
engine records them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from evalplane.core.ids import Kind, decode_id
from evalplane.db.models import SessionEvaluation, Span, SpanEvaluation, TraceEvaluation
from evalplane.domains.spans.filtering import span_as_filter_dict, span_filter_predicate
from tests.arrange import in_db
from tests.support import Api, Server
from tests.support_spans import (
    add_evaluation,
    export,
    list_spans,
    new_project_name,
    new_span_id,
    new_trace_id,
    project_id_named,
    request_pb,
    span_pb,
)

MINUTE_NS = 60_000_000_000


@dataclass
class Conversation:
    """Two sessions and a trace in none; see ``conversation`` for what is evaluated."""

    space: dict[str, Any]
    project: str
    project_id: str
    traces: dict[str, str]  # T1..T4 -> trace id
    spans: dict[str, str]  # R1, C1, ... -> span id (R: root, C: its child)


def _trace(trace_id: str, start_ns: int, n: int, session: str | None) -> list[Any]:
    attributes: dict[str, Any] = {"input.value": f"question {n}", "output.value": f"answer {n}"}
    if session is not None:
        attributes["session.id"] = session
    root = span_pb(trace_id=trace_id, span_id=new_span_id(), name=f"R{n}", start_ns=start_ns, attributes=attributes)
    child = span_pb(
        trace_id=trace_id,
        span_id=new_span_id(),
        parent_id=root.span_id.hex(),
        name=f"C{n}",
        start_ns=start_ns + 1_000_000,
        attributes={**attributes, "openinference.span.kind": "LLM"},
    )
    return [root, child]


def add_trace_evaluation(server: Server, project_id: str, trace_id: str, **values: Any) -> None:
    async def work(session: Any) -> None:
        session.add(TraceEvaluation(project_id=decode_id(Kind.PROJECT, project_id), trace_id=trace_id, **values))

    in_db(server, work)


def add_session_evaluation(server: Server, project_id: str, session_id: str, **values: Any) -> None:
    async def work(session: Any) -> None:
        session.add(SessionEvaluation(project_id=decode_id(Kind.PROJECT, project_id), session_id=session_id, **values))

    in_db(server, work)


@pytest.fixture
def conversation(server: Server, api: Api, http: httpx.Client) -> Conversation:
    """Session chat-A holds T1 then T2 (ten minutes later), chat-B holds T4, T3 is in no session.

    Evaluations: 'coherence' on T1 (good, 0.9) and T3 (bad, 0.1) at trace level and on C1's own
    span (span-level, same name); 'resolution' on chat-A (resolved, 0.8) and chat-B (open, 0.2).
    """
    base = time.time_ns() - 30 * MINUTE_NS
    traces = {f"T{n}": new_trace_id() for n in range(1, 5)}
    sessions = {1: "chat-A", 2: "chat-A", 3: None, 4: "chat-B"}
    sent = []
    for n in range(1, 5):
        sent += _trace(traces[f"T{n}"], base + 10 * (n - 1) * MINUTE_NS, n, sessions[n])
    space, project = api.space(), new_project_name()
    assert export(server, request_pb(sent, project), space_id=space["id"]).status_code == 200
    project_id = project_id_named(http, space["id"], project)
    spans = {span.name: span.span_id.hex() for span in sent}
    task_id = 4242
    add_trace_evaluation(
        server,
        project_id,
        traces["T1"],
        name="coherence",
        label="good",
        score=0.9,
        explanation="on topic",
        task_id=task_id,
    )
    add_trace_evaluation(server, project_id, traces["T3"], name="coherence", label="bad", score=0.1)
    add_evaluation(server, project_id, spans["C1"], name="coherence", label="span-level", score=0.5)
    add_session_evaluation(server, project_id, "chat-A", name="resolution", label="resolved", score=0.8)
    add_session_evaluation(server, project_id, "chat-B", name="resolution", label="open", score=0.2)
    return Conversation(space, project, project_id, traces, spans)


def _by_name(spans: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    return {span["name"]: span["evaluations"] for span in spans}


def test_trace_and_session_results_appear_on_the_right_root_span(
    server: Server, http: httpx.Client, conversation: Conversation
) -> None:
    c = conversation
    shown = _by_name(list_spans(http, c.project_id)["spans"])

    assert shown["R1"] == [
        {
            "name": "coherence",
            "label": "good",
            "score": 0.9,
            "explanation": "on topic",
            "metadata": {
                "scope": "TRACE",
                "trace_id": c.traces["T1"],
                "task_id": shown["R1"][0]["metadata"]["task_id"],
            },
        },
        {
            "name": "resolution",
            "label": "resolved",
            "score": 0.8,
            "metadata": {"scope": "SESSION", "session_id": "chat-A"},
        },
    ]
    assert shown["C1"] == [{"name": "coherence", "label": "span-level", "score": 0.5}]
    assert shown["R2"] == [] and shown["C2"] == []  # chat-A's second trace shows nothing
    assert shown["R3"] == [
        {"name": "coherence", "label": "bad", "score": 0.1, "metadata": {"scope": "TRACE", "trace_id": c.traces["T3"]}}
    ]
    assert [e["metadata"]["session_id"] for e in shown["R4"]] == ["chat-B"]
    assert shown["C3"] == shown["C4"] == []

    traces = http.post("/v2/traces", json={"project_id": c.project_id}).json()["traces"]
    by_trace = {t["trace_id"]: _by_name(t["spans"]) for t in traces}
    assert by_trace[c.traces["T1"]]["R1"] == shown["R1"]
    assert by_trace[c.traces["T1"]]["C1"] == shown["C1"]
    assert by_trace[c.traces["T2"]]["R2"] == []


def test_sdk_models_parse_trace_and_session_results(server: Server, conversation: Conversation) -> None:
    c = conversation
    client = server.sdk()
    spans = {s.name: s for s in client.spans.list(project=c.project, space=c.space["id"]).spans}
    root = spans["R1"]
    assert [(e.name, e.label, e.score, e.metadata["scope"]) for e in root.evaluations] == [
        ("coherence", "good", 0.9, "TRACE"),
        ("resolution", "resolved", 0.8, "SESSION"),
    ]
    assert [(e.name, e.label, e.metadata) for e in spans["C1"].evaluations] == [("coherence", "span-level", None)]

    traces = client.traces.list(project=c.project, space=c.space["id"], filter="trace_eval.coherence.label = 'good'")
    assert [t.trace_id for t in traces.traces] == [c.traces["T1"]]
    root_span = next(s for s in traces.traces[0].spans if s.parent_id is None)
    assert {e.metadata["scope"] for e in root_span.evaluations} == {"TRACE", "SESSION"}


FILTERS = {
    "trace_eval.coherence.label = 'good'": {"R1", "C1"},
    "trace_eval.coherence.score < 0.5": {"R3", "C3"},
    "trace_eval.coherence.explanation LIKE '%topic%'": {"R1", "C1"},
    "NOT (trace_eval.coherence.label = 'good')": {"R3", "C3"},  # no result: unknown, not kept
    "trace_eval.coherence.label IS NULL": {"R2", "C2", "R4", "C4"},
    "trace_eval.coherence.label = 'span-level'": set(),
    "eval.coherence.label = 'good'": set(),
    "eval.coherence.label = 'span-level'": {"C1"},
    "session_eval.resolution.score > 0.5": {"R1", "C1", "R2", "C2"},
    "session_eval.resolution.label = 'open' OR trace_eval.coherence.label = 'bad'": {"R3", "C3", "R4", "C4"},
    "session_eval.resolution.label IS NULL": {"R3", "C3"},
    "span_kind = 'LLM' AND session_eval.resolution.score > 0.5": {"C1", "C2"},
    "trace_eval.\"coherence\".label = 'good'": {"R1", "C1"},
    "trace_eval.missing.label = 'good'": set(),
}


def test_trace_and_session_filters_select_whole_traces_and_sessions(
    server: Server, http: httpx.Client, conversation: Conversation
) -> None:
    c = conversation
    for text, expected in FILTERS.items():
        names = {s["name"] for s in list_spans(http, c.project_id, filter=text)["spans"]}
        assert names == expected, text


def test_sql_and_memory_agree_on_trace_and_session_columns(server: Server, conversation: Conversation) -> None:
    project_id = decode_id(Kind.PROJECT, conversation.project_id)

    async def documents(session: Any) -> dict[str, dict[str, Any]]:
        spans = (await session.scalars(select(Span).where(Span.project_id == project_id))).all()
        own = (
            await session.scalars(select(SpanEvaluation).where(SpanEvaluation.span_row_id.in_([s.id for s in spans])))
        ).all()
        traces = (await session.scalars(select(TraceEvaluation).where(TraceEvaluation.project_id == project_id))).all()
        sessions = (
            await session.scalars(select(SessionEvaluation).where(SessionEvaluation.project_id == project_id))
        ).all()
        return {
            span.name: span_as_filter_dict(
                span,
                [e for e in own if e.span_row_id == span.id],
                [e for e in traces if e.trace_id == span.trace_id],
                [e for e in sessions if e.session_id == span.session_id],
            )
            for span in spans
        }

    stored = in_db(server, documents)
    for text, expected in FILTERS.items():
        keep = span_filter_predicate(text)
        assert {name for name, document in stored.items() if keep(document)} == expected, text


def test_column_selection_names_the_scope(server: Server, http: httpx.Client, conversation: Conversation) -> None:
    c = conversation
    picked = _by_name(list_spans(http, c.project_id, included_columns=["trace_eval.coherence.label"])["spans"])
    assert picked["R1"] == [{"name": "coherence", "label": "good", "metadata": {"scope": "TRACE"}}]
    assert picked["C1"] == []
    spans_only = _by_name(list_spans(http, c.project_id, included_columns=["eval"])["spans"])
    assert spans_only["R1"] == [] and spans_only["C1"] == [{"name": "coherence", "label": "span-level", "score": 0.5}]
    without = _by_name(
        list_spans(http, c.project_id, excluded_columns=["session_eval", "trace_eval.coherence.metadata"])["spans"]
    )
    assert without["R1"] == [
        {"name": "coherence", "label": "good", "score": 0.9, "explanation": "on topic", "metadata": {"scope": "TRACE"}}
    ]


def test_a_bad_scoped_column_is_a_400_naming_it(http: httpx.Client, conversation: Conversation) -> None:
    response = http.post(
        "/v2/spans", json={"project_id": conversation.project_id, "filter": "trace_eval.coherence = 'x'"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "trace_eval.<name>.label" in response.json()["detail"]
