"""Runs custom Python evaluators in a sandboxed child process (see ``isolation.py`` and
``_runner.py``).

One child serves a batch of items for one evaluator version, so interpreter start-up is
paid once per batch, not per span. Each item has a wall-clock timeout; a child that
overruns it, dies, exceeds its limits or breaks the reply protocol is killed, that item
fails with the reason, and a fresh child takes the remaining items. Nothing the child does
makes ``run_custom`` raise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from evalplane.engine.code import isolation
from evalplane.engine.code.budget import SandboxBudget
from evalplane.engine.code.outcome import Failure, Outcome
from evalplane.engine.code.replies import item_outcome, setup_error
from evalplane.engine.code.seccomp import SeccompUnavailable, filter_program

log = logging.getLogger(__name__)

# A reply line longer than this fails its item (a 70 KB explanation passes, 5 MB does not).
MAX_REPLY_BYTES = 1024 * 1024
# Worded as a load failure so that the run stops with this reason (see executor._custom).
DISABLED = "the evaluator could not be loaded: custom code is disabled: the sandbox (bubblewrap) is not available on this server: "
_DEFAULT_BUDGET = SandboxBudget()


@dataclass(frozen=True, slots=True)
class Limits:
    timeout_seconds: float = 10.0
    memory_mb: int = 512
    cpu_seconds: int = 60
    # Shared by every run in one worker process; not part of a limit's identity.
    budget: SandboxBudget = field(default=_DEFAULT_BUDGET, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class CustomCode:
    code: str
    imports: str | None = None
    params: Mapping[str, Any] | None = None


class _Child:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, source: CustomCode, limits: Limits, identity: isolation.Identity) -> tuple[_Child, str | None]:
        process = await asyncio.create_subprocess_exec(
            *isolation.command(identity, limits.memory_mb, limits.cpu_seconds),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env={"LANG": "C.UTF-8"},
            cwd="/",
            start_new_session=True,
            limit=MAX_REPLY_BYTES,
        )
        child = cls(process)
        setup = {
            "code": source.code,
            "imports": source.imports,
            "params": dict(source.params or {}),
            "seccomp": filter_program().hex(),
        }
        reply = await child.exchange(setup, limits.timeout_seconds + 5)
        error = reply.reason if isinstance(reply, Failure) else setup_error(reply)
        if error is not None:
            await child.kill()
        return child, error

    async def exchange(self, message: dict[str, Any], timeout: float) -> bytes | Failure:
        """Send one line and read one reply line; a Failure when there is no usable line."""
        assert self.process.stdin and self.process.stdout
        try:
            line = await asyncio.wait_for(self._round_trip(json.dumps(message, default=str)), timeout)
        except TimeoutError:
            await self.kill()
            return Failure(f"the evaluator timed out after {timeout:g} s")
        except ValueError:  # the reader's limit: the line is longer than MAX_REPLY_BYTES
            await self.kill()
            return Failure(f"the evaluator's reply was larger than {MAX_REPLY_BYTES // 1024} KiB")
        except (BrokenPipeError, ConnectionResetError):
            line = b""
        if not line.endswith(b"\n"):
            return Failure(_death_reason(await self.kill()))
        return line

    async def _round_trip(self, text: str) -> bytes:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(text.encode() + b"\n")
        await self.process.stdin.drain()
        return await self.process.stdout.readline()

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
        signal_names = {
            9: "killed (memory or time limit)",
            24: "killed for exceeding its CPU limit",
            11: "crashed",
            31: "killed for a forbidden system call",
        }
        return f"the evaluator process {signal_names.get(-code, f'died from signal {-code}')}"
    if code is not None and 128 < code <= 128 + 64:  # bwrap reports its child's signal as 128 + n
        return _death_reason(128 - code)
    return f"the evaluator process exited unexpectedly (code {code})"


_verdict: str | Literal[False] | None = False  # False: not probed yet; None: available; str: why not
_probing: asyncio.Task[str | None] | None = None


async def unavailable_reason(budget: SandboxBudget | None = None) -> str | None:
    """Why custom code cannot run here (None when the sandbox works). Probed once, then cached."""
    global _verdict, _probing
    if _verdict is False:
        # Callers arriving together share one probe.
        loop = asyncio.get_running_loop()
        if _probing is None or _probing.get_loop() is not loop:
            _probing = loop.create_task(_probe(budget or _DEFAULT_BUDGET))
        verdict = await asyncio.shield(_probing)
        if verdict is not None and verdict.startswith("the evaluator timed out"):
            _probing = None  # a machine too busy to start the probe in time: ask again next time
            return verdict
        if _verdict is False:
            _verdict = verdict
            if verdict is None:
                log.info("custom code sandbox: bubblewrap and seccomp are in force")
            else:
                log.error("custom code sandbox unavailable, custom evaluators will fail: %s", verdict)
    return _verdict


async def _probe(budget: SandboxBudget) -> str | None:
    probe = CustomCode("class Probe(CodeEvaluator):\n    def evaluate(self, **kwargs):\n        return True\n")
    try:
        filter_program()
        with budget.identities.lease() as identity:
            child, error = await _Child.start(probe, Limits(timeout_seconds=20), identity)
            await child.close()
            if error is not None and not error.startswith("the evaluator timed out"):
                await _log_bwrap_complaint(identity)
                return f"it could not start a sandboxed process ({error}; bwrap's message is in the server log)"
    except (OSError, SeccompUnavailable, RuntimeError) as exc:
        return str(exc)
    return error


async def _log_bwrap_complaint(identity: isolation.Identity) -> None:
    """bwrap's own error message, for the operator's log only (it names host paths)."""
    process = await asyncio.create_subprocess_exec(
        *isolation.command(identity, 512, 10),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={"LANG": "C.UTF-8"},
        cwd="/",
    )
    with contextlib.suppress(TimeoutError):
        _, stderr = await asyncio.wait_for(process.communicate(), 10)
        log.error("custom code sandbox: bwrap said: %s", stderr[:2000].decode(errors="replace").strip() or "nothing")
    with contextlib.suppress(ProcessLookupError):
        process.kill()


async def run_custom(
    source: CustomCode, items: Sequence[Mapping[str, Any]], limits: Limits = Limits()
) -> list[Outcome | Failure]:
    """Evaluate each item (a mapping of variable name to value) with the custom code."""
    reason = await unavailable_reason(limits.budget)
    if reason is not None:
        return [Failure(DISABLED + reason)] * len(items)
    async with limits.budget.reserve(limits.memory_mb):
        return await _run_batch(source, items, limits)


async def _run_batch(source: CustomCode, items: Sequence[Mapping[str, Any]], limits: Limits) -> list[Outcome | Failure]:
    results: list[Outcome | Failure] = []
    with contextlib.ExitStack() as leases:
        child: _Child | None = None
        try:
            for variables in items:
                if child is None:
                    leases.close()
                    try:
                        identity = leases.enter_context(limits.budget.identities.lease())
                        child, load_error = await _Child.start(source, limits, identity)
                    except (OSError, RuntimeError) as exc:
                        child, load_error = None, f"the evaluator process could not be started: {exc}"
                    if load_error is not None:
                        return results + [Failure(load_error)] * (len(items) - len(results))
                    assert child is not None  # started without a load error
                # An unguessable tag per item: forged lines on the reply channel do not match.
                n = secrets.randbits(62)
                reply = await child.exchange({"n": n, "variables": dict(variables)}, limits.timeout_seconds)
                outcome, healthy = item_outcome(reply, n)
                results.append(outcome)
                if not healthy:
                    await child.kill()
                    child = None
        finally:
            if child is not None:
                await child.close()
    return results
