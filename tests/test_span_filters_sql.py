"""Filters over the real ``spans`` table: SQL and the in-memory predicate keep the same spans,
and no filter the parser accepts makes either database fail, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from evalplane.db.models import Span
from evalplane.domains.spans import filtering
from evalplane.filters import MAX_DEPTH, MAX_LENGTH, FilterSyntaxError
from evalplane.filters.parser import MAX_PATH_SEGMENTS
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


def _repeat(atom: str, joiner: str = " OR ") -> str:
    """``atom`` joined as many times as fits in the longest filter accepted."""
    return joiner.join([atom] * ((MAX_LENGTH + len(joiner)) // (len(atom) + len(joiner))))


# Shapes at the parser's limits that once broke SQLite (expression depth, parser stack, SQL that
# doubled with every list step) or could break PostgreSQL (bound-parameter counts).
EXTREME_FILTERS = {
    "flat OR chain": _repeat("name=''", "OR "),
    "flat AND chain": _repeat("name=''", "AND "),
    "alternating AND/OR": _repeat("name='' AND latency_ms=1"),
    "attribute ORs": _repeat("metadata.a=1"),
    "two list steps each": _repeat("attributes.0.0=1"),
    "eval ORs": _repeat("eval.a.score=1"),
    "CONTAINS ORs": _repeat("metadata.a CONTAINS 1"),
    "LIKE ORs": _repeat("metadata.a LIKE '%'"),
    "time ORs": _repeat("start_time > '2024-01-01'"),
    "long IN list": "name IN (" + ",".join(["''"] * ((MAX_LENGTH - 10) // 3)) + ")",
    "long attribute IN list": "metadata.a IN (" + ",".join(["1"] * ((MAX_LENGTH - 16) // 2)) + ")",
    "deepest path of list steps": "attributes." + ".".join(["0"] * MAX_PATH_SEGMENTS) + " = 1",
    "deepest NOT nesting": "NOT " * MAX_DEPTH + "name = ''",
    "deepest parentheses around a long chain": "(" * MAX_DEPTH + _repeat("name=''", "OR ")[:9000].rsplit("OR", 1)[0] + ")" * MAX_DEPTH,
    "nested NOT ( with list steps": "NOT (" * (MAX_DEPTH // 2) + "attributes.a.0.b.1.c CONTAINS 'x'" + ")" * (MAX_DEPTH // 2),
}


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
    for text in (too_long, too_deep, too_long_path):
        with pytest.raises(FilterSyntaxError):
            filtering.span_filter_where("sqlite", 1, text)
