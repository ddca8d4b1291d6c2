"""Organizations group spaces. Account admins manage them; others see the ones they hold a
role in, or work in through a space."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.cursors import CursorCodec
from evalplane.core.errors import NotFound
from evalplane.db.models import Organization, Project, RoleBinding, Space
from evalplane.db.paging import Page, PageRequest, paginate
from evalplane.domains import common
from evalplane.domains.access.principal import Principal

UNSET = object()


@dataclass(frozen=True, slots=True)
class OrganizationFilters:
    name: str | None = None


async def _ensure_unique(session: AsyncSession, name: str, exclude: int | None = None) -> None:
    taken = f"An organization named '{name}' already exists."
    await common.ensure_name_free(session, Organization.id, Organization.name, name, exclude=exclude, taken=taken)


def _visible_org_ids(principal: Principal) -> Select[int] | None:
    """Ids of the organizations the caller can reach, as a subquery; None means all."""
    spaces = principal.navigable_space_ids()
    if spaces is None:
        return None
    return select(Space.organization_id).where(Space.id.in_(sorted(spaces) or [-1]))


async def get(session: AsyncSession, principal: Principal, org_id: int) -> Organization:
    """An organization is visible to account admins and to anyone who can reach one of its spaces."""
    org = await session.get(Organization, org_id)
    if org is None:
        raise NotFound("Organization was not found.")
    if org_id in principal.organization_levels:
        return org
    visible = _visible_org_ids(principal)
    if visible is not None and await session.scalar(visible.where(Space.organization_id == org_id).limit(1)) is None:
        raise NotFound("Organization was not found.")
    return org


async def list_organizations(
    session: AsyncSession, principal: Principal, filters: OrganizationFilters, page: PageRequest, codec: CursorCodec
) -> Page[Organization]:
    stmt = select(Organization)
    if filters.name:
        stmt = stmt.where(common.contains_ci(Organization.name, filters.name))
    visible = _visible_org_ids(principal)
    if visible is not None:
        bound = sorted(principal.organization_levels) or [-1]
        stmt = stmt.where(or_(Organization.id.in_(visible), Organization.id.in_(bound)))
    raw = {"name": filters.name}
    return await paginate(
        session,
        stmt,
        Organization.id,
        page,
        codec=codec,
        scope="organizations",
        filters=common.cursor_filters(**raw),
    )


async def create(session: AsyncSession, principal: Principal, *, name: str, description: str | None) -> Organization:
    principal.require_account_admin()
    name = common.clean_name(name)
    await _ensure_unique(session, name)
    org = Organization(name=name, description=description or "")
    session.add(org)
    await session.flush()
    return org


async def update(
    session: AsyncSession, principal: Principal, org_id: int, *, name: str | None, description: object = UNSET
) -> Organization:
    org = await get(session, principal, org_id)
    principal.require_account_admin()
    if name is not None:
        name = common.clean_name(name)
        await _ensure_unique(session, name, exclude=org.id)
        org.name = name
    if description is not UNSET:
        org.description = description or ""  # type: ignore[assignment]
    await session.flush()
    return org


async def remove(session: AsyncSession, principal: Principal, org_id: int) -> None:
    """Deletes the organization with its spaces and everything in them, and their role bindings."""
    org = await get(session, principal, org_id)
    principal.require_account_admin()
    space_ids = select(Space.id).where(Space.organization_id == org.id)
    project_ids = select(Project.id).where(Project.space_id.in_(space_ids))
    await session.execute(
        delete(RoleBinding).where(RoleBinding.resource_type == "PROJECT", RoleBinding.resource_id.in_(project_ids))
    )
    await session.execute(
        delete(RoleBinding).where(RoleBinding.resource_type == "SPACE", RoleBinding.resource_id.in_(space_ids))
    )
    await session.execute(
        delete(RoleBinding).where(RoleBinding.resource_type == "ORGANIZATION", RoleBinding.resource_id == org.id)
    )
    await session.execute(delete(Organization).where(Organization.id == org.id))
