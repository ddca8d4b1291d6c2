"""What the engine needs to run a task: its evaluators resolved to exact versions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.db.models import Evaluator, EvaluatorVersion, Task, TaskEvaluator
from evalplane.jobs.units import fingerprint

TEMPLATE, CODE = "TEMPLATE", "CODE"
SPAN, TRACE, SESSION = "SPAN", "TRACE", "SESSION"


@dataclass(frozen=True, slots=True)
class EvaluatorPlan:
    evaluator_id: int
    version_id: int
    name: str  # the eval.<name> column the results land in
    kind: str  # TEMPLATE | CODE
    config: dict[str, Any]
    column_mappings: dict[str, str]
    query_filter: str | None
    scope: str = SPAN  # the evaluator's data_granularity: what one unit of work is
    # Trace/session variables: {variable_name, query_ids, attribute_path} each.
    query_mappings: tuple[dict[str, Any], ...] = ()

    @property
    def variables(self) -> list[str]:
        return list(self.config.get("variables") or [])

    @property
    def fingerprint(self) -> str:
        """Same evaluator version and mappings → same result, so the unit is not redone."""
        if self.scope == SPAN:
            return fingerprint({"version": self.version_id, "mappings": self.column_mappings})
        return fingerprint({"version": self.version_id, "query_mappings": list(self.query_mappings)})


@dataclass(frozen=True, slots=True)
class TaskPlan:
    task: Task
    evaluators: list[EvaluatorPlan]

    def evaluator(self, evaluator_id: int) -> EvaluatorPlan | None:
        return next((e for e in self.evaluators if e.evaluator_id == evaluator_id), None)

    @property
    def scopes(self) -> set[str]:
        """The scopes of the task's evaluators (one, unless the task was saved before the rule)."""
        return {e.scope for e in self.evaluators}

    @property
    def scope(self) -> str:
        return next(iter(self.scopes), SPAN)

    def scope_mismatch(self) -> str | None:
        """Why a project task's evaluators cannot run together (saved before the rules, or edited since)."""
        scopes = self.scopes
        if len(scopes) > 1:
            kinds = ", ".join(sorted(scopes))
            return f"The task's evaluators have different scopes ({kinds}); a task evaluates one scope."
        scope = self.scope
        if scope not in (SPAN, TRACE, SESSION):
            return f"The task's evaluators have the unknown scope {scope!r}."
        if scope != SPAN and self.task.query_filter:
            return f"The task is span-shaped (it has a query_filter) but its evaluators are {scope}-scoped."
        if scope == SPAN and self.task.query_filters:
            return "The task is trace/session-shaped (it has query_filters) but its evaluators are SPAN-scoped."
        return None


async def load_task_plan(session: AsyncSession, task_id: int) -> TaskPlan | None:
    task = await session.get(Task, task_id)
    if task is None:
        return None
    links = (
        await session.execute(
            select(TaskEvaluator, Evaluator)
            .join(Evaluator, Evaluator.id == TaskEvaluator.evaluator_id)
            .where(TaskEvaluator.task_id == task_id)
            .order_by(TaskEvaluator.position)
        )
    ).all()
    plans = []
    for link, evaluator in links:
        version = None
        if link.evaluator_version_id is not None:
            version = await session.get(EvaluatorVersion, link.evaluator_version_id)
        if version is None:
            version = await session.scalar(
                select(EvaluatorVersion)
                .where(EvaluatorVersion.evaluator_id == evaluator.id)
                .order_by(EvaluatorVersion.id.desc())
                .limit(1)
            )
        if version is None:
            continue
        config = dict(version.config)
        filters = [f for f in (link.query_filter, config.get("query_filter")) if f and f.strip()]
        plans.append(
            EvaluatorPlan(
                evaluator_id=evaluator.id,
                version_id=version.id,
                name=str(config.get("name") or evaluator.name),
                kind=str(config.get("type") or evaluator.type).upper(),
                config=config,
                column_mappings=dict(link.column_mappings or {}),
                query_filter=" AND ".join(f"({f})" for f in filters) if filters else None,
                scope=str(config.get("data_granularity") or SPAN).upper(),
                query_mappings=tuple(dict(m) for m in link.query_mappings or ()),
            )
        )
    return TaskPlan(task=task, evaluators=plans)
