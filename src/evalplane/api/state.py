"""Process-wide objects the routers need, built once at startup and kept on ``app.state``."""

from __future__ import annotations

from collections.abc import Callable

import time
from dataclasses import dataclass, field

from evalplane.core.cursors import CursorCodec
from evalplane.db.engine import Database
from evalplane.domains.access.principal import Principal
from evalplane.domains.spans.writer import SpanWriter
from evalplane.settings import Settings


class RateLimiter:
    """A token bucket per API key; ``rate <= 0`` turns limiting off."""

    def __init__(self, rate: float, burst: int | None = None) -> None:
        self.rate = rate
        self.burst = float(burst if burst is not None else max(rate, 1.0))
        self._buckets: dict[int, tuple[float, float]] = {}

    def retry_after(self, key_id: int) -> int | None:
        """Take one token; return None if allowed, else whole seconds to wait."""
        if self.rate <= 0:
            return None
        now = time.monotonic()
        tokens, stamp = self._buckets.get(key_id, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        if tokens >= 1.0:
            self._buckets[key_id] = (tokens - 1.0, now)
            return None
        self._buckets[key_id] = (tokens, now)
        wait = (1.0 - tokens) / self.rate
        return max(1, int(wait + 0.999))


@dataclass
class PrincipalCache:
    """Keeps resolved principals briefly so hot read paths skip two queries per request.

    Writes that change identity (revoking keys, binding roles) clear it in this process;
    other processes see such changes within ``ttl`` seconds.
    """

    ttl: float = 2.0
    _entries: dict[str, tuple[float, Principal]] = field(default_factory=dict)

    def get(self, token_hash: str) -> Principal | None:
        entry = self._entries.get(token_hash)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, token_hash: str, principal: Principal) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[token_hash] = (time.monotonic() + self.ttl, principal)

    def clear(self) -> None:
        self._entries.clear()


@dataclass
class KeyUsage:
    """Decides when this process should record an API key's ``last_used_at``: about once a
    minute per key, so authentication never writes on every request."""

    interval: float = 60.0
    _last: dict[int, float] = field(default_factory=dict)

    def due(self, key_id: int) -> bool:
        now = time.monotonic()
        last = self._last.get(key_id)
        if last is not None and now - last < self.interval:
            return False
        if len(self._last) > 100_000:
            self._last.clear()
        self._last[key_id] = now
        return True


@dataclass
class AppState:
    settings: Settings
    db: Database
    cursors: CursorCodec
    limiter: RateLimiter
    principals: PrincipalCache
    secret_key: str
    spans: SpanWriter
    key_usage: KeyUsage = field(default_factory=KeyUsage)
    # Called after writes that give the engine new work (spans stored, a run triggered);
    # the composition root points it at the embedded engine, if this process runs one.
    wake_engine: Callable[[], None] = lambda: None
