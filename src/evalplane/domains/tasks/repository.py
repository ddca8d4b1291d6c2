"""Queries over tasks and their evaluators."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.db import dialect
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


@dataclass(frozen=True, slots=True)
class PageQuery:
    """What one list page asks for; ``None`` leaves a criterion out."""

    limit: int
    before_id: int | None = None
    space_id: int | None = None
    project_id: int | None = None
    dataset_id: int | None = None
    type: str | None = None
    name: str | None = None
    space_name: str | None = None
    # The caller's reach: None for everything, else whole spaces plus single projects.
    space_ids: list[int] | None = None
    project_ids: list[int] = field(default_factory=list)


class TaskRow(NamedTuple):
    """A task's columns as the wire mapper reads them (like the ``Task`` model's attributes)."""

    id: int
    name: str
    type: str
    project_id: int | None
    dataset_id: int | None
    sampling_rate: float | None
    is_continuous: bool
    query_filter: str | None
    query_filters: dict[str, Any] | None
    run_configuration: dict[str, Any] | None
    experiment_ids: list[int]
    # Already in wire form (``core.clock.isoformat``); the mapper passes text through.
    last_run_at: str | None
    created_at: str
    updated_at: str
    created_by_user_id: int | None


class LinkRow(NamedTuple):
    """An attached evaluator's columns as the wire mapper reads them (like ``TaskEvaluator``)."""

    evaluator_id: int
    evaluator_version_id: int | None
    query_filter: str | None
    column_mappings: dict[str, str] | None
    query_mappings: list[Any] | None


_TASK_COLUMNS = ", ".join(f"t.{name}" for name in TaskRow._fields)
_LINK_VALUES = [
    "te.evaluator_id",
    "te.evaluator_version_id",
    "te.query_filter",
    "te.column_mappings",
    "te.query_mappings",
    "e.name",
]


async def load_page_views(session: AsyncSession, query: PageQuery) -> list[TaskView]:
    """One page of tasks, newest first, with their evaluators, in one SQL statement.

    The page is cut first (keyset walk by id under the filters), then each of its tasks
    gathers its evaluators as a JSON array, so evaluators are read for the page only.
    """
    q = dialect.RawQuery(session.get_bind().dialect.name)
    where = []
    if query.before_id is not None:
        where.append(f"t.id < {q.bind(query.before_id)}")
    if query.space_id is not None:
        where.append(f"t.space_id = {q.bind(query.space_id)}")
    if query.project_id is not None:
        where.append(f"t.project_id = {q.bind(query.project_id)}")
    if query.dataset_id is not None:
        where.append(f"t.dataset_id = {q.bind(query.dataset_id)}")
    if query.type is not None:
        where.append(f"t.type = {q.bind(query.type)}")
    if query.name:
        where.append(q.contains_text_ci("t.name", query.name))
    if query.space_name:
        where.append(
            f"t.space_id IN (SELECT s.id FROM spaces s WHERE {q.contains_text_ci('s.name', query.space_name)})"
        )
    if query.space_ids is not None:
        reach = q.in_ints("t.space_id", query.space_ids or [-1])
        if query.project_ids:
            reach = f"({reach} OR {q.in_ints('t.project_id', query.project_ids)})"
        where.append(reach)
    evaluators = q.json_rows(
        _LINK_VALUES,
        "te.position, te.id",
        "FROM task_evaluators te JOIN evaluators e ON e.id = te.evaluator_id WHERE te.task_id = page.id",
    )
    sql = (
        f"WITH page AS MATERIALIZED (SELECT {_TASK_COLUMNS} FROM tasks t"
        f"{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY t.id DESC LIMIT {q.bind(query.limit)}) "
        f"SELECT page.*, {evaluators} FROM page ORDER BY page.id DESC"
    )
    rows = await dialect.fetch_all(session, q, sql)
    json_value, timestamp = q.json, dialect.timestamp_text
    views = []
    for r in rows:
        task = TaskRow(
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            bool(r[6]),
            r[7],
            json_value(r[8]),
            json_value(r[9]),
            json_value(r[10]),
            timestamp(r[11]),
            cast(str, timestamp(r[12])),
            cast(str, timestamp(r[13])),
            r[14],
        )  # fmt: skip  (created_at and updated_at are NOT NULL)
        attached = [
            AttachedEvaluator(LinkRow(e[0], e[1], e[2], json_value(e[3]), json_value(e[4])), e[5])  # type: ignore[arg-type]
            for e in json_value(r[15]) or ()
        ]
        views.append(TaskView(cast(Task, task), attached))
    return views


async def record_activity(session: AsyncSession, task_id: int, **values: Any) -> None:
    """Bookkeeping on a task (``last_run_at``, the continuous cursor) that is not an edit:
    ``updated_at`` keeps meaning "the task's configuration last changed"."""
    await session.execute(
        update(Task)
        .where(Task.id == task_id)
        .values(**values, updated_at=Task.updated_at)
        .execution_options(synchronize_session=False)
    )
