"""Authentication by API key, key issuance, and installation bootstrap."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from evalplane.core.clock import utcnow
from evalplane.core.errors import Unauthenticated
from evalplane.db.models import ApiKey, Organization, Project, Role, RoleBinding, ServerState, Space, User
from evalplane.domains.access.permissions import for_level
from evalplane.domains.access.principal import Level, Principal

KEY_PREFIX = "ep_"

# The predefined roles every installation has; ``level`` is what they grant on a space.
PREDEFINED_ROLES = (
    ("Space Admin", "ADMIN", "Full control of the space, its members and resources."),
    ("Space Member", "MEMBER", "Read and write every resource in the space."),
    ("Space Read-Only", "READ_ONLY", "Read every resource in the space; change nothing."),
)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def redact(token: str) -> str:
    return f"{token[:6]}...{token[-4:]}"


# One answer for every key that does not work (unknown, revoked, expired, its user gone), so
# a caller cannot tell a guessed key from a revoked one.
INVALID_KEY = "The API key is not valid."
ACTIVE_USER_STATUSES = ("ACTIVE", "INVITED")
MAX_TOKEN_LENGTH = 512


async def authenticate(session: AsyncSession, token: str) -> Principal:
    """Resolve a bearer token to its principal, or raise Unauthenticated.

    Every presented key costs the same single lookup, whatever is wrong with it, so the time
    taken does not tell an unknown key from a revoked one either.
    """
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise Unauthenticated(INVALID_KEY)
    digest = hash_token(token)
    creator = aliased(User)
    row = (
        await session.execute(
            select(
                ApiKey.id,
                ApiKey.key_type,
                ApiKey.status,
                ApiKey.token_hash,
                ApiKey.expires_at,
                ApiKey.previous_expires_at,
                User.id,
                User.account_role,
                User.status,
                creator.status,
            )
            .join(User, User.id == ApiKey.user_id)
            .outerjoin(creator, creator.id == ApiKey.created_by_user_id)
            # A secret replaced by a refresh with a grace period keeps working until the grace ends.
            .where(or_(ApiKey.token_hash == digest, ApiKey.previous_token_hash == digest))
            .limit(1)
        )
    ).first()
    if row is None or not _usable(row, digest):
        raise Unauthenticated(INVALID_KEY)
    return await principal_of(session, row[0], user_id=row[6], is_account_admin=row[7] == "ADMIN")


def _usable(row: Sequence[Any], digest: str) -> bool:
    """Whether a found key may act now: active, unexpired, its user active, and for a service
    key, the user who minted it still active too (deleting that user ends the key)."""
    key_id, key_type, status, current_hash, expires_at, previous_expires_at, _, _, user_status, creator_status = row
    if status != "ACTIVE" or user_status not in ACTIVE_USER_STATUSES:
        return False
    if key_type == "SERVICE" and creator_status not in ACTIVE_USER_STATUSES:
        return False
    if current_hash != digest:
        expires_at = previous_expires_at
        if expires_at is None:
            return False
    return expires_at is None or expires_at > utcnow()


async def principal_of(session: AsyncSession, key_id: int | None, *, user_id: int, is_account_admin: bool) -> Principal:
    """The principal of a user with the levels their role bindings grant today."""
    space_levels, project_levels, project_spaces = await levels_of(session, user_id)
    organization_levels = await organization_levels_of(session, user_id)
    for space_id, level in (await inherited_space_levels(session, organization_levels)).items():
        if level == Level.ADMIN or space_id not in space_levels:
            space_levels[space_id] = max(space_levels.get(space_id, Level.NONE), level)
    return Principal(
        user_id=user_id,
        api_key_id=key_id,
        is_account_admin=is_account_admin,
        space_levels=space_levels,
        project_levels=project_levels,
        project_spaces=project_spaces,
        organization_levels=organization_levels,
    )


async def organization_levels_of(session: AsyncSession, user_id: int) -> dict[int, Level]:
    rows = await session.execute(
        select(RoleBinding.resource_id, Role.level)
        .join(Role, Role.id == RoleBinding.role_id)
        .join(Organization, Organization.id == RoleBinding.resource_id)
        .where(RoleBinding.user_id == user_id, RoleBinding.resource_type == "ORGANIZATION")
    )
    levels: dict[int, Level] = {}
    for org_id, level in rows:
        levels[org_id] = max(levels.get(org_id, Level.NONE), Level.parse(level))
    return levels


async def inherited_space_levels(session: AsyncSession, organization_levels: dict[int, Level]) -> dict[int, Level]:
    """What organization roles grant on spaces, as in Arize AX: an organization ADMIN is admin
    of every space in it; other organization roles are the fallback role in its public spaces
    (an explicit space binding takes precedence over the fallback)."""
    if not organization_levels:
        return {}
    rows = await session.execute(
        select(Space.id, Space.organization_id, Space.is_private).where(
            Space.organization_id.in_(sorted(organization_levels))
        )
    )
    inherited: dict[int, Level] = {}
    for space_id, org_id, is_private in rows:
        level = organization_levels[org_id]
        if level == Level.ADMIN or not is_private:
            inherited[space_id] = level
    return inherited


async def levels_of(session: AsyncSession, user_id: int) -> tuple[dict[int, Level], dict[int, Level], dict[int, int]]:
    """A user's levels by space and by project from their own bindings, and the space of each bound project."""
    space_rows = await session.execute(
        select(RoleBinding.resource_id, Role.level)
        .join(Role, Role.id == RoleBinding.role_id)
        .join(Space, Space.id == RoleBinding.resource_id)
        .where(RoleBinding.user_id == user_id, RoleBinding.resource_type == "SPACE")
    )
    space_levels: dict[int, Level] = {}
    for space_id, level in space_rows:
        space_levels[space_id] = max(space_levels.get(space_id, Level.NONE), Level.parse(level))
    project_rows = await session.execute(
        select(RoleBinding.resource_id, Project.space_id, Role.level)
        .join(Role, Role.id == RoleBinding.role_id)
        .join(Project, Project.id == RoleBinding.resource_id)
        .where(RoleBinding.user_id == user_id, RoleBinding.resource_type == "PROJECT")
    )
    project_levels: dict[int, Level] = {}
    project_spaces: dict[int, int] = {}
    for project_id, space_id, level in project_rows:
        project_levels[project_id] = max(project_levels.get(project_id, Level.NONE), Level.parse(level))
        project_spaces[project_id] = space_id
    return space_levels, project_levels, project_spaces


