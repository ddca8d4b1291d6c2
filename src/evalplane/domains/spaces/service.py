"""Spaces: the unit of access control that every other resource lives in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.cursors import CursorCodec
from evalplane.core.errors import InvalidInput, NotFound
from evalplane.db.models import Project, Role, RoleBinding, Space, User
from evalplane.db.paging import Page, PageRequest, paginate
from evalplane.domains import common
from evalplane.domains.access import roles
from evalplane.domains.access import service as access
from evalplane.domains.access.principal import Principal
from evalplane.domains.organizations import service as organizations


@dataclass(frozen=True, slots=True)
class SpaceFilters:
    organization_id: int | None = None
    name: str | None = None


UNSET = object()


async def _ensure_unique(session: AsyncSession, organization_id: int, name: str, exclude: int | None = None) -> None:
    taken = f"A space named '{name}' already exists in this organization."
    await common.ensure_name_free(
        session, Space.id, Space.name, name, Space.organization_id == organization_id, exclude=exclude, taken=taken
    )


async def create(
    session: AsyncSession,
    principal: Principal,
    *,
    organization_id: int,
    name: str,
    description: str | None = None,
    is_private: bool = False,
) -> Space:
    """Account admins create spaces anywhere; other users need the ADMIN or MEMBER role in
    the organization (as in Arize AX), and they become the new space's admin."""
    await organizations.get(session, principal, organization_id)
    principal.require_space_creation(organization_id)
    name = common.clean_name(name)
    await _ensure_unique(session, organization_id, name)
    space = Space(organization_id=organization_id, name=name, description=description or "", is_private=is_private)
    session.add(space)
    await session.flush()
    if not principal.is_account_admin:
        role = await access.role_for_level(session, "ADMIN")
        session.add(
            RoleBinding(user_id=principal.user_id, role_id=role.id, resource_type="SPACE", resource_id=space.id)
        )
        await session.flush()
    return space


async def get(session: AsyncSession, principal: Principal, space_id: int) -> Space:
    return await common.navigable_space(session, space_id, principal)


async def update(
    session: AsyncSession,
    principal: Principal,
    space_id: int,
    *,
    name: str | None = None,
    description: object = UNSET,
    is_private: bool | None = None,
) -> Space:
    space = await common.navigable_space(session, space_id, principal)
    principal.require_admin(space.id, "Space")
    if name is not None:
        name = common.clean_name(name)
        await _ensure_unique(session, space.organization_id, name, exclude=space.id)
        space.name = name
    if description is not UNSET:
        if description == "":
            raise InvalidInput("'description' must not be empty; send null to clear it.", field="description")
        space.description = description or ""  # type: ignore[assignment]
    if is_private is not None:
        space.is_private = is_private
    await session.flush()
    return space


async def remove(session: AsyncSession, principal: Principal, space_id: int) -> None:
    """Deletes the space, everything in it, and every role binding on it or its projects."""
    space = await common.navigable_space(session, space_id, principal)
    principal.require_admin(space.id, "Space")
    project_ids = select(Project.id).where(Project.space_id == space.id)
    await session.execute(
        delete(RoleBinding).where(RoleBinding.resource_type == "PROJECT", RoleBinding.resource_id.in_(project_ids))
    )
    await session.execute(
        delete(RoleBinding).where(RoleBinding.resource_type == "SPACE", RoleBinding.resource_id == space.id)
    )
    await session.execute(delete(Space).where(Space.id == space.id))


async def add_user(
    session: AsyncSession,
    principal: Principal,
    space_id: int,
    *,
    user_id: int,
    role_kind: str,
    role_name: str | None,
    role_id: int | None,
) -> tuple[RoleBinding, Role]:
    """Make the user a member of the space with this role, or change the role they have there."""
    space = await common.navigable_space(session, space_id, principal)
    principal.require_admin(space.id, "Space")
    if await session.get(User, user_id) is None:
        raise NotFound("User was not found.")
    held = await roles.from_assignment(session, role_kind, role_name, role_id)
    binding = await session.scalar(
        select(RoleBinding).where(
            RoleBinding.user_id == user_id, RoleBinding.resource_type == "SPACE", RoleBinding.resource_id == space.id
        )
    )
    if binding is None:
        binding = RoleBinding(user_id=user_id, role_id=held.id, resource_type="SPACE", resource_id=space.id)
        session.add(binding)
    else:
        binding.role_id = held.id
    await session.flush()
    return binding, held


async def remove_user(session: AsyncSession, principal: Principal, space_id: int, user_id: int) -> None:
    space = await common.navigable_space(session, space_id, principal)
    principal.require_admin(space.id, "Space")
    result = await session.execute(
        delete(RoleBinding).where(
            RoleBinding.user_id == user_id, RoleBinding.resource_type == "SPACE", RoleBinding.resource_id == space.id
        )
    )
    if not cast(CursorResult[Any], result).rowcount:
        raise NotFound("The user is not a member of this space.")


async def list_spaces(
    session: AsyncSession, principal: Principal, filters: SpaceFilters, page: PageRequest, codec: CursorCodec
) -> Page[Space]:
    stmt = select(Space)
    if filters.organization_id is not None:
        stmt = stmt.where(Space.organization_id == filters.organization_id)
    if filters.name:
        stmt = stmt.where(common.contains_ci(Space.name, filters.name))
    navigable = principal.navigable_space_ids()
    if navigable is not None:
        stmt = stmt.where(Space.id.in_(sorted(navigable) or [-1]))
    raw = {"org_id": filters.organization_id, "name": filters.name}
    return await paginate(
        session, stmt, Space.id, page, codec=codec, scope="spaces", filters=common.cursor_filters(**raw)
    )
