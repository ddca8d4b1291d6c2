"""Experiment runs as flat records: the ``eval.<name>.<field>`` columns the engine writes,
and the record a filter over runs sees."""

from __future__ import annotations

from typing import Any

from evalplane.core.ids import Kind, encode_id
from evalplane.db.models import ExperimentRun
from evalplane.domains.datasets import annotations as notes

EVAL_FIELDS = ("label", "score", "explanation")


def eval_columns(run: ExperimentRun) -> dict[str, Any]:
    """``eval.<name>.label|score|explanation`` for each evaluation of the run (set fields only)."""
    out: dict[str, Any] = {}
    for evaluation in run.evaluations:
        for field in EVAL_FIELDS:
            value = getattr(evaluation, field)
            if value is not None:
                out[f"eval.{evaluation.name}.{field}"] = value
    return out


def run_columns(run: ExperimentRun) -> dict[str, Any]:
    """The run's own columns: output, error, example_id and every extra column it was written with."""
    out: dict[str, Any] = {"output": run.output, "error": run.error, "example_id": run.example_id}
    for key, value in (run.data or {}).items():
        out.setdefault(key, value)
    return out


def filter_record(run: ExperimentRun) -> dict[str, Any]:
    """What a filter over runs sees: id, the run's columns, eval.* and annotation.* columns."""
    record = {"id": encode_id(Kind.EXPERIMENT_RUN, run.id), **run_columns(run)}
    record.update(eval_columns(run))
    record.update(notes.flatten(run.annotations))
    return record
