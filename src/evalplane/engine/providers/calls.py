"""Calling a provider politely: bounded concurrency per AI integration, jittered
exponential backoff on transient errors that honours the provider's Retry-After, and a
shared pause so one 429 slows every caller of that integration instead of each retrying.

A gate starts cold: one call at a time until one has succeeded, so a wrong key or model
costs one request, not a burst of them; a fatal answer is then replayed to the callers
already waiting for that model (for a few seconds) instead of being asked again."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from evalplane.core import metrics
from evalplane.engine.providers.base import (
    ChatRequest,
    ChatResult,
    FatalProviderError,
    Provider,
    TransientProviderError,
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_delay: float = 0.5
    max_delay: float = 30.0
    # After this long without success the unit is handed back for later, not failed.
    give_up_after: float = 300.0


class Gate:
    """Limits concurrent calls to one AI integration and holds callers during a cool-down."""

    # How long a fatal answer for a model is replayed to callers instead of asking again.
    FATAL_MEMORY = 5.0

    def __init__(self, concurrency: int) -> None:
        self.semaphore = asyncio.Semaphore(concurrency)
        self.paused_until = 0.0
        self.warm = False
        self.probe = asyncio.Lock()
        self._fatal: dict[str, tuple[float, FatalProviderError]] = {}

    def failed(self, model: str, error: FatalProviderError) -> None:
        self.warm = False
        if model not in self._fatal:
            self._fatal[model] = (time.monotonic() + self.FATAL_MEMORY, error)

    def raise_if_failed(self, model: str) -> None:
        remembered = self._fatal.get(model)
        if remembered is None:
            return
        if remembered[0] < time.monotonic():
            del self._fatal[model]
            return
        raise FatalProviderError(remembered[1].reason)

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    async def wait_if_paused(self, sleep: Callable[[float], Awaitable[None]]) -> None:
        while (delay := self.paused_until - time.monotonic()) > 0:
            await sleep(delay)


class Gates:
    """One gate per AI integration, created on first use."""

    def __init__(self, concurrency: int = 16) -> None:
        self.concurrency = concurrency
        self._gates: dict[object, Gate] = {}

    def for_integration(self, key: object) -> Gate:
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = Gate(self.concurrency)
        return gate


async def call_with_retries(
    provider: Provider,
    request: ChatRequest,
    gate: Gate,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> tuple[ChatResult, int]:
    """Return the provider's answer and how many transient failures it took to get it.

    Fatal errors propagate at once. Transient ones are retried until ``give_up_after``;
    then the last transient error propagates so the caller can reschedule the work.
    """
    started = time.monotonic()
    failures = 0
    while True:
        await gate.wait_if_paused(sleep)
        try:
            gate.raise_if_failed(request.model)
            if not gate.warm:
                async with gate.probe:
                    if not gate.warm:
                        gate.raise_if_failed(request.model)
                        async with gate.semaphore:
                            result = await provider.chat(request)
                        gate.warm = True
                        metrics.PROVIDER_CALLS.inc(result="ok")
                        return result, failures
            async with gate.semaphore:
                answer = await provider.chat(request)
            metrics.PROVIDER_CALLS.inc(result="ok")
            return answer, failures
        except FatalProviderError as exc:
            metrics.PROVIDER_CALLS.inc(result="fatal")
            gate.failed(request.model, exc)
            raise
        except TransientProviderError as exc:
            metrics.PROVIDER_CALLS.inc(result="transient")
            failures += 1
            if exc.retry_after is not None:
                delay = exc.retry_after
                gate.pause(delay)
            else:
                delay = min(policy.max_delay, policy.base_delay * 2 ** (failures - 1)) * random.uniform(0.5, 1.5)
            if time.monotonic() - started + delay > policy.give_up_after:
                raise
            metrics.PROVIDER_RETRIES.inc()
            await sleep(delay)
