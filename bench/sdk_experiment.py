"""Benchmark an SDK-driven experiment end to end: ``client.experiments.run`` of the ``arize``
SDK against evalplane, side by side with ``run_experiment`` of Phoenix's own client against
a Phoenix server, over the same examples, task and evaluator.

    .venv/bin/python bench/sdk_experiment.py                                  # 1,000 examples, README updated
    .venv/bin/python bench/sdk_experiment.py --examples 200 --concurrency 3 --no-readme

What it does:

1. Starts the stand-in model server (``tests/llm_server.py``, ``--latency-ms`` per call),
   ``evalplane serve`` on a fresh SQLite (or PostgreSQL, ``--backend``) database and
   ``phoenix serve`` on its own fresh SQLite directory (installed into ``.bench-venv`` from
   ``bench/requirements-peers.txt`` as ``bench/ingest.py`` does, never into the test venv).
2. Creates a dataset of ``--examples`` questions on each side with that side's client
   (not timed).
3. Times, on each side, from the call to the moment every run and its evaluation can be
   read back through the server's REST API (``/v2/experiments/{id}/runs`` here,
   ``/v1/experiments/{id}/runs`` on Phoenix): the task is an ``async`` function that asks the
   model server one chat completion per example; the evaluator is a code check of the answer.
   Both clients run with the same ``--concurrency`` and their other arguments left at their
   defaults: the ``arize`` SDK reads the examples over Arrow Flight, exports a span per task
   and per evaluation over OTLP/gRPC and uploads the runs over Flight; Phoenix's client
   posts each run and each evaluation over HTTP and exports its spans over OTLP/HTTP.
4. Prints the figures and the ratio, and writes them into ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # makes tests/ importable: the imports below come after it
sys.path.insert(0, str(HERE))

from ingest import BENCH_VENV, Phoenix, ensure_peers  # noqa: E402

from tests.support import Api, LlmServer, Server, create_pg_database, drop_pg_database  # noqa: E402

README = HERE / "README.md"
PHOENIX_SIDE = HERE / "sdk_experiment_phoenix.py"


def questions(n: int) -> list[str]:
    return [f"What is {i} + {i}?" for i in range(n)]


# ---------------------------------------------------------------- the task, for both sides


class ModelCaller:
    """One chat completion per call; one HTTP client per event loop (both SDKs run their
    executor's loop with ``asyncio.run``, once for the tasks and once for the evaluations)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._clients: dict[int, httpx.AsyncClient] = {}

    async def answer(self, question: str) -> str:
        loop = id(asyncio.get_running_loop())
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = httpx.AsyncClient(base_url=self.base_url, timeout=60)
        response = await client.post(
            "/chat/completions",
            json={"model": "gen-1", "messages": [{"role": "user", "content": f"Answer briefly. {question}"}]},
        )
        response.raise_for_status()
        return str(response.json()["choices"][0]["message"]["content"])


# ---------------------------------------------------------------- evalplane side


def run_evalplane(n: int, concurrency: int, llm: LlmServer, backend: str) -> dict[str, Any]:
    import pandas as pd
    from arize.experiments.evaluators.base import CodeEvaluator, EvaluationResult

    class Answered(CodeEvaluator):
        def evaluate(self, *, output: Any = None, **kwargs: Any) -> EvaluationResult:
            ok = bool(output)
            return EvaluationResult(score=1.0 if ok else 0.0, label="answered" if ok else "empty")

    caller = ModelCaller(llm.openai_base_url)

    async def task(dataset_row: dict[str, Any]) -> str:
        return await caller.answer(dataset_row["question"])

    pg_name = None
    with tempfile.TemporaryDirectory(prefix="evalplane-sdk-bench-") as home:
        if backend == "postgres":
            pg_name, url = create_pg_database()
        else:
            url = f"sqlite:///{home}/bench.db"
        server = Server(
            backend=backend, database_url=url, home=Path(home), admin_key="ep_bench_" + secrets.token_hex(12)
        )
        server.start()
        try:
            with server.http() as http:
                api = Api(http)
                space = api.space()
                client = server.sdk(traces=True)
                data = client.datasets.create(
                    name="bench", space=space["id"], examples=pd.DataFrame({"question": questions(n)})
                )
                started = time.perf_counter()
                made, _ = client.experiments.run(
                    name="bench",
                    dataset=data.id,
                    task=task,
                    evaluators=[Answered()],
                    concurrency=concurrency,
                )
                returned = time.perf_counter() - started
                runs = _evalplane_runs(api, made.id)
                seconds = time.perf_counter() - started
                evaluated = sum(1 for r in runs if r.get("eval.Answered.label") == "answered")
        finally:
            server.stop()
            if pg_name:
                drop_pg_database(pg_name)
    return {"seconds": seconds, "returned": returned, "runs": len(runs), "evaluated": evaluated}


def _evalplane_runs(api: Api, experiment_id: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = api.ok(api.client.get(f"/v2/experiments/{experiment_id}/runs", params=params))
        runs += page["experiment_runs"]
        cursor = page["pagination"].get("next_cursor")
        if not page["pagination"]["has_more"]:
            return runs


# ---------------------------------------------------------------- Phoenix side


def run_phoenix(n: int, concurrency: int, llm: LlmServer, work: Path) -> dict[str, Any]:
    phoenix = Phoenix(work)
    try:
        job = {
            "phoenix_url": f"http://127.0.0.1:{phoenix.port}",
            "llm_url": llm.openai_base_url,
            "questions": questions(n),
            "concurrency": concurrency,
        }
        done = subprocess.run(
            [str(BENCH_VENV / "bin" / "python"), str(PHOENIX_SIDE)],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the Phoenix side failed:\n{done.stderr[-3000:]}")
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        phoenix.close()


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=10, help="both clients' concurrency (their default: 3)")
    parser.add_argument("--latency-ms", type=int, default=50, help="the model server's latency per call")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--no-phoenix", action="store_true")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()

    n = args.examples
    llm = LlmServer()
    llm.start(latency_ms=args.latency_ms)
    try:
        ours = run_evalplane(n, args.concurrency, llm, args.backend)
        phoenix = None
        if not args.no_phoenix:
            ensure_peers()
            with tempfile.TemporaryDirectory(prefix="phoenix-sdk-bench-") as work:
                phoenix = run_phoenix(n, args.concurrency, llm, Path(work))
    finally:
        llm.stop()

    lines = [
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, {_cpus()} CPUs (shared); {n} examples, "
        f"concurrency {args.concurrency}, model latency {args.latency_ms} ms, one code evaluator",
        (
            f"evalplane ({args.backend}) + arize SDK experiments.run: {ours['seconds']:.1f} s "
            f"-> {n / ours['seconds']:.1f} examples/s (call returned at {ours['returned']:.1f} s; "
            f"{ours['runs']} runs, {ours['evaluated']} evaluated, read through /v2)"
        ),
    ]
    if phoenix:
        lines.append(
            f"phoenix {phoenix['version']} + its client run_experiment: {phoenix['seconds']:.1f} s "
            f"-> {n / phoenix['seconds']:.1f} examples/s (call returned at {phoenix['returned']:.1f} s; "
            f"{phoenix['runs']} runs, {phoenix['evaluated']} evaluated, read through /v1)"
        )
        lines.append(f"ratio (phoenix time / evalplane time): {phoenix['seconds'] / ours['seconds']:.2f}x")
    print("\n".join(lines))
    if not args.no_readme:
        # One block per concurrency, so the default-argument run and a high-concurrency run stand side by side.
        begin, end = (
            f"<!-- sdk_experiment:c{args.concurrency}:begin -->",
            f"<!-- sdk_experiment:c{args.concurrency}:end -->",
        )
        command = " ".join([".venv/bin/python", "bench/sdk_experiment.py", *sys.argv[1:]])
        block = f"{begin}\n```\n$ {command}\n" + "\n".join(lines) + f"\n```\n{end}"
        text = README.read_text()
        if begin in text:
            text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
        README.write_text(text)


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
