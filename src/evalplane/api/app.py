"""The application factory: wires settings, storage, auth and routers together."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import Response

from evalplane import __version__, client_setup
from evalplane.api import exposure, problems, text_guard
from evalplane.api.deps import RateLimited, State
from evalplane.api.middleware import BodyGuard
from evalplane.api.request_metrics import RequestMetrics
from evalplane.api.routers import (
    ai_integrations,
    annotation_configs,
    api_keys,
    datasets,
    evaluators,
    experiments,
    metrics,
    organizations,
    otlp,
    pandas_arrow,
    projects,
    role_bindings,
    roles,
    spaces,
    spans,
    tasks,
    users,
)
from evalplane.api.state import AppState, FailedAuthentications, PrincipalCache, RateLimiter
from evalplane.api.wire import JSONResponse
from evalplane.core.cursors import CursorCodec
from evalplane.core.secrets import box_for
from evalplane.db import migrate
from evalplane.db.engine import Database
from evalplane.domains.access import service as access
from evalplane.domains.ai_integrations import credentials
from evalplane.domains.spans.writer import SpanWriter
from evalplane.settings import Settings

log = logging.getLogger("evalplane")

ROUTERS = (
    tasks.router,
    spaces.router,
    projects.router,
    organizations.router,
    users.router,
    api_keys.router,
    roles.router,
    role_bindings.router,
    evaluators.router,
    ai_integrations.router,
    annotation_configs.router,
    datasets.router,
    experiments.router,
    spans.router,
    otlp.router,
    pandas_arrow.router,
    metrics.router,
)


async def start(settings: Settings, *, auto_migrate: bool = True) -> AppState:
    """Open the database, migrate it, bootstrap an empty one, and build the shared state."""
    settings.secure_files()
    db = Database(settings.resolved_database_url(), settings.db_pool_size)
    if auto_migrate:
        await migrate.upgrade(db.engine)
    async with db.session() as session:
        if db.dialect_name == "postgresql":
            await session.execute(text("SELECT pg_advisory_xact_lock(727002)"))
        boot = await access.bootstrap(session, settings.bootstrap_api_key)
        cursor_secret = await access.server_secret(session, "cursor_secret")
        await credentials.seal_saved_headers(session, box_for(settings.resolved_secret_key()))
    if boot.created:
        announce_bootstrap(boot.api_key, from_env=settings.bootstrap_api_key is not None)
    return AppState(
        settings=settings,
        db=db,
        cursors=CursorCodec(bytes.fromhex(cursor_secret)),
        limiter=RateLimiter(settings.rate_limit, settings.rate_limit_burst),
        principals=PrincipalCache(),
        secret_key=settings.resolved_secret_key(),
        spans=SpanWriter(db),
        auth_failures=FailedAuthentications(settings.auth_failures_per_minute),
    )


def announce_bootstrap(api_key: str | None, *, from_env: bool) -> None:
    if from_env:
        log.warning("created the admin user with the key from EVALPLANE_BOOTSTRAP_API_KEY")
        return
    print(
        "\n"
        "  evalplane: new database — an admin API key was created. It is shown only once:\n\n"
        f"      {api_key}\n\n"
        "  Use it as 'Authorization: Bearer <key>' or ArizeClient(api_key=...).\n",
        file=sys.stderr,
        flush=True,
    )


Hook = Callable[[AppState], Awaitable[None]]


def create_app(
    settings: Settings | None = None, *, on_start: Hook | None = None, on_stop: Hook | None = None
) -> FastAPI:
    """The API. ``on_start``/``on_stop`` let the composition root run services beside it."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await start(settings)
        app.state.evalplane = state
        if on_start is not None:
            await on_start(state)
        try:
            yield
        finally:
            if on_stop is not None:
                await on_stop(state)
            await state.db.dispose()

    app = FastAPI(
        title="evalplane",
        version=__version__,
        description="Arize AX v2 Tasks API, self-hosted, with an engine that runs the tasks.",
        lifespan=lifespan,
        default_response_class=JSONResponse,
        dependencies=[Depends(text_guard.guard_request)],
    )
    problems.install(app)

    @app.exception_handler(RateLimited)
    async def _rate_limited(request: Request, exc: RateLimited) -> Response:
        return problems.problem(
            429, exc.detail, instance=request.url.path, headers={"Retry-After": str(exc.retry_after)}
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> Response:
        # A uniqueness race lost to a concurrent writer: the same outcome as the pre-check.
        return problems.problem(409, "The request conflicts with an existing resource.", instance=request.url.path)

    for router in ROUTERS:
        app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/client-setup", include_in_schema=False)
    async def sdk_setup() -> JSONResponse:
        # Ports and schemes only: what `evalplane client-env` needs to point the SDK here.
        return JSONResponse(client_setup.served_endpoints(settings).to_wire())

    @app.get("/readyz", include_in_schema=False)
    async def readyz(state: State) -> Response:
        try:
            async with state.db.session() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            return problems.problem(503, f"database unavailable: {type(exc).__name__}")
        return JSONResponse({"status": "ready"})

    protected = exposure.protected_paths(settings)
    if protected:
        app.add_middleware(exposure.KeyRequired, paths=protected)
    app.add_middleware(
        BodyGuard,
        max_bytes=settings.max_body_bytes,
        path_limits={
            otlp.TRACES_PATH: settings.otlp_max_body_bytes,
            pandas_arrow.PANDAS_ARROW_PATH: settings.otlp_max_body_bytes,
        },
    )
    # Outermost: it counts (and logs) every answer, 413s and 401s included.
    app.add_middleware(RequestMetrics, access_log=settings.access_log)
    return app
