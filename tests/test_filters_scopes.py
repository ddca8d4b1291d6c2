"""``query_filters`` (trace-contains-match): the SQL admission and the in-memory one admit the
same traces and sessions over the real ``spans`` table, on SQLite and PostgreSQL; and bad
``query_filters`` are refused with the place of the error."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from evalplane.db.models import Span
from evalplane.domains.spans import filtering, repository
from evalplane.filters import FilterSyntaxError
from evalplane.filters.scopes import (
    admission_sql,
    mapping_spans_sql,
    matches_any_of,
    parse_query_filters,
    trace_admitted,
)
from tests.support_filters import (  # noqa: F401 - real_spans_db is the real_db fixture
    TIMES,
    RealSpansDb,
    real_spans_db,
    stored_filters,
    stored_span_rows,
)

EXAMPLES = int(os.environ.get("EVALPLANE_FILTER_EXAMPLES", "40"))
TRACES = ["t1", "t2", "t3"]
SESSIONS = ["s1", "s2"]
ROW: dict[str, Any] = {
    "name": "n",
    "status_code": "OK",
    "status_message": "",
    "parent_id": None,
    "latency_ms": 1.0,
    "start_time": TIMES[0],
    "end_time": TIMES[0],
    "attributes": {},
    "evals": {},
}

expressions = st.recursive(
    st.sampled_from(["A", "B", "C"]),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["AND", "OR", "and"]), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        inner.map(lambda e: f"NOT ({e})"),
        inner.map(lambda e: f"not {e}"),
    ),
    max_leaves=4,
)


@st.composite
def grouped_spans(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = draw(st.lists(stored_span_rows(), max_size=7))
    for n, row in enumerate(rows):
        row["trace_id"], row["span_id"] = draw(st.sampled_from(TRACES)), f"s{n}"
        row["session_id"] = draw(st.none() | st.sampled_from(SESSIONS))
    return rows


async def _decide(session: Any, project_id: int, rows: list[dict[str, Any]], qf: Any) -> dict[str, Any]:
    stored = [
        {k: v for k, v in r.items() if k not in ("evals", "annotations")}
        | {"project_id": project_id, "events": [], "resource_attributes": {}, "ingested_at": TIMES[0]}
        for r in rows
    ]
    await repository.insert_spans(session, stored)
    spans = list((await session.scalars(select(Span).where(Span.project_id == project_id))).all())
    evaluations = await repository.evaluations_for(session, [s.id for s in spans])
    documents = [(s, filtering.span_as_filter_dict(s, evaluations.get(s.id, []))) for s in spans]
    dialect = session.bind.dialect.name
    out: dict[str, Any] = {}
    for group, column, keys in (("trace", Span.trace_id, TRACES), ("session", Span.session_id, SESSIONS)):
        present = {getattr(s, column.key) for s, _ in documents} - {None}
        in_memory = {
            key for key in keys if trace_admitted(qf, [d for s, d in documents if getattr(s, column.key) == key])
        }
        # Both forms the engine uses: over the whole project (planning) and over a batch (loading).
        for among in (None, sorted(present)):
            where = admission_sql(qf, dialect, project_id, column.key, column, among=among)
            query = select(column).where(Span.project_id == project_id, column.is_not(None), where).distinct()
            out[(group, among is not None)] = (set((await session.scalars(query)).all()), in_memory & present)
    for query_id in ("A", "B", "C"):
        where = mapping_spans_sql(qf, [query_id], dialect)
        assert where is not None
        query = select(Span.span_id).where(Span.project_id == project_id, where)
        in_memory = {s.span_id for s, d in documents if matches_any_of(qf, [query_id], d)}
        out[("mapping", query_id)] = (set((await session.scalars(query)).all()), in_memory)
    return out


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(rows=grouped_spans(), texts=st.lists(stored_filters, min_size=3, max_size=3), expression=expressions)
@example(  # a span outside every session matching B must not make NOT B unknown for the sessions
    rows=[
        {**ROW, "trace_id": "t1", "span_id": "s0", "session_id": "s1", "span_kind": "LLM"},
        {**ROW, "trace_id": "t2", "span_id": "s1", "session_id": None, "span_kind": "CHAIN"},
    ],
    texts=["span_kind = 'LLM'", "span_kind = 'CHAIN'", "name = 'x'"],
    expression="A AND NOT B",
)
def test_sql_and_memory_admit_the_same_traces_and_sessions(
    real_db: RealSpansDb, rows: list[dict[str, Any]], texts: list[str], expression: str
) -> None:
    qf = parse_query_filters(
        {"filters": [{"id": i, "filter": t} for i, t in zip("ABC", texts, strict=True)], "expression": expression}
    )
    decided = real_db.run(lambda session, project_id: _decide(session, project_id, rows, qf))
    for shape, (from_sql, in_memory) in decided.items():
        assert from_sql == in_memory, (shape, expression, texts)


def test_a_trace_is_admitted_when_any_span_matches() -> None:
    qf = parse_query_filters(
        {
            "filters": [{"id": "a", "filter": "span_kind = 'LLM'"}, {"id": "B", "filter": "status_code = 'ERROR'"}],
            "expression": "A and not B",
        }
    )
    assert qf is not None and qf.ids == ["A", "B"]
    llm, chain, error = {"span_kind": "LLM"}, {"span_kind": "CHAIN"}, {"span_kind": "CHAIN", "status_code": "ERROR"}
    assert trace_admitted(qf, [chain, llm])
    assert not trace_admitted(qf, [chain])
    assert not trace_admitted(qf, [llm, error])
    assert matches_any_of(qf, ["A"], llm) and not matches_any_of(qf, ["a", "B"], chain)


def test_one_filter_needs_no_expression() -> None:
    qf = parse_query_filters({"filters": [{"id": "A", "filter": "span_kind = 'LLM'"}]})
    assert qf is not None and trace_admitted(qf, [{"span_kind": "LLM"}])
    assert parse_query_filters(None) is None and parse_query_filters({"filters": []}) is None


@pytest.mark.parametrize(
    ("value", "message", "position"),
    [
        ({"filters": [{"id": "A", "filter": "span_kind = "}]}, "'query_filters.filters[0].filter' is not a valid", 12),
        (
            {"filters": [{"id": "A", "filter": "name = 'x'"}], "expression": "A AND Z"},
            "'Z' at position 6 is not a declared filter id",
            6,
        ),
        ({"filters": [{"id": "A", "filter": "name = 'x'"}], "expression": "A AND"}, "expected a filter id", 5),
        ({"filters": [{"id": "A", "filter": "name = 'x'"}], "expression": "(A"}, "expected ')'", 2),
        (
            {"filters": [{"id": "A", "filter": "name = 'x'"}, {"id": "B", "filter": "name = 'y'"}]},
            "'query_filters.expression' is required",
            0,
        ),
        ({"filters": [{"id": "F", "filter": "name = 'x'"}]}, "must be one of A, B, C, D, E", 0),
        (
            {"filters": [{"id": "A", "filter": "name = 'x'"}], "expression": "NOT " * 60 + "A"},
            "nests too deeply",
            200,
        ),
    ],
)
def test_bad_query_filters_are_refused_with_the_place(value: dict[str, Any], message: str, position: int) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_query_filters(value)
    assert message in caught.value.detail
    assert caught.value.position == position
