"""Benchmark OTLP/HTTP ingestion (`POST /v1/traces`): evalplane on SQLite and PostgreSQL
against Phoenix (`arize-phoenix`, its own SQLite) on the same machine, in the same run.

    .venv/bin/python bench/ingest.py                       # all three targets, README updated
    .venv/bin/python bench/ingest.py --targets evalplane-sqlite --rounds 3 --no-readme

What it does:

1. Installs the peers listed in ``bench/requirements-peers.txt`` into their own venv
   (``.bench-venv``, never the test env) unless they are already there.
2. Pre-generates ``rounds × batches`` protobuf requests of 1,000 realistic LLM spans each
   (``bench/ingest_payloads.py``, ~2 KB of attributes a span) and writes them to a temp dir.
   Every target receives exactly the same bytes.
3. For each target: starts the server as its own process on a fresh database, sends a
   warm-up batch, then for each round sends that round's batches from a separate sender
   process over ``--connections`` keep-alive connections. A round ends when every batch has
   been answered 200 *and* every span is in the database: evalplane answers only after the
   commit, Phoenix queues spans and inserts them in the background, so for Phoenix the
   clock runs until its table holds them all. Spans/s is the median over the rounds.
4. Verifies that the database holds exactly the spans sent (no loss, no duplicates), and
   reads the server's peak RSS (VmHWM of the server process and its children).
5. Prints a table with the ratio to Phoenix and writes it into bench/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README = HERE / "README.md"
PEERS = HERE / "requirements-peers.txt"
BENCH_VENV = ROOT / ".bench-venv"
API_KEY = "ep_bench_admin_key_0000"  # a throw-away bench database's admin key
PG_ADMIN = os.environ.get("EVALPLANE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = "evalplane_ingest_bench"
TARGETS = ("evalplane-sqlite", "evalplane-postgres", "phoenix")


@dataclass
class Result:
    target: str
    rounds: list[float]  # spans/s per round (all answered 200 and stored)
    answered: list[float]  # spans/s per round counting only until the last 200
    peak_rss_mb: float
    cpu_ms_per_1k: float  # server process CPU per 1,000 spans stored (PostgreSQL's own processes not included)
    stored: int
    expected: int

    @property
    def median(self) -> float:
        return statistics.median(self.rounds)


# ---------------------------------------------------------------- sender (a child process)


def sender_child(port: int, files: list[str], connections: int, headers_json: str) -> None:
    """Send the payload files over ``connections`` keep-alive connections; print one JSON line."""
    headers = {"Content-Type": "application/x-protobuf", **json.loads(headers_json)}
    payloads = [Path(f).read_bytes() for f in files]
    queue = list(range(len(payloads)))
    lock = threading.Lock()
    statuses: dict[str, int] = {}
    failures: list[str] = []

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        while True:
            with lock:
                if not queue:
                    break
                i = queue.pop(0)
            conn.request("POST", "/v1/traces", body=payloads[i], headers=headers)
            response = conn.getresponse()
            body = response.read()
            with lock:
                statuses[str(response.status)] = statuses.get(str(response.status), 0) + 1
                if response.status != 200 and len(failures) < 3:
                    failures.append(body[:300].decode(errors="replace"))
        conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"seconds": time.perf_counter() - t0, "statuses": statuses, "failures": failures}))


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(process: subprocess.Popen, port: int, path: str, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on {port} did not become ready:\n{log.read_text()[-3000:]}")


def peak_rss_mb(pid: int) -> float:
    """VmHWM of the process and its children (the server may fork helpers)."""
    total = 0
    pids = [pid]
    try:
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout.split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process (all its threads) and its children so far."""
    total = 0.0
    pids = [pid]
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout.split()
    pids += [int(c) for c in children]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def pg(sql: str, fetch: bool = False, db: str | None = None) -> object:
    import asyncio

    import asyncpg

    url = PG_ADMIN if db is None else PG_ADMIN.rsplit("/", 1)[0] + "/" + db

    async def run() -> object:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval(sql) if fetch else await conn.execute(sql)
        finally:
            await conn.close()

    return asyncio.run(run())


class Target:
    name: str
    headers: dict[str, str]
    process: subprocess.Popen
    port: int

    def count(self) -> int:
        raise NotImplementedError

    def close(self) -> None:
        stop(self.process)


