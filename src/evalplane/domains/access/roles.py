"""Roles: the three predefined space roles and account-defined custom roles.

Every role grants one level on the space or project it is bound to. A custom role's level
follows from its permissions (see :mod:`evalplane.domains.access.permissions`).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.cursors import CursorCodec
from evalplane.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unprocessable
from evalplane.db.models import Role, RoleBinding
from evalplane.db.paging import Page, PageRequest, paginate
from evalplane.domains import common
from evalplane.domains.access import permissions as perms
from evalplane.domains.access.principal import Principal

UNSET = object()
SPACE_ROLE_NAMES = ("ADMIN", "MEMBER", "READ_ONLY")


async def get(session: AsyncSession, role_id: int) -> Role:
    role = await session.get(Role, role_id)
    if role is None:
        raise NotFound("Role was not found.")
    return role


async def list_roles(
    session: AsyncSession, is_predefined: bool | None, page: PageRequest, codec: CursorCodec
) -> Page[Role]:
    stmt = select(Role)
    if is_predefined is not None:
        stmt = stmt.where(Role.is_predefined.is_(is_predefined))
    filters = {} if is_predefined is None else {"is_predefined": is_predefined}
    return await paginate(session, stmt, Role.id, page, codec=codec, scope="roles", filters=filters)


async def predefined(session: AsyncSession, name: str) -> Role:
    """The predefined role for a space role name as the SDK sends it (ADMIN, MEMBER, READ_ONLY)."""
    level = name.strip().upper()
    if level not in SPACE_ROLE_NAMES:
        raise Unprocessable(f"The role '{name}' is not available here; use one of: {', '.join(SPACE_ROLE_NAMES)}.")
    role = await session.scalar(select(Role).where(Role.is_predefined.is_(True), Role.level == level))
    if role is None:
        raise NotFound(f"The predefined role {level} is missing; restart the server to recreate it.")
    return role


async def from_assignment(session: AsyncSession, kind: str, name: str | None, role_id: int | None) -> Role:
    """Resolve a ``{type: PREDEFINED, name}`` or ``{type: CUSTOM, id}`` role assignment."""
    if kind.upper() == "PREDEFINED":
        return await predefined(session, name or "")
    if role_id is None:
        raise InvalidInput("A CUSTOM role assignment needs the role 'id'.", field="role.id")
    return await get(session, role_id)


def _check_permissions(permissions: list[str]) -> list[str]:
    bad = perms.unknown(permissions)
    if bad:
        raise InvalidInput(f"Unknown permissions: {', '.join(bad[:10])}.", field="permissions")
    return list(dict.fromkeys(permissions))


async def _ensure_unique(session: AsyncSession, name: str, exclude: int | None = None) -> None:
    taken = f"A role named '{name}' already exists."
    await common.ensure_name_free(session, Role.id, Role.name, name, exclude=exclude, taken=taken)


async def create(
    session: AsyncSession, principal: Principal, *, name: str, description: str | None, permissions: list[str]
) -> Role:
    principal.require_account_admin()
    name = common.clean_name(name)
    held = _check_permissions(permissions)
    await _ensure_unique(session, name)
    role = Role(
        name=name, description=description or "", is_predefined=False, level=perms.level_of(held), permissions=held
    )
    session.add(role)
    await session.flush()
    return role


async def update(
    session: AsyncSession,
    principal: Principal,
    role_id: int,
    *,
    name: str | None = None,
    description: object = UNSET,
    permissions: list[str] | None = None,
) -> Role:
    role = await get(session, role_id)
    principal.require_account_admin()
    if role.is_predefined:
        raise Forbidden("Predefined roles cannot be changed.")
    if name is not None:
        name = common.clean_name(name)
        await _ensure_unique(session, name, exclude=role.id)
        role.name = name
    if description is not UNSET:
        role.description = description or ""  # type: ignore[assignment]
    if permissions is not None:
        held = _check_permissions(permissions)
        role.permissions = held
        role.level = perms.level_of(held)
    await session.flush()
    return role


async def remove(session: AsyncSession, principal: Principal, role_id: int) -> None:
    role = await get(session, role_id)
    principal.require_account_admin()
    if role.is_predefined:
        raise Forbidden("Predefined roles cannot be deleted.")
    if await session.scalar(select(RoleBinding.id).where(RoleBinding.role_id == role.id).limit(1)) is not None:
        raise Conflict("The role is still bound to users; delete or change those role bindings first.")
    await session.delete(role)
    await session.flush()
