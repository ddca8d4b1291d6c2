"""Benchmark the evaluation engine: a 10,000-span backfill judged by a local LLM server that
answers in 200 ms, on SQLite and PostgreSQL with 1 and 2 `evalplane worker` processes;
continuous latency (span received → evaluation stored); and arize-phoenix-evals scoring the
same spans with the same judge in the same run, as a ratio.

    .venv/bin/python bench/engine.py                                  # everything (~6 min)
    .venv/bin/python bench/engine.py --spans 2000 --configs sqlite:1 --no-phoenix --no-readme

Processes (all on this machine): the judge (bench/engine_judge.py, forked uvicorn processes
on one socket); `evalplane serve` with EVALPLANE_WORKER=false (API and OTLP ingestion only);
N `evalplane worker` processes (the engine: scheduler + worker, measured for CPU); and, for
the comparison, bench/engine_phoenix.py in the separate bench venv (.bench-venv).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # makes tests/ importable: the imports below come after it

from tests.support import LOOPBACK_EGRESS  # noqa: E402
from tests.support_spans import llm_attributes, request_pb, span_pb  # noqa: E402

README = HERE / "README.md"
API_KEY = "ep_bench_admin_key_0000"
PG_ADMIN = os.environ.get("EVALPLANE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = "evalplane_enginebench"
BENCH_VENV = ROOT / ".bench-venv"
START, END = "<!-- engine-results:start -->", "<!-- engine-results:end -->"
TEMPLATE = "Question: {input}\nAnswer: {output}\nIs the answer correct?"
CHOICES = {"correct": 1, "incorrect": 0}
TOPICS = ["refunds", "shipping", "passwords", "invoices", "the API", "pricing", "data export", "SSO"]


@dataclass
class Backfill:
    database: str
    workers: int
    evaluations: int
    errors: int
    wall_s: float
    engine_cpu_s: float
    api_cpu_s: float

    @property
    def rate(self) -> float:
        return self.evaluations / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.engine_cpu_s / max(1, self.evaluations)


@dataclass
class Continuous:
    database: str
    spans: int
    rate: float
    received_p50: float
    received_p99: float
    sent_p50: float
    sent_p99: float


@dataclass
class Report:
    judge: dict = field(default_factory=dict)
    backfills: list[Backfill] = field(default_factory=list)
    continuous: list[Continuous] = field(default_factory=list)
    phoenix: dict | None = None


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (and its reaped children) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(v) for v in fields[11:15]) / ticks


class Proc:
    def __init__(self, command: list[str], env: dict[str, str], log: Path, ready: str | None = None) -> None:
        self.log = log
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdout=open(log, "ab"),
            stderr=subprocess.STDOUT,  # noqa: SIM115
            cwd=ROOT,
            start_new_session=True,
        )
        if ready:
            deadline = time.monotonic() + 60
            while ready not in log.read_text(errors="replace"):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command[:3]} did not start:\n{log.read_text(errors='replace')[-3000:]}")
                time.sleep(0.1)

    @property
    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def evalplane_command() -> list[str]:
    exe = Path(sys.executable).with_name("evalplane")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "evalplane.cli"]


def server_env(url: str, work: Path, **extra: str) -> dict[str, str]:
    return {
        "EVALPLANE_HOME": str(work / "home"),
        "EVALPLANE_DATABASE_URL": url,
        "EVALPLANE_BOOTSTRAP_API_KEY": API_KEY,
        "EVALPLANE_LOG_LEVEL": "warning",
        # The benchmark's judge listens on loopback, which servers refuse to call by default.
        "EVALPLANE_EGRESS_ALLOW": LOOPBACK_EGRESS,
        **extra,
    }


def start_api(url: str, work: Path) -> tuple[Proc, str]:
    port = free_port()
    proc = Proc(
        [*evalplane_command(), "serve", "--port", str(port)],
        server_env(url, work, EVALPLANE_WORKER="false"),
        work / f"api-{port}.log",
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if (
                httpx.get(f"{base}/v2/spaces", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=2).status_code
                == 200
            ):
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the API did not start:\n{proc.log.read_text()[-3000:]}")
        time.sleep(0.2)


def start_workers(url: str, work: Path, count: int, tick: float) -> list[Proc]:
    env = server_env(url, work, EVALPLANE_TICK_SECONDS=str(tick))
    return [
        Proc([*evalplane_command(), "worker"], env, work / f"worker-{i}-{time.time_ns()}.log", ready="running")
        for i in range(count)
    ]


def pg_url(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def pg_execute(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def fresh_database(backend: str, work: Path) -> str:
    if backend == "sqlite":
        path = work / "engine.db"
        for suffix in ("", "-wal", "-shm", ".engine.lock"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        path.with_suffix(".engine.lock").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    pg_execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
    pg_execute(f'CREATE DATABASE "{PG_DB}"')
    return pg_url(PG_DB)


# ---------------------------------------------------------------- data


def rows(count: int, seed: int = 7) -> list[tuple[str, str]]:
    """(question, answer) pairs that look like a support assistant's traffic."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        topic = rng.choice(TOPICS)
        question = (
            f"Ticket {i}: how do I handle {topic} for my account? "
            + "Some context about the account. " * rng.randint(4, 16)
        )
        answer = (
            f"For {topic}, open Settings and follow the steps. "
            + "Further detail on the procedure. " * rng.randint(6, 24)
        )
        out.append((question, answer))
    return out


