"""Queries over tasks and their evaluators."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.db.models import Evaluator, Task, TaskEvaluator


@dataclass(frozen=True, slots=True)
class AttachedEvaluator:
    link: TaskEvaluator
    evaluator_name: str


@dataclass(frozen=True, slots=True)
class TaskView:
    """A task with everything its wire form needs, loaded up front."""

    task: Task
    evaluators: list[AttachedEvaluator] = field(default_factory=list)


async def load_views(session: AsyncSession, tasks: Sequence[Task]) -> list[TaskView]:
    """Attach evaluators to a page of tasks with one query."""
    if not tasks:
        return []
    rows = await session.execute(
        select(TaskEvaluator, Evaluator.name)
        .join(Evaluator, Evaluator.id == TaskEvaluator.evaluator_id)
        .where(TaskEvaluator.task_id.in_([t.id for t in tasks]))
        .order_by(TaskEvaluator.task_id, TaskEvaluator.position)
    )
    by_task: dict[int, list[AttachedEvaluator]] = defaultdict(list)
    for link, name in rows.all():
        by_task[link.task_id].append(AttachedEvaluator(link=link, evaluator_name=name))
    return [TaskView(task=t, evaluators=by_task.get(t.id, [])) for t in tasks]


async def load_links(session: AsyncSession, task_id: int) -> list[TaskEvaluator]:
    rows = await session.scalars(
        select(TaskEvaluator).where(TaskEvaluator.task_id == task_id).order_by(TaskEvaluator.position)
    )
    return list(rows.all())


async def load_page_views(session: AsyncSession, rows: Sequence[Row[Any]]) -> list[TaskView]:
    """``load_views`` for list pages: plain column rows in and out, no ORM objects.

    Rows read like the model (``row.name``), which is all the wire mapper needs, and skip
    identity-map bookkeeping for the ~150 objects of a full page.
    """
    if not rows:
        return []
    links = await session.execute(
        select(*TaskEvaluator.__table__.c, Evaluator.name.label("evaluator_name"))
        .join(Evaluator, Evaluator.id == TaskEvaluator.evaluator_id)
        .where(TaskEvaluator.task_id.in_([r.id for r in rows]))
        .order_by(TaskEvaluator.task_id, TaskEvaluator.position)
    )
    by_task: dict[int, list[AttachedEvaluator]] = defaultdict(list)
    for link in links.all():
        by_task[link.task_id].append(AttachedEvaluator(link=cast(TaskEvaluator, link), evaluator_name=link.evaluator_name))
    return [TaskView(task=cast(Task, r), evaluators=by_task.get(r.id, [])) for r in rows]
