"""Users: account admins manage them; everyone else sees only themselves.

Service-key bots are users too (so they can hold role bindings) but are left out of lists.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.cursors import CursorCodec
from evalplane.core.errors import InvalidInput, NotFound, Unprocessable
from evalplane.db.models import ApiKey, User
from evalplane.db.paging import Page, PageRequest, paginate
from evalplane.domains import common
from evalplane.domains.access.principal import Principal

ACCOUNT_ROLES = ("ADMIN", "MEMBER", "MEMBER_UI_ONLY", "ANNOTATOR")
USER_STATUSES = ("ACTIVE", "INVITED", "EXPIRED")
# What each invite mode leaves the new user as. There is no mail or password sign-in here,
# so an EMAIL_LINK user is recorded as invited; their access is by API keys either way.
INVITE_MODES = {"NONE": "ACTIVE", "EMAIL_LINK": "INVITED"}


@dataclass(frozen=True, slots=True)
class UserFilters:
    email: str | None = None
    statuses: tuple[str, ...] = ()


def _clean_email(email: str) -> str:
    email = email.strip()
    local, _, domain = email.partition("@")
    if not local or not domain or len(email) > 320 or any(c.isspace() for c in email):
        raise InvalidInput("'email' must be an email address.", field="email")
    return email


async def get(session: AsyncSession, principal: Principal, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None or not (principal.is_account_admin or user.id == principal.user_id):
        raise NotFound("User was not found.")
    return user


async def list_users(
    session: AsyncSession, principal: Principal, filters: UserFilters, page: PageRequest, codec: CursorCodec
) -> Page[User]:
    stmt = select(User).where(User.is_bot.is_(False))
    if not principal.is_account_admin:
        stmt = stmt.where(User.id == principal.user_id)
    if filters.email:
        stmt = stmt.where(common.contains_ci(User.email, filters.email))
    if filters.statuses:
        stmt = stmt.where(User.status.in_(filters.statuses))
    raw = {"email": filters.email, "status": list(filters.statuses) or None}
    return await paginate(
        session, stmt, User.id, page, codec=codec, scope="users", filters=common.cursor_filters(**raw)
    )


async def create(
    session: AsyncSession, principal: Principal, *, name: str, email: str, account_role: str, invite_mode: str
) -> tuple[User, bool]:
    """Create a user; the email is the idempotency key, so an existing one is returned as is.

    Returns the user and whether it was created.
    """
    principal.require_account_admin()
    email = _clean_email(email)
    existing = await session.scalar(select(User).where(User.email == email))
    if existing is not None:
        return existing, False
    if account_role not in ACCOUNT_ROLES:
        raise InvalidInput(f"'role.name' must be one of: {', '.join(ACCOUNT_ROLES)}.", field="role.name")
    status = INVITE_MODES.get(invite_mode)
    if status is None:
        raise Unprocessable(
            f"invite_mode {invite_mode} is not available: this server has no password sign-in; "
            "use NONE or EMAIL_LINK and give the user an API key."
        )
    name = common.clean_name(name)
    user = User(
        name=name, email=email, account_role=account_role, status=status, is_developer=account_role != "ANNOTATOR"
    )
    session.add(user)
    await session.flush()
    return user, True


async def update(
    session: AsyncSession, principal: Principal, user_id: int, *, name: str | None, is_developer: bool | None
) -> User:
    user = await get(session, principal, user_id)
    principal.require_account_admin()
    if name is not None:
        user.name = common.clean_name(name)
    if is_developer is not None:
        user.is_developer = is_developer
    await session.flush()
    return user


async def remove(session: AsyncSession, principal: Principal, user_id: int) -> None:
    """Deletes the user with their API keys and role bindings, and revokes the service keys
    they minted (authentication refuses those anyway once their creator is gone)."""
    user = await get(session, principal, user_id)
    principal.require_account_admin()
    if user.id == principal.user_id:
        raise InvalidInput("You cannot delete your own user.", field="user_id")
    await session.execute(
        sql_update(ApiKey)
        .where(ApiKey.created_by_user_id == user.id, ApiKey.key_type == "SERVICE")
        .values(status="REVOKED", previous_token_hash=None, previous_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(User).where(User.id == user.id))
