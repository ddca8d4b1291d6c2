"""Evaluator version configurations: validated at save time and stored in one normalized form.

The stored form is what the engine executes, so it is explicit and self-contained:
ids are integers, enum values upper-case, defaults filled in, derived facts (template
variables, the custom class name, managed parameters by name) precomputed.

Template::

    {"type": "TEMPLATE", "name", "template", "variables": [...], "include_explanations",
     "use_function_calling", "use_structured_output", "classification_choices": {label: score},
     "direction", "data_granularity",
     "llm": {"ai_integration_id": int, "model_name", "invocation_parameters", "provider_parameters"}}

Code (managed or custom)::

    {"type": "CODE", "code_type": "MANAGED", "name", "managed_evaluator", "variables",
     "static_params": [{"name", "type", "default_value"}], "params": {name: value},
     "data_granularity", "query_filter"}
    {"type": "CODE", "code_type": "CUSTOM", "name", "code", "imports", "class_name", "variables",
     "static_params", "params", "data_granularity", "query_filter"}
"""

from __future__ import annotations

import math
import re
from typing import Any

from evalplane.core import user_regex
from evalplane.core.errors import InvalidInput
from evalplane.domains.evaluators import custom_code, managed
from evalplane.filters import FilterSyntaxError, parse

TEMPLATE = "TEMPLATE"
CODE = "CODE"
MANAGED = "MANAGED"
CUSTOM = "CUSTOM"
GRANULARITIES = ("SPAN", "TRACE", "SESSION")
DIRECTIONS = ("MAXIMIZE", "MINIMIZE", "NONE")
PARAM_TYPES = ("STRING", "STRING_ARRAY", "REGEX")
RESPONSE_FORMAT_TYPES = ("TEXT", "JSON_OBJECT", "JSON_SCHEMA")

# The eval column name: letters, digits, spaces, and _ - & ( ).
_EVAL_NAME = re.compile(r"^[a-zA-Z0-9_\s\-&()]+$")
# Single-brace placeholders naming a variable or a dotted path ({input}, {attributes.output.value});
# doubled braces and anything else in braces (e.g. a JSON example in the prompt) are literal text.
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*\}")
MAX_TEMPLATE_CHARS = 100_000
MAX_CHOICES = 100
MAX_VARIABLES = 50
MAX_FILTER_CHARS = 10_000


def evaluation_scope(config: dict[str, Any]) -> str:
    """What one evaluation of this version covers: SPAN, TRACE or SESSION (unset means SPAN)."""
    return config.get("data_granularity") or "SPAN"


def _enum(value: Any, allowed: tuple[str, ...], name: str, default: str | None = None) -> str | None:
    if value is None:
        return default
    if not isinstance(value, str) or value.strip().upper() not in allowed:
        raise InvalidInput(f"'{name}' must be one of: {', '.join(allowed)}.", field=name)
    return value.strip().upper()


def _eval_name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"'{where}.name' (the eval column name) must be a non-empty string.", field=f"{where}.name")
    value = value.strip()
    if len(value) > 255 or not _EVAL_NAME.match(value):
        raise InvalidInput(
            f"'{where}.name' may contain only letters, digits, spaces, '_', '-', '&', '(' and ')' (at most 255).",
            field=f"{where}.name",
        )
    return value


def template_variables(template: str) -> list[str]:
    """The ``{variable}`` names a template uses, in first-use order."""
    names: list[str] = []
    for match in _PLACEHOLDER.finditer(template):
        name = match.group(1)
        if name is not None and name not in names:
            names.append(name)
    return names


def _choices(value: Any) -> dict[str, float | int]:
    if not isinstance(value, dict) or not value:
        raise InvalidInput(
            "'template_config.classification_choices' is required: a map of each label to its score, "
            'e.g. {"correct": 1, "incorrect": 0}.',
            field="classification_choices",
        )
    if len(value) > MAX_CHOICES:
        raise InvalidInput(f"At most {MAX_CHOICES} classification choices are allowed.", field="classification_choices")
    out: dict[str, float | int] = {}
    for label, score in value.items():
        label = label.strip() if isinstance(label, str) else ""
        if not label or len(label) > 255:
            raise InvalidInput("Classification labels must be non-empty strings.", field="classification_choices")
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise InvalidInput(f"The score of label '{label}' must be a finite number.", field="classification_choices")
        if label in out:
            raise InvalidInput(f"Label '{label}' appears twice.", field="classification_choices")
        out[label] = score
    return out


def _invocation_parameters(params: dict[str, Any] | None) -> dict[str, Any]:
    out = {k: v for k, v in (params or {}).items() if v is not None}
    response_format = out.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") is not None:
        out["response_format"] = {
            **response_format,
            "type": _enum(response_format["type"], RESPONSE_FORMAT_TYPES, "response_format.type"),
        }
    return out


