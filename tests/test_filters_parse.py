"""The filter language parser: every operator, precedence, quoting, and exact error positions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalplane.core.errors import InvalidInput
from evalplane.filters import FilterSyntaxError, check_filter, parse
from evalplane.filters.ast import (
    And,
    AttributeColumn,
    Compare,
    Contains,
    EvalColumn,
    In,
    IsNull,
    Like,
    Not,
    Or,
    SpanColumn,
)
from evalplane.filters.parser import MAX_PATH_SEGMENTS

NAME = SpanColumn("name")
LATENCY = SpanColumn("latency_ms")


def cmp(column, op, value):
    return Compare(column, op, value)


def error_of(text: str) -> FilterSyntaxError:
    with pytest.raises(FilterSyntaxError) as info:
        parse(text)
    return info.value


# -- operators ---------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
def test_every_comparison_operator(op: str) -> None:
    assert parse(f"latency_ms {op} 5") == cmp(LATENCY, op, 5)


def test_operator_aliases_mean_the_same() -> None:
    assert parse("name == 'a'") == parse("name = 'a'")
    assert parse("name <> 'a'") == parse("name != 'a'")


def test_in_and_not_in() -> None:
    assert parse("span_kind IN ('LLM', 'AGENT')") == In(SpanColumn("span_kind"), ("LLM", "AGENT"))
    assert parse("span_kind not in ('LLM')") == In(SpanColumn("span_kind"), ("LLM",), negated=True)


def test_like_and_not_like() -> None:
    assert parse("name LIKE 'chat%'") == Like(NAME, "chat%")
    assert parse("name NOT LIKE '_x'") == Like(NAME, "_x", negated=True)


def test_contains_and_not_contains() -> None:
    assert parse("status_message CONTAINS 'time'") == Contains(SpanColumn("status_message"), "time")
    assert parse("attributes.tags NOT CONTAINS 3") == Contains(AttributeColumn(("tags",)), 3, negated=True)


def test_is_null_and_is_not_null() -> None:
    assert parse("parent_id IS NULL") == IsNull(SpanColumn("parent_id"))
    assert parse("parent_id is not null") == IsNull(SpanColumn("parent_id"), negated=True)


def test_keywords_are_case_insensitive() -> None:
    assert parse("name = 'a' aNd NoT latency_ms iN (1) Or parent_id Is NuLl") == parse(
        "name = 'a' AND NOT latency_ms IN (1) OR parent_id IS NULL"
    )


def test_design_examples_parse() -> None:
    assert parse("attributes.llm.model_name = 'gpt-4o' AND status_code = 'ERROR'") == And(
        (cmp(AttributeColumn(("llm", "model_name")), "=", "gpt-4o"), cmp(SpanColumn("status_code"), "=", "ERROR"))
    )
    assert parse("span_kind IN ('LLM','AGENT') AND latency_ms > 5000") == And(
        (In(SpanColumn("span_kind"), ("LLM", "AGENT")), cmp(LATENCY, ">", 5000))
    )


# -- precedence --------------------------------------------------------------------------


def test_and_binds_tighter_than_or() -> None:
    a, b, c = (cmp(LATENCY, "=", n) for n in (1, 2, 3))
    assert parse("latency_ms = 1 OR latency_ms = 2 AND latency_ms = 3") == Or((a, And((b, c))))
    assert parse("latency_ms = 1 AND latency_ms = 2 OR latency_ms = 3") == Or((And((a, b)), c))


def test_not_binds_tighter_than_and() -> None:
    a, b = cmp(LATENCY, "=", 1), cmp(LATENCY, "=", 2)
    assert parse("NOT latency_ms = 1 AND latency_ms = 2") == And((Not(a), b))
    assert parse("NOT (latency_ms = 1 AND latency_ms = 2)") == Not(And((a, b)))
    assert parse("NOT NOT latency_ms = 1") == Not(Not(a))


def test_parentheses_override_precedence_and_chains_flatten() -> None:
    a, b, c = (cmp(LATENCY, "=", n) for n in (1, 2, 3))
    assert parse("(latency_ms = 1 OR latency_ms = 2) AND latency_ms = 3") == And((Or((a, b)), c))
    assert parse("latency_ms = 1 OR latency_ms = 2 OR latency_ms = 3") == Or((a, b, c))
    assert parse("((latency_ms = 1))") == a


# -- literals and columns ------------------------------------------------------------------


def test_string_literals_double_a_quote_to_escape_it() -> None:
    assert parse("name = 'it''s'") == cmp(NAME, "=", "it's")
    assert parse("name = ''") == cmp(NAME, "=", "")
    assert parse("name = 'AND OR ( ) \"'") == cmp(NAME, "=", 'AND OR ( ) "')


@pytest.mark.parametrize(
    ("text", "value"),
    [("5", 5), ("-5", -5), ("2.5", 2.5), ("-0.25", -0.25), ("1e3", 1000.0), ("1.5E-2", 0.015), ("-7e+1", -70.0)],
)
def test_numbers(text: str, value: float) -> None:
    parsed = parse(f"latency_ms >= {text}")
    assert parsed == cmp(LATENCY, ">=", value) and type(parsed.value) is type(value)


def test_booleans_compare_with_attributes() -> None:
    assert parse("attributes.cached = TRUE") == cmp(AttributeColumn(("cached",)), "=", True)
    assert parse("attributes.cached != false") == cmp(AttributeColumn(("cached",)), "!=", False)


def test_timestamps_are_parsed_as_utc() -> None:
    assert parse("start_time >= '2024-05-01T12:00:00Z'").value == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert parse("end_time < '2024-05-01 14:00:00+02:00'").value == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert parse("end_time < '2024-05-01'").value == datetime(2024, 5, 1, tzinfo=UTC)


def test_every_span_column_is_known() -> None:
    for column in (
        "name", "span_kind", "status_code", "status_message", "parent_id", "context.trace_id", "context.span_id",
    ):  # fmt: skip
        assert parse(f"{column} = 'x'") == cmp(SpanColumn(column), "=", "x")
    assert parse("SPAN.Status_Code = 'OK'") == cmp(SpanColumn("status_code"), "=", "OK")


def test_attribute_paths_take_digits_hyphens_and_quoted_keys() -> None:
    column = parse("attributes.llm.output_messages.0.message.content = 'x'").column
    assert column == AttributeColumn(("llm", "output_messages", "0", "message", "content"))
    assert parse("attributes.x-request-id = 'a'").column == AttributeColumn(("x-request-id",))
    assert parse('attributes."user id"."a.b" = 1').column == AttributeColumn(("user id", "a.b"))
    assert parse("metadata.environment = 'staging'").column == AttributeColumn(("metadata", "environment"))
    assert parse("attributes.Model = 'x'").column == AttributeColumn(("Model",))


def test_attribute_keys_with_a_double_quote_are_refused_with_the_position() -> None:
    # SQLite's JSON paths cannot address such a key, so SQL and memory would disagree.
    with pytest.raises(FilterSyntaxError, match="double quote") as caught:
        parse('status_code = \'OK\' AND attributes."a""b" = 1')
    assert caught.value.position == 23
    assert parse('eval."a""b".label = \'x\'').column == EvalColumn('a"b', "label")


def test_unpaired_surrogates_are_refused_with_the_position() -> None:
    with pytest.raises(FilterSyntaxError, match="surrogate") as caught:
        parse("name = 'a\ud800'")
    assert caught.value.position == 9


def test_attribute_paths_deeper_than_the_limit_are_refused() -> None:
    parse("attributes." + ".".join(["0"] * MAX_PATH_SEGMENTS) + " = 1")
    with pytest.raises(FilterSyntaxError, match="too deep"):
        parse("attributes." + ".".join(["0"] * (MAX_PATH_SEGMENTS + 1)) + " = 1")


def test_eval_columns_with_plain_and_quoted_names() -> None:
    assert parse("eval.correctness.label = 'correct'").column == EvalColumn("correctness", "label")
    assert parse('eval."My Eval".SCORE > 0.5').column == EvalColumn("My Eval", "score")
    assert parse("eval.tone.explanation CONTAINS 'rude'").column == EvalColumn("tone", "explanation")


# -- errors, with exact positions ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("latency_ms = ", 13, "expected a value (a quoted string, a number, TRUE or FALSE) after '=' at position 13"),
        ("name = 'abc", 7, "unterminated string starting at position 7"),
        ("(name = 'a'", 11, "expected ')' at position 11, found end of filter (to close the '(' at position 0)"),
        ("name = 'a')", 10, "unmatched ')' at position 10"),
        ("name = 'a' AND", 14, "expected a condition after 'AND' at position 14, found end of filter"),
        ("name = 'a' OR OR name = 'b'", 14, "expected a condition after 'OR' at position 14, found keyword OR"),
        ("name 'a'", 5, "expected an operator"),
        ("name = 'a' name = 'b'", 11, "expected AND, OR or the end of the filter at position 11"),
        ("= 'a'", 0, "expected a column name, NOT or '(' at position 0, found '='"),
        ("", 0, "expected a column name, NOT or '(' at position 0, found end of filter"),
        ('name = "gpt"', 7, "strings use single quotes"),
        ("name ~ 'a'", 5, "unexpected character '~' at position 5"),
        ("latency_ms > -x", 14, "expected a digit after '-' at position 14"),
        ("latency_ms > 12ab", 13, "malformed number starting at position 13"),
        ("name IN 'a'", 8, "expected '(' to start the list after 'IN' at position 8"),
        ("name IN ('a' 'b')", 13, "expected ',' or ')' in the IN list at position 13"),
        ("name IN ()", 9, "expected a value"),
        ("name NOT = 'a'", 9, "expected IN, LIKE or CONTAINS after 'name NOT' at position 9"),
        ("name IS 'a'", 8, "expected NULL after 'IS' at position 8"),
        ("name = NULL", 7, "use IS NULL or IS NOT NULL"),
        ("name LIKE 5", 10, "expected a quoted pattern after 'LIKE' at position 10"),
        ("attributes. = 1", 11, "expected a name after '.' at position 11"),
        ("attributes = 1", 10, "expected a path after 'attributes' at position 10"),
        ("eval.x = 1", 0, "is not an evaluation column"),
        ("attributes.tags.-1 = 'a'", 0, "list positions are plain digits"),
        ('attributes.tags." 1" = 1', 0, "list positions are plain digits"),
        ("eval.x.grade = 1", 0, "is not an evaluation column"),
        ("latency_ms = 1e999", 13, "number out of range at position 13"),
        ("latency_ms = 99999999999999999999", 13, "number out of range at position 13"),
        ("latency_ms = " + "9" * 5000, 13, "number out of range at position 13"),
        ("name = 'a\x00b'", 7, "NUL"),
        ('eval."unclosed.label = 1', 5, "unterminated quoted name starting at position 5"),
    ],
)
def test_syntax_errors_name_what_was_expected_and_where(text: str, position: int, fragment: str) -> None:
    error = error_of(text)
    assert error.position == position
    assert fragment in error.detail
    assert isinstance(error, InvalidInput)


def test_unknown_column_lists_the_valid_ones() -> None:
    error = error_of("latency_ms > 1 AND modle_name = 'x'")
    assert error.position == 19
    assert "unknown column 'modle_name' at position 19" in error.detail
    for valid in ("span_kind", "context.trace_id", "attributes.<path>", "eval.<name>.label|score|explanation"):
        assert valid in error.detail


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("latency_ms = 'slow'", 13, "latency_ms holds numbers"),
        ("name = 5", 7, "name holds text"),
        ("name = TRUE", 7, "name holds text"),
        ("eval.q.score IN (0.5, 'x')", 22, "eval.q.score holds numbers"),
        ("start_time > 5", 13, "holds timestamps"),
        ("start_time > 'yesterday'", 13, "is not an ISO-8601 time"),
        ("latency_ms LIKE '5%'", 16, "LIKE needs a text column"),
        ("end_time CONTAINS '2024'", 18, "CONTAINS needs a text or attribute column"),
        ("name CONTAINS 5", 14, "needs a quoted string"),
        ("attributes.x IN ('a', 1)", 22, "mixes strings and numbers"),
        ("attributes.x > TRUE", 15, "only compare with = or !="),
    ],
)
def test_literals_that_can_never_match_are_rejected(text: str, position: int, fragment: str) -> None:
    error = error_of(text)
    assert (error.position, fragment in error.detail) == (position, True), error.detail


def test_length_and_depth_are_limited() -> None:
    assert "too long" in error_of("name = '" + "x" * 10_000 + "'").detail
    deep = "(" * 51 + "name = 'a'" + ")" * 51
    error = error_of(deep)
    assert "nests too deeply" in error.detail and error.position == 50
    assert "nests too deeply" in error_of("NOT " * 60 + "name = 'a'").detail
    parse("(" * 50 + "name = 'a'" + ")" * 50)
    # Long flat chains are fine: they stay one level deep.
    chain = parse(" OR ".join(["latency_ms = 1"] * 500))
    assert isinstance(chain, Or) and len(chain.operands) == 500


def test_check_filter_accepts_blank_and_reports_the_field() -> None:
    check_filter(None)
    check_filter("   ")
    check_filter("span_kind = 'LLM'")
    with pytest.raises(FilterSyntaxError) as info:
        check_filter("span_kind = ", field="evaluators[0].query_filter")
    assert info.value.field == "evaluators[0].query_filter"
    assert info.value.position == 12
    assert info.value.detail.startswith("'evaluators[0].query_filter' is not a valid filter: expected a value")
    with pytest.raises(FilterSyntaxError) as info:
        check_filter("nope")
    assert info.value.field == "query_filter"


# -- fuzzing -----------------------------------------------------------------------------

_FRAGMENTS = st.sampled_from(
    [
        "name", "latency_ms", "attributes.a.0", "eval.\"x\".label", "eval.q.score", "start_time", "context.span_id",
        "=", "!=", "<", ">=", "<>", "==", "IN", "NOT", "LIKE", "CONTAINS", "IS", "NULL", "AND", "OR", "TRUE",
        "(", ")", ",", "'a'", "''''", "'", "\"", "5", "-1.5e3", "1e999", "-", ".", "'2024-01-01'", "\x00", "é",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80))
def test_arbitrary_text_raises_only_filter_syntax_errors(text: str) -> None:
    try:
        parse(text)
    except FilterSyntaxError as exc:
        assert 0 <= exc.position <= len(text)


@settings(max_examples=600, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=14).map(" ".join))
def test_token_soup_raises_only_filter_syntax_errors(text: str) -> None:
    try:
        parse(text)
    except FilterSyntaxError as exc:
        assert 0 <= exc.position <= len(text)
