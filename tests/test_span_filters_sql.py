"""Filters over the real ``spans`` table: SQL and the in-memory predicate keep the same spans,
and no filter the parser accepts makes either database fail, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from evalplane.db.models import Span
from evalplane.domains.spans import filtering
from evalplane.filters import MAX_DEPTH, MAX_LENGTH, FilterSyntaxError
from evalplane.filters.parser import MAX_COST, MAX_PATH_SEGMENTS
from tests.support_filters import (  # noqa: F401 - real_spans_db is the real_db fixture
    RealSpansDb,
    real_spans_db,
    stored_filters,
    stored_span_lists,
)

EXAMPLES = int(os.environ.get("EVALPLANE_FILTER_EXAMPLES", "60"))  # raise for a longer hunt


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(rows=stored_span_lists, texts=st.lists(stored_filters, min_size=1, max_size=4))
def test_sql_and_memory_keep_the_same_stored_spans(
    real_db: RealSpansDb, rows: list[dict[str, Any]], texts: list[str]
) -> None:
    for text, (from_sql, read_back, as_sent) in zip(texts, real_db.compare(rows, texts), strict=True):
        assert from_sql == read_back, text
        assert read_back == as_sent, text  # storing a span does not change what a filter sees


def _repeat(atom: str, joiner: str = " OR ", cost: int = 1) -> str:
    """``atom`` (which costs ``cost``) joined as many times as the length and the cost limits allow."""
    fits = (MAX_LENGTH + len(joiner)) // (len(atom) + len(joiner))
    return joiner.join([atom] * min(fits, MAX_COST // cost))


# Shapes at the parser's limits that once broke SQLite (expression depth, parser stack, SQL that
# doubled with every list step) or could break PostgreSQL (bound-parameter counts).
EXTREME_FILTERS = {
    "flat OR chain": _repeat("name=''", "OR "),
    "flat AND chain": _repeat("name=''", "AND "),
    "alternating AND/OR": _repeat("name='' AND latency_ms=1"),
    "attribute ORs": _repeat("metadata.a=1", cost=10),
    "two list steps each": _repeat("attributes.0.0=1", cost=70),
    "eval ORs": _repeat("eval.a.score=1"),
    "CONTAINS ORs": _repeat("metadata.a CONTAINS 1", cost=10),
    "LIKE ORs": _repeat("metadata.a LIKE '%'", cost=10),
    "time ORs": _repeat("start_time > '2024-01-01'"),
    "long IN list": "name IN (" + ",".join(["''"] * ((MAX_LENGTH - 10) // 3)) + ")",
    "long attribute IN list": "metadata.a IN (" + ",".join(["1"] * ((MAX_LENGTH - 16) // 2)) + ")",
    "deepest path of list steps": "attributes." + ".".join(["0"] * MAX_PATH_SEGMENTS) + " = 1",
    "deepest NOT nesting": "NOT " * MAX_DEPTH + "name = ''",
    "deepest parentheses around a long chain": "(" * MAX_DEPTH
    + _repeat("name=''", "OR ")[:9000].rsplit("OR", 1)[0]
    + ")" * MAX_DEPTH,
    "nested NOT ( with list steps": "NOT (" * (MAX_DEPTH // 2)
    + "attributes.a.0.b.1.c CONTAINS 'x'"
    + ")" * (MAX_DEPTH // 2),
}


@pytest.mark.slow
@pytest.mark.parametrize("text", EXTREME_FILTERS.values(), ids=EXTREME_FILTERS.keys())
def test_filters_at_the_parser_limits_run_on_the_database(real_db: RealSpansDb, text: str) -> None:
    assert len(text) <= MAX_LENGTH

    async def work(session: Any, project_id: int) -> list[int]:
        where = filtering.span_filter_where(session.bind.dialect.name, project_id, text)
        return list((await session.scalars(select(Span.id).where(where))).all())

    assert real_db.run(work) == []


def test_one_step_past_each_limit_is_a_filter_syntax_error() -> None:
    too_long = _repeat("name=''", "OR ") + " OR name=''"
    too_deep = "NOT " * (MAX_DEPTH + 1) + "name = ''"
    too_long_path = "attributes." + ".".join(["0"] * (MAX_PATH_SEGMENTS + 1)) + " = 1"
    too_costly = _repeat("attributes.0.0=1", cost=70) + " OR attributes.0.0=1"
    for text in (too_long, too_deep, too_long_path, too_costly):
        with pytest.raises(FilterSyntaxError):
            filtering.span_filter_where("sqlite", 1, text)


def test_engine_entry_points_and_several_filters(real_db: RealSpansDb) -> None:
    """What the engine calls: several filters (a task's and an evaluator's) are ANDed, blank
    ones ignored, and the WHERE clause stays inside the project."""
    from evalplane.db.models import SpanEvaluation
    from evalplane.domains.spans import repository

    row = {
        "trace_id": "t", "span_id": "s", "parent_id": None, "name": "chat", "span_kind": "LLM",
        "status_code": "OK", "status_message": "", "latency_ms": 12.5,
        "start_time": datetime(2024, 5, 1, 12, tzinfo=UTC), "end_time": datetime(2024, 5, 1, 12, 0, 1, tzinfo=UTC),
        "attributes": {"llm": {"model_name": "gpt-4o"}, "metadata": {"env": "prod"}},
        "events": [], "resource_attributes": {}, "ingested_at": datetime(2024, 5, 1, tzinfo=UTC),
    }  # fmt: skip

    async def work(session: Any, project_id: int) -> list[tuple[str, bool, bool]]:
        other = await repository.ensure_project(session, real_db.space_id, "other")
        await repository.insert_spans(session, [row | {"project_id": project_id}, row | {"project_id": other}])
        span = await session.scalar(select(Span).where(Span.project_id == project_id))
        session.add(SpanEvaluation(span_row_id=span.id, name="correctness", label="correct", score=1.0))
        await session.flush()
        as_dict = filtering.span_as_filter_dict(span, (await repository.evaluations_for(session, [span.id]))[span.id])
        dialect = session.bind.dialect.name
        cases = [
            ("span_kind = 'LLM'", None, "  "),
            ("span_kind = 'LLM'", "eval.correctness.score >= 1"),
            ("metadata.env = 'prod'", "attributes.llm.model_name = 'gpt-3.5'"),
            (None,),
        ]
        found = []
        for filters in cases:
            ids = (
                await session.scalars(select(Span.id).where(filtering.span_filter_where(dialect, project_id, *filters)))
            ).all()
            assert set(ids) <= {span.id}
            found.append((" & ".join(map(str, filters)), bool(ids), filtering.span_filter_predicate(*filters)(as_dict)))
        return found

    for label, from_sql, in_memory in real_db.run(work):
        assert from_sql == in_memory, label
    assert [r[1] for r in real_db.run(work)] == [True, True, False, True]


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ('{"env": "prod", "n": 2}', {"env": "prod", "n": 2}),
        ('  {"nested": {"a": [1, true, null]}}', {"nested": {"a": [1, True, None]}}),
        ("[1, 2]", "[1, 2]"),  # valid JSON but not an object
        ("not json", "not json"),
        ('{"a": "\\u0000"}', '{"a": "\\u0000"}'),  # PostgreSQL cannot store NUL in JSONB
        ('{"a\\u0000": 1}', '{"a\\u0000": 1}'),
        ('{"big": 99999999999999999999}', '{"big": 99999999999999999999}'),  # beyond 64 bits
        ('{"inf": 1e400}', '{"inf": 1e400}'),
        ('{"a": 1', '{"a": 1'),
    ],
)
def test_metadata_json_strings_become_objects_only_when_storable(sent: str, stored: Any) -> None:
    from evalplane.domains.spans.openinference import metadata_as_object

    attributes = {"metadata": sent, "other": '{"x": 1}'}
    metadata_as_object(attributes)
    assert attributes == {"metadata": stored, "other": '{"x": 1}'}
