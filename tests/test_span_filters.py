"""The filter language on stored spans, end to end: spans sent over OTLP, read back through the
``arize`` SDK's spans and traces clients with ``filter``, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from arize._generated.api_client.exceptions import ApiException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from evalplane.filters.parser import MAX_COST
from tests.support import Api, Server
from tests.support_filters import stored_filters
from tests.support_spans import (
    add_evaluation,
    export,
    llm_attributes,
    new_project_name,
    new_span_id,
    new_trace_id,
    project_id_named,
    request_pb,
    span_pb,
)

SECOND_NS = 1_000_000_000


@dataclass(frozen=True)
class Corpus:
    """Five spans in two traces, with evaluations, in a project of their own."""

    server: Server
    space_id: str
    project: str
    project_id: str
    trace_a: str
    trace_b: str
    span_ids: dict[str, str]
    base_ns: int

    def names(self, filter: str) -> set[str]:
        """The names of the spans the SDK's spans client returns for ``filter``."""
        spans = self.server.sdk().spans.list(project=self.project, space=self.space_id, filter=filter, limit=50).spans
        return {span.name for span in spans}

    def iso(self, seconds: float) -> str:
        micros = (self.base_ns + int(seconds * SECOND_NS)) // 1000  # what the span store keeps
        return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)).isoformat()


def _ok(span: Any) -> Any:
    span.status.CopyFrom(Status(code=Status.STATUS_CODE_OK))
    return span


@pytest.fixture(scope="module")
def corpus(server: Server) -> Corpus:
    base = time.time_ns() - 30 * 60 * SECOND_NS
    trace_a, trace_b = new_trace_id(), new_trace_id()
    ids = {name: new_span_id() for name in ("root-agent", "llm-1", "tool-search", "llm-2", "chain-x")}
    metadata = {"env": "prod", "tier": 2, "beta": True, "tags": ["x", "y"], "user": {"id": "u1"}}
    spans = [
        span_pb(
            trace_id=trace_a, span_id=ids["root-agent"], name="root-agent", start_ns=base, duration_ms=5200,
            attributes={
                "openinference.span.kind": "AGENT", "input.value": "plan a trip", "session.id": "s1",
                "tag.tags": ["vip", "eu"], "metadata": json.dumps(metadata),
            },
        ),
        _ok(span_pb(
            trace_id=trace_a, span_id=ids["llm-1"], parent_id=ids["root-agent"], name="llm-1",
            start_ns=base + 1 * SECOND_NS, duration_ms=1200, attributes=llm_attributes(1, model="gpt-4o"),
        )),
        span_pb(
            trace_id=trace_a, span_id=ids["tool-search"], parent_id=ids["root-agent"], name="tool-search",
            start_ns=base + 2 * SECOND_NS, duration_ms=80, error="timeout after 30s",
            attributes={
                "openinference.span.kind": "TOOL", "tool.name": "search", "metadata": '{"env": "staging"}',
                "retrieval.scores": [0.9, 0.2],
            },
        ),
        _ok(span_pb(
            trace_id=trace_b, span_id=ids["llm-2"], name="llm-2", start_ns=base + 10 * SECOND_NS, duration_ms=300,
            attributes={**llm_attributes(2, model="claude-3-5-sonnet"), "metadata": "not json"},
        )),
        span_pb(
            trace_id=trace_b, span_id=ids["chain-x"], parent_id=ids["llm-2"], name="chain-x",
            start_ns=base + 11 * SECOND_NS, duration_ms=15,
            attributes={"openinference.span.kind": "CHAIN", "input.value": "50% off_sale", "output.value": "it's done"},
        ),
    ]  # fmt: skip
    with server.http() as http:
        space = Api(http).space()
        project = new_project_name()
        response = export(server, request_pb(spans, project), space_id=space["id"])
        assert response.status_code == 200, response.text
        project_id = project_id_named(http, space["id"], project)
    add_evaluation(
        server, project_id, ids["llm-1"], name="correctness", label="correct", score=1.0, explanation="it matches"
    )
    add_evaluation(server, project_id, ids["llm-2"], name="correctness", label="incorrect", score=0.0)
    add_evaluation(server, project_id, ids["root-agent"], name="tone", label="polite")
    return Corpus(server, space["id"], project, project_id, trace_a, trace_b, ids, base)


