"""The same experiment through arize-phoenix's evals library, for bench/run_experiment.py.

Runs in its own virtual environment (`.bench-venv`, with `arize-phoenix-evals`
and `openai`), never in the server's. Reads one JSON object on stdin:
{"base_url", "examples": [{"input": ...}], "concurrency", "model", "rate"}; generates an answer per
example with ``LLM.async_generate_text`` under phoenix's ``AsyncExecutor``, then judges
every answer with a ``create_classifier`` evaluator through ``async_evaluate_dataframe`` —
the same two calls per example as the evalplane run. ``rate`` sets the LLM wrapper's
initial requests/s (its client-side limiter otherwise starts at 5/s and grows slowly).
Prints {"seconds", "labels"} as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import pandas as pd
from phoenix.evals import LLM, async_evaluate_dataframe, create_classifier
from phoenix.evals.executors import AsyncExecutor

SYSTEM = "Answer in one word."
TEMPLATE = "Question: {input}\nAnswer: {output}\nIs the answer correct?"


async def main() -> None:
    job = json.load(sys.stdin)
    extra = {"initial_per_second_request_rate": job["rate"]} if job.get("rate") else {}
    llm = LLM(provider="openai", model=job["model"], base_url=job["base_url"], api_key="sk-local", **extra)
    inputs = [e["input"] for e in job["examples"]]
    concurrency = int(job["concurrency"])
    started = time.perf_counter()

    async def generate(index: int) -> str:
        return await llm.async_generate_text(prompt=f"{SYSTEM}\nQ: {inputs[index]}")

    executor = AsyncExecutor(generate, concurrency=concurrency, tqdm_bar_format=None, fallback_return_value=None)
    outputs, _ = await executor.execute(list(range(len(inputs))))
    judged = await async_evaluate_dataframe(
        pd.DataFrame({"input": inputs, "output": outputs}),
        [
            create_classifier(
                name="correctness", prompt_template=TEMPLATE, llm=llm, choices={"correct": 1, "incorrect": 0}
            )
        ],
        concurrency=concurrency,
        hide_tqdm_bar=True,
    )
    seconds = time.perf_counter() - started
    labels = [
        json.loads(s)["label"] if isinstance(s, str) else (s or {}).get("label") for s in judged["correctness_score"]
    ]
    print(json.dumps({"seconds": seconds, "labels": labels}))


if __name__ == "__main__":
    asyncio.run(main())
