"""Listing and reading tasks within what the caller may see."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.cursors import CursorCodec
from evalplane.core.errors import NotFound
from evalplane.db.dialect import contains_text_ci
from evalplane.db.models import Space, Task
from evalplane.db.paging import Page, PageRequest, paginate
from evalplane.domains import common
from evalplane.domains.access.principal import Principal
from evalplane.domains.tasks.repository import TaskView, load_page_views, load_views

TASK_TYPES = ("TEMPLATE_EVALUATION", "CODE_EVALUATION", "RUN_EXPERIMENT")


@dataclass(frozen=True, slots=True)
class TaskFilters:
    space_id: int | None = None
    space_name: str | None = None
    name: str | None = None
    project_id: int | None = None
    dataset_id: int | None = None
    type: str | None = None


async def list_tasks(
    session: AsyncSession, principal: Principal, filters: TaskFilters, page: PageRequest, codec: CursorCodec
) -> Page[TaskView]:
    stmt = select(*Task.__table__.c)  # column rows, not ORM objects: see load_page_views
    if filters.space_id is not None:
        await common.visible_space(session, filters.space_id, principal)
        stmt = stmt.where(Task.space_id == filters.space_id)
    if filters.project_id is not None:
        await common.visible_project(session, filters.project_id, principal)
        stmt = stmt.where(Task.project_id == filters.project_id)
    if filters.dataset_id is not None:
        await common.visible_dataset(session, filters.dataset_id, principal)
        stmt = stmt.where(Task.dataset_id == filters.dataset_id)
    if filters.type is not None:
        stmt = stmt.where(Task.type == filters.type)
    if filters.name:
        stmt = stmt.where(contains_text_ci(Task.name, filters.name))
    if filters.space_name:
        names = select(Space.id).where(common.contains_ci(Space.name, filters.space_name))
        stmt = stmt.where(Task.space_id.in_(names))
    scope = common.space_scope(Task.space_id, principal)
    if scope is not None:
        stmt = stmt.where(scope)
    result = await paginate(
        session,
        stmt,
        Task.id,
        page,
        codec=codec,
        scope="tasks",
        filters={k: v for k, v in vars_of(filters).items() if v is not None},
        scalars=False,
    )
    return Page(items=await load_page_views(session, result.items), has_more=result.has_more, next_cursor=result.next_cursor)


async def get_task(session: AsyncSession, principal: Principal, task_id: int) -> TaskView:
    task = await session.get(Task, task_id)
    if task is None or not principal.can_see(task.space_id):
        raise NotFound("Task was not found.")
    return (await load_views(session, [task]))[0]


def vars_of(filters: TaskFilters) -> dict[str, object]:
    return {name: getattr(filters, name) for name in filters.__slots__}  # type: ignore[attr-defined]
