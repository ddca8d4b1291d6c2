"""Resolving an evaluator's variables against a target (a span, an experiment run...).

A mapping value is a path such as ``attributes.input.value`` or
``attributes.llm.output_messages.0.message.content``. It is walked over the target's
document: at each step the longest key that matches the next dotted segments wins (so a
stored key that itself contains dots is found), digits index lists, and a JSON string met
on the way is parsed and walked into.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

# What a variable means when the task does not map it, for OpenInference spans.
SPAN_DEFAULTS = {
    "input": "attributes.input.value",
    "output": "attributes.output.value",
    "query": "attributes.input.value",
    "response": "attributes.output.value",
    "reference": "attributes.reference",
    "context": "attributes.retrieval.documents",
}

_MISSING = object()


def resolve_path(document: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` in ``document``, or None when any step is missing."""
    value = _walk(document, path.split("."))
    return None if value is _MISSING else value


def _walk(node: Any, segments: Sequence[str]) -> Any:
    if not segments:
        return node
    if isinstance(node, str):
        stripped = node.strip()
        if stripped[:1] in ("{", "["):
            try:
                node = json.loads(stripped)
            except ValueError:
                return _MISSING
        else:
            return _MISSING
    if isinstance(node, Mapping):
        for take in range(len(segments), 0, -1):
            key = ".".join(segments[:take])
            if key in node:
                found = _walk(node[key], segments[take:])
                if found is not _MISSING:
                    return found
        return _MISSING
    if isinstance(node, list) and segments[0].isdigit():
        index = int(segments[0])
        return _walk(node[index], segments[1:]) if index < len(node) else _MISSING
    return _MISSING


def resolve_variables(
    document: Mapping[str, Any],
    variables: Sequence[str],
    mappings: Mapping[str, str] | None,
    defaults: Mapping[str, str] = SPAN_DEFAULTS,
) -> dict[str, Any]:
    """Each variable's value: its mapping if the task gives one, else the variable name as a
    path, else a conventional default (``input``/``output`` → OpenInference values)."""
    mappings = mappings or {}
    resolved: dict[str, Any] = {}
    for name in variables:
        if name in mappings and mappings[name]:
            resolved[name] = resolve_path(document, mappings[name])
            continue
        value = resolve_path(document, name) if "." in name else None
        if value is None and name in defaults:
            value = resolve_path(document, defaults[name])
        if value is None:
            # A plain attribute or span field of that name, unless it is only a namespace.
            for candidate in (document.get("attributes", {}).get(name), document.get(name)):
                if candidate is not None and not isinstance(candidate, dict):
                    value = candidate
                    break
        resolved[name] = value
    return resolved


def missing(values: Mapping[str, Any]) -> list[str]:
    """Variables with no value (None or an empty string): their target is skipped."""
    return [name for name, value in values.items() if value is None or value == ""]
