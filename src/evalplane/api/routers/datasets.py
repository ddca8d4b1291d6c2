"""Datasets, their versions and examples."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from evalplane.api import wire
from evalplane.api.deps import Caller, State
from evalplane.core.clock import isoformat
from evalplane.core.errors import InvalidInput
from evalplane.core.ids import Kind, decode_id, encode_id, maybe_decode_id
from evalplane.db.models import Dataset, DatasetExample, DatasetVersion
from evalplane.domains.datasets import annotations as notes
from evalplane.domains.datasets import examples, service

router = APIRouter(prefix="/v2", tags=["Datasets"])

Examples = Annotated[list[dict[str, Any]], Field(min_length=1, max_length=1000)]


class CreateDataset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    space_id: str
    examples: Examples


class UpdateDataset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)


class InsertExamples(BaseModel):
    model_config = ConfigDict(extra="forbid")
    examples: Examples


class UpdateExamples(BaseModel):
    model_config = ConfigDict(extra="forbid")
    examples: Examples
    new_version: str | None = Field(default=None, max_length=255)


class DeleteExamples(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset_version_id: str
    example_ids: list[str] = Field(min_length=1, max_length=1000)


class SearchExamples(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filter: str | None = Field(default=None, max_length=10_000)
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = None
    dataset_version_id: str | None = None


class AnnotationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    score: float | None = None
    label: str | None = None
    text: str | None = None


class AnnotateRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record_id: str
    values: list[AnnotationIn] = Field(min_length=1)


class AnnotateRecords(BaseModel):
    model_config = ConfigDict(extra="forbid")
    annotations: list[AnnotateRecord] = Field(min_length=1, max_length=1000)


def annotation_items(body: AnnotateRecords) -> list[tuple[str, list[notes.AnnotationValue]]]:
    return [
        (item.record_id, [notes.AnnotationValue(v.name, v.score, v.label, v.text) for v in item.values])
        for item in body.annotations
    ]


def version_to_wire(version: DatasetVersion) -> dict[str, Any]:
    return {
        "id": encode_id(Kind.DATASET_VERSION, version.id),
        "name": version.name,
        "dataset_id": encode_id(Kind.DATASET, version.dataset_id),
        "created_at": isoformat(version.created_at),
        "updated_at": isoformat(version.updated_at),
    }


def to_wire(dataset: Dataset, versions: list[DatasetVersion] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": encode_id(Kind.DATASET, dataset.id),
        "name": dataset.name,
        "space_id": encode_id(Kind.SPACE, dataset.space_id),
        "created_at": isoformat(dataset.created_at),
        "updated_at": isoformat(dataset.updated_at),
    }
    if versions is not None:
        out["versions"] = [version_to_wire(v) for v in versions]
    return out


def example_to_wire(row: DatasetExample) -> dict[str, Any]:
    """The example's own columns flat at the top level, beside the system fields."""
    out = dict(row.data)
    out["id"] = encode_id(Kind.DATASET_EXAMPLE, row.example_id)
    out["created_at"] = isoformat(row.created_at)
    out["updated_at"] = isoformat(row.updated_at)
    if row.annotations:
        out["annotations"] = row.annotations
    return out


def example_record(row: DatasetExample) -> dict[str, Any]:
    """What a search filter sees: the wire columns plus ``annotation.<name>.<field>``."""
    record = example_to_wire(row)
    record.pop("annotations", None)
    record.update(notes.flatten(row.annotations))
    return record


def written_to_wire(written: examples.Written) -> dict[str, Any]:
    out = to_wire(written.dataset)
    out["dataset_version_id"] = encode_id(Kind.DATASET_VERSION, written.version.id)
    out["example_ids"] = [encode_id(Kind.DATASET_EXAMPLE, n) for n in written.example_ids]
    return out


def _dataset_id(value: str) -> int:
    return decode_id(Kind.DATASET, value, field="dataset_id")


def _version_id(value: str | None) -> int | None:
    """The SDK sends an empty string for 'the newest version'."""
    value = (value or "").strip()
    return maybe_decode_id(Kind.DATASET_VERSION, value or None, field="dataset_version_id")