# --scope trace: each row is a trace of 3 spans (CHAIN root, LLM, TOOL) judged as one trace;
# --scope session: the same traces, each the one trace of its own session, judged per session.
SCOPE = {"name": "SPAN"}
TRACE_FILTERS = {"filters": [{"id": "A", "filter": "span_kind = 'LLM'"}]}
TRACE_MAPPINGS = [{"variable_name": "output", "query_ids": ["A"], "attribute_path": "attributes.output.value"}]


def trace_batch(pairs: list[tuple[str, str]], offset: int, start: datetime) -> list:
    spans = []
    for i, (question, answer) in enumerate(pairs):
        n = offset + i
        trace_id, root = f"{n + 1:032x}", f"{3 * n + 1:016x}"
        start_ns = int((start + timedelta(milliseconds=n)).timestamp() * 1e9)
        chain = {"openinference.span.kind": "CHAIN", "input.value": question, "output.value": "(see the LLM span)"}
        llm = llm_attributes(n)
        llm["input.value"], llm["output.value"] = question, answer
        tool = {"openinference.span.kind": "TOOL", "input.value": "lookup", "output.value": "{}"}
        if SCOPE["name"] == "SESSION":
            for attributes in (chain, llm, tool):
                attributes["session.id"] = f"session-{n + 1}"
        spans.append(span_pb(trace_id=trace_id, span_id=root, name="agent", start_ns=start_ns, attributes=chain))
        for k, attributes in ((2, llm), (3, tool)):
            spans.append(
                span_pb(
                    trace_id=trace_id,
                    span_id=f"{3 * n + k:016x}",
                    parent_id=root,
                    name=attributes["openinference.span.kind"].lower(),
                    start_ns=start_ns + k,
                    attributes=attributes,
                )
            )
    return spans


def span_batch(pairs: list[tuple[str, str]], offset: int, start: datetime) -> list:
    if SCOPE["name"] in ("TRACE", "SESSION"):
        return trace_batch(pairs, offset, start)
    spans = []
    for i, (question, answer) in enumerate(pairs):
        attributes = llm_attributes(offset + i)
        attributes["input.value"] = question
        attributes["output.value"] = answer
        attributes["llm.input_messages.1.message.content"] = question
        attributes["llm.output_messages.0.message.content"] = answer
        start_ns = int((start + timedelta(milliseconds=offset + i)).timestamp() * 1e9)
        spans.append(span_pb(start_ns=start_ns, attributes=attributes))
    return spans


