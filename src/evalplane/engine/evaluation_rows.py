"""One evaluation result as a row, whatever it is stored on (span, trace, session, experiment run)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evalplane.engine.executor import UnitResult


def evaluation_row(result: UnitResult, now: Any, worker: str, target_column: str) -> dict[str, Any]:
    """The stored form of a unit's result, keyed by ``target_column`` (the kind's own key)."""
    assert result.outcome is not None and result.evaluator is not None
    unit = result.unit
    metadata = {
        **result.outcome.metadata,
        "task_id": unit.task_id,
        "task_run_id": unit.run_id,
        "evaluator_id": result.evaluator.evaluator_id,
        "evaluator_version_id": result.evaluator.version_id,
        "worker": worker,  # which engine process recorded it (operators tracing a result)
    }
    if result.usage.total_tokens:
        metadata["prompt_tokens"] = result.usage.prompt_tokens
        metadata["completion_tokens"] = result.usage.completion_tokens
    return {
        target_column: unit.target_id,
        "name": result.evaluator.name,
        "label": result.outcome.label[:1024] if result.outcome.label else None,
        "score": result.outcome.score,
        "explanation": result.outcome.explanation,
        "metadata": metadata,
        "task_id": unit.task_id,
        "task_run_id": unit.run_id,
        "created_at": now,
        "updated_at": now,
    }
