"""Process-wide objects the routers need, built once at startup and kept on ``app.state``."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
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


class FailedAuthentications:
    """A token bucket of failed authentications per client address: ``per_minute`` of them
    in a burst, then one more each ``60 / per_minute`` seconds; ``per_minute <= 0`` turns it off."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}

    def _tokens(self, client: str, now: float) -> float:
        tokens, stamp = self._buckets.get(client, (self.capacity, now))
        return min(self.capacity, tokens + (now - stamp) * self.rate)

    def retry_after(self, client: str | None) -> int | None:
        """Whole seconds this address must wait before it may try a key again, or None."""
        if self.capacity <= 0 or client is None or client not in self._buckets:
            return None
        tokens = self._tokens(client, time.monotonic())
        if tokens >= 1.0:
            return None
        return max(1, math.ceil((1.0 - tokens) / self.rate))

    def record(self, client: str | None) -> None:
        if self.capacity <= 0 or client is None:
            return
        if len(self._buckets) > 100_000:
            self._buckets.clear()  # bounded memory under a spray of addresses; limits restart
        now = time.monotonic()
        self._buckets[client] = (self._tokens(client, now) - 1.0, now)


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
    auth_failures: FailedAuthentications = field(default_factory=lambda: FailedAuthentications(0))
    # Called after writes that give the engine new work (spans stored, a run triggered);
    # the composition root points it at the embedded engine, if this process runs one.
    wake_engine: Callable[[], None] = lambda: None