class Client:
    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=120)

    def ok(self, response: httpx.Response, status: int = 200) -> dict:
        if response.status_code != status:
            raise RuntimeError(
                f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
            )
        return response.json() if response.content else {}

    def export(self, space_id: str, project: str, spans: list) -> None:
        response = self.http.post(
            "/v1/traces",
            content=request_pb(spans, project),
            headers={"Content-Type": "application/x-protobuf", "authorization": API_KEY, "arize-space-id": space_id},
        )
        if response.status_code != 200:
            raise RuntimeError(f"OTLP export: {response.status_code} {response.text[:500]}")

    def project_id(self, space_id: str, name: str) -> str:
        projects = self.ok(self.http.get("/v2/projects", params={"space_id": space_id, "name": name}))["projects"]
        return next(p["id"] for p in projects if p["name"] == name)

    def setup(self, judge_url: str) -> tuple[str, str]:
        spaces = self.ok(self.http.get("/v2/spaces", params={"name": "default"}))["spaces"]
        org = next(s["organization_id"] for s in spaces if s["name"] == "default")
        space = self.ok(
            self.http.post("/v2/spaces", json={"name": f"bench-{time.time_ns()}", "organization_id": org}), 201
        )
        integration = self.ok(
            self.http.post(
                "/v2/ai-integrations",
                json={
                    "name": f"judge-{time.time_ns()}",
                    "provider": "OPEN_AI",
                    "api_key": "sk-bench",
                    "base_url": judge_url,
                    "scopings": [{"space_id": space["id"]}],
                },
            ),
            201,
        )
        evaluator = self.ok(
            self.http.post(
                "/v2/evaluators",
                json={
                    "space_id": space["id"],
                    "name": f"correctness-{time.time_ns()}",
                    "type": "TEMPLATE",
                    "version": {
                        "commit_message": "bench",
                        "template_config": {
                            "name": "correctness",
                            "template": TEMPLATE,
                            "include_explanations": False,
                            "use_function_calling": True,
                            "classification_choices": CHOICES,
                            "data_granularity": SCOPE["name"],
                            "llm_config": {
                                "ai_integration_id": integration["id"],
                                "model_name": "judge-1",
                                "invocation_parameters": {"temperature": 0},
                                "provider_parameters": {},
                            },
                        },
                    },
                },
            ),
            201,
        )
        return space["id"], evaluator["id"]

    def task(self, project_id: str, evaluator_id: str, *, continuous: bool = False) -> str:
        body: dict = {
            "name": f"bench-{time.time_ns()}",
            "type": "TEMPLATE_EVALUATION",
            "project_id": project_id,
            "is_continuous": continuous,
            "evaluators": [{"evaluator_id": evaluator_id}],
        }
        if SCOPE["name"] in ("TRACE", "SESSION"):
            body["query_filters"] = TRACE_FILTERS
            body["evaluators"][0]["query_mappings"] = TRACE_MAPPINGS
        return self.ok(self.http.post("/v2/tasks", json=body), 201)["id"]

    def trigger(self, task_id: str, since: datetime) -> str:
        return self.ok(
            self.http.post(f"/v2/tasks/{task_id}/trigger", json={"data_start_time": since.isoformat()}), 201
        )["id"]

    def run(self, run_id: str) -> dict:
        return self.ok(self.http.get(f"/v2/task-runs/{run_id}"))


def seed(client: Client, space_id: str, project: str, pairs: list[tuple[str, str]], start: datetime) -> None:
    for offset in range(0, len(pairs), 500):
        client.export(space_id, project, span_batch(pairs[offset : offset + 500], offset, start))


# ---------------------------------------------------------------- scenarios


