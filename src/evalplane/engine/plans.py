"""What the engine needs to run a task: its evaluators resolved to exact versions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.db.models import Evaluator, EvaluatorVersion, Task, TaskEvaluator
from evalplane.jobs.units import fingerprint

TEMPLATE, CODE = "TEMPLATE", "CODE"


@dataclass(frozen=True, slots=True)
class EvaluatorPlan:
    evaluator_id: int
    version_id: int
    name: str  # the eval.<name> column the results land in
    kind: str  # TEMPLATE | CODE
    config: dict[str, Any]
    column_mappings: dict[str, str]
    query_filter: str | None

    @property
    def variables(self) -> list[str]:
        return list(self.config.get("variables") or [])

    @property
    def fingerprint(self) -> str:
        """Same evaluator version and mappings → same result, so the unit is not redone."""
        return fingerprint({"version": self.version_id, "mappings": self.column_mappings})


@dataclass(frozen=True, slots=True)
class TaskPlan:
    task: Task
    evaluators: list[EvaluatorPlan]

    def evaluator(self, evaluator_id: int) -> EvaluatorPlan | None:
        return next((e for e in self.evaluators if e.evaluator_id == evaluator_id), None)


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
            )
        )
    return TaskPlan(task=task, evaluators=plans)
