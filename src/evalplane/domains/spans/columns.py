"""Column selection and string truncation for spans being returned.

Column names are full dotted paths: ``attributes.<path>`` selects part of the attributes
document, ``eval.<name>.<label|score|explanation|metadata>`` (or ``eval.<name>``) part of
the span's evaluations, ``trace_eval.<name>…`` and ``session_eval.<name>…`` the same of the
trace and session evaluations a root span carries; ``attributes`` and ``evaluations`` name
the whole of each (``eval``, ``trace_eval`` and ``session_eval`` all evaluations of one scope). Fixed span
fields are always returned, so naming them changes nothing, and unknown names are
ignored. A path that reaches into a list selects the whole list when including, and the
addressed part of one element when excluding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_EVAL_FIELDS = ("label", "score", "explanation", "metadata")
# The column prefix of each evaluation scope, as its wire metadata names it (no scope: a span's own).
_PREFIXES = {None: "eval", "TRACE": "trace_eval", "SESSION": "session_eval"}
_MISSING = object()
ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class ColumnSelection:
    included: tuple[str, ...] | None = None
    excluded: tuple[str, ...] | None = None

    def apply(
        self, attributes: dict[str, Any], evaluations: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        if self.included is not None:
            return _include(attributes, evaluations, self.included)
        if self.excluded is not None:
            return _exclude(attributes, evaluations, self.excluded)
        return attributes, evaluations


def _prefix(evaluation: dict[str, Any]) -> str:
    metadata = evaluation.get("metadata")
    return _PREFIXES.get(metadata.get("scope") if isinstance(metadata, dict) else None, "eval")


def _eval_target(path: str) -> tuple[str, str, str | None] | None:
    """(scope prefix, evaluation name, field or None) of an evaluation column."""
    prefix, _, rest = path.partition(".")
    if prefix not in _PREFIXES.values() or not rest:
        return None
    for name in _EVAL_FIELDS:
        if rest.endswith("." + name) and len(rest) > len(name) + 1:
            return prefix, rest[: -len(name) - 1], name
    return prefix, rest, None


def _include(
    attributes: dict[str, Any], evaluations: list[dict[str, Any]], paths: tuple[str, ...]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    picked: dict[str, Any] = {}
    wanted_evals: dict[tuple[str, str], set[str] | None] = {}
    whole_scopes: set[str] = set()
    all_evals = False
    for path in paths:
        if path == "attributes":
            picked = attributes
            break
    else:
        for path in paths:
            if path.startswith("attributes."):
                _copy_path(attributes, picked, path[len("attributes.") :].split("."))
    for path in paths:
        if path == "evaluations":
            all_evals = True
        elif path in _PREFIXES.values():
            whole_scopes.add(path)
        elif (target := _eval_target(path)) is not None:
            prefix, name, field = target
            key = (prefix, name)
            if field is None:
                wanted_evals[key] = None
            elif wanted_evals.get(key, set()) is not None:
                wanted_evals.setdefault(key, set()).add(field)  # type: ignore[union-attr]
    if all_evals:
        return picked, evaluations
    kept = []
    for evaluation in evaluations:
        prefix = _prefix(evaluation)
        if prefix in whole_scopes:
            kept.append(evaluation)
            continue
        key = (prefix, evaluation["name"])
        if key not in wanted_evals:
            continue
        fields = wanted_evals[key]
        kept.append(evaluation if fields is None else _only(evaluation, prefix, fields))
    return picked, kept


def _only(evaluation: dict[str, Any], prefix: str, fields: set[str]) -> dict[str, Any]:
    picked = {k: v for k, v in evaluation.items() if k == "name" or k in fields}
    if prefix != "eval" and "metadata" not in picked:
        picked["metadata"] = {"scope": evaluation["metadata"]["scope"]}  # a trace/session result says so
    return picked


def _exclude(
    attributes: dict[str, Any], evaluations: list[dict[str, Any]], paths: tuple[str, ...]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    for path in paths:
        if path == "attributes":
            attributes = {}
        elif path.startswith("attributes."):
            _drop_path(attributes, path[len("attributes.") :].split("."))
        elif path == "evaluations":
            evaluations = []
        elif path in _PREFIXES.values():
            evaluations = [e for e in evaluations if _prefix(e) != path]
        elif (target := _eval_target(path)) is not None:
            evaluations = _without(evaluations, *target)
    return attributes, evaluations


def _without(evaluations: list[dict[str, Any]], prefix: str, name: str, field: str | None) -> list[dict[str, Any]]:
    kept = []
    for evaluation in evaluations:
        if _prefix(evaluation) != prefix or evaluation["name"] != name:
            kept.append(evaluation)
        elif field is not None:
            trimmed = {k: v for k, v in evaluation.items() if k != field}
            if field == "metadata" and prefix != "eval":
                trimmed["metadata"] = {"scope": evaluation["metadata"]["scope"]}  # a trace/session result says so
            kept.append(trimmed)
    return kept


def _step(node: Any, parts: list[str]) -> tuple[Any, Any, list[str]]:
    """One step down ``parts``: (key or index taken, child, rest). Longest dotted key first."""
    if isinstance(node, dict):
        for j in range(len(parts), 0, -1):
            key = ".".join(parts[:j])
            if key in node:
                return key, node[key], parts[j:]
        return None, _MISSING, []
    if isinstance(node, list) and parts[0].isdigit() and int(parts[0]) < len(node):
        index = int(parts[0])
        return index, node[index], parts[1:]
    return None, _MISSING, []


def _copy_path(source: dict[str, Any], target: dict[str, Any], parts: list[str]) -> None:
    node, out = source, target
    while parts:
        key, child, rest = _step(node, parts)
        if child is _MISSING:
            return
        if not rest or not isinstance(child, dict):
            out[key] = child  # a leaf, or a list taken whole
            return
        existing = out.get(key)
        out = existing if isinstance(existing, dict) else out.setdefault(key, {})
        node, parts = child, rest


def _drop_path(node: Any, parts: list[str]) -> None:
    while parts:
        key, child, rest = _step(node, parts)
        if child is _MISSING:
            return
        if not rest:
            if isinstance(node, dict):
                del node[key]
            else:
                node[key] = None
            return
        node, parts = child, rest


def truncate_strings(value: Any, limit: int) -> Any:
    """Every string at any depth cut to ``limit`` code points, ending in an ellipsis when cut."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[: limit - 1] + ELLIPSIS
    if isinstance(value, dict):
        return {k: truncate_strings(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [truncate_strings(v, limit) for v in value]
    return value
