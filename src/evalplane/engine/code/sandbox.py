"""Runs custom Python evaluators in a locked-down child process (see ``_runner.py``).

One child serves a batch of items for one evaluator version, so interpreter start-up is
paid once per batch, not per span. Each item has a wall-clock timeout; a child that
overruns it, dies or exceeds its limits is killed, that item fails with the reason, and a
fresh child takes the remaining items.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalplane.engine.code.outcome import BadResult, Failure, Outcome, normalize

RUNNER = Path(__file__).with_name("_runner.py")


@dataclass(frozen=True, slots=True)
class Limits:
    timeout_seconds: float = 10.0
    memory_mb: int = 512
    cpu_seconds: int = 60


@dataclass(frozen=True, slots=True)
class CustomCode:
    code: str
    imports: str | None = None
    params: Mapping[str, Any] | None = None


class _Child:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, source: CustomCode, limits: Limits) -> tuple[_Child, str | None]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-S", "-B", str(RUNNER), str(limits.memory_mb), str(limits.cpu_seconds),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env={"LANG": "C.UTF-8"},
            cwd="/",
            start_new_session=True,
        )
        child = cls(process)
        setup = {"code": source.code, "imports": source.imports, "params": dict(source.params or {})}
        reply = await child.exchange(setup, limits.timeout_seconds + 5)
        if isinstance(reply, Failure):
            await child.kill()
            return child, reply.reason
        if "error" in reply:
            await child.kill()
            return child, reply["error"]
        return child, None

    async def exchange(self, message: dict[str, Any], timeout: float) -> dict[str, Any] | Failure:
        assert self.process.stdin and self.process.stdout
        try:
            self.process.stdin.write((json.dumps(message, default=str) + "\n").encode())
            await self.process.stdin.drain()
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        except TimeoutError:
            await self.kill()
            return Failure(f"the evaluator timed out after {timeout:g} s")
        except (BrokenPipeError, ConnectionResetError):
            line = b""
        if not line:
            code = await self.kill()
            return Failure(_death_reason(code))
        return json.loads(line)

    async def kill(self) -> int | None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.process.wait(), 5)
        return self.process.returncode

    async def close(self) -> None:
        if self.process.stdin and not self.process.stdin.is_closing():
            self.process.stdin.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.process.wait(), 2)
        await self.kill()


def _death_reason(code: int | None) -> str:
    if code is not None and code < 0:
        signal_names = {9: "killed (memory or time limit)", 24: "killed for exceeding its CPU limit", 11: "crashed"}
        return f"the evaluator process {signal_names.get(-code, f'died from signal {-code}')}"
    return f"the evaluator process exited unexpectedly (code {code})"


def _to_outcome(reply: dict[str, Any] | Failure) -> Outcome | Failure:
    if isinstance(reply, Failure):
        return reply
    if "error" in reply:
        return Failure(reply["error"])
    result = reply["result"]
    try:
        if result["kind"] == "mapping":
            return normalize({k: result.get(k) for k in ("score", "label", "explanation", "metadata")})
        if result["kind"] == "tuple":
            return normalize(tuple(result["value"]))
        return normalize(result["value"])
    except BadResult as exc:
        return Failure(f"the evaluator returned an unusable result: {exc}")


async def run_custom(
    source: CustomCode, items: Sequence[Mapping[str, Any]], limits: Limits = Limits()
) -> list[Outcome | Failure]:
    """Evaluate each item (a mapping of variable name to value) with the custom code."""
    results: list[Outcome | Failure] = []
    child: _Child | None = None
    try:
        for variables in items:
            if child is None or child.process.returncode is not None:
                child, load_error = await _Child.start(source, limits)
                if load_error is not None:
                    return results + [Failure(load_error)] * (len(items) - len(results))
            reply = await child.exchange({"variables": dict(variables)}, limits.timeout_seconds)
            results.append(_to_outcome(reply))
            if isinstance(reply, Failure):
                child = None
    finally:
        if child is not None:
            await child.close()
    return results
