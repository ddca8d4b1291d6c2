"""Executing claimed work units: resolve each target's variables, run its evaluator, and
report per-unit results plus any run-level failure. No database writes happen here."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evalplane.engine.code import managed
from evalplane.engine.code.outcome import Failure, Outcome
from evalplane.engine.code.sandbox import CustomCode, Limits, run_custom
from evalplane.engine.judge import JudgeSpec, judge
from evalplane.engine.plans import CODE, TEMPLATE, EvaluatorPlan
from evalplane.engine.providers import FatalProviderError, Provider, TransientProviderError, Usage
from evalplane.engine.providers.calls import Gates, RetryPolicy
from evalplane.engine.variables import SPAN_DEFAULTS, missing, resolve_variables
from evalplane.jobs.units import ERRORED, FILTERED_OUT, SKIPPED, SUCCEEDED, Claimed


@dataclass(frozen=True, slots=True)
class UnitResult:
    unit: Claimed
    state: str  # SUCCEEDED | ERRORED | SKIPPED | FILTERED_OUT
    evaluator: EvaluatorPlan | None
    outcome: Outcome | None = None
    detail: str | None = None
    usage: Usage = field(default_factory=Usage)


@dataclass
class BatchResult:
    done: list[UnitResult] = field(default_factory=list)
    # Units to hand back for later: the provider kept failing transiently.
    retry: list[tuple[Claimed, str]] = field(default_factory=list)
    # Runs that must stop now, with the reason shown to the user.
    fatal: dict[int, str] = field(default_factory=dict)


def unexpected(exc: BaseException) -> str:
    """A unit's reason for an error nobody planned for: its class and a short first line."""
    try:
        text = str(exc).strip()
    except Exception:  # noqa: BLE001 - an exception whose message itself fails
        text = ""
    message = text.splitlines()[0][:200] if text else ""
    return f"evaluation failed unexpectedly: {type(exc).__name__}" + (f": {message}" if message else "")


@dataclass(frozen=True, slots=True)
class Work:
    """One unit with everything needed to evaluate it."""

    unit: Claimed
    evaluator: EvaluatorPlan | None
    document: dict[str, Any] | None
    # What unmapped variables such as ``output`` mean for the unit's kind of target.
    defaults: Mapping[str, str] = field(default_factory=lambda: SPAN_DEFAULTS)


@dataclass(slots=True)
class _TaskChildren:
    permits: asyncio.Semaphore
    users: int = 0  # groups holding or awaiting a permit; the entry goes when none do


class ProviderSource:
    """Hands out providers by AI integration id; the worker implements the loading."""

    async def provider(self, integration_id: int, function_calling: bool) -> Provider:  # pragma: no cover - interface
        raise NotImplementedError


