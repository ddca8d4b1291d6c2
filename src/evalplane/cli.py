"""Command line: ``evalplane serve | db upgrade | keys create``."""

from __future__ import annotations

import asyncio
import sys

import click

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
@click.option("--backlog", default=2048, show_default=True, type=click.IntRange(min=1), help="Pending connections the socket queues.")
def serve(host: str | None, port: int | None, workers: int, backlog: int) -> None:
    """Run the API (and, unless EVALPLANE_WORKER=false, the evaluation engine) on the configured
    database, migrating and bootstrapping it if needed."""
    import uvicorn

    settings = Settings()
    host = host or settings.host
    port = port or settings.port
    url = settings.resolved_database_url()
    if url.startswith("sqlite"):
        settings.home.mkdir(parents=True, exist_ok=True)
    click.echo(f"evalplane: database {_safe(url)}", err=True)
    if workers > 1:
        # Migrate and bootstrap once here, so the processes do not race to do it (and the
        # bootstrap key is announced once); each process then finds the database ready.
        _prepare(settings)
    click.echo(f"evalplane: listening on http://{host}:{port}" + (f" ({workers} processes)" if workers > 1 else ""), err=True)
    uvicorn.run(
        "evalplane.server:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        access_log=False,
        backlog=backlog,
        # The C parser and event loop (both come with uvicorn[standard]); "auto" would quietly
        # fall back to the pure-Python ones if they were missing.
        http=_available("httptools", "h11"),
        loop=_available("uvloop", "asyncio"),
    )


@main.command()
def worker() -> None:
    """Run the evaluation engine alone (scale-out: as many as you like on PostgreSQL)."""
    import signal

    from evalplane.api.app import start
    from evalplane.server import build_engine

    settings = Settings()

    async def run() -> None:
        state = await start(settings)
        engine = build_engine(settings, state.db, state.secret_key)
        try:
            if not await engine.start():
                raise click.ClickException("another process already runs the engine for this SQLite database")
            click.echo(f"evalplane: worker {engine.worker.name} running; Ctrl-C stops it gracefully", err=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            click.echo("evalplane: finishing the work in flight...", err=True)
            await engine.stop()
        finally:
            await state.db.dispose()

    asyncio.run(run())


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

    async def run() -> None:
        database = Database(Settings().resolved_database_url())
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


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    main()
