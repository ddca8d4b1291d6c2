"""The composition root: the API, with the engine beside it in the same process.

The API and the engine never import each other; this module wires them: the engine
starts after the API has opened (and migrated) the database, and the API wakes the engine
when it stores new spans or a new run.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from fastapi import FastAPI
from grpc import aio

from evalplane.api import otlp_grpc
from evalplane.api.app import create_app as create_api
from evalplane.api.state import AppState
from evalplane.db.engine import Database
from evalplane.engine.continuous import ContinuousPolicy
from evalplane.engine.service import Engine, EngineOptions
from evalplane.settings import Settings

log = logging.getLogger("evalplane")


def engine_options(settings: Settings) -> EngineOptions:
    return EngineOptions(
        tick_seconds=settings.tick_seconds,
        batch_size=settings.worker_batch_size,
        slots=settings.worker_slots,
        provider_concurrency=settings.provider_concurrency,
        code_timeout_seconds=settings.code_timeout_seconds,
        sandbox_max_children=settings.sandbox_max_children,
        sandbox_memory_mb=settings.sandbox_memory_mb,
        sandbox_uid_base=settings.sandbox_uid_base,
        lease_seconds=settings.lease_seconds,
        max_attempts=settings.max_attempts,
        shutdown_grace_seconds=settings.shutdown_grace_seconds,
        egress=settings.egress_policy(),
        continuous=ContinuousPolicy(
            trace_idle=timedelta(seconds=settings.trace_idle_seconds),
            session_idle=timedelta(seconds=settings.session_idle_seconds),
        ),
    )


def build_engine(settings: Settings, db: Database, secret_key: str) -> Engine:
    return Engine(db, secret_key, engine_options(settings))


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app `evalplane serve` runs: API plus (unless disabled) an embedded engine."""
    settings = settings or Settings()
    running: list[Engine] = []
    receivers: list[aio.Server] = []

    async def on_start(state: AppState) -> None:
        receiver = await otlp_grpc.start(state)
        if receiver is not None:
            receivers.append(receiver)
        if not settings.worker:
            return
        engine = build_engine(settings, state.db, state.secret_key)
        if await engine.start():
            running.append(engine)
            state.wake_engine = engine.wake
            # Evaluation metadata names the worker only; the log ties it to this host and process.
            log.info("worker %s runs on host %s, pid %d", engine.worker.name, socket.gethostname(), os.getpid())

    async def on_stop(state: AppState) -> None:
        for receiver in receivers:
            await otlp_grpc.stop(receiver)
        for engine in running:
            await engine.stop()

    return create_api(settings, on_start=on_start, on_stop=on_stop)
