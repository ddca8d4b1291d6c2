"""Organization memberships: a user's role in an organization, as in Arize AX.

A membership is stored as a role binding on the ORGANIZATION with a predefined role; what it
grants on the organization's spaces is worked out at authentication (see
:mod:`evalplane.domains.access.principal`). Only the organization's ADMIN, or an account
admin, adds, changes or removes members. Removing someone from an organization also removes
their roles on its spaces and projects.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.errors import NotFound, Unprocessable
from evalplane.db.models import Project, Role, RoleBinding, Space, User
from evalplane.domains.access import roles
from evalplane.domains.access.principal import Principal
from evalplane.domains.organizations import service as organizations

ORGANIZATION = "ORGANIZATION"


async def _require_admin(session: AsyncSession, principal: Principal, org_id: int) -> None:
    await organizations.get(session, principal, org_id)
    principal.require_organization_admin(org_id)


async def add_user(
    session: AsyncSession, principal: Principal, org_id: int, *, user_id: int, role_kind: str, role_name: str | None
) -> tuple[RoleBinding, Role]:
    """Make the user a member of the organization with this role, or change the role they have there."""
    await _require_admin(session, principal, org_id)
    if role_kind != "PREDEFINED":
        raise Unprocessable(
            "Organization roles are the predefined ADMIN, MEMBER and READ_ONLY; custom roles apply to spaces and projects."
        )
    if await session.get(User, user_id) is None:
        raise NotFound("User was not found.")
    held = await roles.predefined(session, role_name or "")
    binding = await session.scalar(
        select(RoleBinding).where(
            RoleBinding.user_id == user_id, RoleBinding.resource_type == ORGANIZATION, RoleBinding.resource_id == org_id
        )
    )
    if binding is None:
        binding = RoleBinding(user_id=user_id, role_id=held.id, resource_type=ORGANIZATION, resource_id=org_id)
        session.add(binding)
    else:
        binding.role_id = held.id
    await session.flush()
    return binding, held


async def remove_user(session: AsyncSession, principal: Principal, org_id: int, user_id: int) -> None:
    """Removes the user's role in the organization and on every space and project in it."""
    await _require_admin(session, principal, org_id)
    space_ids = select(Space.id).where(Space.organization_id == org_id)
    project_ids = select(Project.id).where(Project.space_id.in_(space_ids))
    removed = 0
    for resource_type, resource_ids in ((ORGANIZATION, [org_id]), ("SPACE", space_ids), ("PROJECT", project_ids)):
        result = await session.execute(
            delete(RoleBinding).where(
                RoleBinding.user_id == user_id,
                RoleBinding.resource_type == resource_type,
                RoleBinding.resource_id.in_(resource_ids),
            )
        )
        removed += cast(CursorResult[Any], result).rowcount or 0
    if not removed:
        raise NotFound("The user is not a member of this organization.")
