"""Executing run_experiment units: one model call per dataset example, through the same
providers, concurrency gates and retry policy as the judges.

* ``LLM_GENERATION``: the configuration's messages are rendered with the example's columns
  (``{column}`` for F_STRING, ``{{column}}`` for MUSTACHE, nothing for NONE; a dotted name
  such as ``{attributes.input.value}`` walks into the columns), sent with the invocation
  parameters and tools, and the answer — its text, or its tool calls as JSON when it made
  some — becomes the experiment run's ``output``.
* ``TEMPLATE_EVALUATION``: the template is judged on the example (``column_mapping`` maps a
  template variable to a column); the run's ``output`` is the label, with ``label``,
  ``score`` and ``explanation`` columns.

An example the provider refuses (a 400-class answer) or the judge cannot label records its
``error`` on its run (ERRORED); an example missing a prompt variable records why (SKIPPED).
Bad credentials or an unknown model fail the whole run, as for judges.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from evalplane.core.clock import utcnow
from evalplane.engine.code.outcome import Failure
from evalplane.engine.dataset_documents import EXAMPLE
from evalplane.engine.executor import BatchResult, Executor, UnitResult, Work
from evalplane.engine.judge import JudgeSpec, judge, template_variables
from evalplane.engine.providers import (
    ChatRequest,
    FatalProviderError,
    Provider,
    RequestRejected,
    TransientProviderError,
    Usage,
)
from evalplane.engine.providers.calls import Gate, call_with_retries
from evalplane.engine.variables import resolve_path
from evalplane.jobs.units import ERRORED, SKIPPED, SUCCEEDED

_FSTRING = re.compile(r"\{\{|\}\}|\{\s*([\w.\-]+)\s*\}")
_MUSTACHE = re.compile(r"\{\{\{?\s*([\w.\-]+)\s*\}?\}\}")


@dataclass(frozen=True, slots=True)
class GenerationResult(UnitResult):
    """A generation unit's result plus the experiment run it writes (None: write nothing)."""

    run_row: dict[str, Any] | None = None


class MissingVariable(ValueError):
    pass


async def execute_batch(executor: Executor, work: Sequence[Work]) -> BatchResult:
    """Execute a claimed batch: generation units here, every other unit by the executor."""
    generations = [w for w in work if w.unit.target_kind == EXAMPLE]
    if not generations:
        return await executor.execute(work)
    others = [w for w in work if w.unit.target_kind != EXAMPLE]
    result, generated = BatchResult(), BatchResult()
    if others:
        result, _ = await asyncio.gather(executor.execute(others), generate(executor, generations, generated))
    else:
        await generate(executor, generations, generated)
    result.done.extend(generated.done)
    result.retry.extend(generated.retry)
    result.fatal.update(generated.fatal)
    return result


async def generate(executor: Executor, work: Sequence[Work], result: BatchResult) -> None:
    groups: dict[int, list[Work]] = defaultdict(list)
    for item in work:
        if item.document is None:
            result.done.append(
                GenerationResult(item.unit, SKIPPED, None, detail="the example is no longer in the dataset version")
            )
        else:
            groups[item.unit.task_id].append(item)
    await asyncio.gather(*(_generate_group(executor, items, result) for items in groups.values()))


async def _generate_group(executor: Executor, items: list[Work], result: BatchResult) -> None:
    config: dict[str, Any] = items[0].document["run_configuration"]  # type: ignore[index]
    integration_id = int(config.get("ai_integration_id") or 0)
    try:
        if not config.get("model_name"):
            raise FatalProviderError("the run configuration names no 'model_name' and its AI integration lists none")
        provider = await executor.providers.provider(integration_id, True)
    except FatalProviderError as exc:
        for item in items:
            result.fatal[item.unit.run_id] = exc.reason
            result.done.append(GenerationResult(item.unit, ERRORED, None, detail=exc.reason))
        return
    gate = executor.gates.for_integration(integration_id)
    one = _judge_one if config.get("experiment_type") == "TEMPLATE_EVALUATION" else _generate_one
    await asyncio.gather(*(one(executor, provider, gate, config, item, result) for item in items))


def _row(
    document: Mapping[str, Any],
    started: datetime,
    *,
    output: str | None = None,
    error: str | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "experiment_id": document["experiment_id"],
        "example_id": document["example_id"],
        "output": output,
        "error": error,
        "data": data or {},
        "started_at": started,
        "finished_at": utcnow(),
    }


async def _call(executor: Executor, item: Work, result: BatchResult, started: datetime, work: Any) -> Any:
    """Run ``work`` (a provider call); on a provider error record the unit and return None."""
    document = item.document or {}
    try:
        return await work
    except MissingVariable as exc:
        result.done.append(
            GenerationResult(item.unit, SKIPPED, None, detail=str(exc), run_row=_row(document, started, error=str(exc)))
        )
    except RequestRejected as exc:
        result.done.append(
            GenerationResult(
                item.unit, ERRORED, None, detail=exc.reason, run_row=_row(document, started, error=exc.reason)
            )
        )
    except FatalProviderError as exc:
        result.fatal[item.unit.run_id] = exc.reason
        result.done.append(GenerationResult(item.unit, ERRORED, None, detail=exc.reason))
    except TransientProviderError as exc:
        result.retry.append((item.unit, exc.reason))
    return None


