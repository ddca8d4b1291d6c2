"""Benchmark `GET /v2/tasks` on SQLite and PostgreSQL with 100,000 tasks in 200 spaces.

For each database it seeds (or reuses) a database, starts `evalplane serve` as its own
process with the server's normal defaults, and measures five scenarios from other processes:

  * latency: one client, sequential keep-alive requests (p50 / p99 after a warm-up);
  * throughput: `wrk` with several concurrent connections (requests/s after a warm-up).

Then it prints a table and writes it into bench/README.md with the command that made it.

    .venv/bin/python bench/list_tasks.py                 # both databases, full size
    .venv/bin/python bench/list_tasks.py --databases sqlite --tasks 5000 --spaces 20 --quick

The seeded SQLite file (under --work-dir) and the PostgreSQL database (`evalplane_bench`)
are kept for the next run unless --cleanup is given.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README = HERE / "README.md"
API_KEY = "ep_bench_admin_key_0000"  # a local, throw-away bench database's admin key
PG_ADMIN = os.environ.get("EVALPLANE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = "evalplane_bench"
NAME_QUERY = "toxicity"  # one topic of twenty: about 5% of task names contain it
START, END = "<!-- results:start -->", "<!-- results:end -->"


@dataclass
class Scenario:
    name: str
    path: str


@dataclass
class Result:
    database: str
    processes: int
    scenario: str
    p50_ms: float
    p99_ms: float
    rps: float
    cpu_ms: float  # server CPU time (all its processes) per request served under load
    errors: int
    statuses: str


# ---------------------------------------------------------------- server CPU time (Linux /proc)

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_tree(pid: int) -> list[int]:
    found = [pid]
    try:
        for thread in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{thread}/children") as f:
                for child in f.read().split():
                    found.extend(process_tree(int(child)))
    except OSError:
        pass
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its live descendants (the API worker processes)."""
    total = 0.0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
        except (OSError, IndexError, ValueError):
            pass
    return total


# ---------------------------------------------------------------- load generators (child processes)


def latency_child(port: int, path: str, requests: int, warmup: int) -> None:
    """Sequential keep-alive requests from one client; prints one JSON line of milliseconds."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    samples: list[float] = []
    statuses: dict[int, int] = {}
    for i in range(warmup + requests):
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        elapsed = (time.perf_counter() - t0) * 1000
        if i >= warmup:
            samples.append(elapsed)
            statuses[response.status] = statuses.get(response.status, 0) + 1
    conn.close()
    print(json.dumps({"samples": samples, "statuses": statuses}))


def closed_loop_child(port: int, path: str, seconds: float, out: Path) -> None:
    """Fallback load when wrk is unavailable: back-to-back requests on one connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    done, errors = 0, 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        done += 1
        errors += response.status != 200
    out.write_text(json.dumps({"done": done, "errors": errors}))


# ---------------------------------------------------------------- orchestration


