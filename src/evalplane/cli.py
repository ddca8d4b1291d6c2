"""Command line: ``evalplane serve | worker | db upgrade | keys create | tasks ...``."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from typing import Any

import click

from evalplane.cli_tasks import tasks
from evalplane.settings import Settings


@click.group()
def main() -> None:
    """evalplane — self-hosted Arize AX Tasks server."""


@main.command()
@click.option("--host", default=None, help="Interface to bind (default 127.0.0.1 or EVALPLANE_HOST).")
@click.option("--port", default=None, type=int, help="Port to listen on (default 8787 or EVALPLANE_PORT).")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help=(
        "API processes sharing the port. Fine on SQLite too: API processes only read and make "
        "short writes, and WAL lets readers run beside one writer. Rate limits and cached "
        "credentials are per process. On SQLite the embedded engine runs in exactly one of "
        "them (a lock file next to the database decides); on PostgreSQL each runs one."
    ),
)
@click.option(
    "--backlog",
    default=2048,
    show_default=True,
    type=click.IntRange(min=1),
    help="Pending connections the socket queues.",
)
@click.option(
    "--access-log/--no-access-log",
    default=None,
    help="Log one line per request: method, path, status, duration, API key id (default EVALPLANE_ACCESS_LOG, off).",
)
def serve(host: str | None, port: int | None, workers: int, backlog: int, access_log: bool | None) -> None:
    """Run the API (and, unless EVALPLANE_WORKER=false, the evaluation engine) on the configured
    database, migrating and bootstrapping it if needed."""
    import uvicorn

    if access_log is not None:
        # Each API process builds its settings from the environment, so the flag travels there.
        os.environ["EVALPLANE_ACCESS_LOG"] = "true" if access_log else "false"
    settings = Settings()
    host = host or settings.host
    port = port or settings.port
    url = settings.resolved_database_url()
    if url.startswith("sqlite"):
        settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    log_config = _configure_logging(settings)
    _say(f"database {_safe(url)}")
    if workers > 1:
        # Migrate and bootstrap once here, so the processes do not race to do it (and the
        # bootstrap key is announced once); each process then finds the database ready.
        _prepare(settings)
    flight = _start_flight(settings)
    _say(f"listening on http://{host}:{port}" + (f" ({workers} processes)" if workers > 1 else ""))
    if settings.otlp_grpc_port:
        _say(f"OTLP/gRPC traces on {host}:{settings.otlp_grpc_port}")
    _announce_client_setup(settings, host, port)
    if workers > 1:
        # The processes are started afresh and read the environment: let them share the port.
        os.environ["EVALPLANE_OTLP_GRPC_REUSE_PORT"] = "true"
    try:
        uvicorn.run(
            "evalplane.server:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level,
            log_config=log_config,
            access_log=False,
            backlog=backlog,
            # The C parser and event loop (both come with uvicorn[standard]); "auto" would quietly
            # fall back to the pure-Python ones if they were missing.
            http=_available("httptools", "h11"),
            loop=_available("uvloop", "asyncio"),
        )
    finally:
        if flight is not None:
            flight.stop()


def _start_flight(settings: Settings) -> Any:
    """Start Arrow Flight (once, in this process, whatever the number of API processes)."""
    if not settings.flight_port:
        return None
    import pyarrow as pa

    from evalplane.flight.service import FlightService

    try:
        flight = FlightService.start(settings)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise click.ClickException(
            f"Arrow Flight could not start on port {settings.flight_port}: {exc} "
            "(set EVALPLANE_FLIGHT_PORT to another port, or to off)"
        ) from None
    _say(f"Arrow Flight on {flight.location}")
    return flight


@main.command()
@click.option(
    "--metrics-port",
    default=None,
    type=int,
    help="Serve this worker's Prometheus metrics on http://127.0.0.1:PORT/metrics (off by default).",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Interface for --metrics-port.")
def worker(metrics_port: int | None, metrics_host: str) -> None:
    """Run the evaluation engine alone (scale-out: as many as you like on PostgreSQL).

    SIGTERM or Ctrl-C stops it gracefully: batches in flight finish (for up to
    EVALPLANE_SHUTDOWN_GRACE_SECONDS) and the rest is handed back to the queue at once.
    """
    import signal

    from evalplane.api.app import start
    from evalplane.server import build_engine

    settings = Settings()
    _configure_logging(settings)

    async def run() -> None:
        state = await start(settings)
        engine = build_engine(settings, state.db, state.secret_key)
        exposition = None
        try:
            if not await engine.start():
                raise click.ClickException("another process already runs the engine for this SQLite database")
            if metrics_port is not None:
                from evalplane.engine.exposition import serve_metrics

                exposition = await serve_metrics(metrics_host, metrics_port)
            where = f"host {socket.gethostname()}, pid {os.getpid()}"
            _say(f"worker {engine.worker.name} running ({where}); Ctrl-C stops it gracefully")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            _say("finishing the work in flight...")
            await engine.stop()
            _say("worker stopped")
        finally:
            if exposition is not None:
                exposition.close()
            await state.db.dispose()

    asyncio.run(run())


@main.command("client-env")
@click.option("--url", default="http://127.0.0.1:8787", show_default=True, help="Where the server's API answers.")
@click.option("--api-key", default=None, envvar="ARIZE_API_KEY", help="Include this key (default: $ARIZE_API_KEY).")
@click.option("--python", "as_python", is_flag=True, help="Print the ArizeClient(...) call instead of shell exports.")
def client_env(url: str, api_key: str | None, as_python: bool) -> None:
    """Print the ARIZE_* settings that point the arize SDK's API, Flight and OTLP at a running
    server: `eval "$(evalplane client-env --url http://host:8787)"`."""
    from urllib.parse import urlsplit

    import httpx

    from evalplane import client_setup

    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.UsageError(f"--url must be an http(s) URL such as http://127.0.0.1:8787, not {url!r}")
    api = client_setup.Endpoint(parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    try:
        response = httpx.get(f"{parts.scheme}://{parts.netloc}/client-setup", timeout=10)
        response.raise_for_status()
        endpoints = client_setup.from_wire(response.json(), api)
    except (httpx.HTTPError, ValueError) as exc:
        raise click.ClickException(f"could not read {parts.netloc}/client-setup: {exc}") from None
    render = client_setup.python_client if as_python else client_setup.shell_exports
    click.echo(render(endpoints, api_key))


def _announce_client_setup(settings: Settings, host: str, port: int) -> None:
    from evalplane import client_setup

    endpoints = client_setup.served_endpoints(settings, host, port)
    if settings.log_format.strip().lower() == "json":
        import logging

        logging.getLogger("evalplane.cli").info(
            "arize SDK settings for this server", extra={"arize_env": dict(client_setup.environment(endpoints))}
        )
    else:
        click.echo(client_setup.banner(endpoints), err=True)


def _available(module: str, fallback: str) -> str:
    import importlib.util

    return module if importlib.util.find_spec(module) else fallback


def _prepare(settings: Settings) -> None:
    from evalplane.api.app import start

    async def run() -> None:
        state = await start(settings)
        await state.db.dispose()

    asyncio.run(run())


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all pending migrations."""
    from evalplane.db import migrate
    from evalplane.db.engine import Database

    settings = Settings()
    settings.secure_files()

    async def run() -> None:
        database = Database(settings.resolved_database_url())
        try:
            await migrate.upgrade(database.engine)
        finally:
            await database.dispose()

    asyncio.run(run())
    click.echo("database is at the newest schema")


