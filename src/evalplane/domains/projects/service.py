"""Projects: the tracing destinations whose spans evaluation tasks read."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.cursors import CursorCodec
from evalplane.db.models import Project, RoleBinding
from evalplane.db.paging import Page, PageRequest, paginate
from evalplane.domains import common
from evalplane.domains.access.principal import Principal

ProjectFilters = common.SpaceListFilters


async def _ensure_unique(session: AsyncSession, space_id: int, name: str, exclude: int | None = None) -> None:
    taken = f"A project named '{name}' already exists in this space."
    await common.ensure_name_free(
        session, Project.id, Project.name, name, Project.space_id == space_id, exclude=exclude, taken=taken
    )


async def create(session: AsyncSession, principal: Principal, *, space_id: int, name: str) -> Project:
    await common.visible_space(session, space_id, principal)
    principal.require_write(space_id, "Space")
    name = common.clean_name(name)
    await _ensure_unique(session, space_id, name)
    project = Project(space_id=space_id, name=name)
    session.add(project)
    await session.flush()
    return project


async def get_or_create(session: AsyncSession, *, space_id: int, name: str) -> Project:
    """Used by ingestion: a project is created on first use of its name in a space."""
    project = await session.scalar(select(Project).where(Project.space_id == space_id, Project.name == name))
    if project is None:
        project = Project(space_id=space_id, name=name)
        session.add(project)
        await session.flush()
    return project


async def get(session: AsyncSession, principal: Principal, project_id: int) -> Project:
    return await common.visible_project(session, project_id, principal)


async def rename(session: AsyncSession, principal: Principal, project_id: int, name: str) -> Project:
    project = await common.visible_project(session, project_id, principal)
    principal.require_project_write(project.id, project.space_id)
    name = common.clean_name(name)
    await _ensure_unique(session, project.space_id, name, exclude=project.id)
    project.name = name
    await session.flush()
    return project


async def remove(session: AsyncSession, principal: Principal, project_id: int) -> None:
    project = await common.visible_project(session, project_id, principal)
    principal.require_project_write(project.id, project.space_id)
    await session.execute(delete(Project).where(Project.id == project.id))
    await session.execute(
        delete(RoleBinding).where(RoleBinding.resource_type == "PROJECT", RoleBinding.resource_id == project.id)
    )


async def list_projects(
    session: AsyncSession, principal: Principal, filters: ProjectFilters, page: PageRequest, codec: CursorCodec
) -> Page[Project]:
    stmt = select(Project)
    if filters.space_id is not None:
        await common.navigable_space(session, filters.space_id, principal)
        stmt = stmt.where(Project.space_id == filters.space_id)
    if filters.name:
        stmt = stmt.where(common.contains_ci(Project.name, filters.name))
    if filters.space_name:
        stmt = stmt.where(common.in_spaces_named(Project.space_id, filters.space_name))
    scope = common.project_scope(Project.id, Project.space_id, principal)
    if scope is not None:
        stmt = stmt.where(scope)
    return await paginate(
        session,
        stmt,
        Project.id,
        page,
        codec=codec,
        scope="projects",
        filters=common.cursor_filters(space_id=filters.space_id, space_name=filters.space_name, name=filters.name),
    )
