"""The Phoenix side of bench/sdk_experiment.py: Phoenix's own client against a Phoenix server.

Runs in ``.bench-venv`` (arize-phoenix and its client), never in the server's venv. Reads one
JSON object on stdin: {"phoenix_url", "llm_url", "questions", "concurrency"}. Creates a
dataset of the questions (not timed), then times ``run_experiment`` with an ``async`` task that
asks the model server one chat completion per example and a code evaluator of the answer,
until the experiment's runs and evaluations are read back through Phoenix's REST API.
Prints {"seconds", "returned", "runs", "evaluated", "version"} as one JSON line.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import sys
import time
from typing import Any

import httpx
from phoenix.client import AsyncClient


async def main() -> None:
    job = json.load(sys.stdin)
    client = AsyncClient(base_url=job["phoenix_url"])
    dataset = await client.datasets.create_dataset(
        name="bench", inputs=[{"question": q} for q in job["questions"]], timeout=600
    )
    model = httpx.AsyncClient(base_url=job["llm_url"], timeout=60)

    async def task(input: dict[str, Any]) -> str:  # noqa: A002 - Phoenix binds the example by this name
        response = await model.post(
            "/chat/completions",
            json={"model": "gen-1", "messages": [{"role": "user", "content": f"Answer briefly. {input['question']}"}]},
        )
        response.raise_for_status()
        return str(response.json()["choices"][0]["message"]["content"])

    def answered(output: Any) -> float:
        return 1.0 if output else 0.0

    started = time.perf_counter()
    ran = await client.experiments.run_experiment(
        dataset=dataset,
        task=task,
        evaluators=[answered],
        experiment_name="bench",
        concurrency=int(job["concurrency"]),
        print_summary=False,
    )
    returned = time.perf_counter() - started
    stored = await client.experiments.get_experiment(experiment_id=ran["experiment_id"])
    seconds = time.perf_counter() - started
    runs = stored["task_runs"]
    evaluated = sum(1 for e in stored["evaluation_runs"] if (e.result or {}).get("score") == 1.0)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "returned": returned,
                "runs": len(runs),
                "evaluated": evaluated,
                "version": importlib.metadata.version("arize-phoenix"),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