ALL = {"root-agent", "llm-1", "tool-search", "llm-2", "chain-x"}

FIXED_COLUMN_CASES = [
    ("name = 'llm-1'", {"llm-1"}),
    ("name != 'llm-1'", ALL - {"llm-1"}),
    ("span_kind = 'LLM'", {"llm-1", "llm-2"}),
    ("span_kind IN ('LLM', 'AGENT')", {"llm-1", "llm-2", "root-agent"}),
    ("span_kind NOT IN ('LLM', 'AGENT')", {"tool-search", "chain-x"}),
    ("status_code = 'ERROR'", {"tool-search"}),
    ("status_code = 'OK'", {"llm-1", "llm-2"}),
    ("status_message LIKE 'timeout%'", {"tool-search"}),
    ("status_message CONTAINS 'after 30'", {"tool-search"}),
    ("status_message NOT CONTAINS 'after'", ALL - {"tool-search"}),
    ("name LIKE 'llm-_'", {"llm-1", "llm-2"}),
    ("name NOT LIKE '%-%'", set()),
    ("name LIKE 'LLM%'", set()),  # LIKE is case-sensitive
    ("latency_ms > 1000", {"root-agent", "llm-1"}),
    ("latency_ms >= 1200", {"root-agent", "llm-1"}),
    ("latency_ms < 80", {"chain-x"}),
    ("latency_ms <= 80", {"chain-x", "tool-search"}),
    ("latency_ms = 300", {"llm-2"}),
    ("latency_ms IN (15, 80)", {"chain-x", "tool-search"}),
    ("parent_id IS NULL", {"root-agent", "llm-2"}),
    ("parent_id IS NOT NULL", {"llm-1", "tool-search", "chain-x"}),
    ("span_kind = 'LLM' AND latency_ms > 500", {"llm-1"}),
    ("span_kind = 'TOOL' OR latency_ms < 20", {"tool-search", "chain-x"}),
    ("NOT (span_kind = 'LLM' OR parent_id IS NULL)", {"tool-search", "chain-x"}),
    ("span.status_code = 'ERROR' or SPAN_KIND = 'CHAIN'", {"tool-search", "chain-x"}),
]


@pytest.mark.parametrize(("text", "expected"), FIXED_COLUMN_CASES, ids=[c[0] for c in FIXED_COLUMN_CASES])
def test_sdk_filters_fixed_columns(corpus: Corpus, text: str, expected: set[str]) -> None:
    assert corpus.names(text) == expected


def test_sdk_filters_ids_and_times(corpus: Corpus) -> None:
    a, ids = corpus.trace_a, corpus.span_ids
    assert corpus.names(f"context.trace_id = '{a}'") == {"root-agent", "llm-1", "tool-search"}
    assert corpus.names(f"context.span_id IN ('{ids['llm-2']}', '{ids['chain-x']}')") == {"llm-2", "chain-x"}
    assert corpus.names(f"parent_id = '{ids['root-agent']}'") == {"llm-1", "tool-search"}
    assert corpus.names(f"start_time >= '{corpus.iso(5)}'") == {"llm-2", "chain-x"}
    assert corpus.names(f"start_time = '{corpus.iso(1)}'") == {"llm-1"}
    assert corpus.names(f"end_time < '{corpus.iso(3)}'") == {"llm-1", "tool-search"}
    assert corpus.names(f"end_time > '{corpus.iso(5)}' AND start_time < '{corpus.iso(5)}'") == {"root-agent"}


