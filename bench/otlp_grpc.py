"""Benchmark OTLP/gRPC ingestion (``TraceService/Export``) side by side with OTLP/HTTP
(``POST /v1/traces``), on the same server process and the same payloads.

    .venv/bin/python bench/otlp_grpc.py                          # SQLite, README updated
    .venv/bin/python bench/otlp_grpc.py --backends sqlite,postgres --no-readme
    .venv/bin/python bench/otlp_grpc.py --phoenix                # ... and Phoenix's receiver beside it

For each backend: one ``evalplane serve`` on a fresh database; the payloads of
``bench/ingest_payloads.py`` (batches of 1,000 ~2 KB LLM spans, the same bytes for both
transports); then, per round, the round's batches over HTTP and another round's over gRPC
(alternating which goes first), each from a separate sender process over ``--connections``
connections. A transport's round ends when every export has been acknowledged: evalplane
acknowledges only after the commit, and the bench checks afterwards that the table holds
exactly the spans sent (then re-sends a round over gRPC and checks nothing was added).
Spans/s is the median over the rounds. With ``--phoenix``, the gRPC rounds then go to
Phoenix's own OTLP/gRPC receiver (its server from ``.bench-venv``, installed as
``bench/ingest.py`` does), timed until its table holds them (it stores after acknowledging).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README = HERE / "README.md"
sys.path.insert(0, str(HERE))

from ingest import (  # noqa: E402
    API_KEY,
    Evalplane,
    Phoenix,
    cpu_seconds,
    ensure_peers,
    free_port,
    peak_rss_mb,
    replace_readme_block,
)
from ingest import send as send_http  # noqa: E402

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


# ---------------------------------------------------------------- gRPC sender (a child process)


def grpc_sender_child(port: int, files: list[str], connections: int) -> None:
    """Send the payload files as raw Export messages over ``connections`` channels; one JSON line."""
    import grpc

    payloads = [Path(f).read_bytes() for f in files]
    queue = list(range(len(payloads)))
    lock = threading.Lock()
    codes: dict[str, int] = {}
    failures: list[str] = []
    metadata = [("authorization", API_KEY)]
    options = [("grpc.max_send_message_length", 64 * 1024 * 1024)]

    def worker() -> None:
        # A channel each: separate HTTP/2 connections, like separate exporters.
        channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=options + [("grpc.use_local_subchannel_pool", 1)])
        export = channel.unary_unary(EXPORT)
        while True:
            with lock:
                if not queue:
                    break
                i = queue.pop(0)
            try:
                export(payloads[i], metadata=metadata, timeout=300)
                code = "OK"
            except grpc.RpcError as exc:
                code = exc.code().name
                with lock:
                    if len(failures) < 3:
                        failures.append(str(exc.details())[:300])
            with lock:
                codes[code] = codes.get(code, 0) + 1
        channel.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"seconds": time.perf_counter() - t0, "codes": codes, "failures": failures}))


def send_grpc(port: int, files: list[Path], connections: int) -> tuple[float, dict]:
    out = subprocess.run(
        [sys.executable, __file__, "_send_grpc", str(port), str(connections), *map(str, files)],
        check=True,
        capture_output=True,
        text=True,
    )
    data = json.loads(out.stdout)
    return data["seconds"], data


# ---------------------------------------------------------------- the run


@dataclass
class Figures:
    backend: str
    http: list[float] = field(default_factory=list)
    grpc: list[float] = field(default_factory=list)
    http_cpu: list[float] = field(default_factory=list)  # server CPU ms per 1k spans
    grpc_cpu: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    stored: int = 0
    expected: int = 0


def run_backend(backend: str, rounds: list[list[Path]], warmup: Path, args: argparse.Namespace, work: Path) -> Figures:
    grpc_port = free_port()
    os.environ["EVALPLANE_OTLP_GRPC_PORT"] = str(grpc_port)  # the target copies the environment
    os.environ["EVALPLANE_FLIGHT_PORT"] = "0"
    target = Evalplane(backend, work)
    figures = Figures(backend)
    per = args.spans_per_batch
    try:
        _, data = send_grpc(grpc_port, [warmup], 1)
        if data["codes"] != {"OK": 1}:
            raise RuntimeError(f"{backend}: warm-up export failed: {data}")
        expected = per
        pairs = [(rounds[i], rounds[i + 1]) for i in range(0, len(rounds) - 1, 2)]
        for i, (first, second) in enumerate(pairs):
            order = ("http", "grpc") if i % 2 == 0 else ("grpc", "http")
            for transport, files in zip(order, (first, second), strict=True):
                cpu = cpu_seconds(target.process.pid)
                if transport == "http":
                    seconds, data = send_http(target, files, args.connections)
                    ok = data["statuses"] == {"200": len(files)}
                else:
                    seconds, data = send_grpc(grpc_port, files, args.connections)
                    ok = data["codes"] == {"OK": len(files)}
                if not ok:
                    raise RuntimeError(f"{backend} {transport}: {data}")
                spans = per * len(files)
                expected += spans
                cpu_ms = (cpu_seconds(target.process.pid) - cpu) * 1000 / spans * 1000
                getattr(figures, transport).append(spans / seconds)
                getattr(figures, f"{transport}_cpu").append(cpu_ms)
                print(
                    f"bench: {backend} {transport:4s} round {i + 1}: {spans / seconds:8.0f} spans/s stored, "
                    f"{cpu_ms:.0f} CPU ms / 1k spans",
                    file=sys.stderr,
                )
        if target.count() != expected:
            raise RuntimeError(f"{backend}: {target.count()} spans stored, {expected} sent")
        _, data = send_grpc(grpc_port, rounds[0], args.connections)  # a re-sent round adds nothing
        if data["codes"] != {"OK": len(rounds[0])}:
            raise RuntimeError(f"{backend}: resend: {data}")
        figures.stored, figures.expected = target.count(), expected
        figures.peak_rss_mb = peak_rss_mb(target.process.pid)
        return figures
    finally:
        target.close()


@dataclass
class PhoenixFigures:
    rates: list[float] = field(default_factory=list)  # spans/s, acknowledged and in its table
    answered: list[float] = field(default_factory=list)  # spans/s counting only until the last acknowledgement
    cpu: list[float] = field(default_factory=list)  # server CPU ms per 1k spans stored
    peak_rss_mb: float = 0.0
    stored: int = 0
    expected: int = 0
    version: str = ""


def run_phoenix(rounds: list[list[Path]], warmup: Path, args: argparse.Namespace, work: Path) -> PhoenixFigures:
    """The same gRPC rounds into Phoenix's own OTLP/gRPC receiver. Phoenix acknowledges an export
    before its spans are inserted (it queues them), so a round's clock runs until its table holds
    them all."""
    ensure_peers()
    target = Phoenix(work)
    figures = PhoenixFigures(version=_phoenix_version())
    per = args.spans_per_batch
    try:
        expected = per
        _, data = send_grpc(target.grpc_port, [warmup], 1)
        if data["codes"] != {"OK": 1}:
            raise RuntimeError(f"phoenix: warm-up export failed: {data}")
        _wait_count(target, expected, 600)
        for i, files in enumerate(rounds[1::2]):  # as many rounds as evalplane got over gRPC
            cpu = cpu_seconds(target.process.pid)
            t0 = time.perf_counter()
            answered, data = send_grpc(target.grpc_port, files, args.connections)
            if data["codes"] != {"OK": len(files)}:
                raise RuntimeError(f"phoenix grpc: {data}")
            expected += per * len(files)
            _wait_count(target, expected, 1800)
            seconds = time.perf_counter() - t0
            spans = per * len(files)
            figures.rates.append(spans / seconds)
            figures.answered.append(spans / answered)
            figures.cpu.append((cpu_seconds(target.process.pid) - cpu) * 1000 / spans * 1000)
            print(f"bench: phoenix grpc round {i + 1}: {spans / seconds:8.0f} spans/s stored", file=sys.stderr)
        figures.stored, figures.expected = target.count(), expected
        figures.peak_rss_mb = peak_rss_mb(target.process.pid)
        return figures
    finally:
        target.close()


def _wait_count(target: Phoenix, expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while target.count() < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"phoenix: {target.count()} spans stored, {expected} sent")
        time.sleep(0.1)


def _phoenix_version() -> str:
    from ingest import BENCH_VENV

    out = subprocess.run(
        [str(BENCH_VENV / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('arize-phoenix'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip()


def phoenix_lines(phoenix: PhoenixFigures, results: list[Figures]) -> str:
    rate = statistics.median(phoenix.rates)
    lines = [
        f"Phoenix {phoenix.version} (its own SQLite), the same gRPC rounds into its OTLP/gRPC receiver: "
        f"{rate:,.0f} spans/s stored (median; {statistics.median(phoenix.answered):,.0f} spans/s counting only "
        f"until the last acknowledgement, as it stores after acknowledging), "
        f"{statistics.median(phoenix.cpu):,.0f} server CPU ms / 1k spans, peak RSS {phoenix.peak_rss_mb:,.0f} MB, "
        f"stored / sent {phoenix.stored:,} / {phoenix.expected:,}.",
    ]
    for r in results:
        lines.append(f"evalplane {r.backend} over OTLP/gRPC ÷ Phoenix: {statistics.median(r.grpc) / rate:.1f}×.")
    return "\n".join(lines)


def table(results: list[Figures]) -> str:
    lines = [
        "| database | OTLP/HTTP spans/s (median) | OTLP/gRPC spans/s (median) | gRPC ÷ HTTP | "
        "server CPU ms / 1k spans, HTTP / gRPC | peak RSS MB | stored / sent |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        http, grpc = statistics.median(r.http), statistics.median(r.grpc)
        lines.append(
            f"| {r.backend} | {http:,.0f} | {grpc:,.0f} | {grpc / http:.2f}× | "
            f"{statistics.median(r.http_cpu):,.0f} / {statistics.median(r.grpc_cpu):,.0f} | "
            f"{r.peak_rss_mb:,.0f} | {r.stored:,} / {r.expected:,} |"
        )
    return "\n".join(lines)


def write_readme(
    results: list[Figures], args: argparse.Namespace, command: str, load: str, phoenix_text: str = ""
) -> None:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False
    ).stdout.strip()
    start, end = "<!-- otlp-grpc:start -->", "<!-- otlp-grpc:end -->"
    block = "\n".join(
        [
            start,
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC at commit `{commit}`, {os.cpu_count()} CPUs "
            f"(load average before / after: {load}), Python {platform.python_version()}.",
            "",
            "```",
            command,
            "```",
            "",
            f"{args.rounds} rounds per transport × {args.batches} batches × {args.spans_per_batch:,} spans "
            f"(~2 KB each), {args.connections} connections from one sender process, both transports into "
            "the same server and table (alternating which goes first).",
            "",
            table(results),
            "",
            *([phoenix_text, ""] if phoenix_text else []),
            args.note or "",
            end,
        ]
    )
    replace_readme_block(start, end, block)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_send_grpc":
        grpc_sender_child(int(argv[1]), argv[3:], int(argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per transport")
    parser.add_argument("--batches", type=int, default=5, help="batches per round")
    parser.add_argument("--spans-per-batch", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--no-readme", action="store_true", help="print only; leave bench/README.md alone")
    parser.add_argument("--note", default="", help="a line to record under the table")
    parser.add_argument(
        "--phoenix", action="store_true", help="also send the gRPC rounds to Phoenix (installed into .bench-venv)"
    )
    args = parser.parse_args(argv)
    from ingest_payloads import build_batches

    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results = []
    with tempfile.TemporaryDirectory(prefix="evalplane-otlp-grpc-bench-") as tmp:
        work = Path(tmp)
        count = 2 * args.rounds * args.batches + 1
        files = []
        for i, payload in enumerate(build_batches(count, args.spans_per_batch)):
            path = work / f"batch-{i:04d}.pb"
            path.write_bytes(payload)
            files.append(path)
        warmup, rest = files[0], files[1:]
        rounds = [rest[i * args.batches : (i + 1) * args.batches] for i in range(2 * args.rounds)]
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            backend_dir = work / backend
            backend_dir.mkdir()
            results.append(run_backend(backend, rounds, warmup, args, backend_dir))
        phoenix_text = ""
        if args.phoenix:
            phoenix_dir = work / "phoenix-target"
            phoenix_dir.mkdir()
            phoenix_text = phoenix_lines(run_phoenix(rounds, warmup, args, phoenix_dir), results)
    load = load_before + " / " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(table(results))
    if phoenix_text:
        print(phoenix_text)
    if not args.no_readme:
        write_readme(results, args, ("python bench/otlp_grpc.py " + shlex.join(argv)).strip(), load, phoenix_text)
        print(f"bench: results written to {README.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
