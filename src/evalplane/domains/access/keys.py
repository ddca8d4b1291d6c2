"""API keys: personal USER keys and SERVICE keys that act as a bot user with space roles.

Who sees a key: its owner (USER keys), its creator (SERVICE keys), the admins of a space a
service key's bot is bound to, and account admins. Only they may revoke or refresh it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.clock import as_utc, utcnow
from evalplane.core.cursors import CursorCodec
from evalplane.core.errors import Forbidden, InvalidInput, NotFound, Unprocessable
from evalplane.db.models import ApiKey, Role, RoleBinding, User
from evalplane.db.paging import Page, PageRequest, paginate
from evalplane.domains import common
from evalplane.domains.access import service as access
from evalplane.domains.access.principal import Level, Principal

BOT_ACCOUNT_ROLES = ("ADMIN", "MEMBER", "MEMBER_UI_ONLY", "ANNOTATOR")


@dataclass(frozen=True, slots=True)
class KeyFilters:
    key_type: str | None = None
    status: str = "ACTIVE"
    space_id: int | None = None
    user_id: int | None = None


@dataclass(frozen=True, slots=True)
class SpaceGrant:
    """One space a new service key's bot is given, with the role it holds there."""

    space_id: int
    organization_id: int
    role: Role


@dataclass
class CreatedKey:
    key: ApiKey
    secret: str
    bot: User | None = None
    grants: list[SpaceGrant] = field(default_factory=list)


def _future(expires_at: datetime | None) -> datetime | None:
    if expires_at is None:
        return None
    expires_at = as_utc(expires_at)
    if expires_at <= utcnow():
        raise Unprocessable("'expires_at' must be in the future.")
    return expires_at


def _managed_space_ids(principal: Principal) -> list[int]:
    return sorted(space_id for space_id, level in principal.space_levels.items() if level == Level.ADMIN)


async def get(session: AsyncSession, principal: Principal, key_id: int) -> ApiKey:
    key = await session.get(ApiKey, key_id)
    if key is None or not await _can_manage(session, principal, key):
        raise NotFound("API key was not found.")
    return key


async def _can_manage(session: AsyncSession, principal: Principal, key: ApiKey) -> bool:
    if principal.is_account_admin or key.user_id == principal.user_id:
        return True
    if key.key_type != "SERVICE":
        return False
    if key.created_by_user_id == principal.user_id:
        return True
    managed = _managed_space_ids(principal)
    if not managed:
        return False
    bound = await session.scalar(
        select(RoleBinding.id)
        .where(
            RoleBinding.user_id == key.user_id,
            RoleBinding.resource_type == "SPACE",
            RoleBinding.resource_id.in_(managed),
        )
        .limit(1)
    )
    return bound is not None


async def list_keys(
    session: AsyncSession, principal: Principal, filters: KeyFilters, page: PageRequest, codec: CursorCodec
) -> Page[ApiKey]:
    """Without a space: the caller's own USER keys (another user's with ``user_id``, for
    account admins), or with ``key_type=SERVICE`` the service keys the caller created (all,
    for account admins). With a space: the service keys bound to that space, optionally by
    creator."""
    key_type = filters.key_type
    stmt = select(ApiKey).where(ApiKey.status == filters.status)
    if filters.space_id is not None:
        await common.visible_space(session, filters.space_id, principal)
        if key_type == "USER":
            raise InvalidInput("A 'space_id' lists service keys; leave out key_type or send SERVICE.", field="space_id")
        key_type = "SERVICE"
        bots = select(RoleBinding.user_id).where(
            RoleBinding.resource_type == "SPACE", RoleBinding.resource_id == filters.space_id
        )
        stmt = stmt.where(ApiKey.user_id.in_(bots))
        if filters.user_id is not None:
            stmt = stmt.where(ApiKey.created_by_user_id == filters.user_id)
    elif key_type == "SERVICE":
        if filters.user_id is not None:
            if filters.user_id != principal.user_id:
                principal.require_account_admin()
            stmt = stmt.where(ApiKey.created_by_user_id == filters.user_id)
        elif not principal.is_account_admin:
            stmt = stmt.where(ApiKey.created_by_user_id == principal.user_id)
    else:
        key_type = "USER"
        owner = principal.user_id if filters.user_id is None else filters.user_id
        if owner != principal.user_id:
            principal.require_account_admin()
        stmt = stmt.where(ApiKey.user_id == owner)
    stmt = stmt.where(ApiKey.key_type == key_type)
    raw = {
        "key_type": filters.key_type,
        "status": filters.status,
        "space_id": filters.space_id,
        "user_id": filters.user_id,
    }
    return await paginate(
        session, stmt, ApiKey.id, page, codec=codec, scope="api_keys", filters=common.cursor_filters(**raw)
    )


