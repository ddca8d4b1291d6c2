"""LLM-as-judge: render a template, ask for one label out of the classification choices,
map it to its score, keep the explanation when asked.

The label is requested through a forced function call whose argument is an enum of the
choices; when the integration has function calling off, or the model answers in text
anyway, the label is read from the text (a ``LABEL:`` line first, then the last choice
mentioned).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evalplane.engine.code.outcome import Failure, Outcome
from evalplane.engine.providers.base import ChatRequest, Provider, ToolSpec, Usage
from evalplane.engine.providers.calls import Gate, RetryPolicy, call_with_retries

TOOL_NAME = "record_evaluation"
_MUSTACHE = re.compile(r"\{\{\s*([\w.\-]+)\s*\}\}")
_FSTRING = re.compile(r"(?<!\{)\{([\w.\-]+)\}(?!\})")


@dataclass(frozen=True, slots=True)
class JudgeSpec:
    """A template evaluator version, as the engine runs it."""

    template: str
    model: str
    choices: Mapping[str, float | None]
    explain: bool = False
    params: Mapping[str, Any] | None = None
    variable_format: str = "F_STRING"
    system_prompt: str | None = None


@dataclass(frozen=True, slots=True)
class Judgement:
    result: Outcome | Failure
    usage: Usage
    transient_failures: int = 0


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def render(template: str, variables: Mapping[str, Any], variable_format: str = "F_STRING") -> str:
    """Fill ``{name}`` (or ``{{name}}``) placeholders for the given variables only; any
    other brace text (JSON examples in a prompt) is left as written."""
    pattern = _MUSTACHE if variable_format.upper() == "MUSTACHE" else _FSTRING

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        return _as_text(variables[name]) if name in variables else match.group(0)

    text = pattern.sub(substitute, template)
    if variable_format.upper() != "MUSTACHE":
        # Mustache-style placeholders are common in evaluator templates; fill those too.
        text = _MUSTACHE.sub(lambda m: _as_text(variables[m.group(1)]) if m.group(1) in variables else m.group(0), text)
    return text


def template_variables(template: str) -> list[str]:
    """Placeholder names in a template, in order of first appearance."""
    names: list[str] = []
    for match in list(_MUSTACHE.finditer(template)) + list(_FSTRING.finditer(template)):
        if match.group(1) not in names:
            names.append(match.group(1))
    return names


def _tool(choices: list[str], explain: bool) -> ToolSpec:
    properties: dict[str, Any] = {}
    required = []
    if explain:
        properties["explanation"] = {"type": "string", "description": "Brief reasoning, written before the label."}
        required.append("explanation")
    properties["label"] = {"type": "string", "enum": choices, "description": "The single label that applies."}
    required.append("label")
    return ToolSpec(
        name=TOOL_NAME,
        description="Record the evaluation label" + (" and its explanation." if explain else "."),
        parameters={"type": "object", "properties": properties, "required": required, "additionalProperties": False},
    )


def _instructions(choices: list[str], explain: bool) -> str:
    lines = [f"Answer with exactly one of: {', '.join(choices)}."]
    if explain:
        lines.append("First write 'EXPLANATION:' followed by a brief reasoning on one line.")
    lines.append("End with a line 'LABEL: <your label>'.")
    return "\n".join(lines)


def parse_label(text: str | None, choices: list[str]) -> str | None:
    """Find the chosen label in free text, tolerating case, quotes and punctuation."""
    if not text:
        return None
    lowered = {c.lower(): c for c in choices}
    for line in reversed(text.splitlines()):
        match = re.match(r"\s*\**label\**\s*[:=]\s*(.+)$", line, re.IGNORECASE)
        if match:
            candidate = match.group(1).strip().strip("*'\"`.").lower()
            if candidate in lowered:
                return lowered[candidate]
    stripped = text.strip().strip("*'\"`.").lower()
    if stripped in lowered:
        return lowered[stripped]
    best, best_at = None, -1
    for choice in choices:
        for match in re.finditer(rf"(?<![\w-]){re.escape(choice)}(?![\w-])", text, re.IGNORECASE):
            if match.start() > best_at:
                best, best_at = choice, match.start()
    return best


def _explanation_from_text(text: str | None) -> str | None:
    if not text:
        return None
    match = re.search(r"explanation\s*[:=]\s*(.+?)(?:\n\s*label\s*[:=]|$)", text, re.IGNORECASE | re.DOTALL)
    return (match.group(1) if match else text).strip() or None


async def judge(
    provider: Provider,
    gate: Gate,
    spec: JudgeSpec,
    variables: Mapping[str, Any],
    policy: RetryPolicy = RetryPolicy(),
) -> Judgement:
    """Evaluate one target. Fatal and give-up provider errors propagate to the caller."""
    choices = list(spec.choices)
    prompt = render(spec.template, variables, spec.variable_format)
    messages: list[dict[str, Any]] = []
    if spec.system_prompt:
        messages.append({"role": "system", "content": spec.system_prompt})
    if choices:
        prompt = f"{prompt}\n\n{_instructions(choices, spec.explain)}"
    messages.append({"role": "user", "content": prompt})
    request = ChatRequest(
        model=spec.model,
        messages=messages,
        params=dict(spec.params or {}),
        tool=_tool(choices, spec.explain) if choices else None,
    )
    answer, failures = await call_with_retries(provider, request, gate, policy)
    if not choices:
        text = (answer.text or "").strip()
        if not text:
            return Judgement(Failure("the model returned an empty answer"), answer.usage, failures)
        return Judgement(Outcome(label=text[:1000]), answer.usage, failures)
    label, explanation = None, None
    if answer.tool_arguments is not None:
        raw = answer.tool_arguments.get("label")
        label = parse_label(str(raw), choices) if raw is not None else None
        explanation = answer.tool_arguments.get("explanation")
    if label is None:
        label = parse_label(answer.text, choices)
        explanation = explanation or (_explanation_from_text(answer.text) if spec.explain else None)
    if label is None:
        shown = (answer.text or json.dumps(answer.tool_arguments))[:200]
        return Judgement(
            Failure(f"the model's answer matched none of the choices ({', '.join(choices)}): {shown!r}"),
            answer.usage,
            failures,
        )
    score = spec.choices.get(label)
    return Judgement(
        Outcome(
            label=label,
            score=None if score is None else float(score),
            explanation=explanation if spec.explain else None,
        ),
        answer.usage,
        failures,
    )