def backfill(
    database: str,
    url: str,
    work: Path,
    client: Client,
    space_id: str,
    evaluator_id: str,
    project_id: str,
    api: Proc,
    workers: int,
    expected: int,
    tick: float,
) -> Backfill:
    task_id = client.task(project_id, evaluator_id)
    procs = start_workers(url, work, workers, tick)
    try:
        cpu0 = [p.cpu for p in procs]
        api0 = api.cpu
        t0 = time.perf_counter()
        run_id = client.trigger(task_id, datetime.now(UTC) - timedelta(days=1))
        deadline = time.monotonic() + 600
        while True:
            run = client.run(run_id)
            if run["status"].upper() in ("COMPLETED", "FAILED", "CANCELLED") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        wall = time.perf_counter() - t0
        engine_cpu = sum(p.cpu - c for p, c in zip(procs, cpu0, strict=True))
        api_cpu = api.cpu - api0
    finally:
        for proc in procs:
            proc.stop()
    if run["status"].upper() != "COMPLETED" or run["num_successes"] != expected:
        print(
            f"bench: WARNING run ended {run['status']} with {run['num_successes']}/{expected} successes, "
            f"{run['num_errors']} errors: {run.get('failure_reason')}",
            file=sys.stderr,
        )
    return Backfill(database, workers, run["num_successes"], run["num_errors"], wall, engine_cpu, api_cpu)


def continuous(
    database: str,
    url: str,
    work: Path,
    client: Client,
    space_id: str,
    evaluator_id: str,
    rate: float,
    seconds: float,
    tick: float,
) -> Continuous:
    project = f"live-{time.time_ns()}"
    client.export(space_id, project, span_batch(rows(1, seed=1), 0, datetime.now(UTC)))
    project_id = client.project_id(space_id, project)
    client.task(project_id, evaluator_id, continuous=True)
    procs = start_workers(url, work, 1, tick)
    sent: dict[str, float] = {}
    try:
        time.sleep(2 * tick + 0.5)  # the worker has opened the task's cursor
        pairs = rows(int(rate * seconds), seed=11)
        per_tick, interval = max(1, int(rate / 10)), 0.1
        t_next = time.perf_counter()
        for offset in range(0, len(pairs), per_tick):
            spans = span_batch(pairs[offset : offset + per_tick], offset, datetime.now(UTC))
            now = datetime.now(UTC).timestamp()
            for span in spans:
                sent[span.span_id.hex()] = now
            client.export(space_id, project, spans)
            t_next += interval
            time.sleep(max(0.0, t_next - time.perf_counter()))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            results = asyncio.run(latencies(url, project_id))
            if len([r for r in results if r[0] in sent]) >= len(sent):
                break
            time.sleep(0.5)
    finally:
        for proc in procs:
            proc.stop()
    received = sorted(stored - ingested for span_id, ingested, stored in results if span_id in sent)
    from_send = sorted(stored - sent[span_id] for span_id, _, stored in results if span_id in sent)
    if len(received) < len(sent):
        print(f"bench: WARNING only {len(received)}/{len(sent)} live spans were evaluated", file=sys.stderr)
    return Continuous(
        database, len(received), rate, pct(received, 50), pct(received, 99), pct(from_send, 50), pct(from_send, 99)
    )


