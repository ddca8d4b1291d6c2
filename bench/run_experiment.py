"""A run_experiment benchmark: N examples, generation + one judge per example, each model
call taking ``--latency-ms`` at a local OpenAI-compatible server (tests/llm_server.py).

evalplane side: `evalplane serve` on SQLite with its embedded engine (default settings), a
dataset of N examples, a run_experiment task (LLM_GENERATION) triggered with one chained
template-evaluation task; timed from the trigger until the chained evaluation run has
completed (every example generated, recorded, then judged and recorded).
Phoenix side: the same two calls per example through arize-phoenix-evals in its own
virtual environment (bench/phoenix_side.py), at the same concurrency as evalplane's per
integration limit (32), against the same model server.

    .venv/bin/python bench/run_experiment.py                     # 5,000 examples, 200 ms
    .venv/bin/python bench/run_experiment.py --examples 500 --no-readme
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # makes tests/ importable: the imports below come after it

from evalplane.engine.service import EngineOptions  # noqa: E402
from tests.support import Api, LlmServer, Server  # noqa: E402

README = ROOT / "bench" / "README.md"
BEGIN, END = "<!-- run_experiment:begin -->", "<!-- run_experiment:end -->"
# Both sides get evalplane's default per-integration limit of concurrent model calls.
CONCURRENCY = EngineOptions().provider_concurrency


def examples(n: int) -> list[dict[str, Any]]:
    return [{"input": f"What is {i} + {i}? [[label:{'correct' if i % 3 else 'incorrect'}]]", "n": i} for i in range(n)]


def setup(api: Api, llm: LlmServer, rows: list[dict[str, Any]]) -> tuple[str, str]:
    """(run_experiment task id, chained evaluation task id) over a new dataset of ``rows``."""
    space = api.space()
    integration = api.ok(
        api.client.post(
            "/v2/ai-integrations",
            json={
                "name": "bench-llm",
                "provider": "OPEN_AI",
                "api_key": "sk-local",
                "base_url": llm.openai_base_url,
                "scopings": [{"space_id": space["id"]}],
            },
        ),
        201,
    )
    dataset = api.ok(
        api.client.post("/v2/datasets", json={"space_id": space["id"], "name": "bench", "examples": rows[:1000]}), 201
    )
    for start in range(1000, len(rows), 1000):
        api.ok(
            api.client.post(f"/v2/datasets/{dataset['id']}/examples", json={"examples": rows[start : start + 1000]}),
            201,
        )
    evaluator = api.ok(
        api.client.post(
            "/v2/evaluators",
            json={
                "space_id": space["id"],
                "name": "bench-judge",
                "type": "TEMPLATE",
                "version": {
                    "commit_message": "bench",
                    "template_config": {
                        "name": "correctness",
                        "template": "Question: {input}\nAnswer: {output}\nIs the answer correct?",
                        "include_explanations": False,
                        "use_function_calling": True,
                        "classification_choices": {"correct": 1, "incorrect": 0},
                        "llm_config": {
                            "ai_integration_id": integration["id"],
                            "model_name": "judge-1",
                            "invocation_parameters": {},
                            "provider_parameters": {},
                        },
                    },
                },
            },
        ),
        201,
    )
    judge_task = api.ok(
        api.client.post(
            "/v2/tasks",
            json={
                "name": "bench-judge-runs",
                "type": "TEMPLATE_EVALUATION",
                "dataset_id": dataset["id"],
                "experiment_ids": [],
                "evaluators": [{"evaluator_id": evaluator["id"]}],
            },
        ),
        201,
    )
    generate = api.ok(
        api.client.post(
            "/v2/tasks",
            json={
                "name": "bench-generate",
                "type": "RUN_EXPERIMENT",
                "dataset_id": dataset["id"],
                "run_configuration": {
                    "experiment_type": "LLM_GENERATION",
                    "ai_integration_id": integration["id"],
                    "model_name": "gen-1",
                    "messages": [
                        {"role": "SYSTEM", "content": "Answer in one word."},
                        {"role": "USER", "content": "Q: {input}"},
                    ],
                    "input_variable_format": "F_STRING",
                },
            },
        ),
        201,
    )
    return generate["id"], judge_task["id"]


def wait_terminal(client: httpx.Client, path: str, timeout: float = 1800) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(path).json()
        runs = body.get("task_runs", [body])
        if runs and str(runs[0].get("status")).upper() in ("COMPLETED", "FAILED", "CANCELLED"):
            return runs[0]
        time.sleep(0.25)
    raise TimeoutError(path)


def run_evalplane(n: int, llm: LlmServer) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="evalplane-bench-") as home:
        server = Server(
            backend="sqlite",
            database_url=f"sqlite:///{home}/bench.db",
            home=Path(home),
            admin_key="ep_bench_" + secrets.token_hex(12),
        )
        server.start()
        try:
            with server.http() as http:
                api = Api(http)
                generate, judge = setup(api, llm, examples(n))
                started = time.perf_counter()
                run = api.ok(
                    http.post(
                        f"/v2/tasks/{generate}/trigger",
                        json={
                            "experiment_name": "bench",
                            "evaluation_task_ids": [judge],
                        },
                    ),
                    201,
                )
                generated = wait_terminal(http, f"/v2/task-runs/{run['id']}")
                generation_seconds = time.perf_counter() - started
                judged = wait_terminal(http, f"/v2/tasks/{judge}/runs?limit=1")
                seconds = time.perf_counter() - started
        finally:
            server.stop()
    return {
        "seconds": seconds,
        "generation_seconds": generation_seconds,
        "generated": (generated["status"], generated["num_successes"], generated["num_errors"]),
        "judged": (judged["status"], judged["num_successes"], judged["num_errors"], judged["num_skipped"]),
    }


def run_phoenix(n: int, llm: LlmServer, python: Path, rate: float | None) -> dict[str, Any]:
    job = {
        "base_url": llm.openai_base_url,
        "examples": examples(n),
        "concurrency": CONCURRENCY,
        "model": "judge-1",
        "rate": rate,
    }
    done = subprocess.run(
        [str(python), str(ROOT / "bench" / "phoenix_side.py")],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    labels = result.pop("labels")
    result["judged"] = sum(1 for label in labels if label in ("correct", "incorrect"))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5000)
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--phoenix-python", type=Path, default=ROOT / ".bench-venv" / "bin" / "python")
    parser.add_argument(
        "--phoenix-rate",
        type=float,
        default=1000.0,
        help="phoenix LLM wrapper's initial requests/s (0: its default limiter, starting at 5/s)",
    )
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()

    llm = LlmServer()
    llm.start(latency_ms=args.latency_ms)
    try:
        ours = run_evalplane(args.examples, llm)
        phoenix = (
            run_phoenix(args.examples, llm, args.phoenix_python, args.phoenix_rate or None)
            if args.phoenix_python.exists()
            else None
        )
    finally:
        llm.stop()
    n = args.examples
    lines = [
        f"examples: {n}, model latency: {args.latency_ms} ms per call, 2 calls per example, concurrency {CONCURRENCY}",
        (
            f"evalplane (SQLite, embedded engine): {ours['seconds']:.1f} s -> {n / ours['seconds']:.1f} examples/s "
            f"(generation done at {ours['generation_seconds']:.1f} s; generation run {ours['generated']}, "
            f"judge run {ours['judged']})"
        ),
    ]
    if phoenix:
        lines.append(
            f"arize-phoenix-evals (AsyncExecutor + async_evaluate_dataframe, initial rate "
            f"{args.phoenix_rate or 'default'}/s): {phoenix['seconds']:.1f} s -> "
            f"{n / phoenix['seconds']:.1f} examples/s ({phoenix['judged']} labelled)"
        )
        lines.append(f"ratio evalplane / phoenix: {phoenix['seconds'] / ours['seconds']:.2f}x")
    else:
        lines.append(f"phoenix side skipped: {args.phoenix_python} not found")
    print("\n".join(lines))
    if not args.no_readme:
        command = " ".join(["python", "bench/run_experiment.py", *sys.argv[1:]])
        block = f"{BEGIN}\n```\n$ {command}\n" + "\n".join(lines) + f"\n```\n{END}"
        text = README.read_text()
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.DOTALL)
        README.write_text(text)


if __name__ == "__main__":
    main()
