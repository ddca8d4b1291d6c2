"""The five managed code evaluators."""

from __future__ import annotations

import pytest

from evalplane.engine.code import managed
from evalplane.engine.code.outcome import Outcome


def run(kind: str, output, params=None, **extra) -> Outcome:
    variables = {"output": output, **extra}
    return managed.evaluate(kind, variables, list(variables), params or {})


def test_matches_regex() -> None:
    assert run("MATCHES_REGEX", "call 555-1234 now", {"pattern": r"\d{3}-\d{4}"}).score == 1.0
    assert run("MATCHES_REGEX", "no digits", {"pattern": r"\d+"}).label == "false"


def test_matches_regex_rejects_a_bad_pattern() -> None:
    with pytest.raises(managed.ConfigError, match="not a valid regular expression"):
        run("MATCHES_REGEX", "x", {"pattern": "("})


def test_json_parseable() -> None:
    assert run("JSON_PARSEABLE", '{"a": [1, 2]}').label == "true"
    assert run("JSON_PARSEABLE", "{a: 1}").label == "false"
    assert run("JSON_PARSEABLE", None).label == "false"


def test_contains_any_and_all_keywords_case_insensitive_by_default() -> None:
    params = {"keywords": ["Expedia", "airbnb"]}
    assert run("CONTAINS_ANY_KEYWORD", "try AIRBNB instead", params).score == 1.0
    assert run("CONTAINS_ALL_KEYWORDS", "try AIRBNB instead", params).score == 0.0
    assert run("CONTAINS_ALL_KEYWORDS", "expedia or airbnb", params).explanation == "all keywords found"
    assert run("CONTAINS_ANY_KEYWORD", "AIRBNB", {**params, "case_sensitive": "true"}).score == 0.0


def test_keywords_may_be_a_comma_separated_string() -> None:
    assert run("CONTAINS_ANY_KEYWORD", "a refund please", {"keywords": "refund, cancel"}).label == "true"


def test_exact_match_against_a_second_variable_or_a_parameter() -> None:
    assert run("EXACT_MATCH", " Paris ", expected="Paris").score == 1.0
    assert run("EXACT_MATCH", "paris", expected="Paris").score == 0.0
    assert run("EXACT_MATCH", "paris", {"expected": "Paris", "case_sensitive": "false"}).score == 1.0


def test_static_params_from_stored_list() -> None:
    stored = [{"name": "pattern", "type": "REGEX", "default_value": "^ok"}]
    assert managed.static_params(stored) == {"pattern": "^ok"}


def test_unknown_managed_evaluator() -> None:
    with pytest.raises(managed.ConfigError, match="unknown managed evaluator"):
        run("NOPE", "x")
