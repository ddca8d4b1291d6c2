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


def run_document_sql(dialect: str, runs: Any, evaluations: Any) -> Any:
    """A run's record as a JSON document SQL filters can read: its extra columns, then output,
    error and example_id, then ``eval.<name>.<field>`` (a later source wins, as in ``filter_record``).

    ``id`` and ``annotation.*`` are not in it: search filters records in memory, and this form
    exists so tests can prove the SQL and in-memory readings of the language agree.
    """
    from sqlalchemy import func, literal, select
    from sqlalchemy.dialects import postgresql

    mine = evaluations.c.experiment_run_id == runs.c.id
    if dialect == "postgresql":
        jsonb = postgresql.JSONB
        fixed = func.jsonb_build_object("output", runs.c.output, "error", runs.c.error, "example_id", runs.c.example_id)
        pairs = [
            select(func.jsonb_object_agg(literal("eval.") + evaluations.c.name + "." + field, evaluations.c[field]))
            .where(mine, evaluations.c[field].is_not(None))
            .scalar_subquery()
            for field in EVAL_FIELDS
        ]
        document = runs.c.data.cast(jsonb).op("||", return_type=jsonb)(fixed)
        for part in pairs:
            document = document.op("||", return_type=jsonb)(func.coalesce(part, literal("{}").cast(jsonb)))
        return document
    # SQLite: json_patch drops keys whose new value is null, which reads as NULL all the same.
    fixed = func.json_object("output", runs.c.output, "error", runs.c.error, "example_id", runs.c.example_id)
    document = func.json_patch(runs.c.data, fixed)
    for field in EVAL_FIELDS:
        part = (
            select(func.json_group_object(literal("eval.") + evaluations.c.name + "." + field, evaluations.c[field]))
            .where(mine, evaluations.c[field].is_not(None))
            .scalar_subquery()
        )
        document = func.json_patch(document, func.coalesce(part, "{}"))
    return document