async def touch_key(session: AsyncSession, key_id: int, *, min_interval: timedelta = timedelta(seconds=60)) -> None:
    """Record that a key was used, unless that was already recorded within ``min_interval``."""
    now = utcnow()
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - min_interval))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )


async def issue_key(
    session: AsyncSession,
    *,
    user_id: int,
    name: str,
    key_type: str = "USER",
    created_by_user_id: int | None = None,
    token: str | None = None,
    description: str | None = None,
    expires_at=None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is never retrievable again."""
    token = token or new_token()
    key = ApiKey(
        key_type=key_type,
        name=name,
        description=description,
        user_id=user_id,
        created_by_user_id=created_by_user_id,
        token_hash=hash_token(token),
        redacted_key=redact(token),
        status="ACTIVE",
        expires_at=expires_at,
    )
    session.add(key)
    await session.flush()
    return key, token


async def server_secret(session: AsyncSession, name: str) -> str:
    """A random installation-wide secret, created on first use and shared by every process."""
    value = await session.scalar(select(ServerState.value).where(ServerState.key == name))
    if value is not None:
        return value
    session.add(ServerState(key=name, value=secrets.token_hex(32)))
    await session.flush()
    return await session.scalar(select(ServerState.value).where(ServerState.key == name))  # type: ignore[return-value]


async def ensure_predefined_roles(session: AsyncSession) -> None:
    existing = set((await session.scalars(select(Role.name))).all())
    for name, level, description in PREDEFINED_ROLES:
        if name not in existing:
            session.add(
                Role(name=name, level=level, description=description, is_predefined=True, permissions=for_level(level))
            )
    await session.flush()


async def role_for_level(session: AsyncSession, level: str) -> Role:
    role = await session.scalar(select(Role).where(Role.is_predefined.is_(True), Role.level == level.upper()))
    if role is None:
        raise LookupError(level)
    return role


@dataclass
class Bootstrap:
    created: bool
    api_key: str | None


async def bootstrap(session: AsyncSession, api_key: str | None) -> Bootstrap:
    """On an empty database: a default organization and space, an admin user and their key."""
    await ensure_predefined_roles(session)
    if await session.scalar(select(User.id).limit(1)) is not None:
        return Bootstrap(created=False, api_key=None)
    org = Organization(name="default", description="Created on first start")
    session.add(org)
    await session.flush()
    session.add(Space(organization_id=org.id, name="default", description="Created on first start"))
    admin = User(name="admin", email="admin@localhost", account_role="ADMIN", status="ACTIVE")
    session.add(admin)
    await session.flush()
    _, token = await issue_key(session, user_id=admin.id, name="bootstrap admin", token=api_key)
    return Bootstrap(created=True, api_key=token)
