"""Experiments over Flight: ``create_experiment_db_entry`` (the SDK's ``init_experiment``), the
runs upload (``post_experiment_data``) and whole-experiment reads (``get_experiment``, used by
``list_runs(all=True)`` and ``export_to_parquet``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pyarrow import flight
from sqlalchemy import select

from evalplane.core.errors import InvalidInput, NotFound
from evalplane.core.ids import Kind, encode_id
from evalplane.db.models import Experiment, ExperimentRun
from evalplane.domains.datasets import annotations as notes
from evalplane.domains.datasets import service as datasets
from evalplane.domains.experiments import records
from evalplane.domains.experiments import service as experiments
from evalplane.domains.projects import service as projects
from evalplane.flight.protocol import Fields, encode_message
from evalplane.flight.registry import FlightCall, Routes, record_stream
from evalplane.flight.tables import Spool, batch_records, receive, records_stream, upload_columns

routes = Routes()

READ_CHUNK = 2000


def _optional_space(fields: Fields) -> int | None:
    return fields.id_of("space_id", Kind.SPACE, required=False)


def _dataset(fields: Fields) -> int:
    return fields.require_id("dataset_id", Kind.DATASET)


def _in_space(space_id: int | None, actual: int, what: str) -> None:
    """The SDK names the space too; a resource of another space is not found there."""
    if space_id is not None and space_id != actual:
        raise NotFound(f"{what} was not found in this space.")


def trace_project_name(experiment: Experiment) -> str:
    """The project the SDK sends the experiment's traces to (over OTLP), one per experiment."""
    return f"experiment traces {encode_id(Kind.EXPERIMENT, experiment.id)}"


@routes.action("create_experiment_db_entry", "Create an experiment over a dataset and its traces project.")
def create_experiment(call: FlightCall, fields: Fields) -> list[bytes]:
    space_id = _optional_space(fields)
    dataset_id = _dataset(fields)
    name = fields.require("experiment_name")

    async def create() -> tuple[int, str]:
        async with call.state.db.session() as session:
            dataset = await datasets.get(session, call.principal, dataset_id)
            _in_space(space_id, dataset.space_id, "Dataset")
            experiment = await experiments.start(session, call.principal, name=name, dataset_id=dataset.id)
            project = trace_project_name(experiment)
            await projects.get_or_create(session, space_id=experiment.space_id, name=project)
            return experiment.id, project

    experiment_id, project = call.run(create())
    reply = encode_message(
        [
            (1, encode_id(Kind.EXPERIMENT, experiment_id)),
            (2, encode_id(Kind.DATASET, dataset_id)),
            (3, project),
        ]
    )
    return [reply]


@routes.put("post_experiment_data")
def post_runs(call: FlightCall, fields: Fields, reader: flight.MetadataRecordBatchReader) -> bytes:
    """Append runs to an experiment the SDK created first; spooled, then written in one
    transaction, so a stream that breaks off or a run that does not validate stores nothing."""
    space_id = _optional_space(fields)
    dataset_id = _dataset(fields)
    name = fields.require("experiment_name")

    async def target() -> int:
        async with call.state.db.session() as session:
            experiment = await experiments.named(session, call.principal, dataset_id=dataset_id, name=name)
            _in_space(space_id, experiment.space_id, "Experiment")
            call.principal.require_write(experiment.space_id, "Experiment")
            return experiment.id

    experiment_id = call.run(target())
    columns = upload_columns(reader.schema)
    for needed in ("example_id", "output"):
        if needed not in columns:
            raise InvalidInput(f"The runs need an '{needed}' column.")
    with Spool(reader.schema, call.state.settings.flight_max_upload_bytes) as spool:
        receive(reader, spool, call.ensure_live)
        if spool.rows == 0:
            raise InvalidInput("The upload holds no runs.")
        with call.unit_of_work() as session:
            for batch in spool.batches(experiments.MAX_RUNS_PER_REQUEST):
                runs = batch_records(batch, columns)
                call.run(experiments.insert_runs(session, call.principal, experiment_id, list(runs)))
    return encode_message([(1, encode_id(Kind.EXPERIMENT, experiment_id)), (2, encode_id(Kind.DATASET, dataset_id))])


@routes.get("get_experiment")
def get_experiment(call: FlightCall, fields: Fields) -> flight.FlightDataStream:
    """Every run, in the order written: ``id``, ``example_id``, ``output``, ``error``, the columns
    it was uploaded with, then the engine's ``eval.<name>.*`` results."""
    space_id = _optional_space(fields)
    experiment_id = fields.require_id("experiment_id", Kind.EXPERIMENT)

    async def resolve() -> int:
        async with call.state.db.session() as session:
            experiment = await experiments.get(session, call.principal, experiment_id)
            _in_space(space_id, experiment.space_id, "Experiment")
            return experiment.id

    found = call.run(resolve())

    def chunks() -> Iterator[list[dict[str, Any]]]:
        after = 0
        while True:
            rows = call.run(_read_chunk(call, found, after))
            if rows:
                yield [_run_record(run) for run in rows]
            if len(rows) < READ_CHUNK:
                return
            after = rows[-1].id

    schema, batches = records_stream(chunks)
    return record_stream(schema, batches)


def _run_record(run: ExperimentRun) -> dict[str, Any]:
    record: dict[str, Any] = {"id": encode_id(Kind.EXPERIMENT_RUN, run.id), **records.run_columns(run)}
    record.update(records.eval_columns(run))
    record.update(notes.flatten(run.annotations))
    return record


async def _read_chunk(call: FlightCall, experiment_id: int, after: int) -> list[ExperimentRun]:
    async with call.state.db.session() as session:
        stmt = (
            select(ExperimentRun)
            .where(ExperimentRun.experiment_id == experiment_id, ExperimentRun.id > after)
            .order_by(ExperimentRun.id)
            .limit(READ_CHUNK)
        )
        return list((await session.scalars(stmt)).all())