ATTRIBUTE_CASES = [
    ("attributes.llm.model_name = 'gpt-4o'", {"llm-1"}),
    ("attributes.llm.model_name != 'gpt-4o'", {"llm-2"}),  # spans without the attribute are unknown, not kept
    ("attributes.llm.model_name IN ('gpt-4o', 'claude-3-5-sonnet')", {"llm-1", "llm-2"}),
    ("attributes.llm.model_name NOT IN ('gpt-4o')", {"llm-2"}),
    ("attributes.llm.model_name LIKE 'claude%'", {"llm-2"}),
    ("attributes.llm.model_name NOT LIKE 'claude%'", {"llm-1"}),
    ("attributes.llm.token_count.total > 201", {"llm-2"}),
    ("attributes.llm.token_count.total >= 201", {"llm-1", "llm-2"}),
    ("attributes.llm.token_count.total < 202", {"llm-1"}),
    ("attributes.llm.token_count.total <= 202", {"llm-1", "llm-2"}),
    ("attributes.llm.token_count.total = 202", {"llm-2"}),
    ("attributes.llm.token_count.total = '202'", set()),  # a string never equals a number
    ("attributes.llm.input_messages.1.message.role = 'user'", {"llm-1", "llm-2"}),
    ("attributes.llm.input_messages.1.message.content LIKE 'Question 2:%'", {"llm-2"}),
    ("attributes.llm.input_messages.0.message.content CONTAINS 'helpful'", {"llm-1", "llm-2"}),
    ("attributes.llm.output_messages.0.message.role IS NOT NULL", {"llm-1", "llm-2"}),
    ("attributes.llm.output_messages.5.message.role IS NULL", ALL),
    ("attributes.tag.tags CONTAINS 'vip'", {"root-agent"}),
    ("attributes.tag.tags NOT CONTAINS 'vip'", {"llm-1", "llm-2"}),
    ("attributes.tag.tags.1 = 'eu'", {"root-agent"}),
    ("attributes.retrieval.scores CONTAINS 0.9", {"tool-search"}),
    ("attributes.input.value LIKE '50\\% off\\_sale'", {"chain-x"}),
    ("attributes.input.value LIKE '50_ off_sale'", {"chain-x"}),
    ("attributes.output.value = 'it''s done'", {"chain-x"}),
    ("attributes.session.id IS NOT NULL", {"root-agent"}),
    ("attributes.openinference.span.kind = 'TOOL' AND attributes.tool.name = 'search'", {"tool-search"}),
]


@pytest.mark.parametrize(("text", "expected"), ATTRIBUTE_CASES, ids=[c[0] for c in ATTRIBUTE_CASES])
def test_sdk_filters_nested_attributes(corpus: Corpus, text: str, expected: set[str]) -> None:
    assert corpus.names(text) == expected


METADATA_CASES = [
    ("metadata.env = 'prod'", {"root-agent"}),
    ("metadata.env IN ('prod', 'staging')", {"root-agent", "tool-search"}),
    ("attributes.metadata.env = 'staging'", {"tool-search"}),
    ("metadata.tier >= 2", {"root-agent"}),
    ("metadata.beta = TRUE", {"root-agent"}),
    ("metadata.tags CONTAINS 'y'", {"root-agent"}),
    ("metadata.user.id = 'u1'", {"root-agent"}),
    ("metadata.score = 0.5", {"llm-1"}),  # flat metadata.* attributes nest the same way
    ("metadata.cached = FALSE", {"llm-1"}),
    ("metadata IS NOT NULL", ALL - {"chain-x"}),
    ("attributes.metadata = 'not json'", {"llm-2"}),  # not JSON: kept as the string it was
]


@pytest.mark.parametrize(("text", "expected"), METADATA_CASES, ids=[c[0] for c in METADATA_CASES])
def test_openinference_metadata_json_is_stored_as_an_object_filters_reach_into(
    corpus: Corpus, text: str, expected: set[str]
) -> None:
    assert corpus.names(text) == expected


def test_metadata_comes_back_as_an_object(corpus: Corpus) -> None:
    spans = (
        corpus.server.sdk()
        .spans.list(project=corpus.project, space=corpus.space_id, filter="name = 'root-agent'")
        .spans
    )
    assert spans[0].attributes["metadata"] == {
        "env": "prod",
        "tier": 2,
        "beta": True,
        "tags": ["x", "y"],
        "user": {"id": "u1"},
    }