class Executor:
    def __init__(
        self,
        providers: ProviderSource,
        gates: Gates,
        policy: RetryPolicy,
        limits: Limits,
        *,
        children_per_task: int = 2,
    ) -> None:
        self.providers = providers
        self.gates = gates
        self.policy = policy
        self.limits = limits
        # Custom-code processes one task may run at once: a task with many custom evaluators
        # waits for its own turns, and another task's code never queues behind it.
        self.children_per_task = children_per_task
        self._children: dict[int, _TaskChildren] = {}

    @contextlib.asynccontextmanager
    async def _child(self, task_id: int) -> AsyncIterator[None]:
        """A permit to run one custom-code process for ``task_id``."""
        children = self._children.get(task_id)
        if children is None:
            children = self._children[task_id] = _TaskChildren(asyncio.Semaphore(self.children_per_task))
        children.users += 1
        try:
            async with children.permits:
                yield
        finally:
            children.users -= 1
            if children.users == 0:
                del self._children[task_id]

    async def execute(self, work: Sequence[Work]) -> BatchResult:
        result = BatchResult()
        groups: dict[tuple[int, int], list[Work]] = defaultdict(list)
        for item in work:
            if item.evaluator is None:
                result.done.append(
                    UnitResult(item.unit, ERRORED, None, detail="the evaluator is no longer attached to the task")
                )
            elif item.document is None:
                result.done.append(UnitResult(item.unit, SKIPPED, item.evaluator, detail="the target no longer exists"))
            else:
                groups[(item.unit.task_id, item.evaluator.evaluator_id)].append(item)
        await asyncio.gather(*(self._contained(items, result) for items in groups.values()))
        return result

    async def _contained(self, items: list[Work], result: BatchResult) -> None:
        """Run one group; an unexpected error fails that group's unreported units only."""
        own = BatchResult()
        try:
            await self._run_group(items, own)
        except Exception as exc:  # noqa: BLE001 - whatever broke, the other groups go on
            reported = {r.unit.id for r in own.done} | {u.id for u, _ in own.retry}
            detail = unexpected(exc)
            own.done.extend(
                UnitResult(w.unit, ERRORED, w.evaluator, detail=detail) for w in items if w.unit.id not in reported
            )
        result.done.extend(own.done)
        result.retry.extend(own.retry)
        result.fatal.update(own.fatal)

    async def _run_group(self, items: list[Work], result: BatchResult) -> None:
        evaluator = items[0].evaluator
        assert evaluator is not None
        ready: list[tuple[Work, dict[str, Any]]] = []
        for item in items:
            document = item.document or {}
            if document.get("admitted") is False:
                detail = "the task's query_filters do not admit it"
                result.done.append(UnitResult(item.unit, FILTERED_OUT, evaluator, detail=detail))
                continue
            if "variables" in document:  # a trace or session: resolved when it was loaded
                values = dict(document["variables"])
            else:
                values = resolve_variables(document, evaluator.variables, evaluator.column_mappings, item.defaults)
            absent = missing(values)
            if absent:
                detail = f"no value for {', '.join(repr(a) for a in absent)}"
                result.done.append(UnitResult(item.unit, SKIPPED, evaluator, detail=detail))
            else:
                ready.append((item, values))
        if not ready:
            return
        if evaluator.kind == TEMPLATE:
            await self._judge(evaluator, ready, result)
        elif evaluator.kind == CODE and evaluator.config.get("code_type") == "MANAGED":
            self._managed(evaluator, ready, result)
        elif evaluator.kind == CODE:
            await self._custom(evaluator, ready, result)
        else:
            for item, _ in ready:
                result.done.append(
                    UnitResult(item.unit, ERRORED, evaluator, detail=f"unknown evaluator kind {evaluator.kind}")
                )

    async def _judge(
        self, evaluator: EvaluatorPlan, ready: list[tuple[Work, dict[str, Any]]], result: BatchResult
    ) -> None:
        config = evaluator.config
        llm = config.get("llm") or {}
        integration_id = int(llm.get("ai_integration_id") or 0)
        try:
            provider = await self.providers.provider(integration_id, bool(config.get("use_function_calling", True)))
        except FatalProviderError as exc:
            for item, _ in ready:
                result.fatal[item.unit.run_id] = exc.reason
                result.done.append(UnitResult(item.unit, ERRORED, evaluator, detail=exc.reason))
            return
        spec = JudgeSpec(
            template=str(config.get("template") or ""),
            model=str(llm.get("model_name") or ""),
            choices=dict(config.get("classification_choices") or {}),
            explain=bool(config.get("include_explanations")),
            params=dict(llm.get("invocation_parameters") or {}),
        )
        gate = self.gates.for_integration(integration_id)

        async def one(item: Work, values: dict[str, Any]) -> None:
            try:
                judged = await judge(provider, gate, spec, values, self.policy)
            except FatalProviderError as exc:
                result.fatal[item.unit.run_id] = exc.reason
                result.done.append(UnitResult(item.unit, ERRORED, evaluator, detail=exc.reason))
                return
            except TransientProviderError as exc:
                result.retry.append((item.unit, exc.reason))
                return
            except Exception as exc:  # noqa: BLE001 - this item alone; its siblings go on
                result.done.append(UnitResult(item.unit, ERRORED, evaluator, detail=unexpected(exc)))
                return
            if isinstance(judged.result, Failure):
                result.done.append(
                    UnitResult(item.unit, ERRORED, evaluator, detail=judged.result.reason, usage=judged.usage)
                )
            else:
                result.done.append(
                    UnitResult(item.unit, SUCCEEDED, evaluator, outcome=judged.result, usage=judged.usage)
                )

        await asyncio.gather(*(one(item, values) for item, values in ready))

    def _managed(self, evaluator: EvaluatorPlan, ready: list[tuple[Work, dict[str, Any]]], result: BatchResult) -> None:
        config = evaluator.config
        params = {**managed.static_params(config.get("static_params")), **(config.get("params") or {})}
        for item, values in ready:
            try:
                outcome = managed.evaluate(str(config.get("managed_evaluator")), values, evaluator.variables, params)
            except managed.ConfigError as exc:
                result.fatal[item.unit.run_id] = f"evaluator '{evaluator.name}' is misconfigured: {exc}"
                result.done.append(UnitResult(item.unit, ERRORED, evaluator, detail=str(exc)))
                continue
            except Exception as exc:  # noqa: BLE001 - this item alone
                result.done.append(UnitResult(item.unit, ERRORED, evaluator, detail=unexpected(exc)))
                continue
            result.done.append(UnitResult(item.unit, SUCCEEDED, evaluator, outcome=outcome))

    async def _custom(
        self, evaluator: EvaluatorPlan, ready: list[tuple[Work, dict[str, Any]]], result: BatchResult
    ) -> None:
        config = evaluator.config
        params = {**managed.static_params(config.get("static_params")), **(config.get("params") or {})}
        source = CustomCode(code=str(config.get("code") or ""), imports=config.get("imports"), params=params)
        async with self._child(ready[0][0].unit.task_id):
            outcomes = await run_custom(source, [values for _, values in ready], self.limits)
        for (item, _), outcome in zip(ready, outcomes, strict=True):
            if isinstance(outcome, Failure):
                if outcome.reason.startswith("the evaluator could not be loaded"):
                    result.fatal[item.unit.run_id] = f"custom evaluator '{evaluator.name}': {outcome.reason}"
                result.done.append(UnitResult(item.unit, ERRORED, evaluator, detail=outcome.reason))
            else:
                result.done.append(UnitResult(item.unit, SUCCEEDED, evaluator, outcome=outcome))
