"""What filters mean, pinned on example spans: in memory and in SQL on each database, identically."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from evalplane.filters import compile_predicate, parse
from tests.support_filters import ScratchDb, scratch_db  # noqa: F401 - scratch_db is the db fixture


def span(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict.fromkeys(
        ("name", "span_kind", "status_code", "status_message", "latency_ms", "start_time", "end_time", "parent_id")
    )
    base |= {"context": {"trace_id": None, "span_id": None}, "attributes": None, "evals": {}}
    return base | fields


SPANS = [
    span(  # 1: an LLM call with rich attributes and two evaluations
        name="ChatCompletion",
        span_kind="LLM",
        status_code="OK",
        latency_ms=1200,
        start_time=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        context={"trace_id": "t1", "span_id": "s1"},
        attributes={
            "llm": {
                "model_name": "gpt-4o",
                "token_count": {"total": 1500},
                "output_messages": [{"message": {"content": "Hello World"}}],
            },
            "tags": ["prod", "beta", 3],
            "cached": True,
            "n": "42",
            "x y": "spaced",
            "b": {"0": "z"},
            "metadata": {"environment": "staging"},
            "input": {"value": '{"q": "hi"}'},
        },
        evals={"Correctness": {"label": "correct", "score": 1.0, "explanation": "fine"}, "My Eval": {"score": 0.0}},
    ),
    span(  # 2: a failed retriever
        name="retriever",
        span_kind="RETRIEVER",
        status_code="ERROR",
        status_message="timeout after 30s",
        latency_ms=6000,
        start_time=datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        parent_id="s1",
        context={"trace_id": "t1", "span_id": "s2"},
        attributes={"llm": {"model_name": "GPT-4o"}, "tags": "prod-beta", "cached": False, "n": 42},
    ),
    span(status_message="100% sure", attributes={}),  # 3: almost nothing known
]

CASES = [
    # the design's examples
    ("attributes.llm.model_name = 'gpt-4o' AND status_code = 'OK'", {1}),
    ("span_kind IN ('LLM','AGENT') AND latency_ms > 1000", {1}),
    # comparisons are case-sensitive; text orders by code point ('C' < 'a')
    ("attributes.llm.model_name = 'GPT-4o'", {2}),
    ("name < 'a'", {1}),
    ("name >= 'a'", {2}),
    # NOT, IN and != over unknowns exclude the span, as SQL does
    ("span_kind != 'LLM'", {2}),
    ("NOT span_kind = 'LLM'", {2}),
    ("span_kind NOT IN ('LLM')", {2}),
    ("NOT status_message CONTAINS 'x'", {2, 3}),
    ("span_kind = 'LLM' OR NOT span_kind = 'LLM'", {1, 2}),
    ("parent_id IS NULL", {1, 3}),
    ("parent_id IS NOT NULL", {2}),
    # precedence
    ("span_kind = 'LLM' OR span_kind = 'RETRIEVER' AND latency_ms < 100", {1}),
    ("(span_kind = 'LLM' OR span_kind = 'RETRIEVER') AND latency_ms < 5000", {1}),
    ("NOT span_kind = 'LLM' AND latency_ms > 0", {2}),
    # LIKE: case-sensitive, % and _, backslash escapes
    ("name LIKE 'chat%'", set()),
    ("name LIKE 'Chat%'", {1}),
    ("name LIKE '%Comp_etion'", {1}),
    ("attributes.llm.model_name NOT LIKE 'gpt%'", {2}),
    (r"status_message LIKE '100\% s%'", {3}),
    (r"status_message LIKE '100\%'", set()),
    # CONTAINS: substring of text, whole-element membership in lists
    ("status_message CONTAINS 'time'", {2}),
    ("attributes.tags CONTAINS 'beta'", {1, 2}),
    ("attributes.tags CONTAINS 'bet'", {2}),
    ("attributes.tags CONTAINS 3", {1}),
    ("attributes.tags NOT CONTAINS 'prod'", set()),
    ("attributes.llm.output_messages.0.message.content CONTAINS 'World'", {1}),
    # compared with a number, a numeric string ("42") is a number; compared with a string, only strings match
    ("attributes.n = 42", {1, 2}),
    ("attributes.n = '42'", {1}),
    ("attributes.n != 42", set()),
    ("attributes.n > 41.5", {1, 2}),
    ("attributes.n IN (1, 42)", {1, 2}),
    ("attributes.n NOT IN (1, 42.0)", set()),
    ('attributes."x y" < 1', set()),  # "spaced" is not a number: unknown, so not kept
    ('NOT (attributes."x y" < 1)', set()),  # and unknown under NOT too
    ("NOT (attributes.missing = 'x')", set()),
    ("NOT (attributes.missing = 'x') OR attributes.n = 42", {1, 2}),
    ("attributes.n IS NULL", {3}),
    ("attributes.cached = TRUE", {1}),
    ("attributes.cached != true", {2}),
    ("attributes.llm.token_count.total >= 1500", {1}),
    # paths: list indexes, digit keys on objects, quoted keys, metadata shorthand
    ("attributes.tags.1 = 'beta'", {1}),
    ("attributes.b.0 = 'z'", {1}),
    ("attributes.\"x y\" = 'spaced'", {1}),
    ("metadata.environment = 'staging'", {1}),
    ("attributes.llm IS NOT NULL", {1, 2}),
    # a JSON document inside a string is a leaf, not walked into
    ("attributes.input.value.q = 'hi'", set()),
    ("attributes.input.value CONTAINS '\"q\"'", {1}),
    # span columns, times and evaluations
    ("context.trace_id = 't1' AND context.span_id != 's1'", {2}),
    ("start_time >= '2024-05-01T12:15:00Z'", {2}),
    ("start_time < '2024-05-01 14:15:00+02:00'", {1}),
    ("eval.Correctness.label = 'correct'", {1}),
    ("eval.Correctness.explanation LIKE 'f%'", {1}),
    ('eval."My Eval".score < 0.5', {1}),
    ('eval."My Eval".label IS NULL', {1, 2, 3}),
    ("eval.Correctness.score IS NULL", {2, 3}),
]


def test_examples_in_memory() -> None:
    for text, expected in CASES:
        keep = compile_predicate(parse(text))
        assert {i for i, s in enumerate(SPANS, 1) if keep(s)} == expected, text


def test_examples_in_sql(db: ScratchDb) -> None:
    texts = [text for text, _ in CASES]
    for (text, expected), found in zip(CASES, db.matching(SPANS, texts), strict=True):
        assert found == expected, text


@pytest.mark.parametrize(
    ("value", "expected"),
    [(datetime(2024, 5, 1, 12, 0), True), ("2024-05-01T12:00:00+00:00", True), ("not a time", False)],
)
def test_in_memory_times_may_be_naive_or_iso_strings(value: object, expected: bool) -> None:
    keep = compile_predicate(parse("start_time = '2024-05-01T12:00:00Z'"))
    assert keep(span(start_time=value)) is expected