EVAL_CASES = [
    ("eval.correctness.label = 'correct'", {"llm-1"}),
    ("eval.correctness.label != 'correct'", {"llm-2"}),
    ("eval.correctness.score >= 0", {"llm-1", "llm-2"}),
    ("eval.correctness.score < 0.5", {"llm-2"}),
    ("eval.correctness.explanation CONTAINS 'match'", {"llm-1"}),
    ("eval.correctness.explanation IS NULL", ALL - {"llm-1"}),
    ("eval.correctness.label IS NULL", {"root-agent", "tool-search", "chain-x"}),
    ("eval.tone.label IN ('polite', 'rude')", {"root-agent"}),
    ("eval.\"tone\".label LIKE 'pol%' OR eval.correctness.label = 'incorrect'", {"root-agent", "llm-2"}),
    ("eval.missing.score > 0", set()),
    ("status_code = 'OK' AND eval.correctness.label = 'correct'", {"llm-1"}),
]


@pytest.mark.parametrize(("text", "expected"), EVAL_CASES, ids=[c[0] for c in EVAL_CASES])
def test_sdk_filters_on_evaluations(corpus: Corpus, text: str, expected: set[str]) -> None:
    assert corpus.names(text) == expected


def test_filtered_spans_page_with_a_cursor_bound_to_the_filter(corpus: Corpus) -> None:
    client = corpus.server.sdk()
    first = client.spans.list(project=corpus.project, space=corpus.space_id, filter="latency_ms > 50", limit=2)
    assert [s.name for s in first.spans] == ["llm-2", "tool-search"] and first.pagination.has_more
    rest = client.spans.list(
        project=corpus.project,
        space=corpus.space_id,
        filter="latency_ms > 50",
        limit=2,
        cursor=first.pagination.next_cursor,
    )
    assert [s.name for s in rest.spans] == ["llm-1", "root-agent"] and not rest.pagination.has_more
    with pytest.raises(ApiException) as caught:
        client.spans.list(
            project=corpus.project, space=corpus.space_id, filter="latency_ms > 51", cursor=first.pagination.next_cursor
        )
    assert caught.value.status == 400


def test_sdk_traces_keep_traces_with_any_matching_span(corpus: Corpus) -> None:
    client = corpus.server.sdk()

    def traces(filter: str) -> dict[str, set[str]]:
        found = client.traces.list(project=corpus.project, space=corpus.space_id, filter=filter).traces
        return {t.trace_id: {s.name for s in t.spans} for t in found}

    assert traces("status_code = 'ERROR'") == {corpus.trace_a: {"root-agent", "llm-1", "tool-search"}}
    assert traces("span_kind = 'CHAIN'") == {corpus.trace_b: {"llm-2", "chain-x"}}
    assert set(traces("eval.correctness.label IS NOT NULL")) == {corpus.trace_a, corpus.trace_b}
    assert traces("metadata.env = 'nowhere'") == {}


BAD_FILTERS = [
    ("name = 'x", 7, "unterminated string"),
    ("latency_ms > 'slow'", 13, "numbers"),
    ("span_kind = 'LLM' AND", 21, "a condition"),
    ("nope = 1", 0, "unknown column"),
    ("(name = 'a'", 11, "')'"),
    ("name = 'a' name", 11, "AND, OR"),
    ("eval.x.grade = 'a'", 0, "evaluation column"),
    ("start_time > 'yesterday'", 13, "ISO-8601"),
    ('attributes."a""b" = 1', 0, "double quote"),
]


@pytest.mark.parametrize(("text", "position", "says"), BAD_FILTERS, ids=[b[0] for b in BAD_FILTERS])
def test_bad_filters_are_400_problems_with_the_position(
    corpus: Corpus, http: httpx.Client, text: str, position: int, says: str
) -> None:
    for path in ("/v2/spans", "/v2/traces"):
        response = http.post(path, json={"project_id": corpus.project_id, "filter": text})
        assert response.status_code == 400, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        detail = response.json()["detail"]
        assert f"position {position}" in detail and says in detail, detail
        assert detail.startswith("'filter' is not a valid filter")


