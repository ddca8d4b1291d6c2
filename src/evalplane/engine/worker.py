"""The worker: claims batches of units under a lease, keeps the lease alive while it works,
executes them and records the results. Several batch slots run side by side so one slow
batch does not idle the rest; claims go round the spaces (and each space's tasks) in turn
and no space takes every slot, so one tenant's slow evaluator cannot starve the others. Each evaluator's units of a
batch are recorded as soon as they are done, and an error fails only the units it hit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from evalplane.core import metrics
from evalplane.core.egress import EgressPolicy
from evalplane.core.errors import DomainError
from evalplane.core.secrets import box_for
from evalplane.db.dialect import dialect_of
from evalplane.db.engine import Database
from evalplane.db.models import AiIntegration, Task
from evalplane.domains.ai_integrations.service import load_for_use
from evalplane.engine.executor import BatchResult, Executor, ProviderSource, UnitResult, Work, unexpected
from evalplane.engine.experiments_generation import execute_batch
from evalplane.engine.plans import TaskPlan, load_task_plan
from evalplane.engine.providers import FatalProviderError, Provider, ProviderConfig, build_provider
from evalplane.engine.recording import per_unit, record
from evalplane.engine.targets import TARGETS
from evalplane.engine.variables import SPAN_DEFAULTS
from evalplane.jobs import units
from evalplane.jobs.units import ERRORED, Claimed

log = logging.getLogger("evalplane.worker")


class IntegrationProviders(ProviderSource):
    """Builds providers from stored AI integrations, decrypting their keys.

    One provider (one SDK client and its connection pool) per integration for as long as
    the integration is unchanged: every ``ttl`` seconds its ``updated_at`` is read again,
    and only an edited integration gets a new client. The replaced client is closed later,
    once calls still running on it have had time to finish.
    """

    def __init__(
        self,
        db: Database,
        secret_key: str,
        ttl: float = 30.0,
        connections: int = 128,
        egress: EgressPolicy | None = None,
    ) -> None:
        self.db = db
        self.egress = egress or EgressPolicy()
        self.box = box_for(secret_key)
        self.ttl = ttl
        self.connections = connections
        # key -> (check again after, integration updated_at, provider)
        self._cache: dict[tuple[int, bool], tuple[float, Any, Provider]] = {}
        self._retired: set[asyncio.Task[None]] = set()

    async def provider(self, integration_id: int, function_calling: bool) -> Provider:
        key = (integration_id, function_calling)
        now = asyncio.get_running_loop().time()
        cached = self._cache.get(key)
        if cached and cached[0] > now:
            return cached[2]
        async with self.db.session() as session:
            if cached:
                stamp = await session.scalar(select(AiIntegration.updated_at).where(AiIntegration.id == integration_id))
                if stamp is not None and stamp == cached[1]:
                    self._cache[key] = (now + self.ttl, cached[1], cached[2])
                    return cached[2]
            try:
                row, api_key, headers = await load_for_use(session, integration_id, box=self.box)
            except DomainError as exc:
                raise FatalProviderError(exc.detail) from None
            config = ProviderConfig(
                provider=row.provider,
                api_key=api_key,
                base_url=row.base_url,
                headers=headers,
                metadata=dict(row.provider_metadata or {}),
                function_calling=function_calling and row.function_calling_enabled,
                integration_id=row.id,
                connections=self.connections,
                egress=self.egress,
            )
            stamp = row.updated_at
        provider = build_provider(config)
        if cached:
            self._retire(cached[2], config.timeout_seconds + 5)
        self._cache[key] = (now + self.ttl, stamp, provider)
        return provider

    def _retire(self, provider: Provider, after: float) -> None:
        async def close_later() -> None:
            await asyncio.sleep(after)
            with contextlib.suppress(Exception):
                await provider.close()

        task = asyncio.create_task(close_later())
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)

    async def close(self) -> None:
        for task in list(self._retired):
            task.cancel()
        for _, _, provider in self._cache.values():
            with contextlib.suppress(Exception):
                await provider.close()
        self._cache.clear()


class Worker:
    def __init__(
        self,
        db: Database,
        executor: Executor,
        *,
        batch_size: int = 32,
        slots: int = 4,
        lease: timedelta = timedelta(seconds=60),
        idle_poll: float = 1.0,
        max_attempts: int = 3,
    ) -> None:
        self.db = db
        self.executor = executor
        self.batch_size = batch_size
        self.slots = slots
        self.lease = lease
        self.idle_poll = idle_poll
        self.max_attempts = max_attempts
        # Opaque: it is stored in evaluation metadata users read; logs tie it to host and pid.
        self.name = f"worker-{uuid.uuid4().hex[:12]}"
        self.wake = asyncio.Event()
        self._inflight: set[int] = set()
        self._plans: dict[int, tuple[float, TaskPlan | None]] = {}
        self._busy: Counter[int] = Counter()  # batches in flight per space
        self._space_of: dict[int, int] = {}  # task -> space (a task never moves)
        self._last_space = 0  # claims go round the spaces from here,
        self._last_task: dict[int, int] = {}  # and round each space's tasks from here

    async def run(self, stop: asyncio.Event) -> None:
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            await asyncio.gather(*(self._slot(stop) for _ in range(self.slots)))
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await self._release_inflight()

    async def _slot(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                worked = await self.run_once()
            except Exception:  # noqa: BLE001 - a failing claim must not kill the worker
                log.exception("claiming work failed; trying again shortly")
                worked = False
            if not worked:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(stop, self.wake), self.idle_poll)

    async def run_once(self) -> bool:
        """Claim one task's batch, execute it and record it group by group; False when there
        was nothing to do."""
        claimed = await self._claim()
        if not claimed:
            return False
        task_id = claimed[0].task_id
        self._inflight.update(c.id for c in claimed)
        try:
            given_up = [c for c in claimed if c.attempts > self.max_attempts]
            groups: dict[tuple[int, int], list[Claimed]] = defaultdict(list)
            for unit in claimed:
                if unit.attempts <= self.max_attempts:
                    groups[(unit.task_id, unit.evaluator_key)].append(unit)
            await asyncio.gather(self._give_up(given_up), *(self._process(group) for group in groups.values()))
        except asyncio.CancelledError:
            # Shutdown ran out of grace: hand the batch back now rather than leave its
            # leases to expire (units already recorded are untouched: release is a CAS).
            await self._release([c.id for c in claimed])
            raise
        finally:
            self._inflight.difference_update(c.id for c in claimed)
            self._done_with(self._space_of[task_id])
        return True

    async def _claim(self) -> list[Claimed]:
        """Claim from the next space in turn, and its next task in turn, that has waiting
        units: a space's backlog (or its many tasks) never holds back another space. The last
        free slot goes only to a space with nothing in flight here: slow tenants cannot take
        every slot while another tenant's work waits."""
        # Its own transaction: on SQLite a read that later writes may find the database moved on.
        async with self.db.session() as session:
            waiting = await units.pending_tasks(session)
            unknown = [t for t in waiting if t not in self._space_of]
            if unknown:
                rows = await session.execute(select(Task.id, Task.space_id).where(Task.id.in_(unknown)))
                self._space_of.update({task_id: space_id for task_id, space_id in rows.all()})
        for space_id, task_id in self._in_turn(waiting):
            if self._busy[space_id] and self.slots - sum(self._busy.values()) <= 1:
                continue
            self._busy[space_id] += 1  # taken before the await: other slots see it
            try:
                async with self.db.session() as session:
                    claimed = await units.claim(
                        session, worker=self.name, limit=self.batch_size, lease=self.lease, task_id=task_id
                    )
            except BaseException:
                self._done_with(space_id)
                raise
            if claimed:
                self._last_space, self._last_task[space_id] = space_id, task_id
                return claimed
            self._done_with(space_id)  # its units are all backing off (or taken)
        return []

    def _in_turn(self, task_ids: Sequence[int]) -> list[tuple[int, int]]:
        """(space, task) pairs in claiming order: spaces after the last one served first, and
        within a space its tasks after the last one served there."""
        by_space: dict[int, list[int]] = defaultdict(list)
        for task_id in task_ids:
            if task_id in self._space_of:  # a task deleted meanwhile has no space
                by_space[self._space_of[task_id]].append(task_id)
        return [
            (space_id, task_id)
            for space_id in _round(sorted(by_space), after=self._last_space)
            for task_id in _round(by_space[space_id], after=self._last_task.get(space_id, 0))
        ]

    def _done_with(self, space_id: int) -> None:
        self._busy[space_id] -= 1
        if self._busy[space_id] <= 0:
            del self._busy[space_id]

    async def _give_up(self, exhausted: Sequence[Claimed]) -> None:
        """Units claimed more often than allowed: their workers kept dying on them."""
        if not exhausted:
            return
        reason = f"gave up after {self.max_attempts} attempts: the worker processing it stopped or stalled"
        self._inflight.difference_update(c.id for c in exhausted)
        await self._record(BatchResult(done=[UnitResult(c, ERRORED, None, detail=reason) for c in exhausted]))

    async def _process(self, group: Sequence[Claimed]) -> None:
        """Load, execute and record one evaluator's units; whatever fails fails them alone."""
        try:
            result = await execute_batch(self.executor, await self._load(group))
        except Exception as exc:  # noqa: BLE001 - contained to this group
            log.exception("evaluating %s units of task %s failed", len(group), group[0].task_id)
            result = BatchResult(done=[UnitResult(c, ERRORED, None, detail=unexpected(exc)) for c in group])
        # No heartbeat for units being recorded: it would lock them in another order.
        self._inflight.difference_update(c.id for c in group)
        await self._record(result)

    async def _record(self, result: BatchResult) -> None:
        try:
            async with self.db.session() as session:
                await record(session, self.name, result)
            return
        except Exception:  # noqa: BLE001 - try the units one by one below
            log.exception("recording %s results together failed; recording them one by one", len(result.done))
        for part in per_unit(result):
            try:
                async with self.db.session() as session:
                    await record(session, self.name, part)
            except Exception as exc:  # noqa: BLE001
                await self._record_failure(part, exc)

    async def _record_failure(self, part: BatchResult, exc: Exception) -> None:
        """A unit whose result cannot be stored ends ERRORED with why; if even that fails, its
        lease expires and the attempts cap ends it."""
        unit = part.done[0].unit if part.done else part.retry[0][0]
        log.error("could not record unit %s: %s", unit.id, unexpected(exc))
        failed = BatchResult(done=[UnitResult(unit, ERRORED, None, detail=f"could not be recorded: {unexpected(exc)}")])
        try:
            async with self.db.session() as session:
                await record(session, self.name, failed)
        except Exception:  # noqa: BLE001
            log.exception("could not record unit %s as failed either", unit.id)

    async def _load(self, claimed: Sequence[Claimed]) -> list[Work]:
        loop_time = asyncio.get_running_loop().time()
        async with self.db.session() as session:
            for task_id in {c.task_id for c in claimed}:
                cached = self._plans.get(task_id)
                if cached is None or cached[0] < loop_time:
                    self._plans[task_id] = (loop_time + 5.0, await load_task_plan(session, task_id))
            plans = {task_id: self._plans[task_id][1] for task_id in {c.task_id for c in claimed}}
            by_kind: dict[str, list[Claimed]] = defaultdict(list)
            for unit in claimed:
                by_kind[unit.target_kind].append(unit)
            documents: dict[int, dict[str, Any]] = {}
            dialect = dialect_of(session)
            for kind, group in by_kind.items():
                target = TARGETS.get(kind)
                if target is not None:  # an unknown kind finds no document: the unit is skipped
                    documents.update(await target.load(session, dialect, plans, group))
        work = []
        for unit in claimed:
            plan = plans[unit.task_id]
            evaluator = plan.evaluator(unit.evaluator_key) if plan else None
            target = TARGETS.get(unit.target_kind)
            defaults = target.defaults if target is not None else SPAN_DEFAULTS
            work.append(Work(unit=unit, evaluator=evaluator, document=documents.get(unit.id), defaults=defaults))
        return work

    async def _heartbeat(self) -> None:
        # Runs until run() cancels it, so leases stay alive while batches finish after stop.
        interval = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            if self._inflight:
                try:
                    async with self.db.session() as session:
                        await units.heartbeat(
                            session, worker=self.name, unit_ids=sorted(self._inflight), lease=self.lease
                        )
                except Exception:  # noqa: BLE001
                    log.exception("lease heartbeat failed")

    async def _release_inflight(self) -> None:
        await self._release(sorted(self._inflight))

    async def _release(self, unit_ids: list[int]) -> None:
        if not unit_ids:
            return
        try:
            async with self.db.session() as session:
                released = await units.release(session, worker=self.name, unit_ids=unit_ids)
            if released:
                metrics.UNITS_RELEASED.inc(released)
                log.info("handed %s unfinished units back to the queue", released)
        except Exception:  # noqa: BLE001 - the leases will expire instead
            log.exception("could not hand units back; their leases will expire")


def _round(ids: Sequence[int], *, after: int) -> list[int]:
    """Sorted ids in turn: those after the last one served, then from the start again."""
    return [i for i in ids if i > after] + [i for i in ids if i <= after]


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
