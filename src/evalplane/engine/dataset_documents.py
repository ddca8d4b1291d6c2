"""Loading what dataset-based units work on: an experiment run joined to its example (for
dataset evaluation tasks) and a dataset example with its task's run configuration (for
run_experiment generation).

How an evaluator's variables resolve against an experiment run (the convention, also in
bench/README and the tests):

* the run's columns win at the top level: ``output``, ``error``, ``example_id`` and every
  extra column the run was written with;
* every other top-level name is a column of the run's dataset example (``input``,
  ``expected``, ``attributes.input.value`` ...);
* ``example.<column>`` and ``run.<column>`` name one side explicitly (an example column
  called ``output`` is ``example.output``);
* ``input`` falls back to the example's ``attributes.input.value`` (datasets built from
  spans), and ``query``/``response``/``reference`` mean ``input``/``output``/``expected``
  when the task maps nothing.

So a template over ``{input}`` and ``{output}`` needs no column mappings. The run's example
is found through its ``example_id`` (a dataset example id), in the experiment's dataset
version, else the example's newest revision.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import noload

from evalplane.core.errors import UnknownId
from evalplane.core.ids import Kind, decode_id, encode_id
from evalplane.db.models import (
    AiIntegration,
    DatasetExample,
    Experiment,
    ExperimentRun,
    Task,
)
from evalplane.domains.datasets import store
from evalplane.domains.experiments.records import run_columns
from evalplane.jobs.units import Claimed

EXAMPLE, EXPERIMENT_RUN = "EXAMPLE", "EXPERIMENT_RUN"

# Conventional meanings of unmapped variables over a run document (see the module docstring).
RUN_DEFAULTS = {"query": "input", "response": "output", "reference": "expected"}


def example_number(public_id: str | None) -> int | None:
    """The stable example id inside a run's ``example_id``, if it is a dataset example id."""
    if not public_id:
        return None
    try:
        return decode_id(Kind.DATASET_EXAMPLE, public_id, field="example_id")
    except UnknownId:
        return None


def run_document(run: ExperimentRun, example: dict[str, Any] | None) -> dict[str, Any]:
    own = run_columns(run)
    columns = dict(example or {})
    document: dict[str, Any] = {**columns, **own}
    if "input" not in document and "attributes.input.value" in columns:
        document["input"] = columns["attributes.input.value"]
    if not isinstance(document.get("attributes", {}), dict):
        document.pop("attributes")  # variables treat 'attributes' as a namespace
    document["example"] = columns
    document["run"] = own
    return document


async def load_targets(session: AsyncSession, claimed: Sequence[Claimed]) -> dict[tuple[str, int], dict[str, Any]]:
    """Documents for the batch's EXPERIMENT_RUN and EXAMPLE units, keyed by (kind, target id)."""
    documents: dict[tuple[str, int], dict[str, Any]] = {}
    run_ids = [c.target_id for c in claimed if c.target_kind == EXPERIMENT_RUN]
    if run_ids:
        documents.update(await _run_documents(session, run_ids))
    examples = [c for c in claimed if c.target_kind == EXAMPLE]
    if examples:
        documents.update(await _example_documents(session, examples))
    return documents


async def _run_documents(session: AsyncSession, run_ids: list[int]) -> dict[tuple[str, int], dict[str, Any]]:
    rows = (
        await session.execute(
            select(ExperimentRun, Experiment.dataset_id, Experiment.dataset_version_id)
            .join(Experiment, Experiment.id == ExperimentRun.experiment_id)
            .where(ExperimentRun.id.in_(run_ids))
            .options(noload(ExperimentRun.evaluations))
        )
    ).all()
    wanted: dict[tuple[int, int | None], set[int]] = defaultdict(set)
    for run, dataset_id, version_id in rows:
        number = example_number(run.example_id)
        if dataset_id is not None and number is not None:
            wanted[(dataset_id, version_id)].add(number)
    found: dict[tuple[int, int], dict[str, Any]] = {}
    for (dataset_id, version_id), numbers in wanted.items():
        for number, data in (await _example_columns(session, dataset_id, version_id, numbers)).items():
            found[(dataset_id, number)] = data
    out = {}
    for run, dataset_id, _ in rows:
        example = found.get((dataset_id, example_number(run.example_id) or 0)) if dataset_id is not None else None
        out[(EXPERIMENT_RUN, run.id)] = run_document(run, example)
    return out


async def _example_columns(
    session: AsyncSession, dataset_id: int, version_id: int | None, numbers: Iterable[int]
) -> dict[int, dict[str, Any]]:
    """Each example's columns in the version, else in its newest revision."""
    numbers = set(numbers)
    out: dict[int, dict[str, Any]] = {}
    if version_id is not None:
        out = {n: dict(row.data or {}) for n, row in (await store.current(session, version_id, numbers)).items()}
    rest = numbers - set(out)
    if rest:
        rows = await session.scalars(
            select(DatasetExample)
            .where(DatasetExample.dataset_id == dataset_id, DatasetExample.example_id.in_(sorted(rest)))
            .order_by(DatasetExample.id)
        )
        for row in rows.all():  # ascending ids: the newest revision is written last
            out[row.example_id] = dict(row.data or {})
    return out


async def _example_documents(session: AsyncSession, claimed: list[Claimed]) -> dict[tuple[str, int], dict[str, Any]]:
    """For generation: the example's columns in the run's version, its public id, the task's
    run configuration, the experiment to write into, and the integration's default model."""
    configs = await _run_configurations(session, {c.task_id for c in claimed})
    by_version: dict[int, list[Claimed]] = defaultdict(list)
    for unit in claimed:
        by_version[int((unit.payload or {}).get("version_id") or 0)].append(unit)
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for version_id, group in by_version.items():
        rows = await store.current(session, version_id, [u.target_id for u in group])
        for unit in group:
            row = rows.get(unit.target_id)
            config = configs.get(unit.task_id)
            if row is None or config is None:
                continue
            out[(EXAMPLE, unit.target_id)] = {
                "columns": dict(row.data or {}),
                "example_id": encode_id(Kind.DATASET_EXAMPLE, row.example_id),
                "experiment_id": int((unit.payload or {}).get("experiment_id") or 0),
                "run_configuration": config,
            }
    return out


async def _run_configurations(session: AsyncSession, task_ids: set[int]) -> dict[int, dict[str, Any]]:
    tasks = (await session.scalars(select(Task).where(Task.id.in_(sorted(task_ids))))).all()
    out: dict[int, dict[str, Any]] = {}
    for task in tasks:
        config = dict(task.run_configuration or {})
        if not config.get("model_name"):
            integration = await session.get(AiIntegration, int(config.get("ai_integration_id") or 0))
            names = list(integration.model_names or []) if integration is not None else []
            if names:
                config["model_name"] = names[0]
        out[task.id] = config
    return out
