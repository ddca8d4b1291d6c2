"""Arrangement for engine fault tests: `evalplane worker` processes, fast span seeding, and
direct reads of the database to check what the engine wrote."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from tests.support import LOOPBACK_EGRESS, Server
from tests.support_spans import (
    export,
    export_response,
    llm_attributes,
    request_pb,
    span_pb,
)

_NAME = re.compile(r"worker (\S+) running")

# EVALPLANE_SECRET_KEY for every server and worker of these tests: workers decrypt the AI keys the API stored.
SECRET = secrets.token_urlsafe(32)


@dataclass
class WorkerProcess:
    """An `evalplane worker` subprocess; ``name`` is the lease owner it writes on units."""

    database_url: str
    home: Path
    admin_key: str
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    name: str | None = None
    log_path: Path | None = None

    def start(self, timeout: float = 60.0, args: tuple[str, ...] = ()) -> WorkerProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_path = self.home / f"worker-{time.monotonic_ns()}.log"
        env = {
            **os.environ,
            "EVALPLANE_HOME": str(self.home),
            "EVALPLANE_DATABASE_URL": self.database_url,
            "EVALPLANE_BOOTSTRAP_API_KEY": self.admin_key,
            "EVALPLANE_LOG_LEVEL": "info",
            "EVALPLANE_EGRESS_ALLOW": LOOPBACK_EGRESS,
            **self.env,
        }
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "evalplane.cli", "worker", *args], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = _NAME.search(self.log())
            if found:
                self.name = found.group(1)
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()}")
            time.sleep(0.1)
        raise RuntimeError(f"worker did not start:\n{self.log()}")

    def kill(self) -> None:
        """kill -9: no chance to hand anything back."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def terminate(self, timeout: float = 30.0) -> tuple[int, float]:
        """SIGTERM, then wait for a graceful exit; returns (exit status, seconds it took)."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        return code, time.monotonic() - started

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""


def seed_spans(server: Server, space_id: str, project: str, count: int, *, batch: int = 1000) -> None:
    """``count`` LLM spans from the last hour, sent over OTLP in batches. Every 50th has no
    output (the judge skips it) and every 70th asks the judge for a label outside the choices
    (an error), so the run's three counters are all non-trivial."""
    start_ns = int((datetime.now(UTC) - timedelta(minutes=30)).timestamp() * 1e9)
    for first in range(0, count, batch):
        spans = []
        for i in range(first, min(count, first + batch)):
            attributes = llm_attributes(i)
            if i % 50 == 49:
                attributes.pop("output.value")
            elif i % 70 == 69:
                attributes["output.value"] = f"answer {i} [[label:maybe]]"
            else:
                attributes["output.value"] = f"answer {i}"
            spans.append(span_pb(start_ns=start_ns + i * 1_000_000, attributes=attributes))
        export_response(export(server, request_pb(spans, project), space_id=space_id))


def expected_counts(count: int) -> tuple[int, int, int]:
    """(successes, errors, skipped) for ``seed_spans(count)``."""
    skipped = sum(1 for i in range(count) if i % 50 == 49)
    errors = sum(1 for i in range(count) if i % 50 != 49 and i % 70 == 69)
    return count - skipped - errors, errors, skipped


def sql(database_url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run one read query on the test database (``$1`` placeholders on both kinds)."""
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[1]
        with sqlite3.connect(path, timeout=30) as conn:
            return [tuple(r) for r in conn.execute(re.sub(r"\$\d+", "?", query), params).fetchall()]

    import asyncpg

    async def run() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(database_url)
        try:
            return [tuple(r) for r in await conn.fetch(query, *params)]
        finally:
            await conn.close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()


def run_row_id(encoded: str) -> int:
    from evalplane.core.ids import Kind, decode_id

    return decode_id(Kind.TASK_RUN, encoded)


def unit_states(database_url: str, run_id: int) -> dict[str, int]:
    return dict(sql(database_url, "SELECT state, count(*) FROM work_units WHERE run_id = $1 GROUP BY state", run_id))


def leased_by(database_url: str, worker: str) -> int:
    rows = sql(database_url, "SELECT count(*) FROM work_units WHERE state = 'LEASED' AND lease_owner = $1", worker)
    return int(rows[0][0])


def recorded_by(database_url: str, run_id: int, worker: str, table: str = "span_evaluations") -> int:
    """How many of the run's evaluations (in ``table``) this worker recorded (PostgreSQL)."""
    rows = sql(
        database_url,
        f"SELECT count(*) FROM {table} WHERE task_run_id = $1 AND metadata::jsonb->>'worker' = $2",
        run_id,
        worker,
    )
    return int(rows[0][0])


def evaluations_of_run(
    database_url: str, run_id: int, table: str = "span_evaluations", target: str = "span_row_id"
) -> list[tuple[Any, dict[str, Any]]]:
    """(target, metadata) of every evaluation the run wrote: span row ids, or trace ids from
    ``trace_evaluations``."""
    rows = sql(database_url, f"SELECT {target}, metadata FROM {table} WHERE task_run_id = $1", run_id)
    return [(key, orjson.loads(meta) if isinstance(meta, (str, bytes)) else meta) for key, meta in rows]


def spans_in_project(database_url: str, project_name: str) -> int:
    rows = sql(
        database_url,
        "SELECT count(*) FROM spans s JOIN projects p ON p.id = s.project_id WHERE p.name = $1",
        project_name,
    )
    return int(rows[0][0])


def send_traces(server: Server, space_id: str, project: str, outputs: list[str]) -> None:
    """One trace per output, minutes ago: a CHAIN root (whose output is not the answer) and an
    LLM child answering ``output``."""
    start_ns = int((datetime.now(UTC) - timedelta(minutes=5)).timestamp() * 1e9)
    spans = []
    for i, output in enumerate(outputs):
        trace_id, root_id = secrets.token_hex(16), secrets.token_hex(8)
        root = {"openinference.span.kind": "CHAIN", "input.value": f"question {i}", "output.value": f"root {i}"}
        child = {**llm_attributes(i), "output.value": output}
        at = start_ns + i * 1_000_000
        spans.append(span_pb(trace_id=trace_id, span_id=root_id, name="agent", start_ns=at, attributes=root))
        spans.append(span_pb(trace_id=trace_id, parent_id=root_id, start_ns=at + 1000, attributes=child))
    export_response(export(server, request_pb(spans, project), space_id=space_id))


def trace_evaluation_counts(database_url: str, run_id: int) -> dict[str, int]:
    """How many evaluations the run wrote per trace id."""
    rows = sql(
        database_url,
        "SELECT trace_id, count(*) FROM trace_evaluations WHERE task_run_id = $1 GROUP BY trace_id",
        run_id,
    )
    return {trace: int(n) for trace, n in rows}