def test_a_bad_filter_through_the_sdk_raises_with_the_position(corpus: Corpus) -> None:
    with pytest.raises(ApiException) as caught:
        corpus.server.sdk().spans.list(project=corpus.project, space=corpus.space_id, filter="status_code = ")
    assert caught.value.status == 400
    assert "position 14" in json.loads(caught.value.body)["detail"]


def test_unpaired_surrogates_and_huge_filters_are_400_not_500(corpus: Corpus, http: httpx.Client) -> None:
    raw = '{"project_id": "' + corpus.project_id + '", "filter": "name = \'\\ud800\'"}'  # a lone surrogate escape
    response = http.post("/v2/spans", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400 and "surrogate" in response.json()["detail"]
    too_long = " OR ".join(["name = 'a'"] * 2000)
    assert http.post("/v2/spans", json={"project_id": corpus.project_id, "filter": too_long}).status_code == 400


LONG_VALID_FILTERS = {
    "a thousand ORs": "OR ".join(["name=''"] * 1000),
    "list steps 32 deep": "attributes." + ".".join(["0"] * 32) + " = 1",
    # Two list steps cost 70 of the filter's budget (README "Input limits"): 14 such paths fit.
    "many list paths": " OR ".join(["attributes.llm.input_messages.0.message.contents.1.x = 1"] * (MAX_COST // 70)),
    "nested NOTs": "NOT (" * 25 + "metadata.env.0.a CONTAINS 'x'" + ")" * 25,
    "long IN list": "name IN (" + ", ".join(["'llm-1'"] * 1000) + ")",
}


@pytest.mark.parametrize("text", LONG_VALID_FILTERS.values(), ids=LONG_VALID_FILTERS.keys())
def test_the_largest_valid_filters_run_on_both_databases(corpus: Corpus, http: httpx.Client, text: str) -> None:
    for path in ("/v2/spans", "/v2/traces"):
        response = http.post(path, json={"project_id": corpus.project_id, "filter": text}, timeout=60)
        assert response.status_code == 200, (path, response.text[:300])


junk = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
fragments = st.lists(
    st.sampled_from(
        ["name", "metadata.a.0", "eval.q.score", "=", "IN", "(", ")", "'x'", "1", "AND", "NOT", "LIKE", '"']
    ),
    max_size=8,
).map(" ".join)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(stored_filters, junk, fragments))
def test_any_filter_text_is_200_or_a_400_problem(corpus: Corpus, http: httpx.Client, text: str) -> None:
    for path in ("/v2/spans", "/v2/traces"):
        response = http.post(path, json={"project_id": corpus.project_id, "filter": text})
        assert response.status_code in (200, 400), (path, text, response.text[:300])
        if response.status_code == 400:
            assert response.headers["content-type"].startswith("application/problem+json")


def test_metadata_the_databases_cannot_hold_as_an_object_is_kept_as_sent(
    server: Server, api: Api, http: httpx.Client
) -> None:
    kept = ['{"a": "\\u0000"}', '{"n": 99999999999999999999}', "[1, 2]", '{"a": ']
    spans = [
        span_pb(name=f"m{i}", attributes={"openinference.span.kind": "LLM", "metadata": m}) for i, m in enumerate(kept)
    ]
    spans.append(span_pb(name="parsed", attributes={"metadata": '{"a": "\\u00e9", "b": [1.5]}'}))
    space = api.space()
    project = new_project_name()
    assert export(server, request_pb(spans, project), space_id=space["id"]).status_code == 200
    client = server.sdk()
    stored = {s.name: s.attributes["metadata"] for s in client.spans.list(project=project, space=space["id"]).spans}
    assert stored == {**{f"m{i}": m for i, m in enumerate(kept)}, "parsed": {"a": "é", "b": [1.5]}}
    found = client.spans.list(project=project, space=space["id"], filter="metadata.a = 'é' AND metadata.b CONTAINS 1.5")
    assert [s.name for s in found.spans] == ["parsed"]
