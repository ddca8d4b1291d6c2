"""Arrangement helpers for identity and access tests: users, keys and rows written directly."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.ids import Kind, decode_id, encode_id
from evalplane.db.engine import Database
from evalplane.db.models import Task
from evalplane.domains.access import service as access
from evalplane.settings import Settings
from tests.support import Api, Server, unique

T = TypeVar("T")


def in_database(server: Server, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one committed transaction on the server's own database."""

    async def run() -> T:
        db = Database(Settings(database_url=server.database_url).resolved_database_url(), pool_size=1)
        try:
            async with db.session() as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(run())


def key_for(server: Server, user_id: str, *, expires_at: datetime | None = None) -> str:
    """An API key for a user, issued the way the operator CLI does (the API issues keys only
    to their caller)."""
    number = decode_id(Kind.USER, user_id)

    async def issue(session: AsyncSession) -> str:
        _, token = await access.issue_key(
            session, user_id=number, name=unique("key"), created_by_user_id=number, expires_at=expires_at
        )
        return token

    return in_database(server, issue)


def insert_task(server: Server, space_id: str, project_id: str | None = None) -> str:
    """A task row in a space (and on a project), for visibility checks of GET /v2/tasks."""

    async def insert(session: AsyncSession) -> int:
        task = Task(
            space_id=decode_id(Kind.SPACE, space_id),
            project_id=decode_id(Kind.PROJECT, project_id) if project_id else None,
            name=unique("task"),
            type="TEMPLATE_EVALUATION",
            is_continuous=False,
            experiment_ids=[],
        )
        session.add(task)
        await session.flush()
        return task.id

    return encode_id(Kind.TASK, in_database(server, insert))


def user(api: Api, role: str = "MEMBER") -> dict[str, Any]:
    name = unique("user")
    body = {"name": name, "email": f"{name}@example.com", "role": {"type": "PREDEFINED", "name": role}, "invite_mode": "NONE"}
    return api.ok(api.client.post("/v2/users", json=body), 201)


def bind(api: Api, user_id: str, space_id: str, role: str) -> dict[str, Any]:
    body = {"user_id": user_id, "role": {"type": "PREDEFINED", "name": role}}
    return api.ok(api.client.post(f"/v2/spaces/{space_id}/users", json=body), 200)


def member(server: Server, api: Api, space_id: str, role: str = "MEMBER") -> tuple[dict[str, Any], str]:
    """A new user bound to one space with ``role``, and a key for them."""
    person = user(api)
    bind(api, person["id"], space_id, role)
    return person, key_for(server, person["id"])
