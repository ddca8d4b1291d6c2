"""Server configuration, read once from the environment and passed down explicitly."""

from __future__ import annotations

import os
import secrets
from enum import StrEnum
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DialectDefault(StrEnum):
    SEED = "seed"
    CURRENT = "current"


class Settings(BaseSettings):
    """Every knob of the server. Environment variables use the ``EVALPLANE_`` prefix."""

    model_config = SettingsConfigDict(env_prefix="EVALPLANE_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".evalplane")
    database_url: str | None = None
    bootstrap_api_key: str | None = None
    secret_key: str | None = None
    rate_limit: float = 1000.0
    rate_limit_burst: int | None = None
    host: str = "127.0.0.1"
    port: int = 8787
    api_dialect: DialectDefault = DialectDefault.SEED
    max_body_bytes: int = 5 * 1024 * 1024
    # OTLP trace exports (POST /v1/traces) may be larger: this bounds the body as sent
    # and again after gzip is undone.
    otlp_max_body_bytes: int = 32 * 1024 * 1024
    log_level: str = "info"
    # Connections per process on PostgreSQL (doubled under burst); keep the sum of all
    # processes below the server's max_connections.
    db_pool_size: int = 5
    # The evaluation engine: `serve` embeds one unless worker=false; `evalplane worker` runs one alone.
    worker: bool = True
    worker_slots: int = 4
    worker_batch_size: int = 64
    # Calls in flight per AI integration (per engine process). A judge answering in 200 ms
    # needs about 60 to sustain 300 evaluations/s; 429s with Retry-After slow it down.
    provider_concurrency: int = 128
    tick_seconds: float = 1.0
    code_timeout_seconds: float = 10.0
    # Custom-code processes one worker runs at once (each within its own memory limit), shared
    # out per task: a task gets this divided by the worker's slots, at least one.
    code_concurrency: int = Field(default=8, ge=1)
    # A worker's claim on a batch lasts this long unless renewed (it renews every third of
    # it); units of a worker that died are redone once it runs out.
    lease_seconds: float = 60.0
    # A unit is claimed at most this many times; a unit whose worker keeps dying on it (or
    # stalling past its lease) then ends ERRORED instead of being redone forever.
    max_attempts: int = Field(default=3, ge=1)
    # On SIGTERM a worker finishes its batches for up to this long, then hands the rest back.
    shutdown_grace_seconds: float = 10.0
    # "text" or "json" (one JSON object per line, for log shippers).
    log_format: str = "text"

    def resolved_database_url(self) -> str:
        """The SQLAlchemy async URL to use; a SQLite file under ``home`` unless set."""
        url = self.database_url or f"sqlite:///{self.home / 'evalplane.db'}"
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://") :]
        if url.startswith("postgresql://"):
            url = "postgresql+asyncpg://" + url[len("postgresql://") :]
        elif url.startswith("sqlite:///"):
            url = "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
        return url

    def resolved_secret_key(self) -> str:
        """The key that encrypts stored provider credentials; created once under ``home``."""
        if self.secret_key:
            return self.secret_key
        path = self.home / "secret.key"
        if path.exists():
            return path.read_text().strip()
        self.home.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key
