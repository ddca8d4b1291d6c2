"""Which scope a task evaluates (spans, traces or sessions), and the rules that tie its
evaluators and filters to that scope.

An evaluator version's ``data_granularity`` sets its scope; a version-pinned link uses that
version, an unpinned one the evaluator's newest. One task evaluates one scope. Span-scope
evaluators take the span shape (``column_mappings``, a per-evaluator ``query_filter``) and
trace- and session-scope ones the trace shape (``query_mappings``); the task's own filter
follows: ``query_filter`` selects spans, ``query_filters`` traces or sessions. Each broken rule
is a 422 naming the evaluator: the request is well formed, the evaluators do not fit it.
(Mixing the two shapes in the request itself is a 400, found earlier by ``rules.check_shapes``.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.errors import Unprocessable
from evalplane.db.models import Evaluator, EvaluatorVersion
from evalplane.domains.evaluators.configs import evaluation_scope
from evalplane.domains.tasks.inputs import EvaluatorSpec

SPAN = "SPAN"
_WHAT = {"SPAN": "spans", "TRACE": "traces", "SESSION": "sessions"}


async def check_scopes(
    session: AsyncSession,
    specs: Sequence[EvaluatorSpec],
    query_filter: str | None,
    query_filters: dict[str, Any] | None,
    on_dataset: bool,
) -> str:
    """The one scope the task's evaluators share; Unprocessable when they or the filters disagree.

    Call it once the evaluators are known to exist and be visible (``rules.build_evaluator_links``).
    """
    if not specs:
        return SPAN
    scopes = await _scopes_of(session, specs)
    first_name, first_scope = scopes[0]
    for (name, scope), spec in zip(scopes, specs, strict=True):
        if scope != first_scope:
            raise Unprocessable(
                f"Evaluator '{name}' evaluates {_WHAT[scope]} (data_granularity {scope}) but evaluator "
                f"'{first_name}' evaluates {_WHAT[first_scope]} (data_granularity {first_scope}); "
                "one task evaluates one scope."
            )
        _check_shape(name, scope, spec)
    if first_scope != SPAN:
        if on_dataset:
            raise Unprocessable(
                f"Evaluator '{first_name}' evaluates {_WHAT[first_scope]} (data_granularity {first_scope}); "
                "dataset-based tasks evaluate experiment runs and need span-level evaluators."
            )
        if query_filter is not None:
            raise Unprocessable(
                f"Evaluator '{first_name}' evaluates {_WHAT[first_scope]} (data_granularity {first_scope}); "
                "select them with 'query_filters', not 'query_filter'."
            )
    elif query_filters is not None:
        raise Unprocessable(
            f"Evaluator '{first_name}' evaluates spans (data_granularity SPAN); 'query_filters' selects traces "
            "and sessions, so select spans with 'query_filter'."
        )
    return first_scope


def _check_shape(name: str, scope: str, spec: EvaluatorSpec) -> None:
    if scope == SPAN and spec.query_mappings is not None:
        raise Unprocessable(
            f"Evaluator '{name}' evaluates spans (data_granularity SPAN); map its variables with "
            "'column_mappings', not 'query_mappings'."
        )
    if scope != SPAN and spec.span_shaped:
        given = "'column_mappings'" if spec.column_mappings is not None else "a 'query_filter'"
        raise Unprocessable(
            f"Evaluator '{name}' evaluates {_WHAT[scope]} (data_granularity {scope}) and cannot take {given}; "
            "map its variables with 'query_mappings' and select with the task's 'query_filters'."
        )


async def _scopes_of(session: AsyncSession, specs: Sequence[EvaluatorSpec]) -> list[tuple[str, str]]:
    """(evaluator name, scope) of each spec, in order."""
    evaluator_ids = [s.evaluator_id for s in specs]
    names = dict(
        (await session.execute(select(Evaluator.id, Evaluator.name).where(Evaluator.id.in_(evaluator_ids)))).all()
    )
    newest = (
        select(func.max(EvaluatorVersion.id))
        .where(EvaluatorVersion.evaluator_id.in_(evaluator_ids))
        .group_by(EvaluatorVersion.evaluator_id)
    )
    pinned = [s.evaluator_version_id for s in specs if s.evaluator_version_id is not None]
    rows = await session.execute(
        select(EvaluatorVersion.id, EvaluatorVersion.evaluator_id, EvaluatorVersion.config).where(
            EvaluatorVersion.id.in_(newest) | EvaluatorVersion.id.in_(pinned)
        )
    )
    configs: dict[int, dict[str, Any]] = {}
    newest_of: dict[int, int] = {}
    for version_id, evaluator_id, config in rows.all():
        configs[version_id] = config
        newest_of[evaluator_id] = max(version_id, newest_of.get(evaluator_id, 0))
    scopes = []
    for spec in specs:
        version_id = spec.evaluator_version_id or newest_of.get(spec.evaluator_id)
        config = configs.get(version_id) if version_id is not None else None
        scopes.append((names.get(spec.evaluator_id, str(spec.evaluator_id)), evaluation_scope(config or {})))
    return scopes
