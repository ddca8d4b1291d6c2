"""Custom code evaluators run contained: no network, no secrets, no files, bounded time and memory."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import textwrap

import pytest

from evalplane.engine.code.budget import SandboxBudget
from evalplane.engine.code.outcome import Failure, Outcome
from evalplane.engine.code.sandbox import CustomCode, Limits, run_custom

FAST = Limits(timeout_seconds=3, memory_mb=256, cpu_seconds=20)


def evaluator(body: str, imports: str = "") -> CustomCode:
    code = "class Probe(CodeEvaluator):\n    def evaluate(self, *, output=None, **kwargs):\n" + textwrap.indent(
        textwrap.dedent(body), "        "
    )
    return CustomCode(code=code, imports=imports)


async def test_arize_style_evaluator_scores_each_item() -> None:
    code = textwrap.dedent(
        """
        from arize.experiments.evaluators.base import CodeEvaluator, EvaluationResult

        class Length(CodeEvaluator):
            def evaluate(self, *, output=None, **kwargs) -> EvaluationResult:
                n = len(output or "")
                return EvaluationResult(score=n, label="long" if n > 3 else "short", explanation=f"{n} chars")
        """
    )
    results = await run_custom(CustomCode(code), [{"output": "hello"}, {"output": "hi"}], FAST)
    assert results == [
        Outcome(label="long", score=5.0, explanation="5 chars"),
        Outcome(label="short", score=2.0, explanation="2 chars"),
    ]


async def test_plain_return_shapes_and_static_params() -> None:
    code = CustomCode(
        code=textwrap.dedent(
            """
            import difflib
            class Similar(CodeEvaluator):
                def evaluate(self, *, output=None, expected=None, threshold="0.5", **kwargs):
                    ratio = round(difflib.SequenceMatcher(None, output, expected).ratio(), 2)
                    return (ratio, "similar" if ratio >= float(threshold) else "different", None)
            """
        ),
        params={"threshold": "0.9"},
    )
    results = await run_custom(code, [{"output": "hello", "expected": "hallo"}], FAST)
    assert results == [Outcome(label="different", score=0.8)]


async def test_infinite_loop_times_out_and_next_item_still_runs() -> None:
    code = evaluator(
        """
        if output == "loop":
            while True:
                pass
        return True
        """
    )
    results = await run_custom(code, [{"output": "loop"}, {"output": "fine"}], Limits(timeout_seconds=1))
    assert results[0] == Failure("the evaluator timed out after 1 s")
    assert results[1] == Outcome(label="true", score=1.0)


async def test_memory_hog_is_stopped() -> None:
    results = await run_custom(evaluator("x = bytearray(2_000_000_000)\nreturn True"), [{"output": "a"}], FAST)
    assert isinstance(results[0], Failure) and "memory" in results[0].reason.lower()


async def test_network_is_unreachable() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        body = f"""
        import socket
        conn = socket.socket()
        conn.connect(("127.0.0.1", {port}))
        return "connected"
        """
        results = await run_custom(evaluator(body), [{"output": "a"}], FAST)
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()
    assert results == [Failure("PermissionError: [Errno 1] Operation not permitted (line 5)")]


async def test_server_environment_is_invisible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALPLANE_SECRET_KEY", "do-not-leak")
    read_environ = await run_custom(evaluator('return open("/proc/self/environ").read()'), [{}], FAST)
    os_environ = await run_custom(evaluator("import os\nreturn str(dict(os.environ))"), [{}], FAST)
    # The child's own /proc entry is not even readable to it once it has dropped root.
    assert "do-not-leak" not in repr(read_environ)
    assert os_environ == [Outcome(label="{}")]


async def test_database_file_cannot_be_read(tmp_path) -> None:
    db = tmp_path / "evalplane.db"
    sqlite3.connect(db).execute("create table secrets (v text)").connection.commit()
    results = await run_custom(evaluator(f'return open({str(db)!r}, "rb").read(16).hex()'), [{}], FAST)
    assert isinstance(results[0], Failure) and "FileNotFoundError" in results[0].reason


async def test_ordinary_code_that_the_old_audit_hook_refused_now_works() -> None:
    # Frames, gc and any stdlib import are harmless inside the OS boundary.
    body = "import gc, sys, sqlite3, tempfile\nreturn str(bool(gc.get_objects()) and sys._getframe(0) is not None)"
    assert await run_custom(evaluator(body), [{"output": "x"}], FAST) == [Outcome(label="True")]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("def broken(:\n    pass", "SyntaxError in the code: invalid syntax (line 1)"),
        ("class NotAnEvaluator:\n    pass", "defines no subclass of CodeEvaluator"),
        ("raise RuntimeError('boom')", "RuntimeError: boom (line 1)"),
    ],
)
async def test_broken_evaluator_fails_every_item_with_an_actionable_reason(code: str, message: str) -> None:
    results = await run_custom(CustomCode(code), [{"output": "a"}, {"output": "b"}], FAST)
    assert len(results) == 2
    for result in results:
        assert isinstance(result, Failure) and message in result.reason


@pytest.mark.slow
async def test_a_worker_runs_at_most_its_budget_of_children_at_once() -> None:
    body = "import time\nstart = time.time()\ntime.sleep(0.2)\nreturn f'{start},{time.time()}'"
    for budget, most in (
        (SandboxBudget(max_children=3, memory_mb=4096), 3),
        (SandboxBudget(max_children=8, memory_mb=512), 2),
    ):
        limits = Limits(timeout_seconds=10, memory_mb=256, budget=budget)
        # Like one span with 16 custom evaluators.
        batches = await asyncio.gather(*(run_custom(evaluator(body), [{}], limits) for _ in range(16)))
        windows = [tuple(map(float, batch[0].label.split(","))) for batch in batches]
        overlap = max(sum(1 for s, e in windows if s <= t < e) for t, _ in windows)
        assert overlap <= most
        assert (budget.children, budget.reserved_mb) == (0, 0)


async def test_unusable_return_value_is_reported() -> None:
    results = await run_custom(evaluator("return None"), [{"output": "a"}], FAST)
    assert isinstance(results[0], Failure) and "unusable result" in results[0].reason
