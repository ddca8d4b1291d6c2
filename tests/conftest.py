"""Every API test runs against a real server process, once on SQLite and once on PostgreSQL.

Choose databases with EVALPLANE_TEST_DATABASES=sqlite,postgres (the default is both).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.arrange import World, make_world
from tests.support import Api, LlmServer, Server, create_pg_database, drop_pg_database, migrated_database
from tests.support_engine import EngineWorld, integration

DATABASES = [d.strip() for d in os.environ.get("EVALPLANE_TEST_DATABASES", "sqlite,postgres").split(",") if d.strip()]


def start_server(backend: str, home: Path, **env: str) -> tuple[Server, str | None]:
    pg_name = None
    if backend == "sqlite":
        url = f"sqlite:///{home / 'evalplane.db'}"
    elif backend == "postgres":
        pg_name, url = create_pg_database()
    else:
        raise ValueError(backend)
    # Every test calls from 127.0.0.1, which a real deployment would see as many clients, and
    # many tests present bad keys on purpose; tests of the limit set their own.
    env = {"EVALPLANE_AUTH_FAILURES_PER_MINUTE": "100000", **env}
    server = Server(backend=backend, database_url=url, home=home, admin_key="ep_test_" + secrets.token_hex(16), env=env)
    server.start()
    return server, pg_name


@pytest.fixture(scope="session", params=DATABASES)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One shared API server per database for the whole run; tests isolate themselves by
    space. It runs no engine, so runs stay exactly as the API left them."""
    srv, pg_name = start_server(
        request.param, tmp_path_factory.mktemp(f"home-{request.param}"), EVALPLANE_WORKER="false"
    )
    yield srv
    srv.stop()
    if pg_name:
        drop_pg_database(pg_name)


@pytest.fixture(scope="session")
def engine_server(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of the same database kind with its embedded engine running (fast ticks)."""
    srv, pg_name = start_server(
        server.backend, tmp_path_factory.mktemp(f"engine-{server.backend}"), EVALPLANE_TICK_SECONDS="0.2"
    )
    yield srv
    srv.stop()
    if pg_name:
        drop_pg_database(pg_name)


@pytest.fixture
def fresh_server(request: pytest.FixtureRequest, server: Server, tmp_path: Path) -> Iterator[Server]:
    """A server of its own on an empty database of the same kind, for tests that need one."""
    srv, pg_name = start_server(server.backend, tmp_path / "home")
    yield srv
    srv.stop()
    if pg_name:
        drop_pg_database(pg_name)


@pytest.fixture
def http(server: Server):
    with server.http() as client:
        yield client


@pytest.fixture
def api(http) -> Api:
    return Api(http)


@pytest.fixture(scope="session")
def llm() -> Iterator[LlmServer]:
    """A local OpenAI- and Anthropic-compatible judge server (a real HTTP process)."""
    server = LlmServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def world(api: Api) -> World:
    """A fresh space on the API server with one of everything a task can point at."""
    return make_world(api)


@pytest.fixture
def engine_world(engine_server: Server, llm: LlmServer) -> Iterator[EngineWorld]:
    """A fresh space on the engine server with an AI integration that calls the local judge."""
    with engine_server.http() as http:
        api = Api(http)
        space = api.space()
        yield EngineWorld(engine_server, api, space, integration(api, space["id"], llm))


@pytest.fixture(params=DATABASES)
async def database(request: pytest.FixtureRequest, tmp_path: Path):
    """A migrated database of each kind, without a server, for engine-level tests."""
    db, pg_name = await migrated_database(request.param, tmp_path)
    yield db
    await db.dispose()
    if pg_name:
        drop_pg_database(pg_name)