async def create_user_key(
    session: AsyncSession, principal: Principal, *, name: str, description: str | None, expires_at: datetime | None
) -> CreatedKey:
    user = await session.get(User, principal.user_id)
    if user is None or user.is_bot:
        raise Forbidden("Service accounts cannot create personal API keys.")
    if not user.is_developer:
        raise Forbidden("Your user does not have developer permissions, which API keys need.")
    key, secret = await access.issue_key(
        session,
        user_id=user.id,
        name=common.clean_name(name, max_length=256),
        key_type="USER",
        created_by_user_id=user.id,
        description=description,
        expires_at=_future(expires_at),
    )
    return CreatedKey(key=key, secret=secret)


async def resolve_grants(
    session: AsyncSession, principal: Principal, requested: list[tuple[int, int, Role]]
) -> list[SpaceGrant]:
    """Check each requested (organization, space, role): the space must be in that organization,
    the caller must be able to write there, and may not grant more than they hold."""
    grants: list[SpaceGrant] = []
    seen: set[int] = set()
    for org_id, space_id, role in requested:
        space = await common.visible_space(session, space_id, principal)
        if space.organization_id != org_id:
            raise InvalidInput("A space in 'organizations' does not belong to the organization it is listed under.")
        if space_id in seen:
            raise InvalidInput("Each space may appear only once in a service key's assignments.")
        seen.add(space_id)
        principal.require_write(space_id, "Space")
        if Level.parse(role.level) > principal.level_in(space_id):
            raise Forbidden("A service key cannot be given a higher role in a space than its creator has.")
        grants.append(SpaceGrant(space_id=space_id, organization_id=org_id, role=role))
    return grants


async def create_service_key(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    description: str | None,
    expires_at: datetime | None,
    account_role: str,
    grants: list[SpaceGrant],
) -> CreatedKey:
    """A new bot user with the given space roles, and a key that acts as it."""
    if account_role not in BOT_ACCOUNT_ROLES:
        raise Unprocessable(f"The account role '{account_role}' is not available for service keys.")
    if account_role == "ADMIN":
        principal.require_account_admin()
    if not grants:
        raise InvalidInput("A service key needs at least one space.", field="organizations")
    name = common.clean_name(name, max_length=256)
    bot = User(
        name=f"{name} (service key)",
        email=f"service-{secrets.token_hex(8)}@bots.evalplane.invalid",
        account_role=account_role,
        status="ACTIVE",
        is_developer=True,
        is_bot=True,
    )
    session.add(bot)
    await session.flush()
    for grant in grants:
        session.add(
            RoleBinding(user_id=bot.id, role_id=grant.role.id, resource_type="SPACE", resource_id=grant.space_id)
        )
    key, secret = await access.issue_key(
        session,
        user_id=bot.id,
        name=name,
        key_type="SERVICE",
        created_by_user_id=principal.user_id,
        description=description,
        expires_at=_future(expires_at),
    )
    return CreatedKey(key=key, secret=secret, bot=bot, grants=grants)


async def revoke(session: AsyncSession, principal: Principal, key_id: int) -> None:
    """Revoking is permanent; revoking a revoked key again succeeds and changes nothing."""
    key = await get(session, principal, key_id)
    if key.status != "REVOKED":
        key.status = "REVOKED"
        key.previous_token_hash = None
        key.previous_expires_at = None
    await session.flush()


async def refresh(
    session: AsyncSession, principal: Principal, key_id: int, *, expires_at: datetime | None, grace_period_seconds: int
) -> tuple[ApiKey, str]:
    """A new secret for the same key. The old secret stops working at once, or after the grace period."""
    key = await get(session, principal, key_id)
    if key.status != "ACTIVE":
        raise Unprocessable("A revoked API key cannot be refreshed.")
    if key.expires_at is not None and expires_at is None:
        raise Unprocessable("This key expires, so its replacement needs an 'expires_at' as well.")
    new_expiry = _future(expires_at)
    secret = access.new_token()
    if grace_period_seconds > 0:
        key.previous_token_hash = key.token_hash
        key.previous_expires_at = utcnow() + timedelta(seconds=grace_period_seconds)
        if key.expires_at is not None:
            key.previous_expires_at = min(key.previous_expires_at, as_utc(key.expires_at))
    else:
        key.previous_token_hash = None
        key.previous_expires_at = None
    key.token_hash = access.hash_token(secret)
    key.redacted_key = access.redact(secret)
    key.expires_at = new_expiry
    await session.flush()
    return key, secret


async def owners(session: AsyncSession, user_ids: set[int]) -> dict[int, User]:
    if not user_ids:
        return {}
    rows = await session.scalars(select(User).where(User.id.in_(sorted(user_ids))))
    return {user.id: user for user in rows}