@main.group()
def keys() -> None:
    """API keys."""


@keys.command("create")
@click.option("--name", default="cli", show_default=True, help="A label for the key.")
@click.option("--email", default=None, help="The user the key acts as (default: the first admin).")
def keys_create(name: str, email: str | None) -> None:
    """Create an API key and print it once."""
    from sqlalchemy import select

    from evalplane.api.app import start
    from evalplane.db.models import User
    from evalplane.domains.access import service as access

    async def run() -> str:
        state = await start(Settings())
        try:
            async with state.db.session() as session:
                stmt = select(User).order_by(User.id)
                stmt = stmt.where(User.email == email) if email else stmt.where(User.account_role == "ADMIN")
                user = (await session.scalars(stmt.limit(1))).first()
                if user is None:
                    raise click.ClickException(f"no user {email or 'with the ADMIN role'}")
                _, token = await access.issue_key(session, user_id=user.id, name=name, created_by_user_id=user.id)
            return token
        finally:
            await state.db.dispose()

    token = asyncio.run(run())
    click.echo(token)
    print("evalplane: the key above is shown only once; store it now.", file=sys.stderr)


def _configure_logging(settings: Settings) -> dict[str, Any]:
    from evalplane import logs

    try:
        config = logs.dict_config(settings.log_format, settings.log_level)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    logs.configure(settings.log_format, settings.log_level)
    return config


def _say(message: str) -> None:
    """A start-up line: plain 'evalplane: ...' text, or a JSON log record under EVALPLANE_LOG_FORMAT=json."""
    import logging

    if Settings().log_format.strip().lower() == "json":
        logging.getLogger("evalplane.cli").info(message)
    else:
        click.echo(f"evalplane: {message}", err=True)


main.add_command(tasks)


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    main()