def ensure_wrk() -> str | None:
    path = shutil.which("wrk")
    if path:
        return path
    print("bench: wrk not found; trying `apt-get install -y wrk`", file=sys.stderr)
    try:
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"bench: could not install wrk ({exc}); using the Python closed-loop generator", file=sys.stderr)
        return None
    return shutil.which("wrk")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_url(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def psql(sql: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def pg_exists(name: str) -> bool:
    import asyncio

    import asyncpg

    async def run() -> bool:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
        finally:
            await conn.close()

    return asyncio.run(run())


def prepare_database(backend: str, work: Path, tasks: int, spaces: int, fresh: bool) -> str:
    """Create and seed (or reuse) the bench database; return its URL."""
    if backend == "sqlite":
        path = work / "sqlite" / "evalplane.db"
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        if fresh:
            psql(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        if not pg_exists(PG_DB):
            psql(f'CREATE DATABASE "{PG_DB}"')
        url = pg_url(PG_DB)
    t0 = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable,
            str(HERE / "seed_tasks.py"),
            "--database-url",
            url,
            "--api-key",
            API_KEY,
            "--tasks",
            str(tasks),
            "--spaces",
            str(spaces),
            "--home",
            str(work / "home"),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    print(f"bench: {backend}: {out.stdout.strip()} ({time.perf_counter() - t0:.1f}s)", file=sys.stderr)
    return url


class ServerProcess:
    def __init__(self, url: str, work: Path, workers: int = 1) -> None:
        self.port = free_port()
        self.log = work / f"server-{self.port}.log"
        env = {
            **os.environ,
            "EVALPLANE_HOME": str(work / "home"),
            "EVALPLANE_DATABASE_URL": url,
            "EVALPLANE_BOOTSTRAP_API_KEY": API_KEY,
            "EVALPLANE_LOG_LEVEL": "warning",
        }
        evalplane = Path(sys.executable).with_name("evalplane")
        command = [str(evalplane)] if evalplane.exists() else [sys.executable, "-m", "evalplane.cli"]
        self.process = subprocess.Popen(
            [*command, "serve", "--port", str(self.port), "--workers", str(workers)],
            env=env,
            stdout=open(self.log, "ab"),
            stderr=subprocess.STDOUT,
            cwd=ROOT,  # noqa: SIM115
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()[-3000:]}")
            try:
                status, _ = self.get("/readyz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not become ready")

    def get(self, path: str) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {API_KEY}"})
            response = conn.getresponse()
            body = response.read()
            return response.status, (json.loads(body) if body else {})
        finally:
            conn.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def scenarios(server: ServerProcess, spaces: int) -> list[Scenario]:
    space_name = f"bench-space-{spaces // 2:03d}"  # bench-space-100 of 200
    status, body = server.get("/v2/spaces?" + urllib.parse.urlencode({"name": space_name}))
    assert status == 200, body
    space_id = next(s["id"] for s in body["spaces"] if s["name"] == space_name)
    # Page 100: follow next_cursor 99 times from the first page.
    path = "/v2/tasks"
    for _ in range(99):
        status, body = server.get(path)
        assert status == 200 and body["pagination"]["has_more"], body
        path = "/v2/tasks?" + urllib.parse.urlencode({"cursor": body["pagination"]["next_cursor"]})
    found = [
        Scenario("no filter (page 1)", "/v2/tasks"),
        Scenario("space_id filter", "/v2/tasks?" + urllib.parse.urlencode({"space_id": space_id})),
        Scenario(f"name substring '{NAME_QUERY}'", "/v2/tasks?" + urllib.parse.urlencode({"name": NAME_QUERY})),
        Scenario("type=run_experiment", "/v2/tasks?type=run_experiment"),
        Scenario("page 100 (no filter)", path),
    ]
    for scenario in found:
        status, body = server.get(scenario.path)
        assert status == 200 and len(body["tasks"]) == 50, (scenario, status, str(body)[:300])
    return found


def measure_latency(port: int, path: str, requests: int, warmup: int) -> tuple[float, float, dict]:
    out = subprocess.run(
        [sys.executable, __file__, "_latency", str(port), path, str(requests), str(warmup)],
        check=True,
        capture_output=True,
        text=True,
    )
    data = json.loads(out.stdout)
    samples = sorted(data["samples"])
    p99 = samples[min(len(samples) - 1, int(round(0.99 * (len(samples) - 1))))]
    return statistics.median(samples), p99, data["statuses"]


def measure_throughput(
    wrk: str | None, server: ServerProcess, path: str, seconds: float, connections: int, threads: int, work: Path
) -> tuple[float, float, int]:
    """Requests/s, server CPU milliseconds per request, and non-200 answers under concurrent load."""
    url = f"http://127.0.0.1:{server.port}{path}"
    pid = server.process.pid
    if wrk:
        base = [wrk, "-t", str(threads), "-c", str(connections), "-H", f"Authorization: Bearer {API_KEY}"]
        subprocess.run([*base, "-d", "2s", url], check=True, capture_output=True)  # warm-up
        cpu_before = cpu_seconds(pid)
        out = subprocess.run([*base, "-d", f"{seconds:g}s", url], check=True, capture_output=True, text=True).stdout
        cpu = cpu_seconds(pid) - cpu_before
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        served = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        errors = int(bad.group(1)) if bad else 0
        socket_errors = re.search(r"Socket errors:.*", out)
        if socket_errors:
            print(f"bench: wrk {socket_errors.group(0)}", file=sys.stderr)
        return rps, 1000 * cpu / max(served, 1), errors
    results, cpu = [], 0.0
    for phase_seconds in (2.0, seconds):
        outs = [work / f"load-{i}.json" for i in range(connections)]
        cpu_before = cpu_seconds(pid)
        children = [
            subprocess.Popen([sys.executable, __file__, "_load", str(server.port), path, str(phase_seconds), str(o)])
            for o in outs
        ]
        for child in children:
            child.wait()
        cpu = cpu_seconds(pid) - cpu_before
        results = [json.loads(o.read_text()) for o in outs]
    served = sum(r["done"] for r in results)
    return served / seconds, 1000 * cpu / max(served, 1), sum(r["errors"] for r in results)


def run_backend(backend: str, args: argparse.Namespace, wrk: str | None) -> list[Result]:
    url = prepare_database(backend, args.work_dir, args.tasks, args.spaces, args.fresh)
    results = []
    try:
        for workers in args.workers:
            server = ServerProcess(url, args.work_dir, workers)
            try:
                for scenario in scenarios(server, args.spaces):
                    p50, p99, statuses = measure_latency(server.port, scenario.path, args.requests, args.warmup)
                    rps, cpu_ms, errors = measure_throughput(
                        wrk, server, scenario.path, args.duration, args.connections, args.threads, args.work_dir
                    )
                    status_text = ",".join(f"{k}:{v}" for k, v in sorted(statuses.items()))
                    errors += sum(v for k, v in statuses.items() if str(k) != "200")
                    result = Result(backend, workers, scenario.name, p50, p99, rps, cpu_ms, errors, status_text)
                    print(
                        f"bench: {backend:8s} x{workers} {scenario.name:28s} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  "
                        f"{rps:7.0f} req/s  {cpu_ms:5.2f} ms CPU/req  errors {errors}",
                        file=sys.stderr,
                    )
                    results.append(result)
            finally:
                server.stop()
    finally:
        if args.cleanup:
            if backend == "postgres":
                psql(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
            else:
                shutil.rmtree(args.work_dir / "sqlite", ignore_errors=True)
    return results


def table(results: list[Result]) -> str:
    lines = [
        "| database | API processes | scenario | p50 ms (1 client) | p99 ms (1 client) | requests/s (concurrent) "
        "| server CPU ms / request | non-200 |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.database} | {r.processes} | {r.scenario} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.rps:.0f} "
            f"| {r.cpu_ms:.2f} | {r.errors} |"
        )
    return "\n".join(lines)


def write_readme(
    results: list[Result], args: argparse.Namespace, command: str, load_before: str, load_after: str, wrk: str | None
) -> None:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "src"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    generator = (
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s after a 2 s warm-up"
        if wrk
        else f"{args.connections} Python closed-loop processes for {args.duration:g}s after a 2 s warm-up"
    )
    block = "\n".join(
        [
            START,
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC at commit `{commit}`{' (+ uncommitted src changes)' if dirty else ''}, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}; load average before the run: {load_before}, after it: {load_after}.",
            "",
            "```",
            command,
            "```",
            "",
            f"{args.tasks:,} tasks in {args.spaces} spaces; default page size (50). Latency: one client, "
            f"{args.requests} sequential keep-alive requests after {args.warmup} warm-up requests. "
            f"Throughput: {generator}; server CPU per request is the user + system time of the server's "
            "processes over that run divided by the requests served (the figure to trust on a shared machine).",
            "",
            table(results),
            "",
            args.note or "",
            END,
        ]
    )
    text = README.read_text() if README.exists() else f"# GET /v2/tasks benchmark\n\n{START}\n{END}\n"
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    README.write_text(text)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_latency":
        latency_child(int(argv[1]), argv[2], int(argv[3]), int(argv[4]))
        return
    if argv and argv[0] == "_load":
        closed_loop_child(int(argv[1]), argv[2], float(argv[3]), Path(argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--spaces", type=int, default=200)
    parser.add_argument("--requests", type=int, default=500, help="timed sequential requests per scenario")
    parser.add_argument("--warmup", type=int, default=100, help="untimed requests before those")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of concurrent load per scenario")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--workers", default="1", help="API processes (`evalplane serve --workers`); a list such as 1,2 measures each"
    )
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/evalplane-bench"))
    parser.add_argument("--fresh", action="store_true", help="drop and reseed the bench databases")
    parser.add_argument("--cleanup", action="store_true", help="drop the bench databases afterwards")
    parser.add_argument("--quick", action="store_true", help="smoke run: few requests, 2 s of load")
    parser.add_argument("--no-readme", action="store_true", help="print only; leave bench/README.md alone")
    parser.add_argument("--note", default="", help="a line to record under the table (e.g. machine conditions)")
    args = parser.parse_args(argv)
    args.workers = [int(w) for w in str(args.workers).split(",") if w.strip()]
    if args.quick:
        args.requests, args.warmup, args.duration = 100, 20, 2.0
    args.work_dir.mkdir(parents=True, exist_ok=True)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    wrk = ensure_wrk()
    results: list[Result] = []
    for backend in [d.strip() for d in args.databases.split(",") if d.strip()]:
        results.extend(run_backend(backend, args, wrk))
    print(table(results))
    if not args.no_readme:
        command = "python bench/list_tasks.py " + shlex.join(argv)
        load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
        write_readme(results, args, command.strip(), load_before, load_after, wrk)
        print(f"bench: results written to {README.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
