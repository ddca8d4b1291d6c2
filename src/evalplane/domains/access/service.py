"""Authentication by API key, key issuance, and installation bootstrap."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

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


async def authenticate(session: AsyncSession, token: str) -> Principal:
    """Resolve a bearer token to its principal, or raise Unauthenticated."""
    if not token or len(token) > 512:
        raise Unauthenticated("A valid API key is required: send 'Authorization: Bearer <api-key>'.")
    digest = hash_token(token)
    columns = (ApiKey.id, ApiKey.status, ApiKey.expires_at, User.id, User.account_role, User.status)
    row = (
        await session.execute(select(*columns).join(User, User.id == ApiKey.user_id).where(ApiKey.token_hash == digest))
    ).first()
    if row is None:
        # A secret replaced by a refresh with a grace period keeps working until the grace ends.
        row = (
            await session.execute(
                select(ApiKey.id, ApiKey.status, ApiKey.previous_expires_at, User.id, User.account_role, User.status)
                .join(User, User.id == ApiKey.user_id)
                .where(ApiKey.previous_token_hash == digest)
            )
        ).first()
        if row is None or row[2] is None:
            raise Unauthenticated("The API key is not recognised.")
    key_id, key_status, expires_at, user_id, account_role, user_status = row
    if key_status != "ACTIVE":
        raise Unauthenticated("The API key has been revoked.")
    if expires_at is not None and expires_at <= utcnow():
        raise Unauthenticated("The API key has expired.")
    if user_status not in ("ACTIVE", "INVITED"):
        raise Unauthenticated("The API key's user is not active.")
    space_levels, project_levels, project_spaces = await levels_of(session, user_id)
    return Principal(
        user_id=user_id,
        api_key_id=key_id,
        is_account_admin=account_role == "ADMIN",
        space_levels=space_levels,
        project_levels=project_levels,
        project_spaces=project_spaces,
    )


async def levels_of(session: AsyncSession, user_id: int) -> tuple[dict[int, Level], dict[int, Level], dict[int, int]]:
    """A user's levels by space and by project, and the space of each bound project."""
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
