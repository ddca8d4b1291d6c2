"""Benchmark `POST /v2/spans` over 1,000,000 stored spans: p50 / p99 latency per scenario.

    .venv/bin/python bench/spans_query.py                          # SQLite and PostgreSQL, 1 M spans
    .venv/bin/python bench/spans_query.py --databases sqlite --spans 100000 --no-readme

Per database: a fresh database is migrated and bootstrapped through the server's own
start-up, then one project is seeded with ``--spans`` spans by direct bulk insert into the
``spans`` table (SQLite executemany, PostgreSQL COPY; not via HTTP), spread evenly over the
last 30 days: span kinds LLM 40% / CHAIN 25% / RETRIEVER 15% / TOOL 15% / AGENT 5%, status
OK 90% / ERROR 5% / UNSET 5%, ~600 bytes of OpenInference attributes each. PostgreSQL gets
ANALYZE, as autovacuum would. Then `evalplane serve` runs as its own process and a separate
client process sends sequential keep-alive requests (default page size 50, newest first).

Filter scenarios need the filter language wired into `POST /v2/spans`; where the server
answers 422 for them, they are reported as not available rather than timed.
The databases are dropped afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import random
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README = HERE / "README.md"
API_KEY = "ep_bench_admin_key_0000"  # a throw-away bench database's admin key
PG_ADMIN = os.environ.get("EVALPLANE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = "evalplane_spans_bench"
PROJECT = "query-bench"
START, END = "<!-- spans-query:start -->", "<!-- spans-query:end -->"
KINDS = ["LLM"] * 8 + ["CHAIN"] * 5 + ["RETRIEVER"] * 3 + ["TOOL"] * 3 + ["AGENT"]
STATUSES = ["OK"] * 18 + ["ERROR", "UNSET"]
COLUMNS = (
    "project_id",
    "trace_id",
    "span_id",
    "parent_id",
    "name",
    "span_kind",
    "status_code",
    "status_message",
    "start_time",
    "end_time",
    "latency_ms",
    "attributes",
    "events",
    "resource_attributes",
    "ingested_at",
)


@dataclass
class Scenario:
    name: str
    window: timedelta
    filter: str | None = None


SCENARIOS = [
    Scenario("1 h window, no filter", timedelta(hours=1)),
    Scenario("7 d window (default), no filter", timedelta(days=7)),
    Scenario("span_kind = 'LLM', 24 h", timedelta(hours=24), "span_kind = 'LLM'"),
    Scenario("status_code = 'ERROR', 7 d", timedelta(days=7), "status_code = 'ERROR'"),
    Scenario(
        "span_kind = 'TOOL' AND status_code = 'ERROR', 30 d",
        timedelta(days=30),
        "span_kind = 'TOOL' AND status_code = 'ERROR'",
    ),
    Scenario("latency_ms > 9000, 24 h", timedelta(hours=24), "latency_ms > 9000"),
]


@dataclass
class Result:
    database: str
    scenario: str
    p50_ms: float | None
    p99_ms: float | None
    rows: int
    note: str = ""


# ---------------------------------------------------------------- seeding


def _attribute_pool(rng: random.Random) -> list[str]:
    pool = []
    for i in range(64):
        question = f"Question {i} about invoices and refunds: " + " ".join(
            rng.choice("abcdefgh") * 5 for _ in range(25)
        )
        pool.append(
            json.dumps(
                {
                    "llm": {
                        "model_name": rng.choice(["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet"]),
                        "provider": "openai",
                        "token_count": {"prompt": rng.randint(100, 900), "completion": rng.randint(20, 300)},
                        "input_messages": [{"message": {"role": "user", "content": question}}],
                        "output_messages": [{"message": {"role": "assistant", "content": question[::-1]}}],
                    },
                    "input": {"value": question},
                    "output": {"value": question.upper()},
                    "metadata": {"tenant": rng.choice(["acme", "globex", "initech"])},
                }
            )
        )
    return pool


def span_rows(project_id: int, count: int, now: datetime, seed: int = 11, chunk: int = 20_000):
    """Chunks of row tuples in COLUMNS order, timestamps as timezone-aware datetimes."""
    rng = random.Random(seed)
    pool = _attribute_pool(rng)
    horizon_us = 30 * 24 * 3600 * 1_000_000
    resource = json.dumps({"service.name": "support-bot", "openinference.project.name": PROJECT})
    rows = []
    for i in range(count):
        start = now - timedelta(microseconds=rng.randrange(horizon_us))
        latency = rng.expovariate(1 / 800)
        status = rng.choice(STATUSES)
        rows.append(
            (
                project_id,
                rng.randbytes(16).hex(),
                rng.randbytes(8).hex(),
                None if i % 4 == 0 else rng.randbytes(8).hex(),
                rng.choice(("ChatCompletion", "retrieve", "agent.run", "lookup_order")),
                rng.choice(KINDS),
                status,
                "upstream timeout" if status == "ERROR" else "",
                start,
                start + timedelta(milliseconds=latency),
                latency,
                rng.choice(pool),
                "[]",
                resource,
                now,
            )
        )
        if len(rows) == chunk:
            yield rows
            rows = []
    if rows:
        yield rows


async def seed(database_url: str, count: int, home: Path) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from evalplane.api.app import start
    from evalplane.db.types import UtcDateTime
    from evalplane.settings import Settings

    os.environ.update(
        {"EVALPLANE_DATABASE_URL": database_url, "EVALPLANE_HOME": str(home), "EVALPLANE_BOOTSTRAP_API_KEY": API_KEY}
    )
    state = await start(Settings())
    dialect = state.db.engine.dialect
    await state.db.dispose()
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    if database_url.startswith("sqlite"):
        to_text = UtcDateTime.bulk_bind_processor(dialect)
        assert to_text is not None
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        conn.execute("PRAGMA journal_mode=WAL")
        space_id = conn.execute("SELECT min(id) FROM spaces").fetchone()[0]
        conn.execute(
            "INSERT INTO projects (space_id, name, description, created_at, updated_at) VALUES (?, ?, '', ?, ?)",
            (space_id, PROJECT, to_text(now), to_text(now)),
        )
        project_id = conn.execute("SELECT id FROM projects WHERE name = ?", (PROJECT,)).fetchone()[0]
        sql = f"INSERT INTO spans ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
        for rows in span_rows(project_id, count, now):
            conn.executemany(sql, [(*r[:8], to_text(r[8]), to_text(r[9]), *r[10:14], to_text(r[14])) for r in rows])
            conn.commit()
        conn.execute("ANALYZE")
        conn.commit()
        conn.close()
    else:
        import asyncpg

        conn = await asyncpg.connect(database_url)
        try:
            space_id = await conn.fetchval("SELECT min(id) FROM spaces")
            project_id = await conn.fetchval(
                "INSERT INTO projects (space_id, name, description, created_at, updated_at) VALUES ($1, $2, '', $3, $3) "
                "RETURNING id",
                space_id,
                PROJECT,
                now,
            )
            for rows in span_rows(project_id, count, now):
                await conn.copy_records_to_table("spans", records=rows, columns=list(COLUMNS))
            await conn.execute("ANALYZE spans")
        finally:
            await conn.close()
    print(f"bench: seeded {count:,} spans in {time.perf_counter() - t0:.0f}s", file=sys.stderr)


# ---------------------------------------------------------------- measuring (a child process)


def latency_child(port: int, body_json: str, requests: int, warmup: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    body = body_json.encode()
    samples, rows, statuses, sample_error = [], 0, {}, ""
    for i in range(warmup + requests):
        t0 = time.perf_counter()
        conn.request("POST", "/v2/spans", body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        elapsed = (time.perf_counter() - t0) * 1000
        statuses[str(response.status)] = statuses.get(str(response.status), 0) + 1
        if response.status != 200:
            sample_error = data[:300].decode(errors="replace")
            break
        if i >= warmup:
            samples.append(elapsed)
        rows = len(json.loads(data)["spans"])
    print(json.dumps({"samples": samples, "rows": rows, "statuses": statuses, "error": sample_error}))


def pg(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def run_database(backend: str, args: argparse.Namespace, work: Path) -> list[Result]:
    sys.path.insert(0, str(HERE))
    from ingest import Evalplane

    if backend == "postgres":
        pg(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        pg(f'CREATE DATABASE "{PG_DB}"')
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + PG_DB
    else:
        url = f"sqlite:///{work / 'evalplane.db'}"
    subprocess.run([sys.executable, __file__, "_seed", url, str(args.spans), str(work / "home")], check=True, cwd=ROOT)
    server = Evalplane(backend, work, database_url=url)
    results = []
    try:
        _, body = server.request("GET", f"/v2/projects?name={PROJECT}")
        project_id = next(p["id"] for p in body["projects"] if p["name"] == PROJECT)
        now = datetime.now(UTC)
        for scenario in SCENARIOS:
            request = {
                "project_id": project_id,
                "start_time": (now - scenario.window).isoformat(),
                "end_time": now.isoformat(),
            }
            if scenario.filter:
                request["filter"] = scenario.filter
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "_latency",
                    str(server.port),
                    json.dumps(request),
                    str(args.requests),
                    str(args.warmup),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            data = json.loads(out.stdout)
            if data["statuses"].get("200", 0) != args.requests + args.warmup:
                code = next(iter(k for k in data["statuses"] if k != "200"))
                note = "filter not wired into POST /v2/spans on this branch" if code == "422" else data["error"][:120]
                results.append(Result(backend, scenario.name, None, None, 0, f"{code}: {note}"))
            else:
                samples = sorted(data["samples"])
                p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
                results.append(Result(backend, scenario.name, statistics.median(samples), p99, data["rows"]))
            r = results[-1]
            timing = f"p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms" if r.p50_ms is not None else r.note
            print(f"bench: {backend:8s} {scenario.name:52s} {timing}", file=sys.stderr)
    finally:
        server.close(drop=not args.keep)
    return results


def table(results: list[Result]) -> str:
    lines = ["| database | scenario | p50 ms | p99 ms | spans on the page |", "|---|---|---:|---:|---:|"]
    for r in results:
        if r.p50_ms is None:
            lines.append(f"| {r.database} | {r.scenario} | — | — | {r.note} |")
        else:
            lines.append(f"| {r.database} | {r.scenario} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.rows} |")
    return "\n".join(lines)


def write_readme(results: list[Result], args: argparse.Namespace, command: str, load: str) -> None:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "src"], capture_output=True, text=True, cwd=ROOT, check=False
    ).stdout.strip()
    block = "\n".join(
        [
            START,
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC at commit `{commit}`{' (+ uncommitted src changes)' if dirty else ''}, "
            f"{os.cpu_count()} CPUs (load average before / after: {load}), "
            f"Python {platform.python_version()}.",
            "",
            "```",
            command,
            "```",
            "",
            f"{args.spans:,} spans in one project over 30 days; one client, {args.requests} sequential requests after "
            f"{args.warmup} warm-up requests per scenario; default page size (50).",
            "",
            table(results),
            "",
            args.note or "",
            END,
        ]
    )
    text = README.read_text()
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    README.write_text(text)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_seed":
        asyncio.run(seed(argv[1], int(argv[2]), Path(argv[3])))
        return
    if argv and argv[0] == "_latency":
        latency_child(int(argv[1]), argv[2], int(argv[3]), int(argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--work-dir", type=Path, default=None, help="where the SQLite file goes (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the seeded databases")
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--note", default="")
    args = parser.parse_args(argv)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results: list[Result] = []
    base = args.work_dir or Path(tempfile.mkdtemp(prefix="evalplane-spans-bench-"))
    try:
        for backend in [d.strip() for d in args.databases.split(",") if d.strip()]:
            work = base / backend
            work.mkdir(parents=True, exist_ok=True)
            results.extend(run_database(backend, args, work))
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    load = load_before + " / " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(table(results))
    if not args.no_readme:
        write_readme(results, args, ("python bench/spans_query.py " + shlex.join(argv)).strip(), load)
        print(f"bench: results written to {README.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