def normalize_template(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` is the request's ``template_config`` with ``llm_config.ai_integration_id`` decoded to int."""
    template = config.get("template")
    if not isinstance(template, str) or not template.strip():
        raise InvalidInput("'template_config.template' must be a non-empty prompt.", field="template")
    if len(template) > MAX_TEMPLATE_CHARS:
        raise InvalidInput(f"'template_config.template' exceeds {MAX_TEMPLATE_CHARS} characters.", field="template")
    llm = config.get("llm_config") or {}
    model_name = llm.get("model_name")
    if not isinstance(model_name, str) or not model_name.strip():
        raise InvalidInput("'template_config.llm_config.model_name' must be a non-empty string.", field="model_name")
    if not isinstance(llm.get("ai_integration_id"), int):
        raise InvalidInput("'template_config.llm_config.ai_integration_id' is required.", field="ai_integration_id")
    return {
        "type": TEMPLATE,
        "name": _eval_name(config.get("name"), "template_config"),
        "template": template,
        "variables": template_variables(template),
        "include_explanations": bool(config.get("include_explanations")),
        "use_function_calling": bool(config.get("use_function_calling", True)),
        "use_structured_output": bool(config.get("use_structured_output", True)),
        "classification_choices": _choices(config.get("classification_choices")),
        "direction": _enum(config.get("direction"), DIRECTIONS, "direction", "MAXIMIZE"),
        "data_granularity": _enum(config.get("data_granularity"), GRANULARITIES, "data_granularity", "SPAN"),
        "llm": {
            "ai_integration_id": llm["ai_integration_id"],
            "model_name": model_name.strip(),
            "invocation_parameters": _invocation_parameters(llm.get("invocation_parameters")),
            "provider_parameters": {k: v for k, v in (llm.get("provider_parameters") or {}).items() if v is not None},
        },
    }


def _variables(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise InvalidInput("'code_config.variables' must list at least one input variable.", field="variables")
    if len(value) > MAX_VARIABLES:
        raise InvalidInput(f"At most {MAX_VARIABLES} variables are allowed.", field="variables")
    out = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise InvalidInput("'code_config.variables' must contain non-empty strings.", field="variables")
        out.append(item.strip())
    return out


def static_params(value: Any) -> list[dict[str, Any]]:
    """Validate ``[{name, type, default_value}]``: value shape must fit the type; regexes must compile."""
    out: list[dict[str, Any]] = []
    for item in value or []:
        name = item.get("name")
        if not isinstance(name, str) or not name.strip().isidentifier():
            raise InvalidInput("Each static param needs a 'name' that is a valid identifier.", field="static_params")
        name = name.strip()
        kind = _enum(item.get("type"), PARAM_TYPES, f"static_params.{name}.type")
        default = item.get("default_value")
        if kind == "STRING_ARRAY":
            if not isinstance(default, list) or not all(isinstance(v, str) for v in default):
                raise InvalidInput(
                    f"Static param '{name}' of type STRING_ARRAY needs a list of strings.", field="static_params"
                )
        elif not isinstance(default, str):
            raise InvalidInput(f"Static param '{name}' of type {kind} needs a string value.", field="static_params")
        if kind == "REGEX":
            try:  # the engine matches with RE2, so the pattern must be one RE2 accepts
                user_regex.compile_regex(default)
            except user_regex.RegexError as exc:
                raise InvalidInput(
                    f"Static param '{name}' is not a valid regular expression: {exc}.", field="static_params"
                ) from None
        if any(p["name"] == name for p in out):
            raise InvalidInput(f"Static param '{name}' is given twice.", field="static_params")
        out.append({"name": name, "type": kind, "default_value": default})
    return out


def _query_filter(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("'code_config.query_filter' must be a string.", field="query_filter")
    value = value.strip()
    if len(value) > MAX_FILTER_CHARS:
        raise InvalidInput(f"'code_config.query_filter' exceeds {MAX_FILTER_CHARS} characters.", field="query_filter")
    if value:
        _check_filter(value)
    return value or None


def _check_filter(text: str) -> None:
    """Parsed now, not at run time: it must be a filter over spans or over records (an evaluator
    serves span tasks and dataset tasks alike). Records name any column, so their error is the
    one about the grammar itself."""
    try:
        parse(text)
    except FilterSyntaxError:
        try:
            parse(text, records=True)
        except FilterSyntaxError as exc:
            raise FilterSyntaxError(
                f"'code_config.query_filter' is not a valid filter: {exc.detail}",
                position=exc.position,
                field="query_filter",
            ) from None


def normalize_code(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` is the request's ``code_config`` (managed or custom, told apart by ``type``)."""
    code_type = _enum(config.get("type"), (MANAGED, CUSTOM), "code_config.type")
    params = static_params(config.get("static_params"))
    variables = _variables(config.get("variables"))
    common = {
        "type": CODE,
        "code_type": code_type,
        "name": _eval_name(config.get("name"), "code_config"),
        "variables": variables,
        "static_params": params,
        "params": {p["name"]: p["default_value"] for p in params},
        "data_granularity": _enum(config.get("data_granularity"), GRANULARITIES, "data_granularity"),
        "query_filter": _query_filter(config.get("query_filter")),
    }
    if code_type == MANAGED:
        which = _enum(config.get("managed_evaluator"), tuple(managed.REGISTRY), "code_config.managed_evaluator")
        assert which is not None
        managed.check(which, variables, params)
        return {**common, "managed_evaluator": which}
    code = config.get("code")
    imports = config.get("imports") or None
    class_name = custom_code.inspect(code, imports)
    return {**common, "code": code, "imports": imports, "class_name": class_name}
