"""SQL and in-memory evaluation of filters keep exactly the same spans, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalplane.filters import compile_predicate, parse
from tests.support_filters import ScratchDb, filters, scratch_db, span_dicts  # noqa: F401 - scratch_db is the db fixture

EXAMPLES = int(os.environ.get("EVALPLANE_FILTER_EXAMPLES", "100"))  # raise for a longer hunt


def in_memory(rows: list[dict[str, Any]], text: str) -> set[int]:
    keep = compile_predicate(parse(text))
    return {i for i, row in enumerate(rows, 1) if keep(row)}


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=st.lists(span_dicts(), max_size=6), texts=st.lists(filters, min_size=1, max_size=4))
def test_sql_and_memory_agree_on_random_filters(db: ScratchDb, rows: list[dict[str, Any]], texts: list[str]) -> None:
    for text, from_sql in zip(texts, db.matching(rows, texts), strict=True):
        assert from_sql == in_memory(rows, text), text
