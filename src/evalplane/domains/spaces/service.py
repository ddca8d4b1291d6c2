"""Spaces: the unit of access control that every other resource lives in."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.cursors import CursorCodec
from evalplane.core.errors import Conflict, InvalidInput, NotFound
from evalplane.db.models import Organization, RoleBinding, Space
from evalplane.db.paging import Page, PageRequest, paginate
from evalplane.domains import common
from evalplane.domains.access import service as access
from evalplane.domains.access.principal import Principal


@dataclass(frozen=True, slots=True)
class SpaceFilters:
    organization_id: int | None = None
    name: str | None = None


async def create(
    session: AsyncSession, principal: Principal, *, organization_id: int, name: str, is_private: bool = False
) -> Space:
    """Account admins create spaces anywhere; other users become the new space's admin."""
    if await session.get(Organization, organization_id) is None:
        raise NotFound("Organization was not found.")
    name = name.strip()
    if not name:
        raise InvalidInput("'name' must be a non-empty string.", field="name")
    exists = await session.scalar(select(Space.id).where(Space.organization_id == organization_id, Space.name == name))
    if exists is not None:
        raise Conflict(f"A space named '{name}' already exists in this organization.")
    space = Space(organization_id=organization_id, name=name, is_private=is_private)
    session.add(space)
    await session.flush()
    if not principal.is_account_admin:
        role = await access.role_for_level(session, "ADMIN")
        session.add(RoleBinding(user_id=principal.user_id, role_id=role.id, resource_type="SPACE", resource_id=space.id))
        await session.flush()
    return space


async def get(session: AsyncSession, principal: Principal, space_id: int) -> Space:
    return await common.visible_space(session, space_id, principal)


async def list_spaces(
    session: AsyncSession, principal: Principal, filters: SpaceFilters, page: PageRequest, codec: CursorCodec
) -> Page[Space]:
    stmt = select(Space)
    if filters.organization_id is not None:
        stmt = stmt.where(Space.organization_id == filters.organization_id)
    if filters.name:
        stmt = stmt.where(common.contains_ci(Space.name, filters.name))
    scope = common.space_scope(Space.id, principal)
    if scope is not None:
        stmt = stmt.where(scope)
    raw = {"org_id": filters.organization_id, "name": filters.name}
    return await paginate(
        session, stmt, Space.id, page, codec=codec, scope="spaces", filters={k: v for k, v in raw.items() if v is not None}
    )
