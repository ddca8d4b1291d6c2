"""What a worker process may spend on sandbox children: how many at once, how much memory
in all, and which host uids they run under.

Each child reserves its memory limit before it starts and waits while the budget is spent,
so one span with many custom evaluators cannot start them all at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from evalplane.engine.code.isolation import Identities


class SandboxBudget:
    def __init__(
        self, max_children: int = 4, memory_mb: int = 2048, uid_base: int = 200_000, uid_count: int = 10_000
    ) -> None:
        self.identities = Identities(uid_base, uid_count)
        self.max_children = max(1, max_children)
        self.memory_mb = max(1, memory_mb)
        self.children = 0
        self.reserved_mb = 0
        self._changed: tuple[asyncio.AbstractEventLoop, asyncio.Condition] | None = None

    @contextlib.asynccontextmanager
    async def reserve(self, memory_mb: int) -> AsyncIterator[None]:
        # A child larger than the whole budget still runs, alone.
        need = min(memory_mb, self.memory_mb)
        changed = self._condition()
        async with changed:
            await changed.wait_for(
                lambda: self.children < self.max_children and self.reserved_mb + need <= self.memory_mb
            )
            self.children += 1
            self.reserved_mb += need
        try:
            yield
        finally:
            async with changed:
                self.children -= 1
                self.reserved_mb -= need
                changed.notify_all()

    def _condition(self) -> asyncio.Condition:
        # One condition per event loop: asyncio primitives cannot be shared between loops.
        loop = asyncio.get_running_loop()
        if self._changed is None or self._changed[0] is not loop:
            self._changed = (loop, asyncio.Condition())
        return self._changed[1]
