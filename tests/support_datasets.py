"""Arrangement helpers for dataset and experiment tests."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.support import Server, free_port


def sdk(server: Server, key: str | None = None) -> Any:
    """The arize SDK pointed at the server, with experiment tracing sent to a closed local port."""
    from arize import ArizeClient

    return ArizeClient(
        api_key=key or server.admin_key,
        api_scheme="http",
        api_host="127.0.0.1",
        api_port=server.port,
        otlp_scheme="http",
        otlp_host="127.0.0.1",
        otlp_port=free_port(),
    )


def member_key(server: Server, space_id: str, level: str = "MEMBER") -> str:
    """An API key for a new non-admin user bound to one space at ``level``.

    Written straight to the database: user and role-binding endpoints belong to another area.
    """
    from evalplane.core.ids import Kind, decode_id
    from evalplane.db.engine import Database
    from evalplane.db.models import RoleBinding, User
    from evalplane.domains.access import service as access
    from evalplane.settings import Settings

    url = Settings(database_url=server.database_url).resolved_database_url()

    async def run() -> str:
        db = Database(url, 1)
        try:
            async with db.session() as session:
                user = User(name="member", email=f"{uuid.uuid4().hex[:10]}@example.test", account_role="MEMBER", status="ACTIVE")
                session.add(user)
                await session.flush()
                role = await access.role_for_level(session, level)
                session.add(
                    RoleBinding(
                        user_id=user.id, role_id=role.id, resource_type="SPACE",
                        resource_id=decode_id(Kind.SPACE, space_id),
                    )
                )
                _, token = await access.issue_key(session, user_id=user.id, name="test member")
            return token
        finally:
            await db.dispose()

    return asyncio.run(run())


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, f"{response.status_code} {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    return body