@router.get("/datasets", summary="List datasets")
async def list_datasets(
    state: State,
    caller: Caller,
    filters: wire.SpaceFilters,
    limit: Annotated[int, wire.limit_param(100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> wire.JSONResponse:
    async with state.db.session() as session:
        page = await service.list_datasets(session, caller, filters, wire.page_request(limit, cursor), state.cursors)
    return wire.JSONResponse({"datasets": [to_wire(d) for d in page.items], "pagination": wire.pagination(page)})


@router.post("/datasets", status_code=201, summary="Create a dataset with its first examples")
async def create_dataset(body: CreateDataset, state: State, caller: Caller) -> wire.JSONResponse:
    space_id = decode_id(Kind.SPACE, body.space_id, field="space_id")
    async with state.db.session() as session:
        dataset = await service.create(session, caller, space_id=space_id, name=body.name, examples=body.examples)
        versions = await service.versions(session, dataset.id)
    return wire.JSONResponse(to_wire(dataset, versions), status_code=201)


@router.get("/datasets/{dataset_id}", summary="Get a dataset with its versions")
async def get_dataset(dataset_id: str, state: State, caller: Caller) -> wire.JSONResponse:
    async with state.db.session() as session:
        dataset = await service.get(session, caller, _dataset_id(dataset_id))
        versions = await service.versions(session, dataset.id)
    return wire.JSONResponse(to_wire(dataset, versions))


@router.patch("/datasets/{dataset_id}", summary="Rename a dataset")
async def update_dataset(dataset_id: str, body: UpdateDataset, state: State, caller: Caller) -> wire.JSONResponse:
    async with state.db.session() as session:
        dataset = await service.rename(session, caller, _dataset_id(dataset_id), body.name)
        versions = await service.versions(session, dataset.id)
    return wire.JSONResponse(to_wire(dataset, versions))


@router.delete("/datasets/{dataset_id}", status_code=204, response_class=Response, summary="Delete a dataset")
async def delete_dataset(dataset_id: str, state: State, caller: Caller) -> Response:
    async with state.db.session() as session:
        await service.remove(session, caller, _dataset_id(dataset_id))
    return wire.no_content()


@router.get("/datasets/{dataset_id}/examples", summary="List the examples of a dataset version")
async def list_examples(
    dataset_id: str,
    state: State,
    caller: Caller,
    dataset_version_id: Annotated[str | None, Query()] = None,
    limit: Annotated[int, wire.limit_param(500)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> wire.JSONResponse:
    async with state.db.session() as session:
        page = await examples.list_examples(
            session,
            caller,
            _dataset_id(dataset_id),
            _version_id(dataset_version_id),
            wire.page_request(limit, cursor),
            state.cursors,
        )
    return wire.JSONResponse(
        {"examples": [example_to_wire(e) for e in page.items], "pagination": wire.pagination(page)}
    )


@router.post("/datasets/{dataset_id}/examples/search", summary="Search the examples of a dataset version")
async def search_examples(dataset_id: str, body: SearchExamples, state: State, caller: Caller) -> wire.JSONResponse:
    async with state.db.session() as session:
        page = await examples.list_examples(
            session,
            caller,
            _dataset_id(dataset_id),
            _version_id(body.dataset_version_id),
            wire.page_request(body.limit, body.cursor),
            state.cursors,
            filter_text=body.filter,
            to_record=example_record,
        )
    return wire.JSONResponse(
        {"examples": [example_to_wire(e) for e in page.items], "pagination": wire.pagination(page)}
    )


@router.post("/datasets/{dataset_id}/examples", status_code=201, summary="Append examples to a dataset version")
async def insert_examples(
    dataset_id: str,
    body: InsertExamples,
    state: State,
    caller: Caller,
    dataset_version_id: Annotated[str | None, Query()] = None,
) -> wire.JSONResponse:
    async with state.db.session() as session:
        written = await examples.insert(
            session, caller, _dataset_id(dataset_id), _version_id(dataset_version_id), body.examples
        )
        payload = written_to_wire(written)
    return wire.JSONResponse(payload, status_code=201)


@router.patch("/datasets/{dataset_id}/examples", summary="Update examples by id, in place or into a new version")
async def update_examples(
    dataset_id: str,
    body: UpdateExamples,
    state: State,
    caller: Caller,
    dataset_version_id: Annotated[str | None, Query()] = None,
) -> wire.JSONResponse:
    async with state.db.session() as session:
        written = await examples.update(
            session,
            caller,
            _dataset_id(dataset_id),
            _version_id(dataset_version_id),
            body.examples,
            (body.new_version or "").strip() or None,
        )
        payload = written_to_wire(written)
    return wire.JSONResponse(payload)


@router.delete("/datasets/{dataset_id}/examples", summary="Delete examples from a dataset version")
async def delete_examples(dataset_id: str, body: DeleteExamples, state: State, caller: Caller) -> wire.JSONResponse:
    version_id = _version_id(body.dataset_version_id)
    if version_id is None:
        raise InvalidInput("'dataset_version_id' is required.", field="dataset_version_id")
    async with state.db.session() as session:
        deleted, kept = await examples.delete(session, caller, _dataset_id(dataset_id), version_id, body.example_ids)
    return wire.JSONResponse({"completed": True, "deleted_example_ids": deleted, "not_deleted_example_ids": kept})


@router.post(
    "/datasets/{dataset_id}/examples/annotate", status_code=202, response_class=Response, summary="Annotate examples"
)
async def annotate_examples(dataset_id: str, body: AnnotateRecords, state: State, caller: Caller) -> Response:
    async with state.db.session() as session:
        await examples.annotate(session, caller, _dataset_id(dataset_id), annotation_items(body))
    return Response(status_code=202)