class Evalplane(Target):
    """``evalplane serve`` on a fresh bench database, or on ``database_url`` when given."""

    def __init__(self, backend: str, work: Path, database_url: str | None = None) -> None:
        self.name = f"evalplane-{backend}"
        self.backend = backend
        self.port = free_port()
        self.headers = {"Authorization": f"Bearer {API_KEY}"}
        if backend == "sqlite":
            url = database_url or f"sqlite:///{work / 'evalplane.db'}"
            self.db_path = Path(url.removeprefix("sqlite:///"))
        else:
            if database_url is None:
                pg(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
                pg(f'CREATE DATABASE "{PG_DB}"')
            url = database_url or PG_ADMIN.rsplit("/", 1)[0] + "/" + PG_DB
            self.pg_db = url.rsplit("/", 1)[1]
        log = work / f"{self.name}.log"
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
            [*command, "serve", "--port", str(self.port)],
            env=env,
            stdout=open(log, "ab"),
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )  # noqa: SIM115
        wait_ready(self.process, self.port, "/readyz", log)

    def request(self, method: str, path: str) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, headers=self.headers)
            response = conn.getresponse()
            body = response.read()
            return response.status, (json.loads(body) if body else {})
        finally:
            conn.close()

    def count(self) -> int:
        if self.backend == "sqlite":
            with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30) as conn:
                return conn.execute("SELECT count(*) FROM spans").fetchone()[0]
        return int(pg("SELECT count(*) FROM spans", fetch=True, db=self.pg_db))  # type: ignore[arg-type]

    def close(self, drop: bool = True) -> None:
        super().close()
        if self.backend == "postgres" and drop:
            pg(f'DROP DATABASE IF EXISTS "{self.pg_db}" WITH (FORCE)')


class Phoenix(Target):
    name = "phoenix"

    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.grpc_port = free_port()  # its OTLP/gRPC receiver (bench/otlp_grpc.py sends there)
        self.headers = {}
        self.dir = work / "phoenix"
        self.dir.mkdir()
        log = work / "phoenix.log"
        env = {
            **os.environ,
            "PHOENIX_WORKING_DIR": str(self.dir),
            "PHOENIX_PORT": str(self.port),
            "PHOENIX_GRPC_PORT": str(self.grpc_port),
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_TELEMETRY_ENABLED": "false",
        }
        self.process = subprocess.Popen(
            [str(BENCH_VENV / "bin" / "phoenix"), "serve"],
            env=env,
            stdout=open(log, "ab"),
            stderr=subprocess.STDOUT,
            cwd=self.dir,
        )  # noqa: SIM115
        wait_ready(self.process, self.port, "/healthz", log, timeout=240)

    def count(self) -> int:
        path = self.dir / "phoenix.db"
        if not path.exists():
            return 0
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as conn:
                return conn.execute("SELECT count(*) FROM spans").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


# ---------------------------------------------------------------- orchestration


