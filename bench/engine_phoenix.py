"""The comparison point for the engine benchmark: arize-phoenix-evals scoring the same
(input, output) pairs with the same judge server, template and choices.

Runs in its own virtual environment (phoenix-evals is never installed into the test env):

    .bench-venv/bin/python bench/engine_phoenix.py --rows rows.json --base-url http://127.0.0.1:8901/v1 \
        --concurrency 64

Prints one JSON line: evaluations, errors, wall seconds, process CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from pathlib import Path

TEMPLATE = "Question: {input}\nAnswer: {output}\nIs the answer correct?"
CHOICES = {"correct": 1.0, "incorrect": 0.0}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(rows_path: str, base_url: str, concurrency: int) -> dict[str, float]:
    import pandas as pd
    from phoenix.evals import LLM, async_evaluate_dataframe, create_classifier

    rows = json.loads(Path(rows_path).read_text())
    frame = pd.DataFrame(rows, columns=["input", "output"])
    llm = LLM(
        provider="openai",
        model="judge-1",
        api_key="sk-bench",
        base_url=base_url,
        # Do not let the client-side rate limiter be what is measured: start it high.
        initial_per_second_request_rate=10_000,
    )
    # The local judge answers tool calls (what the engine sends too), not response_format:
    # skip phoenix's structured-output discovery so both sides put the same call on the wire.
    from phoenix.evals.llm.types import ObjectGenerationMethod

    llm._async_adapter._preferred_method = ObjectGenerationMethod.TOOL_CALLING
    evaluator = create_classifier(name="correctness", prompt_template=TEMPLATE, llm=llm, choices=CHOICES)
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    result = await async_evaluate_dataframe(
        dataframe=frame,
        evaluators=[evaluator],
        concurrency=concurrency,
        hide_tqdm_bar=True,
        exit_on_error=False,
        max_retries=3,
    )
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    scores = result["correctness_score"]
    ok = int(sum(1 for s in scores if isinstance(s, (str, dict)) and "label" in str(s)))
    return {"evaluations": ok, "errors": len(rows) - ok, "wall_s": wall, "cpu_s": cpu, "concurrency": concurrency}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.rows, args.base_url, args.concurrency))))


if __name__ == "__main__":
    main()
