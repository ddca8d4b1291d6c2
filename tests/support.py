"""Test support: a real evalplane server process per database, and clients for it."""

from __future__ import annotations

import concurrent.futures
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

# The local judge stand-in listens on loopback, which a server refuses to call by default;
# every server and worker the tests start allows it (a test may override it in ``env``).
LOOPBACK_EGRESS = "127.0.0.1/8,::1,localhost"
PG_ADMIN_DSN = os.environ.get("EVALPLANE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(predicate: Any, timeout: float = 30.0, what: str = "condition", interval: float = 0.2) -> Any:
    """Poll ``predicate`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def create_pg_database() -> tuple[str, str]:
    """A fresh, empty PostgreSQL database; returns (name, url)."""
    name = f"evalplane_test_{uuid.uuid4().hex[:12]}"
    _psql(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    return name, f"{base}/{name}"


def drop_pg_database(name: str) -> None:
    _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _psql(sql: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    # A thread of its own, so this works inside a running event loop (async fixtures) too.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()


@dataclass
class Server:
    """A running ``evalplane serve`` subprocess on a loopback port."""

    backend: str
    database_url: str
    home: Path
    admin_key: str
    port: int = field(default_factory=free_port)
    flight_port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    # Each test server's OTLP/gRPC receiver gets a port of its own (4317 is the default).
    otlp_grpc_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    # An argv prefix the server starts under (e.g. another identity, tests/support_sandbox.py).
    launcher: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def otlp_grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.otlp_grpc_port}"

    def start(self, timeout: float = 60.0) -> None:
        env = {
            **os.environ,
            "EVALPLANE_HOME": str(self.home),
            "EVALPLANE_DATABASE_URL": self.database_url,
            "EVALPLANE_BOOTSTRAP_API_KEY": self.admin_key,
            "EVALPLANE_LOG_LEVEL": "warning",
            "EVALPLANE_EGRESS_ALLOW": LOOPBACK_EGRESS,
            "EVALPLANE_FLIGHT_PORT": str(self.flight_port),
            "EVALPLANE_OTLP_GRPC_PORT": str(self.otlp_grpc_port),
            **self.env,
        }
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_path = self.home / f"server-{self.port}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [*self.launcher, sys.executable, "-m", "evalplane.cli", "serve", "--port", str(self.port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not become ready:\n{self.log()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path and self.log_path.exists() else ""

    def http(self, key: str | None = None, **headers: str) -> httpx.Client:
        """A plain HTTP client; sends the admin key unless another (or '') is given."""
        key = self.admin_key if key is None else key
        all_headers = {"Authorization": f"Bearer {key}"} if key else {}
        all_headers.update(headers)
        return httpx.Client(base_url=self.base_url, headers=all_headers, timeout=30.0)

    def sdk(self, key: str | None = None, *, traces: bool = False) -> Any:
        """The official ``arize`` SDK pointed at this server (admin key unless another is given), API
        and Flight. The traces it sends while running experiments go to this server's OTLP/gRPC
        receiver with ``traces=True``, else to a closed local port."""
        from arize import ArizeClient

        return ArizeClient(
            api_key=key or self.admin_key,
            api_scheme="http",
            api_host="127.0.0.1",
            api_port=self.port,
            otlp_scheme="http",
            otlp_host="127.0.0.1",
            otlp_port=self.otlp_grpc_port if traces else free_port(),
            flight_scheme="grpc",
            flight_host="127.0.0.1",
            flight_port=self.flight_port,
        )

    def flight(self, key: str | None = None) -> Any:
        """A raw ``pyarrow.flight`` client for this server and the headers that carry ``key``
        (the admin key unless another, or '' for none, is given) the way the SDK sends it."""
        from pyarrow import flight

        key = self.admin_key if key is None else key
        headers = [(b"auth-token-bin", key.encode())] if key else []
        client = flight.connect(f"grpc://127.0.0.1:{self.flight_port}")
        return client, flight.FlightCallOptions(headers=headers, timeout=60)


class Api:
    """Thin helpers over raw HTTP for arranging test data (the SDK is used for what is tested)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def ok(self, response: httpx.Response, status: int | tuple[int, ...] = (200, 201)) -> Any:
        expected = (status,) if isinstance(status, int) else status
        assert response.status_code in expected, (
            f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
        )
        return response.json() if response.content else None

    def default_org_id(self) -> str:
        spaces = self.ok(self.client.get("/v2/spaces", params={"name": "default"}))["spaces"]
        return next(s["organization_id"] for s in spaces if s["name"] == "default")

    def space(self, name: str | None = None) -> dict[str, Any]:
        body = {"name": name or unique("space"), "organization_id": self.default_org_id()}
        return self.ok(self.client.post("/v2/spaces", json=body), 201)

    def project(self, space_id: str, name: str | None = None) -> dict[str, Any]:
        return self.ok(
            self.client.post("/v2/projects", json={"space_id": space_id, "name": name or unique("proj")}), 201
        )


@dataclass
class LlmServer:
    """The local OpenAI/Anthropic-compatible server from tests/llm_server.py, as a process."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"

    def start(self, latency_ms: int = 0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.llm_server", "--port", str(self.port), "--latency-ms", str(latency_ms)],
            cwd=Path(__file__).resolve().parent.parent,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/v1/models", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the local LLM server did not start")

    def control(self, **settings: Any) -> None:
        httpx.post(f"{self.base_url}/_control", json=settings, timeout=5).raise_for_status()

    def stats(self) -> dict[str, int]:
        return httpx.get(f"{self.base_url}/_stats", timeout=5).json()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def migrated_database(backend: str, home: Path) -> tuple[Any, str | None]:
    """A Database on a fresh, migrated SQLite file or PostgreSQL database (for engine tests)."""
    from evalplane.db import migrate
    from evalplane.db.engine import Database
    from evalplane.settings import Settings

    pg_name = None
    if backend == "sqlite":
        url = f"sqlite:///{home / 'engine.db'}"
    else:
        pg_name, url = create_pg_database()
    settings = Settings(database_url=url, home=home)
    database = Database(settings.resolved_database_url())
    await migrate.upgrade(database.engine)
    return database, pg_name
