"""Arrangement helpers for the evaluator and AI integration tests: users with roles, direct DB reads."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.ids import Kind, decode_id
from evalplane.db.engine import Database
from evalplane.db.models import RoleBinding, User
from evalplane.domains.access import service as access
from evalplane.settings import Settings
from tests.support import Server

T = TypeVar("T")


def in_db(server: Server, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one committed transaction on the server's database, from the test process."""

    async def run() -> T:
        db = Database(Settings(database_url=server.database_url, home=server.home).resolved_database_url(), 1)
        try:
            async with db.session() as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(run())


def user_with_role(server: Server, bindings: dict[str, str] | None = None) -> str:
    """A new non-admin user with ``{space_id: level}`` bindings (READ_ONLY | MEMBER | ADMIN); returns their key."""

    async def work(session: AsyncSession) -> str:
        user = User(name="u", email=f"{uuid.uuid4().hex}@example.test", account_role="MEMBER", status="ACTIVE")
        session.add(user)
        await session.flush()
        for space_id, level in (bindings or {}).items():
            role = await access.role_for_level(session, level)
            session.add(
                RoleBinding(
                    user_id=user.id, role_id=role.id, resource_type="SPACE", resource_id=decode_id(Kind.SPACE, space_id)
                )
            )
        _, token = await access.issue_key(session, user_id=user.id, name="test")
        return token

    return in_db(server, work)


def raw_row(server: Server, table: str, row_id: int) -> dict[str, Any]:
    """One row as stored, bypassing the ORM's types."""
    from sqlalchemy import text

    async def work(session: AsyncSession) -> dict[str, Any]:
        result = await session.execute(text(f"SELECT * FROM {table} WHERE id = :id"), {"id": row_id})
        return dict(result.mappings().one())

    return in_db(server, work)
