"""The five managed code evaluators. They are pure functions of the mapped variables and
the evaluator's static parameters, so they run in-process.

Each returns a boolean verdict as label ``"true"``/``"false"`` with score 1.0/0.0 and a
one-line explanation. The text checked is the first mapped variable (``output`` when the
evaluator declares it); EXACT_MATCH compares it with the second variable, or with the
static parameter ``expected`` when there is no second variable.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from evalplane.core import user_regex
from evalplane.engine.code.outcome import Outcome

MANAGED = ("MATCHES_REGEX", "JSON_PARSEABLE", "CONTAINS_ANY_KEYWORD", "CONTAINS_ALL_KEYWORDS", "EXACT_MATCH")


class ConfigError(ValueError):
    """The evaluator's configuration cannot run (e.g. a missing or invalid parameter)."""


def _verdict(ok: bool, explanation: str) -> Outcome:
    return Outcome(label="true" if ok else "false", score=1.0 if ok else 0.0, explanation=explanation)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _param(params: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if name in params and params[name] not in (None, ""):
            return params[name]
    raise ConfigError(f"the static parameter '{names[0]}' is required")


def _keywords(params: Mapping[str, Any]) -> list[str]:
    raw = _param(params, "keywords", "keyword")
    if isinstance(raw, str):
        raw = [k.strip() for k in raw.split(",")]
    keywords = [str(k) for k in raw if str(k).strip()]
    if not keywords:
        raise ConfigError("the static parameter 'keywords' needs at least one keyword")
    return keywords


def _case_sensitive(params: Mapping[str, Any]) -> bool:
    return str(params.get("case_sensitive", "false")).strip().lower() in ("true", "1", "yes")


def matches_regex(values: Sequence[Any], params: Mapping[str, Any]) -> Outcome:
    pattern = _param(params, "pattern", "regex")
    try:  # RE2, not re: a user's pattern must not backtrack for hours on the event loop
        found = user_regex.search(str(pattern), _text(values[0]))
    except user_regex.RegexError as exc:
        raise ConfigError(f"the pattern is not a valid regular expression: {exc}") from None
    if found is not None:
        return _verdict(True, f"matched {found[:80]!r}")
    return _verdict(False, f"no match for /{pattern}/")


def json_parseable(values: Sequence[Any], params: Mapping[str, Any]) -> Outcome:
    value = values[0]
    if value is not None and not isinstance(value, str):
        return _verdict(True, "the value is already structured JSON")
    try:
        json.loads(value or "")
    except (TypeError, ValueError) as exc:
        return _verdict(False, f"not valid JSON: {exc}")
    return _verdict(True, "valid JSON")


def _found(values: Sequence[Any], params: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    keywords = _keywords(params)
    sensitive = _case_sensitive(params)
    text = _text(values[0]) if sensitive else _text(values[0]).lower()
    hits = [k for k in keywords if (k if sensitive else k.lower()) in text]
    return keywords, hits


def contains_any_keyword(values: Sequence[Any], params: Mapping[str, Any]) -> Outcome:
    _, hits = _found(values, params)
    return _verdict(bool(hits), f"found: {', '.join(hits)}" if hits else "none of the keywords found")


def contains_all_keywords(values: Sequence[Any], params: Mapping[str, Any]) -> Outcome:
    keywords, hits = _found(values, params)
    missing = [k for k in keywords if k not in hits]
    return _verdict(not missing, f"missing: {', '.join(missing)}" if missing else "all keywords found")


def exact_match(values: Sequence[Any], params: Mapping[str, Any]) -> Outcome:
    expected = values[1] if len(values) > 1 else _param(params, "expected", "expected_value", "value")
    actual, wanted = _text(values[0]).strip(), _text(expected).strip()
    if str(params.get("case_sensitive", "true")).strip().lower() in ("false", "0", "no"):
        actual, wanted = actual.lower(), wanted.lower()
    return _verdict(actual == wanted, "exact match" if actual == wanted else "values differ")


_IMPLEMENTATIONS: dict[str, Callable[[Sequence[Any], Mapping[str, Any]], Outcome]] = {
    "MATCHES_REGEX": matches_regex,
    "JSON_PARSEABLE": json_parseable,
    "CONTAINS_ANY_KEYWORD": contains_any_keyword,
    "CONTAINS_ALL_KEYWORDS": contains_all_keywords,
    "EXACT_MATCH": exact_match,
}


def static_params(declared: Sequence[Mapping[str, Any]] | None) -> dict[str, Any]:
    """Turn the stored ``static_params`` list ({name, type, default_value}) into a mapping."""
    return {str(p["name"]): p.get("default_value") for p in declared or () if "name" in p}


def evaluate(kind: str, variables: Mapping[str, Any], order: Sequence[str], params: Mapping[str, Any]) -> Outcome:
    """Run managed evaluator ``kind`` on the variables, taken in the evaluator's declared order."""
    implementation = _IMPLEMENTATIONS.get(kind.upper())
    if implementation is None:
        raise ConfigError(f"unknown managed evaluator {kind!r}; known: {', '.join(MANAGED)}")
    names = list(order) or list(variables)
    if "output" in names:
        names.remove("output")
        names.insert(0, "output")
    if not names:
        raise ConfigError("the evaluator declares no variables to check")
    return implementation([variables.get(n) for n in names], params)
