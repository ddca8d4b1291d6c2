"""Benchmark custom code evaluation through the sandbox, before and after the bubblewrap
boundary, and the managed evaluators' in-process throughput.

    .venv/bin/python bench/sandbox.py                       # ~1-2 min
    .venv/bin/python bench/sandbox.py --evaluations 50      # quick look

BEFORE is the runner of commit 2aa95ce (audit hook, rlimits, setuid; no bubblewrap), loaded
from git into a temporary directory; AFTER is the working tree's. For each, the cost per
evaluation of a trivial evaluator is timed in two shapes: batch of 1 (every evaluation
starts a child, as for a span evaluated alone) and batch of 50 (one child serves 50 items,
as the worker batches them). Batch-of-1 figures are per call; batch-of-50 figures are the
batch's wall time divided by 50, so its p99 is over batches. Runs sequentially, one child
at a time, in this process's event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
BEFORE = "2aa95ce"
CODE = (
    "class Length(CodeEvaluator):\n"
    "    def evaluate(self, *, output=None, **kwargs):\n"
    "        return EvaluationResult(score=len(output), label='long' if len(output) > 10 else 'short')\n"
)


def old_sandbox(workdir: Path) -> ModuleType:
    """The sandbox module of commit BEFORE, with its own runner beside it."""
    for name in ("sandbox.py", "_runner.py"):
        text = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{BEFORE}:src/evalplane/engine/code/{name}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        (workdir / name).write_text(text)
    spec = importlib.util.spec_from_file_location("old_sandbox", workdir / "sandbox.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def per_evaluation(sandbox: ModuleType, evaluations: int, batch: int) -> list[float]:
    source = sandbox.CustomCode(CODE)
    limits = sandbox.Limits(timeout_seconds=10)
    items = [{"output": f"answer number {i}"} for i in range(batch)]
    await sandbox.run_custom(source, items[:1], limits)  # warm-up (and the new sandbox's probe)
    costs = []
    for _ in range(max(1, evaluations // batch)):
        started = time.perf_counter()
        outcomes = await sandbox.run_custom(source, items, limits)
        costs.append((time.perf_counter() - started) / batch)
        assert all(type(o).__name__ == "Outcome" for o in outcomes), outcomes[:1]
    return costs


def managed_throughput(seconds: float) -> dict[str, float]:
    from evalplane.engine.code import managed

    cases = {
        "MATCHES_REGEX": ({"output": "order 12345 shipped"}, {"pattern": r"\d{5}"}),
        "JSON_PARSEABLE": ({"output": '{"a": [1, 2, {"b": null}]}'}, {}),
        "CONTAINS_ANY_KEYWORD": ({"output": "please refund my order"}, {"keywords": ["refund", "return"]}),
        "CONTAINS_ALL_KEYWORDS": ({"output": "please refund my order"}, {"keywords": ["refund", "order"]}),
        "EXACT_MATCH": ({"output": "Paris", "expected": "paris"}, {}),
    }
    rates = {}
    for kind, (variables, params) in cases.items():
        order = list(variables)
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            for _ in range(1000):
                managed.evaluate(kind, variables, order, params)
            done += 1000
        rates[kind] = done / (time.perf_counter() - started)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evaluations", type=int, default=200)
    parser.add_argument("--managed-seconds", type=float, default=1.0)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from evalplane.engine.code import sandbox as new

    print(f"# {' '.join([Path(sys.executable).name, *sys.argv])}  (uid {os.geteuid()}, {os.cpu_count()} CPUs)")
    print("| sandbox | batch | evaluations | median ms/eval | p99 ms/eval |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as workdir:
        old = old_sandbox(Path(workdir))
        for name, module in ((f"before ({BEFORE})", old), ("after (bwrap + seccomp)", new)):
            for batch in (1, 50):
                costs = asyncio.run(per_evaluation(module, args.evaluations, batch))
                evaluations = len(costs) * batch
                print(
                    f"| {name} | {batch} | {evaluations} | {statistics.median(costs) * 1000:.2f} | {percentile(costs, 0.99) * 1000:.2f} |"
                )
    print()
    print("| managed evaluator | evaluations/s (one core, in-process) |")
    print("|---|---|")
    for kind, rate in managed_throughput(args.managed_seconds).items():
        print(f"| {kind} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