async def _generate_one(
    executor: Executor, provider: Provider, gate: Gate, config: dict[str, Any], item: Work, result: BatchResult
) -> None:
    document = item.document or {}
    started = utcnow()

    async def call() -> Any:
        request = generation_request(config, document["columns"])
        return await call_with_retries(provider, request, gate, executor.policy)

    answered = await _call(executor, item, result, started, call())
    if answered is None:
        return
    answer, _ = answered
    output = answer.text
    if answer.tool_calls and not (output or "").strip():
        output = json.dumps(answer.tool_calls, ensure_ascii=False)
    row = _row(document, started, output=output or "")
    result.done.append(GenerationResult(item.unit, SUCCEEDED, None, usage=answer.usage, run_row=row))


async def _judge_one(
    executor: Executor, provider: Provider, gate: Gate, config: dict[str, Any], item: Work, result: BatchResult
) -> None:
    document = item.document or {}
    started = utcnow()
    template = str(config.get("template") or "")
    spec = JudgeSpec(
        template=template,
        model=str(config.get("model_name") or ""),
        choices=dict(config.get("classification_choices") or {}),
        explain=bool(config.get("provide_explanation")),
        params=provider_params(config.get("invocation_parameters")),
    )

    async def call() -> Any:
        values = _variables(template_variables(template), document["columns"], config.get("column_mapping") or {})
        return await judge(provider, gate, spec, values, executor.policy)

    judged = await _call(executor, item, result, started, call())
    if judged is None:
        return
    usage: Usage = judged.usage
    if isinstance(judged.result, Failure):
        row = _row(document, started, error=judged.result.reason)
        result.done.append(
            GenerationResult(item.unit, ERRORED, None, detail=judged.result.reason, usage=usage, run_row=row)
        )
        return
    outcome = judged.result
    data: dict[str, Any] = {"label": outcome.label, "score": outcome.score}
    if outcome.explanation is not None:
        data["explanation"] = outcome.explanation
    row = _row(document, started, output=outcome.label, data=data)
    result.done.append(GenerationResult(item.unit, SUCCEEDED, None, outcome=outcome, usage=usage, run_row=row))


# --- requests ---------------------------------------------------------------------------


def _variables(names: Sequence[str], columns: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    values = {}
    for name in names:
        value = resolve_path(columns, mapping.get(name) or name)
        if value is None or value == "":
            raise MissingVariable(f"the example has no value for {name!r}")
        values[name] = value
    return values


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def render(template: str, columns: Mapping[str, Any], variable_format: str) -> str:
    """Fill a message template from an example's columns; MissingVariable if one is absent."""
    variable_format = variable_format.upper()
    if variable_format == "NONE":
        return template

    def value(name: str) -> str:
        found = resolve_path(columns, name)
        if found is None:
            raise MissingVariable(f"the example has no value for {name!r}")
        return _text(found)

    if variable_format == "MUSTACHE":
        return _MUSTACHE.sub(lambda m: value(m.group(1)), template)

    def fstring(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole in ("{{", "}}"):
            return whole[0]  # escaped brace
        return value(match.group(1))

    return _FSTRING.sub(fstring, template)


def _message(message: Mapping[str, Any], columns: Mapping[str, Any], variable_format: str) -> dict[str, Any]:
    out: dict[str, Any] = {"role": str(message.get("role") or "user").lower()}
    content = message.get("content")
    out["content"] = render(content, columns, variable_format) if isinstance(content, str) else content
    if message.get("tool_call_id"):
        out["tool_call_id"] = message["tool_call_id"]
    if message.get("tool_calls"):
        out["tool_calls"] = [
            {**call, "type": str(call.get("type") or "function").lower()} for call in message["tool_calls"]
        ]
    return out


def provider_params(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """Invocation parameters as providers take them (response_format types lower-case)."""
    params = {k: v for k, v in (raw or {}).items() if k != "tool_config" and v is not None}
    response_format = params.get("response_format")
    if isinstance(response_format, dict) and isinstance(response_format.get("type"), str):
        params["response_format"] = {**response_format, "type": response_format["type"].lower()}
    return params


def generation_request(config: Mapping[str, Any], columns: Mapping[str, Any]) -> ChatRequest:
    variable_format = str(config.get("input_variable_format") or "F_STRING")
    messages = [_message(m, columns, variable_format) for m in config.get("messages") or []]
    invocation = config.get("invocation_parameters") or {}
    tool_config = config.get("tool_config") or invocation.get("tool_config") or {}
    return ChatRequest(
        model=str(config.get("model_name") or ""),
        messages=messages,
        params={**dict(config.get("provider_parameters") or {}), **provider_params(invocation)},
        tools=list(tool_config.get("tools") or []) or None,
        tool_choice=tool_config.get("tool_choice"),
    )
