"""Runs ``run_custom`` once in this process and prints the outcomes as JSON, so tests can
run the sandbox under another identity (see support_sandbox.launcher).

stdin: {"code": str, "items": [...], "timeout": float, "memory_mb": int}
stdout: [{"label": .., "score": .., "explanation": ..} | {"failure": str}, ...]
"""

import asyncio
import json
import sys

from evalplane.engine.code.outcome import Failure
from evalplane.engine.code.sandbox import CustomCode, Limits, run_custom


async def main() -> None:
    request = json.load(sys.stdin)
    limits = Limits(timeout_seconds=request["timeout"], memory_mb=request["memory_mb"], cpu_seconds=request.get("cpu", 20))
    outcomes = await run_custom(CustomCode(request["code"]), request["items"], limits)
    shown = [
        {"failure": o.reason} if isinstance(o, Failure) else {"label": o.label, "score": o.score, "explanation": o.explanation}
        for o in outcomes
    ]
    print(json.dumps(shown))


if __name__ == "__main__":
    asyncio.run(main())
