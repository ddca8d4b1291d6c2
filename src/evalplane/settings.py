"""Server configuration, read once from the environment and passed down explicitly."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from enum import StrEnum
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from evalplane.core.egress import EgressPolicy

log = logging.getLogger("evalplane")


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
    # The SDK sends up to 8 MiB of JSON over REST before it switches to Flight
    # (ARIZE_MAX_HTTP_PAYLOAD_SIZE_MB); twice that leaves room for its own framing and escapes.
    max_body_bytes: int = 16 * 1024 * 1024
    # OTLP trace exports (POST /v1/traces) may be larger: this bounds the body as sent
    # and again after gzip is undone.
    otlp_max_body_bytes: int = 32 * 1024 * 1024
    # OTLP/gRPC trace exports (TraceService/Export) on their own port; 0 (or "off") turns
    # the receiver off. Messages are bounded by otlp_max_body_bytes, before and after gzip.
    otlp_grpc_port: int = Field(default=4317, ge=0, le=65535)
    # Set by `serve --workers N`: the API processes then share the OTLP/gRPC port (SO_REUSEPORT).
    # Off otherwise, so a second server on the same port fails to start instead of sharing it.
    otlp_grpc_reuse_port: bool = False
    log_level: str = "info"
    # Connections per process on PostgreSQL (doubled under burst); keep the sum of all
    # processes below the server's max_connections.
    db_pool_size: int = 5
    # The evaluation engine: `serve` embeds one unless worker=false; `evalplane worker` runs one alone.
    worker: bool = True
    # Batches in flight per worker: a batch waits for its slowest judge call, so enough of
    # them keep the provider's connections busy meanwhile.
    worker_slots: int = 8
    worker_batch_size: int = 64
    # Calls in flight per AI integration (per engine process). A judge answering in 200 ms
    # needs about 120 to sustain 600 evaluations/s, more while a batch's slowest calls finish;
    # 429s with Retry-After slow it down.
    provider_concurrency: int = 256
    tick_seconds: float = 1.0
    code_timeout_seconds: float = 10.0
    # Per worker process: custom code children alive at once, and the memory they may
    # reserve in all (each reserves its 512 MB limit before it starts).
    # A task gets this divided by the worker's slots (at least one), so one task cannot hold every child.
    sandbox_max_children: int = Field(default=4, ge=1)
    sandbox_memory_mb: int = 2048
    # A server running as root gives each child its own host uid/gid from here upwards.
    sandbox_uid_base: int = 200_000
    # A worker's claim on a batch lasts this long unless renewed (it renews every third of
    # it); units of a worker that died are redone once it runs out.
    lease_seconds: float = 60.0
    # A unit is claimed at most this many times; a unit whose worker keeps dying on it (or
    # stalling past its lease) then ends ERRORED instead of being redone forever.
    max_attempts: int = Field(default=3, ge=1)
    # On SIGTERM a worker finishes its batches for up to this long, then hands the rest back.
    shutdown_grace_seconds: float = 10.0
    # Continuous trace/session tasks evaluate a trace (session) once it has received no new
    # span for this long; a session that grows later is evaluated again.
    trace_idle_seconds: float = Field(default=30.0, ge=0)
    session_idle_seconds: float = Field(default=300.0, ge=0)
    # "text" or "json" (one JSON object per line, for log shippers).
    log_format: str = "text"
    # One line per HTTP request (method, path, status, duration, API key id), whatever log_level says.
    access_log: bool = False
    # Failed authentications one client address may make per minute before it gets 429.
    auth_failures_per_minute: int = 30
    # Whether /metrics and the API docs (/docs, /redoc, /openapi.json) answer without a key.
    public_metrics: bool = True
    public_docs: bool = True
    # Host names and CIDR ranges AI integrations may reach although they are loopback,
    # private, link-local or metadata addresses (refused otherwise), comma-separated.
    egress_allow: str = ""
    # Arrow Flight, the SDK's bulk data plane (large datasets, experiments, span export), on its
    # own port beside the HTTP API in `evalplane serve`; 0 or "off" turns it off. Plain gRPC
    # unless both a PEM certificate and its key are given, then TLS.
    flight_port: int = Field(default=8815, ge=0, le=65535)
    flight_host: str | None = None  # the interface to bind; `host` unless set
    flight_tls_cert: Path | None = None
    flight_tls_key: Path | None = None
    # An upload is spooled to a temporary file until its stream ends (so a broken stream stores
    # nothing); this bounds the spool, in bytes of Arrow data.
    flight_max_upload_bytes: int = Field(default=4 * 1024**3, ge=1)

    @field_validator("flight_port", mode="before")
    @classmethod
    def _flight_off(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("off", "false", "no", "none", ""):
            return 0
        return value

    def flight_tls(self) -> tuple[bytes, bytes] | None:
        """The PEM certificate and key Flight serves TLS with, or None for plain gRPC."""
        if self.flight_tls_cert is None and self.flight_tls_key is None:
            return None
        if self.flight_tls_cert is None or self.flight_tls_key is None:
            raise ValueError("EVALPLANE_FLIGHT_TLS_CERT and EVALPLANE_FLIGHT_TLS_KEY must be set together")
        return self.flight_tls_cert.read_bytes(), self.flight_tls_key.read_bytes()

    @field_validator("otlp_grpc_port", mode="before")
    @classmethod
    def _port_off(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("off", "false", "none", "no"):
            return 0
        return value

    @field_validator("egress_allow")
    @classmethod
    def _egress_allow_parses(cls, value: str) -> str:
        EgressPolicy.parse(value)
        return value

    def egress_policy(self) -> EgressPolicy:
        return EgressPolicy.parse(self.egress_allow)

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

    def sqlite_path(self) -> Path | None:
        """The SQLite database file, or None on PostgreSQL (or an in-memory database)."""
        url = self.resolved_database_url()
        prefix = "sqlite+aiosqlite:///"
        if not url.startswith(prefix) or url[len(prefix) :] in ("", ":memory:"):
            return None
        return Path(url[len(prefix) :].split("?", 1)[0])

    def secure_files(self) -> None:
        """Make the home 0700 and the SQLite files 0600 before anything is written there;
        existing ones with looser bits are tightened, with a warning.

        No process-wide umask: sandbox children inherit it, and their tools create
        directories that other uids must traverse.
        """
        if self.home.exists():
            _tighten(self.home, 0o700)
        database = self.sqlite_path()
        if database is None:
            return
        database.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # SQLite gives the -wal and -shm files the mode of the database file itself. Only a
        # missing file is created here: opening and closing an existing one would drop every
        # POSIX lock this process's SQLite connections hold on it (Flight's pool is open by the
        # time the API starts), after which a closing connection may checkpoint and delete the
        # WAL under the others, and other processes read stale pages.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
            if path.exists():
                _tighten(path, 0o600)

    def resolved_secret_key(self) -> str:
        """The key that encrypts stored provider credentials; created once under ``home``."""
        if self.secret_key:
            return self.secret_key
        path = self.home / "secret.key"
        if path.exists():
            _tighten(path, 0o600)
            return path.read_text().strip()
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key


def _tighten(path: Path, mode: int) -> None:
    """Remove permission bits beyond ``mode``; warn when they were there (or cannot be removed)."""
    current = stat.S_IMODE(path.stat().st_mode)
    if current & ~mode == 0:
        return
    try:
        path.chmod(current & mode)
    except OSError as exc:
        log.warning("%s is readable by others (mode %o) and could not be tightened: %s", path, current, exc)
        return
    log.warning("%s had mode %o; tightened to %o", path, current, current & mode)
