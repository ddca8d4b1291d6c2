"""The engine as a service: a scheduler loop and a worker, started and stopped together.

``evalplane serve`` embeds one; ``evalplane worker`` runs one on its own. On SQLite only
one process may run the engine (a lock file next to the database decides); on PostgreSQL
any number may, and they share the work through the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy.engine import make_url

from evalplane.core.egress import EgressPolicy
from evalplane.db.dialect import SqliteStatistics
from evalplane.db.engine import Database
from evalplane.engine.code.budget import SandboxBudget
from evalplane.engine.code.sandbox import Limits, unavailable_reason
from evalplane.engine.continuous import ContinuousPolicy
from evalplane.engine.executor import Executor
from evalplane.engine.providers.calls import Gates, RetryPolicy
from evalplane.engine.scheduler import Scheduler
from evalplane.engine.worker import IntegrationProviders, Worker

log = logging.getLogger("evalplane.engine")


@dataclass(frozen=True, slots=True)
class EngineOptions:
    tick_seconds: float = 1.0
    # Woken by new spans or runs, the scheduler still ticks at most this often: a stream of
    # exports costs a few ticks a second, not one per export.
    wake_gap_seconds: float = 0.25
    batch_size: int = 64
    slots: int = 8
    lease_seconds: float = 60.0
    max_attempts: int = 3
    shutdown_grace_seconds: float = 10.0
    provider_concurrency: int = 256
    code_timeout_seconds: float = 10.0
    sandbox_max_children: int = 4
    sandbox_memory_mb: int = 2048
    sandbox_uid_base: int = 200_000
    continuous: ContinuousPolicy = ContinuousPolicy()
    retry: RetryPolicy = RetryPolicy()
    # Where AI integrations may connect (the default refuses loopback and private addresses).
    egress: EgressPolicy = EgressPolicy()


class Engine:
    def __init__(self, db: Database, secret_key: str, options: EngineOptions = EngineOptions()) -> None:
        self.db = db
        self.options = options
        self.providers = IntegrationProviders(
            db, secret_key, connections=options.provider_concurrency, egress=options.egress
        )
        self.sandbox = SandboxBudget(options.sandbox_max_children, options.sandbox_memory_mb, options.sandbox_uid_base)
        executor = Executor(
            self.providers,
            Gates(options.provider_concurrency),
            options.retry,
            Limits(timeout_seconds=options.code_timeout_seconds, budget=self.sandbox),
            # At most `slots` tasks have batches in flight, so this bounds the worker's total.
            children_per_task=max(1, options.sandbox_max_children // options.slots),
        )
        self.worker = Worker(
            db,
            executor,
            batch_size=options.batch_size,
            slots=options.slots,
            lease=timedelta(seconds=options.lease_seconds),
            max_attempts=options.max_attempts,
        )
        self.scheduler = Scheduler(db, options.continuous)
        self._stop = asyncio.Event()
        self._tick_now = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._lock: IO[str] | None = None

    def wake(self) -> None:
        """New spans or a new run: tick now instead of waiting for the next period."""
        self._tick_now.set()

    async def start(self) -> bool:
        """Start unless another process already runs the engine on this SQLite database."""
        if not self._acquire_sqlite_lock():
            log.info("another process runs the engine for this SQLite database; this one serves the API only")
            return False
        self._tasks = [asyncio.create_task(self._schedule()), asyncio.create_task(self.worker.run(self._stop))]
        # Probe the custom code sandbox now, so its verdict is in the log from the start.
        self._tasks.append(asyncio.create_task(unavailable_reason(self.sandbox)))
        log.info("engine started (worker %s)", self.worker.name)
        return True

    async def stop(self, grace: float | None = None) -> None:
        """Finish the batches in flight (up to ``grace`` seconds), then hand back the rest."""
        grace = self.options.shutdown_grace_seconds if grace is None else grace
        self._stop.set()
        self._tick_now.set()
        self.worker.wake.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*pending, return_exceptions=True)
        await self.providers.close()
        if self._lock is not None:
            self._lock.close()

    async def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        gap = min(self.options.wake_gap_seconds, self.options.tick_seconds)
        statistics, statistics_due = SqliteStatistics(), loop.time() + 5.0
        while not self._stop.is_set():
            started = loop.time()
            if started >= statistics_due:
                statistics_due = started + 60.0
                try:
                    if await statistics.refresh(self.db.engine):
                        log.info("refreshed SQLite statistics at %s spans", statistics.analyzed_at_rows)
                except Exception:  # noqa: BLE001 - a later check retries
                    log.exception("could not refresh SQLite statistics")
            try:
                report = await self.scheduler.tick()
                if report.started or report.continuous_units or report.reaped:
                    self.worker.wake.set()
            except Exception:  # noqa: BLE001 - keep ticking; the next tick retries
                log.exception("scheduler tick failed")
            self._tick_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._tick_now.wait(), self.options.tick_seconds)
            early = started + gap - loop.time()
            if early > 0 and not self._stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), early)

    def _acquire_sqlite_lock(self) -> bool:
        url = make_url(self.db.url)
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return True
        path = Path(url.database).with_suffix(".engine.lock")
        handle = open(path, "a+")  # noqa: SIM115 - held for the engine's lifetime
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock = handle
        return True
