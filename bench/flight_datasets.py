"""Dataset upload and read-back over Arrow Flight, through the real ``arize`` SDK.

Per database: `evalplane serve` (default settings, engine off), a parquet file of N rows of
about 1 KB each (question, context, answer text and two numbers), then:

1. **upload**: ``datasets.create(examples=<parquet path>)``, which streams the file over Flight
   batch by batch; timed from the call until it returns (the server has committed every row);
2. **read**: ``datasets.export_to_parquet``, which streams the version back over Flight;
3. the server's peak RSS (VmHWM) before and after, and its CPU time for the upload.

    .venv/bin/python bench/flight_datasets.py                       # 100,000 rows, SQLite and PostgreSQL
    .venv/bin/python bench/flight_datasets.py --rows 20000 --databases sqlite --no-readme

    .venv/bin/python bench/flight_datasets.py --phoenix             # ... and Phoenix beside them

With ``--phoenix``, the same parquet rows also go to a Phoenix server (``.bench-venv``, as
``bench/ingest.py`` installs it) through its own client, ``create_dataset(dataframe=...)`` (a
CSV upload over HTTP: Phoenix has no Arrow Flight), and are read back with ``get_dataset``
(bench/flight_datasets_phoenix.py); the same memory and CPU readings of its server process.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # makes tests/ importable: the imports below come after it

from bench.ingest import BENCH_VENV, Phoenix, cpu_seconds, ensure_peers, peak_rss_mb  # noqa: E402
from tests.support import Api, Server, create_pg_database, drop_pg_database  # noqa: E402

README = ROOT / "bench" / "README.md"
BEGIN, END = "<!-- flight_datasets:begin -->", "<!-- flight_datasets:end -->"


def write_rows(path: Path, rows: int) -> float:
    """A parquet file of ``rows`` rows of about 1 KB; returns the average row size in bytes."""
    filler = "lorem ipsum dolor sit amet " * 40
    writer = None
    size = 0
    for start in range(0, rows, 10_000):
        n = min(10_000, rows - start)
        batch = pa.table(
            {
                "question": [
                    f"Question {i}: what does paragraph {i % 997} say about topic {i % 31}?"
                    for i in range(start, start + n)
                ],
                "context": [f"{i} " + filler[: 700 + i % 100] for i in range(start, start + n)],
                "answer": [f"The answer to {i} is {i * 7 % 1000} " + filler[:120] for i in range(start, start + n)],
                "n": list(range(start, start + n)),
                "score": [(i % 1000) / 1000 for i in range(start, start + n)],
            }
        )
        size += batch.nbytes
        writer = writer or pq.ParquetWriter(path, batch.schema)
        writer.write_table(batch)
    assert writer is not None
    writer.close()
    return size / rows


@dataclass
class Result:
    database: str
    rows: int
    upload_s: float
    read_s: float
    rss_before_mb: float
    rss_upload_mb: float
    rss_peak_mb: float
    upload_cpu_s: float


def run(database: str, rows: int, source: Path, work: Path) -> Result:
    pg_name = None
    if database == "sqlite":
        url = f"sqlite:///{work / 'bench.db'}"
    else:
        pg_name, url = create_pg_database()
    server = Server(
        backend=database,
        database_url=url,
        home=work / f"home-{database}",
        admin_key="ep_bench_" + secrets.token_hex(8),
        env={"EVALPLANE_WORKER": "false", "EVALPLANE_AUTH_FAILURES_PER_MINUTE": "100000"},
    )
    server.start()
    try:
        assert server.process is not None
        pid = server.process.pid
        with server.http() as http:
            space = Api(http).space()
        client = server.sdk()
        rss_before = peak_rss_mb(pid)
        cpu_before = cpu_seconds(pid)
        started = time.perf_counter()
        dataset = client.datasets.create(name="bench", space=space["id"], examples=str(source))
        upload_s = time.perf_counter() - started
        upload_cpu = cpu_seconds(pid) - cpu_before
        rss_upload = peak_rss_mb(pid)
        out = work / f"export-{database}.parquet"
        started = time.perf_counter()
        client.datasets.export_to_parquet(dataset=dataset.id, path=str(out))
        read_s = time.perf_counter() - started
        read_back = pq.ParquetFile(out).metadata.num_rows
        if read_back != rows:
            raise RuntimeError(f"{database}: exported {read_back} rows, expected {rows}")
        return Result(database, rows, upload_s, read_s, rss_before, rss_upload, peak_rss_mb(pid), upload_cpu)
    finally:
        server.stop()
        if pg_name:
            drop_pg_database(pg_name)


def run_phoenix(rows: int, source: Path, work: Path) -> Result:
    ensure_peers()
    (work / "phoenix-target").mkdir()
    target = Phoenix(work / "phoenix-target")
    try:
        pid = target.process.pid
        rss_before = peak_rss_mb(pid)
        cpu_before = cpu_seconds(pid)
        child = subprocess.Popen(
            [str(BENCH_VENV / "bin" / "python"), str(ROOT / "bench" / "flight_datasets_phoenix.py")]
            + [f"http://127.0.0.1:{target.port}", str(source)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdin is not None and child.stdout is not None
        upload = json.loads(child.stdout.readline() or "{}")
        if "upload_s" not in upload:
            raise RuntimeError(f"phoenix: the upload failed (exit {child.wait()})")
        upload_cpu = cpu_seconds(pid) - cpu_before
        rss_upload = peak_rss_mb(pid)
        child.stdin.write("go\n")
        child.stdin.flush()
        read = json.loads(child.stdout.readline() or "{}")
        child.wait()
        if read.get("rows_read") != rows:
            raise RuntimeError(f"phoenix: read back {read}, expected {rows} rows")
        version = subprocess.run(
            [
                str(BENCH_VENV / "bin" / "python"),
                "-c",
                "import importlib.metadata as m; print(m.version('arize-phoenix'))",
            ],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        return Result(
            f"phoenix {version} (its SQLite; CSV over HTTP)",
            rows,
            upload["upload_s"],
            read["read_s"],
            rss_before,
            rss_upload,
            peak_rss_mb(pid),
            upload_cpu,
        )
    finally:
        target.close()


def table(results: list[Result], row_bytes: float) -> str:
    lines = [
        f"{results[0].rows:,} rows of ~{row_bytes / 1024:.1f} KB (Arrow size), one `datasets.create` from a parquet file:",
        "",
        "| database | upload rows/s | upload s | server CPU s (upload) | read back rows/s (export_to_parquet) "
        "| server peak RSS MB: at start → after upload → after read |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.database} | {r.rows / r.upload_s:,.0f} | {r.upload_s:.1f} | {r.upload_cpu_s:.1f} | "
            f"{r.rows / r.read_s:,.0f} | {r.rss_before_mb:,.0f} → {r.rss_upload_mb:,.0f} → {r.rss_peak_mb:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--phoenix", action="store_true", help="also upload the rows to Phoenix with its client")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="evalplane-flight-bench-") as tmp:
        work = Path(tmp)
        source = work / "rows.parquet"
        row_bytes = write_rows(source, args.rows)
        results = []
        databases = [d.strip() for d in args.databases.split(",") if d.strip()]
        for database in databases + (["phoenix"] if args.phoenix else []):
            result = (
                run_phoenix(args.rows, source, work)
                if database == "phoenix"
                else run(database, args.rows, source, work)
            )
            print(
                f"{database}: upload {result.rows / result.upload_s:,.0f} rows/s ({result.upload_s:.1f} s, "
                f"server CPU {result.upload_cpu_s:.1f} s), read {result.rows / result.read_s:,.0f} rows/s, "
                f"server peak RSS {result.rss_before_mb:,.0f} -> {result.rss_upload_mb:,.0f} (upload) "
                f"-> {result.rss_peak_mb:,.0f} MB (read)",
                flush=True,
            )
            results.append(result)
    text = table(results, row_bytes)
    phoenix = [r for r in results if r.database.startswith("phoenix")]
    for r in results:
        if phoenix and r not in phoenix:
            p = phoenix[0]
            text += (
                f"\n\nevalplane {r.database} ÷ Phoenix: upload {p.upload_s / r.upload_s:.1f}×, "
                f"read back {p.read_s / r.read_s:.1f}×"
            )
    print(text)
    if not args.no_readme:
        command = "python bench/flight_datasets.py " + " ".join(argv if argv is not None else sys.argv[1:])
        body = f"{BEGIN}\n`{command.strip()}`\n\n{text}\n{END}"
        readme = README.read_text()
        if BEGIN in readme:
            head, rest = readme.split(BEGIN, 1)
            readme = head + body + rest.split(END, 1)[1]
        else:
            readme += f"\n## Dataset upload over Arrow Flight\n\n{body}\n"
        README.write_text(readme)


if __name__ == "__main__":
    main()
