"""Role bindings: a user holds one role on one space or one project.

Who may see and manage them: account admins, every binding; the ADMIN of a space, the
bindings on that space and its projects; the ADMIN of a project (through a PROJECT binding),
the bindings on that project; every user, their own bindings (read only).
Organization memberships are stored as bindings too, but managed only through
:mod:`evalplane.domains.organizations.members`, as in Arize AX; here they do not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.cursors import CursorCodec
from evalplane.core.errors import Conflict, InvalidInput, NotFound
from evalplane.db.models import Project, RoleBinding, Space, User
from evalplane.db.paging import Page, PageRequest, paginate
from evalplane.domains import common
from evalplane.domains.access import roles
from evalplane.domains.access.principal import Level, Principal

RESOURCE_TYPES = ("SPACE", "PROJECT")


@dataclass(frozen=True, slots=True)
class BindingFilters:
    resource_type: str | None = None
    user_id: int | None = None


async def _space_of(session: AsyncSession, resource_type: str, resource_id: int) -> int | None:
    if resource_type == "SPACE":
        return resource_id if await session.get(Space, resource_id) is not None else None
    return await session.scalar(select(Project.space_id).where(Project.id == resource_id))


def _can_see(principal: Principal, binding: RoleBinding, space_id: int) -> bool:
    if binding.user_id == principal.user_id:
        return True
    if binding.resource_type == "SPACE":
        return principal.can_see(space_id)
    return principal.project_level(binding.resource_id, space_id) > Level.NONE


async def _require_manage(session: AsyncSession, principal: Principal, resource_type: str, resource_id: int) -> None:
    what = "Space" if resource_type == "SPACE" else "Project"
    space_id = await _space_of(session, resource_type, resource_id)
    if space_id is None:
        raise NotFound(f"{what} was not found.")
    if resource_type == "SPACE":
        principal.require_admin(space_id, what)
    else:
        principal.require_project_admin(resource_id, space_id, what)


async def get(session: AsyncSession, principal: Principal, binding_id: int) -> RoleBinding:
    binding = await session.get(RoleBinding, binding_id)
    if binding is not None and binding.resource_type not in RESOURCE_TYPES:
        binding = None
    space_id = None if binding is None else await _space_of(session, binding.resource_type, binding.resource_id)
    if binding is None or space_id is None or not _can_see(principal, binding, space_id):
        raise NotFound("Role binding was not found.")
    return binding


async def list_bindings(
    session: AsyncSession, principal: Principal, filters: BindingFilters, page: PageRequest, codec: CursorCodec
) -> Page[RoleBinding]:
    stmt = select(RoleBinding).where(RoleBinding.resource_type.in_(RESOURCE_TYPES))
    if filters.resource_type:
        stmt = stmt.where(RoleBinding.resource_type == filters.resource_type)
    if filters.user_id is not None:
        stmt = stmt.where(RoleBinding.user_id == filters.user_id)
    if not principal.is_account_admin:
        spaces = sorted(principal.visible_space_ids() or []) or [-1]
        projects = sorted(principal.visible_project_ids()) or [-1]
        stmt = stmt.where(
            or_(
                RoleBinding.user_id == principal.user_id,
                and_(RoleBinding.resource_type == "SPACE", RoleBinding.resource_id.in_(spaces)),
                and_(
                    RoleBinding.resource_type == "PROJECT",
                    or_(
                        RoleBinding.resource_id.in_(projects),
                        RoleBinding.resource_id.in_(select(Project.id).where(Project.space_id.in_(spaces))),
                    ),
                ),
            )
        )
    raw = {"resource_type": filters.resource_type, "user_id": filters.user_id}
    return await paginate(
        session,
        stmt,
        RoleBinding.id,
        page,
        codec=codec,
        scope="role_bindings",
        filters=common.cursor_filters(**raw),
    )


async def create(
    session: AsyncSession, principal: Principal, *, user_id: int, role_id: int, resource_type: str, resource_id: int
) -> RoleBinding:
    if resource_type not in RESOURCE_TYPES:
        raise InvalidInput("'resource_type' must be SPACE or PROJECT.", field="resource_type")
    await _require_manage(session, principal, resource_type, resource_id)
    if await session.get(User, user_id) is None:
        raise NotFound("User was not found.")
    await roles.get(session, role_id)
    duplicate = await session.scalar(
        select(RoleBinding.id).where(
            RoleBinding.user_id == user_id,
            RoleBinding.resource_type == resource_type,
            RoleBinding.resource_id == resource_id,
        )
    )
    if duplicate is not None:
        raise Conflict("The user already has a role on this resource; update that binding instead.")
    binding = RoleBinding(user_id=user_id, role_id=role_id, resource_type=resource_type, resource_id=resource_id)
    session.add(binding)
    await session.flush()
    return binding


async def update(session: AsyncSession, principal: Principal, binding_id: int, role_id: int) -> RoleBinding:
    binding = await get(session, principal, binding_id)
    await _require_manage(session, principal, binding.resource_type, binding.resource_id)
    await roles.get(session, role_id)
    binding.role_id = role_id
    await session.flush()
    return binding


async def remove(session: AsyncSession, principal: Principal, binding_id: int) -> None:
    binding = await get(session, principal, binding_id)
    await _require_manage(session, principal, binding.resource_type, binding.resource_id)
    await session.delete(binding)
    await session.flush()
