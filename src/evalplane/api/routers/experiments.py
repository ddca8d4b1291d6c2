"""Experiments and their runs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from evalplane.api import wire
from evalplane.api.deps import Caller, State
from evalplane.api.routers.datasets import AnnotateRecords, annotation_items
from evalplane.core.clock import isoformat
from evalplane.core.ids import Kind, decode_id, encode_id, maybe_decode_id
from evalplane.db.models import Experiment, ExperimentRun
from evalplane.domains.datasets import annotations as notes
from evalplane.domains.experiments import records, service
from evalplane.domains.experiments.service import ExperimentFilters

router = APIRouter(prefix="/v2", tags=["Experiments"])

Runs = Annotated[list[dict[str, Any]], Field(min_length=1, max_length=1000)]


class CreateExperiment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    dataset_id: str | None = None
    space_id: str | None = None
    experiment_runs: Runs


class InsertRuns(BaseModel):
    model_config = ConfigDict(extra="forbid")
    experiment_runs: Runs


class SearchRuns(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filter: str | None = Field(default=None, max_length=10_000)
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = None


def to_wire(experiment: Experiment) -> dict[str, Any]:
    return {
        "id": encode_id(Kind.EXPERIMENT, experiment.id),
        "name": experiment.name,
        "space_id": encode_id(Kind.SPACE, experiment.space_id),
        "dataset_id": None if experiment.dataset_id is None else encode_id(Kind.DATASET, experiment.dataset_id),
        "dataset_version_id": (
            None
            if experiment.dataset_version_id is None
            else encode_id(Kind.DATASET_VERSION, experiment.dataset_version_id)
        ),
        "created_at": isoformat(experiment.created_at),
        "updated_at": isoformat(experiment.updated_at),
        "integration_id": None,
    }


def with_run_ids(experiment: Experiment, run_ids: list[int]) -> dict[str, Any]:
    return {**to_wire(experiment), "run_ids": [encode_id(Kind.EXPERIMENT_RUN, n) for n in run_ids]}


def run_to_wire(run: ExperimentRun) -> dict[str, Any]:
    """Known columns first, then every extra column the run was written with, flat."""
    out: dict[str, Any] = {
        "id": encode_id(Kind.EXPERIMENT_RUN, run.id),
        "example_id": run.example_id,
        "output": run.output,
        "error": run.error,
    }
    for key, value in (run.data or {}).items():
        out.setdefault(key, value)
    out.update(records.eval_columns(run))  # the engine's latest results win over uploaded columns
    if run.annotations:
        out["annotations"] = run.annotations
    return out


def run_record(run: ExperimentRun) -> dict[str, Any]:
    record = run_to_wire(run)
    record.pop("annotations", None)
    record.update(notes.flatten(run.annotations))
    return record


def _experiment_id(value: str) -> int:
    return decode_id(Kind.EXPERIMENT, value, field="experiment_id")


@router.get("/experiments", summary="List experiments")
async def list_experiments(
    state: State,
    caller: Caller,
    dataset_id: Annotated[str | None, Query()] = None,
    space_id: Annotated[str | None, Query()] = None,
    name: Annotated[str | None, Query(max_length=255)] = None,
    limit: Annotated[int, wire.limit_param(100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> wire.JSONResponse:
    filters = ExperimentFilters(
        dataset_id=maybe_decode_id(Kind.DATASET, dataset_id, field="dataset_id"),
        space_id=maybe_decode_id(Kind.SPACE, space_id, field="space_id"),
        name=name or None,
    )
    async with state.db.session() as session:
        page = await service.list_experiments(session, caller, filters, wire.page_request(limit, cursor), state.cursors)
    return wire.JSONResponse({"experiments": [to_wire(e) for e in page.items], "pagination": wire.pagination(page)})


@router.post("/experiments", status_code=201, summary="Create an experiment with its runs")
async def create_experiment(body: CreateExperiment, state: State, caller: Caller) -> wire.JSONResponse:
    dataset_id = maybe_decode_id(Kind.DATASET, body.dataset_id or None, field="dataset_id")
    space_id = maybe_decode_id(Kind.SPACE, body.space_id or None, field="space_id")
    async with state.db.session() as session:
        experiment, _ = await service.create(
            session, caller, name=body.name, dataset_id=dataset_id, space_id=space_id, runs=body.experiment_runs
        )
    return wire.JSONResponse(to_wire(experiment), status_code=201)


@router.get("/experiments/{experiment_id}", summary="Get an experiment")
async def get_experiment(experiment_id: str, state: State, caller: Caller) -> wire.JSONResponse:
    async with state.db.session() as session:
        experiment = await service.get(session, caller, _experiment_id(experiment_id))
    return wire.JSONResponse(to_wire(experiment))


@router.delete("/experiments/{experiment_id}", status_code=204, response_class=Response, summary="Delete an experiment")
async def delete_experiment(experiment_id: str, state: State, caller: Caller) -> Response:
    async with state.db.session() as session:
        await service.remove(session, caller, _experiment_id(experiment_id))
    return wire.no_content()


@router.get("/experiments/{experiment_id}/runs", summary="List the runs of an experiment")
async def list_runs(
    experiment_id: str,
    state: State,
    caller: Caller,
    limit: Annotated[int, wire.limit_param(500)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> wire.JSONResponse:
    async with state.db.session() as session:
        page = await service.list_runs(
            session, caller, _experiment_id(experiment_id), wire.page_request(limit, cursor), state.cursors
        )
    return wire.JSONResponse(
        {"experiment_runs": [run_to_wire(r) for r in page.items], "pagination": wire.pagination(page)}
    )


@router.post("/experiments/{experiment_id}/runs/search", summary="Search the runs of an experiment")
async def search_runs(experiment_id: str, body: SearchRuns, state: State, caller: Caller) -> wire.JSONResponse:
    async with state.db.session() as session:
        page = await service.list_runs(
            session,
            caller,
            _experiment_id(experiment_id),
            wire.page_request(body.limit, body.cursor),
            state.cursors,
            filter_text=body.filter,
            to_record=run_record,
        )
    return wire.JSONResponse(
        {"experiment_runs": [run_to_wire(r) for r in page.items], "pagination": wire.pagination(page)}
    )


@router.post("/experiments/{experiment_id}/runs", status_code=201, summary="Append runs to an experiment")
async def insert_runs(experiment_id: str, body: InsertRuns, state: State, caller: Caller) -> wire.JSONResponse:
    async with state.db.session() as session:
        experiment, run_ids = await service.insert_runs(
            session, caller, _experiment_id(experiment_id), body.experiment_runs
        )
        payload = with_run_ids(experiment, run_ids)
    return wire.JSONResponse(payload, status_code=201)


@router.post(
    "/experiments/{experiment_id}/runs/annotate", status_code=202, response_class=Response, summary="Annotate runs"
)
async def annotate_runs(experiment_id: str, body: AnnotateRecords, state: State, caller: Caller) -> Response:
    async with state.db.session() as session:
        await service.annotate_runs(session, caller, _experiment_id(experiment_id), annotation_items(body))
    return Response(status_code=202)