async def latencies(url: str, project_id: str) -> list[tuple[str, float, float]]:
    """(span_id, ingested_at, evaluation created_at) for the project's evaluated spans."""
    from sqlalchemy import select

    from evalplane.core.ids import Kind, decode_id
    from evalplane.db.engine import Database
    from evalplane.db.models import Span, SpanEvaluation
    from evalplane.settings import Settings

    db = Database(Settings(database_url=url).resolved_database_url(), pool_size=1)
    try:
        async with db.session() as session:
            rows_ = (
                await session.execute(
                    select(Span.span_id, Span.ingested_at, SpanEvaluation.created_at)
                    .join(SpanEvaluation, SpanEvaluation.span_row_id == Span.id)
                    .where(Span.project_id == decode_id(Kind.PROJECT, project_id))
                )
            ).all()
    finally:
        await db.dispose()
    return [(span_id, ingested.timestamp(), created.timestamp()) for span_id, ingested, created in rows_]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def phoenix(pairs: list[tuple[str, str]], judge_url: str, work: Path, concurrency: int) -> dict | None:
    python = BENCH_VENV / "bin" / "python"
    if not python.exists():
        install = (
            "python3.11 -m venv .bench-venv && .bench-venv/bin/pip install arize-phoenix-evals==3.9.4 openai pandas"
        )
        print(f"bench: {python} missing; install with: {install}", file=sys.stderr)
        return None
    path = work / "rows.json"
    path.write_text(json.dumps(pairs))
    out = subprocess.run(
        [
            str(python),
            str(HERE / "engine_phoenix.py"),
            "--rows",
            str(path),
            "--base-url",
            judge_url,
            "--concurrency",
            str(concurrency),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    path.unlink()
    if out.returncode != 0:
        print(f"bench: phoenix-evals failed:\n{out.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- report


def table(report: Report, args: argparse.Namespace) -> str:
    lines = [
        (
            f"Judge: tests/llm_server.py, {args.judge_processes} processes, {args.latency_ms} ms per answer; "
            f"its own ceiling {report.judge.get('rps', 0):.0f} requests/s at {report.judge.get('connections')} connections."
        ),
        "",
        "| backfill | workers | evaluations | errors | wall s | evaluations/s | engine CPU ms/eval | API CPU s | vs phoenix-evals |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    phoenix_rate = None
    if report.phoenix and report.phoenix["wall_s"]:
        phoenix_rate = report.phoenix["evaluations"] / report.phoenix["wall_s"]
    for b in report.backfills:
        ratio = f"{b.rate / phoenix_rate:.1f}×" if phoenix_rate else "n/a"
        lines.append(
            f"| {b.database} | {b.workers} | {b.evaluations} | {b.errors} | {b.wall_s:.1f} | {b.rate:.0f} | "
            f"{b.cpu_ms:.2f} | {b.api_cpu_s:.1f} | {ratio} |"
        )
    if report.phoenix:
        p = report.phoenix
        lines.append(
            f"| phoenix-evals {p.get('version', '')} (concurrency {p['concurrency']}) | – | {p['evaluations']} | "
            f"{p['errors']} | {p['wall_s']:.1f} | {phoenix_rate:.0f} | "
            f"{1000 * p['cpu_s'] / max(1, p['evaluations']):.2f} (whole process) | – | 1.0× |"
        )
    if report.continuous:
        lines += [
            "",
            "| continuous | spans | rate/s | received → stored p50 s | p99 s | sent → stored p50 s | p99 s |",
            "|---|---|---|---|---|---|---|",
        ]
        for c in report.continuous:
            lines.append(
                f"| {c.database} | {c.spans} | {c.rate:.0f} | {c.received_p50:.2f} | {c.received_p99:.2f} | "
                f"{c.sent_p50:.2f} | {c.sent_p99:.2f} |"
            )
    return "\n".join(lines)


def write_readme(text: str, command: str, load: tuple[str, str]) -> None:
    block = "\n".join(
        [
            START,
            (
                f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()} with {os.cpu_count()} CPUs, "
                f"Python {platform.python_version()}; load average before {load[0]}, after {load[1]}."
            ),
            "",
            "```",
            command,
            "```",
            "",
            text,
            END,
        ]
    )
    readme = README.read_text()
    if START in readme and END in readme:
        readme = readme[: readme.index(START)] + block + readme[readme.index(END) + len(END) :]
    else:
        readme = readme.rstrip() + "\n\n" + block + "\n"
    README.write_text(readme)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument(
        "--configs", default="sqlite:1,postgres:1,postgres:2", help="database:workers pairs for the backfill"
    )
    parser.add_argument("--judge-processes", type=int, default=2)
    parser.add_argument("--continuous-rate", type=float, default=50.0, help="spans/s sent to a continuous task")
    parser.add_argument("--continuous-seconds", type=float, default=20.0)
    parser.add_argument("--no-continuous", action="store_true")
    parser.add_argument(
        "--tick", type=float, default=1.0, help="the workers' scheduler period (EVALPLANE_TICK_SECONDS)"
    )
    # The same number of calls in flight as one engine process allows (EngineOptions.provider_concurrency).
    parser.add_argument("--phoenix-concurrency", type=int, default=128)
    parser.add_argument("--no-phoenix", action="store_true")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/evalplane-enginebench"))
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument(
        "--scope",
        choices=("span", "trace", "session"),
        default="span",
        help="trace: each row is a 3-span trace, judged per trace; session: each such trace its own session",
    )
    args = parser.parse_args(argv)
    SCOPE["name"] = args.scope.upper()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so every started process is stopped
    work: Path = args.work_dir
    (work / "home").mkdir(parents=True, exist_ok=True)
    configs: dict[str, list[int]] = {}
    for item in args.configs.split(","):
        name, _, count = item.partition(":")
        configs.setdefault(name.strip(), []).append(int(count or 1))
    load_before = loadavg()
    report = Report()
    pairs = rows(args.spans)

    judge_port = free_port()
    judge = Proc(
        [
            sys.executable,
            str(HERE / "engine_judge.py"),
            "serve",
            "--port",
            str(judge_port),
            "--latency-ms",
            str(args.latency_ms),
            "--processes",
            str(args.judge_processes),
        ],
        {},
        work / "judge.log",
        ready="ready",
    )
    judge_url = f"http://127.0.0.1:{judge_port}/v1"
    try:
        probe_command = [
            sys.executable,
            str(HERE / "engine_judge.py"),
            "probe",
            "--port",
            str(judge_port),
            "--connections",
            "256",
            "--seconds",
            "4",
        ]
        for attempt in range(3):
            # The judge's children may still be starting; a failed probe is retried, with its error shown.
            probe = subprocess.run(probe_command, capture_output=True, text=True)
            if probe.returncode == 0:
                break
            print(f"bench: judge probe failed (try {attempt + 1}): {probe.stderr.strip()[-500:]}", flush=True)
            time.sleep(2)
        else:
            raise SystemExit("bench: the judge never answered its probe")
        report.judge = json.loads(probe.stdout)
        print(f"bench: judge ceiling {report.judge['rps']:.0f} requests/s", file=sys.stderr)
        for database, worker_counts in configs.items():
            url = fresh_database(database, work)
            api, base = start_api(url, work)
            try:
                client = Client(base)
                space_id, evaluator_id = client.setup(judge_url)
                t0 = time.perf_counter()
                seed(client, space_id, "backfill", pairs, datetime.now(UTC) - timedelta(hours=2))
                project_id = client.project_id(space_id, "backfill")
                print(
                    f"bench: {database}: {len(pairs)} spans stored over OTLP in {time.perf_counter() - t0:.1f}s",
                    file=sys.stderr,
                )
                for workers in worker_counts:
                    result = backfill(
                        database,
                        url,
                        work,
                        client,
                        space_id,
                        evaluator_id,
                        project_id,
                        api,
                        workers,
                        len(pairs),
                        args.tick,
                    )
                    report.backfills.append(result)
                    print(
                        f"bench: {database} x{workers}: {result.rate:.0f} evaluations/s, "
                        f"{result.cpu_ms:.2f} ms engine CPU each",
                        file=sys.stderr,
                    )
                if not args.no_continuous:
                    live = continuous(
                        database,
                        url,
                        work,
                        client,
                        space_id,
                        evaluator_id,
                        args.continuous_rate,
                        args.continuous_seconds,
                        args.tick,
                    )
                    report.continuous.append(live)
                    print(
                        f"bench: {database} continuous p50 {live.received_p50:.2f}s p99 {live.received_p99:.2f}s",
                        file=sys.stderr,
                    )
            finally:
                api.stop()
        if not args.no_phoenix:
            report.phoenix = phoenix(pairs, judge_url, work, args.phoenix_concurrency)
            if report.phoenix:
                version = subprocess.run(
                    [str(BENCH_VENV / "bin" / "python"), "-c", "import phoenix.evals as e; print(e.__version__)"],
                    capture_output=True,
                    text=True,
                    check=False,
                ).stdout.strip()
                report.phoenix["version"] = version
    finally:
        judge.stop()
        if "postgres" in configs:
            pg_execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        for suffix in ("", "-wal", "-shm"):
            Path(str(work / "engine.db") + suffix).unlink(missing_ok=True)
    text = table(report, args)
    print(text)
    if not args.no_readme:
        command = ".venv/bin/python bench/engine.py " + " ".join(
            shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
        )
        write_readme(text, command.strip(), (load_before, loadavg()))
        print(f"bench: results written to {README.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
