"""Experiments and their runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import delete, select
from sqlalchemy import update as sa_update
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.clock import utcnow
from evalplane.core.cursors import CursorCodec
from evalplane.core.errors import Conflict, InvalidInput, NotFound, UnknownId
from evalplane.core.ids import Kind, decode_id
from evalplane.db.models import Experiment, ExperimentRun
from evalplane.db.paging import Page, PageRequest, paginate
from evalplane.domains import common
from evalplane.domains.access.principal import Principal
from evalplane.domains.datasets import annotations as notes
from evalplane.domains.datasets import service as datasets
from evalplane.domains.datasets.examples import scan_filtered
from evalplane.filters.records import record_search

MAX_RUNS_PER_REQUEST = 1000
# Written by the server; a run may not carry its own value for these.
SYSTEM_RUN_FIELDS = ("id", "annotations")


@dataclass(frozen=True, slots=True)
class ExperimentFilters:
    dataset_id: int | None = None
    space_id: int | None = None
    name: str | None = None


def clean_name(name: str) -> str:
    name = common.clean_name(name)
    if '"' in name or "\\" in name:
        raise InvalidInput("'name' must not contain double quotes or backslashes.", field="name")
    return name


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def validate_runs(runs: list[Any], with_dataset: bool) -> list[dict[str, Any]]:
    """Split each run into its known columns and the rest (kept as extra columns)."""
    if not runs:
        raise InvalidInput("'experiment_runs' must hold at least one run.", field="experiment_runs")
    if len(runs) > MAX_RUNS_PER_REQUEST:
        raise InvalidInput(
            f"'experiment_runs' holds at most {MAX_RUNS_PER_REQUEST} runs per request.", field="experiment_runs"
        )
    out = []
    for i, run in enumerate(runs):
        where = f"experiment_runs[{i}]"
        if not isinstance(run, dict):
            raise InvalidInput(f"{where} must be a JSON object.", field="experiment_runs")
        for key in run:
            if key in SYSTEM_RUN_FIELDS:
                raise InvalidInput(
                    f"{where} contains '{key}', which the server assigns; remove it.", field="experiment_runs"
                )
            if not key.strip():
                raise InvalidInput(f"{where} has an empty field name.", field="experiment_runs")
        if "output" not in run:
            raise InvalidInput(f"{where} needs an 'output'.", field="experiment_runs")
        example_id = run.get("example_id")
        if with_dataset and (example_id is None or (isinstance(example_id, str) and not example_id.strip())):
            raise InvalidInput(
                f"{where} needs an 'example_id': the experiment is associated with a dataset.", field="experiment_runs"
            )
        example_text = (
            None if example_id is None else (example_id if isinstance(example_id, str) else _text(example_id))
        )
        if example_text is not None and len(example_text) > 255:
            raise InvalidInput(f"{where}: 'example_id' is longer than 255 characters.", field="experiment_runs")
        extra = {k: v for k, v in run.items() if k not in ("example_id", "output", "error")}
        out.append(
            {
                "example_id": example_text,
                "output": _text(run["output"]),
                "error": _text(run.get("error")),
                "data": extra,
            }
        )
    return out


async def _ensure_unique(session: AsyncSession, space_id: int, dataset_id: int | None, name: str) -> None:
    stmt = select(Experiment.id).where(Experiment.name == name)
    if dataset_id is not None:
        stmt = stmt.where(Experiment.dataset_id == dataset_id)
        scope = "this dataset"
    else:
        stmt = stmt.where(Experiment.space_id == space_id, Experiment.dataset_id.is_(None))
        scope = "this space (among experiments without a dataset)"
    if await session.scalar(stmt) is not None:
        raise Conflict(f"An experiment named '{name}' already exists in {scope}.")


async def _add_runs(session: AsyncSession, experiment: Experiment, runs: list[dict[str, Any]]) -> list[int]:
    now = utcnow()
    rows = [
        ExperimentRun(
            experiment_id=experiment.id, annotations=[], evaluations=[], created_at=now, updated_at=now, **run
        )
        for run in runs
    ]
    session.add_all(rows)
    await session.flush()
    return [row.id for row in rows]


async def create(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    dataset_id: int | None,
    space_id: int | None,
    runs: list[Any],
) -> tuple[Experiment, list[int]]:
    if (dataset_id is None) == (space_id is None):
        raise InvalidInput("Provide exactly one of 'dataset_id' or 'space_id'.", field="dataset_id")
    version_id = None
    if dataset_id is not None:
        dataset = await datasets.writable(session, principal, dataset_id)
        space_id = dataset.space_id
        version_id = (await datasets.version(session, dataset, None)).id
    else:
        assert space_id is not None
        await common.visible_space(session, space_id, principal)
        principal.require_write(space_id, "Space")
    name = clean_name(name)
    rows = validate_runs(runs, with_dataset=dataset_id is not None)
    await _ensure_unique(session, space_id, dataset_id, name)
    experiment = Experiment(
        space_id=space_id,
        dataset_id=dataset_id,
        dataset_version_id=version_id,
        name=name,
        created_by_user_id=principal.user_id,
    )
    session.add(experiment)
    await session.flush()
    return experiment, await _add_runs(session, experiment, rows)


async def start(session: AsyncSession, principal: Principal, *, name: str, dataset_id: int) -> Experiment:
    """A new experiment over the dataset's newest version, with no runs yet (the SDK creates it
    first, runs its task, then uploads the runs)."""
    dataset = await datasets.writable(session, principal, dataset_id)
    version_id = (await datasets.version(session, dataset, None)).id
    name = clean_name(name)
    await _ensure_unique(session, dataset.space_id, dataset.id, name)
    experiment = Experiment(
        space_id=dataset.space_id,
        dataset_id=dataset.id,
        dataset_version_id=version_id,
        name=name,
        created_by_user_id=principal.user_id,
    )
    session.add(experiment)
    await session.flush()
    return experiment


async def named(session: AsyncSession, principal: Principal, *, dataset_id: int, name: str) -> Experiment:
    """The experiment of that name over the dataset, if the caller can see it."""
    dataset = await datasets.get(session, principal, dataset_id)
    found = await session.scalar(
        select(Experiment).where(Experiment.dataset_id == dataset.id, Experiment.name == name.strip())
    )
    if found is None:
        raise NotFound(f"No experiment named '{name}' was found for this dataset.")
    return found


async def get(session: AsyncSession, principal: Principal, experiment_id: int) -> Experiment:
    return await common.get_visible(session, Experiment, experiment_id, principal, "Experiment")


async def writable(session: AsyncSession, principal: Principal, experiment_id: int) -> Experiment:
    experiment = await get(session, principal, experiment_id)
    principal.require_write(experiment.space_id, "Experiment")
    return experiment


async def remove(session: AsyncSession, principal: Principal, experiment_id: int) -> None:
    experiment = await writable(session, principal, experiment_id)
    await session.execute(delete(Experiment).where(Experiment.id == experiment.id))


async def insert_runs(
    session: AsyncSession, principal: Principal, experiment_id: int, runs: list[Any]
) -> tuple[Experiment, list[int]]:
    experiment = await writable(session, principal, experiment_id)
    rows = validate_runs(runs, with_dataset=experiment.dataset_id is not None)
    ids = await _add_runs(session, experiment, rows)
    experiment.updated_at = utcnow()
    await session.flush()
    return experiment, ids


async def list_experiments(
    session: AsyncSession, principal: Principal, filters: ExperimentFilters, page: PageRequest, codec: CursorCodec
) -> Page[Experiment]:
    if filters.dataset_id is not None and filters.space_id is not None:
        raise InvalidInput("Provide at most one of 'dataset_id' or 'space_id'.", field="dataset_id")
    stmt = select(Experiment)
    if filters.dataset_id is not None:
        await common.visible_dataset(session, filters.dataset_id, principal)
        stmt = stmt.where(Experiment.dataset_id == filters.dataset_id)
    if filters.space_id is not None:
        await common.visible_space(session, filters.space_id, principal)
        stmt = stmt.where(Experiment.space_id == filters.space_id)
    if filters.name:
        stmt = stmt.where(common.contains_ci(Experiment.name, filters.name))
    scope = common.space_scope(Experiment.space_id, principal)
    if scope is not None:
        stmt = stmt.where(scope)
    raw = {"dataset_id": filters.dataset_id, "space_id": filters.space_id, "name": filters.name}
    return await paginate(
        session,
        stmt,
        Experiment.id,
        page,
        codec=codec,
        scope="experiments",
        filters=common.cursor_filters(**raw),
    )


async def list_runs(
    session: AsyncSession,
    principal: Principal,
    experiment_id: int,
    page: PageRequest,
    codec: CursorCodec,
    *,
    filter_text: str | None = None,
    to_record: Callable[[ExperimentRun], dict[str, Any]] | None = None,
) -> Page[ExperimentRun]:
    """Runs in insertion order; with ``filter_text``, only those whose record matches it."""
    experiment = await get(session, principal, experiment_id)
    predicate = record_search(filter_text) if filter_text is not None else None
    stmt = select(ExperimentRun).where(ExperimentRun.experiment_id == experiment.id)
    filters = {"experiment": experiment.id, "filter": filter_text}
    if predicate is None or to_record is None:
        return await paginate(
            session, stmt, ExperimentRun.id, page, codec=codec, scope="experiment_runs", filters=filters, ascending=True
        )
    return await scan_filtered(
        session, stmt, ExperimentRun.id, page, codec, "experiment_runs", filters, lambda row: predicate(to_record(row))
    )


async def annotate_runs(
    session: AsyncSession,
    principal: Principal,
    experiment_id: int,
    items: list[tuple[str, list[notes.AnnotationValue]]],
) -> None:
    """Upsert annotations by name on each run; ids of other experiments' runs are ignored."""
    experiment = await writable(session, principal, experiment_id)
    wanted: dict[int, list[notes.AnnotationValue]] = {}
    for i, (record_id, values) in enumerate(items):
        notes.clean_values(values, f"annotations[{i}]")
        try:
            number = decode_id(Kind.EXPERIMENT_RUN, record_id, field="record_id")
        except UnknownId:
            continue
        wanted.setdefault(number, []).extend(values)
    if not wanted:
        return
    who = await notes.annotator(session, principal.user_id)
    stmt = select(ExperimentRun).where(ExperimentRun.experiment_id == experiment.id, ExperimentRun.id.in_(list(wanted)))
    for run in (await session.scalars(stmt)).all():
        await session.execute(
            sa_update(ExperimentRun)
            .where(ExperimentRun.id == run.id)
            .values(annotations=notes.upsert(run.annotations, wanted[run.id], who), updated_at=ExperimentRun.updated_at)
            .execution_options(synchronize_session=False)
        )