def ensure_peers() -> None:
    if (BENCH_VENV / "bin" / "phoenix").exists():
        return
    print(f"bench: installing peers from {PEERS.name} into {BENCH_VENV.name} (~850 MB, once)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    subprocess.run([str(BENCH_VENV / "bin" / "pip"), "install", "-q", "-r", str(PEERS)], check=True)


def send(target: Target, files: list[Path], connections: int) -> tuple[float, dict]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "_send",
            str(target.port),
            str(connections),
            json.dumps(target.headers),
            *map(str, files),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    data = json.loads(out.stdout)
    return data["seconds"], data


def wait_count(target: Target, expected: int, timeout: float) -> float:
    """Seconds until the target's database holds ``expected`` spans (-1 if it never does)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if target.count() >= expected:
            return time.perf_counter() - t0
        time.sleep(0.05)
    return -1.0


def run_target(name: str, rounds: list[list[Path]], warmup: Path, args: argparse.Namespace, work: Path) -> Result:
    target: Target
    if name == "phoenix":
        target = Phoenix(work)
    else:
        target = Evalplane(name.removeprefix("evalplane-"), work)
    try:
        per = args.spans_per_batch
        _, data = send(target, [warmup], 1)
        if data["statuses"] != {"200": 1}:
            raise RuntimeError(f"{name}: warm-up batch failed: {data}")
        expected = per
        if wait_count(target, expected, 120) < 0:
            raise RuntimeError(f"{name}: the warm-up batch never appeared in the database")
        stored_rates, answered_rates = [], []
        cpu_before = cpu_seconds(target.process.pid)
        for i, files in enumerate(rounds):
            answered_s, data = send(target, files, args.connections)
            if data["statuses"] != {"200": len(files)}:
                raise RuntimeError(f"{name}: round {i}: {data}")
            expected += per * len(files)
            lag = wait_count(target, expected, 300)
            if lag < 0:
                raise RuntimeError(f"{name}: round {i}: only {target.count()} of {expected} spans stored")
            spans = per * len(files)
            stored_rates.append(spans / (answered_s + lag))
            answered_rates.append(spans / answered_s)
            print(
                f"bench: {name:19s} round {i + 1}: {stored_rates[-1]:8.0f} spans/s stored "
                f"({answered_rates[-1]:.0f} spans/s answered)",
                file=sys.stderr,
            )
        cpu_ms_per_1k = (cpu_seconds(target.process.pid) - cpu_before) * 1000 / (expected - per) * 1000
        # Resend the first round's batches: nothing may be inserted twice.
        if not args.no_resend:
            _, data = send(target, rounds[0], args.connections)
            if data["statuses"] != {"200": len(rounds[0])}:
                raise RuntimeError(f"{name}: resend: {data}")
            time.sleep(2 if name == "phoenix" else 0)
        stored = target.count()
        rss = peak_rss_mb(target.process.pid)
        return Result(name, stored_rates, answered_rates, rss, cpu_ms_per_1k, stored, expected)
    finally:
        target.close()


def table(results: list[Result]) -> str:
    phoenix = next((r for r in results if r.target == "phoenix"), None)
    lines = [
        "| target | spans/s stored (median) | rounds (min–max) | spans/s answered (median) | × Phoenix | "
        "server CPU ms / 1k spans | peak RSS MB | stored / sent |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ratio = f"{r.median / phoenix.median:.1f}×" if phoenix and r is not phoenix else "—"
        lines.append(
            f"| {r.target} | {r.median:,.0f} | {min(r.rounds):,.0f}–{max(r.rounds):,.0f} | "
            f"{statistics.median(r.answered):,.0f} | {ratio} | {r.cpu_ms_per_1k:,.0f} | {r.peak_rss_mb:,.0f} | "
            f"{r.stored:,} / {r.expected:,} |"
        )
    return "\n".join(lines)


def write_readme(results: list[Result], args: argparse.Namespace, command: str, load: str) -> None:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "src"], capture_output=True, text=True, cwd=ROOT, check=False
    ).stdout.strip()
    phoenix_version = subprocess.run(
        [str(BENCH_VENV / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('arize-phoenix'))"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    start, end = f"<!-- {args.marker}:start -->", f"<!-- {args.marker}:end -->"
    block = "\n".join(
        [
            start,
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC at commit `{commit}`"
            f"{' (+ uncommitted src changes)' if dirty else ''}, {os.cpu_count()} CPUs "
            f"(load average before / after: {load}), Python {platform.python_version()}, "
            f"arize-phoenix {phoenix_version}.",
            "",
            "```",
            command,
            "```",
            "",
            f"{args.rounds} rounds × {args.batches} batches × {args.spans_per_batch:,} spans (~2 KB each) per target, "
            f"{args.connections} connections from one sender process.",
            "",
            table(results),
            "",
            args.note or "",
            end,
        ]
    )
    replace_readme_block(start, end, block)


def replace_readme_block(start: str, end: str, block: str) -> None:
    """Put ``block`` in bench/README.md between its ``start`` and ``end`` markers (appended when absent)."""
    text = README.read_text()
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    README.write_text(text)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_send":
        sender_child(int(argv[1]), argv[4:], int(argv[2]), argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=5, help="batches per round")
    parser.add_argument("--spans-per-batch", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--no-resend", action="store_true", help="skip the resend-changes-nothing check")
    parser.add_argument("--no-readme", action="store_true", help="print only; leave bench/README.md alone")
    parser.add_argument("--note", default="", help="a line to record under the table")
    parser.add_argument(
        "--marker",
        default="ingest",
        help="which results block of bench/README.md to replace (ingest, ingest-sustained)",
    )
    args = parser.parse_args(argv)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if "phoenix" in targets:
        ensure_peers()
    sys.path.insert(0, str(HERE))
    from ingest_payloads import build_batches

    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="evalplane-ingest-bench-") as tmp:
        work = Path(tmp)
        payloads = build_batches(args.rounds * args.batches + 1, args.spans_per_batch)
        files = []
        for i, payload in enumerate(payloads):
            path = work / f"batch-{i:04d}.pb"
            path.write_bytes(payload)
            files.append(path)
        del payloads
        warmup, rest = files[0], files[1:]
        rounds = [rest[i * args.batches : (i + 1) * args.batches] for i in range(args.rounds)]
        for name in targets:
            target_dir = work / name
            target_dir.mkdir()
            result = run_target(name, rounds, warmup, args, target_dir)
            status = "ok" if result.stored == result.expected else "MISMATCH"
            print(
                f"bench: {name}: {result.median:,.0f} spans/s, {result.cpu_ms_per_1k:,.0f} CPU ms / 1k spans, "
                f"peak RSS {result.peak_rss_mb:,.0f} MB, "
                f"stored {result.stored:,} of {result.expected:,} ({status})",
                file=sys.stderr,
            )
            results.append(result)
            shutil.rmtree(target_dir, ignore_errors=True)
    load = load_before + " / " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(table(results))
    if any(r.stored != r.expected for r in results):
        print("bench: some target did not store exactly the spans sent", file=sys.stderr)
    if not args.no_readme:
        write_readme(results, args, ("python bench/ingest.py " + shlex.join(argv)).strip(), load)
        print(f"bench: results written to {README.relative_to(ROOT)}", file=sys.stderr)
    if any(r.stored != r.expected for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
