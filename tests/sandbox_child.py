"""Runs ``run_custom`` in this process and prints the outcomes as JSON, so tests can run
the sandbox under another identity (see support_sandbox.launcher).

stdin: {"runs": [{"code": str, "items": [...]}, ...], "timeout": float, "memory_mb": int, "cpu": int}
       (the runs go side by side, like one worker evaluating several evaluators)
stdout: one list per run of {"label", "score", "explanation"} or {"failure": reason}
"""

import asyncio
import json
import sys

from evalplane.engine.code.outcome import Failure
from evalplane.engine.code.sandbox import CustomCode, Limits, run_custom


def shown(outcome):
    if isinstance(outcome, Failure):
        return {"failure": outcome.reason}
    return {"label": outcome.label, "score": outcome.score, "explanation": outcome.explanation}


async def main() -> None:
    request = json.load(sys.stdin)
    limits = Limits(timeout_seconds=request["timeout"], memory_mb=request["memory_mb"], cpu_seconds=request["cpu"])
    batches = await asyncio.gather(*(run_custom(CustomCode(r["code"]), r["items"], limits) for r in request["runs"]))
    print(json.dumps([[shown(o) for o in batch] for batch in batches]))


if __name__ == "__main__":
    asyncio.run(main())
