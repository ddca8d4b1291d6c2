"""Datasets over Flight: the SDK's bulk create (``create_dataset``) and whole-version reads
(``get_dataset``, used by ``list_examples(all=True)``, ``export_to_parquet`` and experiments)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from pyarrow import flight
from sqlalchemy import Row, select

from evalplane.core.errors import InvalidInput, NotFound
from evalplane.core.ids import Kind, encode_id, id_encoder
from evalplane.db.models import DatasetExample, DatasetVersionExample
from evalplane.domains.datasets import service, store
from evalplane.flight.protocol import Fields, encode_message
from evalplane.flight.registry import FlightCall, Routes, record_stream
from evalplane.flight.tables import Spool, batch_records, receive, records_stream, upload_columns

routes = Routes()

# Columns the server writes; an upload's own values for them are dropped (the SDK fills them in).
MANAGED = ("id", "created_at", "updated_at")
READ_CHUNK = 2000
_TIMESTAMP = pa.timestamp("ms", tz="UTC")
encode_example = id_encoder(Kind.DATASET_EXAMPLE)


@routes.put("create_dataset")
def create_dataset(call: FlightCall, fields: Fields, reader: flight.MetadataRecordBatchReader) -> bytes:
    """Spool the stream, then write every example in one transaction: a stream that breaks off,
    or a batch that does not fit, stores nothing."""
    space_id = fields.require_id("space_id", Kind.SPACE)
    name = fields.require("dataset_name")

    async def may_create() -> None:
        async with call.state.db.session() as session:
            await service.check_new(session, call.principal, space_id=space_id, name=name)

    call.run(may_create())  # refuse before reading a byte of a stream that cannot be stored
    columns = upload_columns(reader.schema, MANAGED)
    with Spool(reader.schema, call.state.settings.flight_max_upload_bytes) as spool:
        receive(reader, spool, call.ensure_live)
        if spool.rows == 0:
            raise InvalidInput("The upload holds no examples; a dataset needs at least one.")
        with call.unit_of_work() as session:
            dataset, version = call.run(service.start(session, call.principal, space_id=space_id, name=name))
            for batch in spool.batches(store.MAX_PER_REQUEST):
                rows = store.validate_new(batch_records(batch, columns))
                call.run(store.append(session, dataset.id, version.id, rows))
    return encode_message([(1, encode_id(Kind.DATASET, dataset.id))])


@routes.get("get_dataset")
def get_dataset(call: FlightCall, fields: Fields) -> flight.FlightDataStream:
    """The examples of a version (the newest unless ``dataset_version`` names one), oldest first:
    the record fields in the order first seen, then ``id``, ``created_at``, ``updated_at``."""
    dataset_id = fields.require_id("dataset_id", Kind.DATASET)
    version_id = fields.id_of("dataset_version", Kind.DATASET_VERSION, required=False)
    space_id = fields.id_of("space_id", Kind.SPACE, required=False)

    async def resolve() -> int:
        async with call.state.db.session() as session:
            dataset = await service.get(session, call.principal, dataset_id)
            if space_id is not None and dataset.space_id != space_id:
                raise NotFound("Dataset was not found in this space.")
            return (await service.version(session, dataset, version_id)).id

    version = call.run(resolve())

    def chunks() -> Iterator[list[dict[str, Any]]]:
        for rows in _chunks(call, version):
            yield [_example_record(row) for row in rows]

    schema, batches = records_stream(chunks, {"id": pa.string(), "created_at": _TIMESTAMP, "updated_at": _TIMESTAMP})
    return record_stream(schema, batches)


def _example_record(row: Row[Any]) -> dict[str, Any]:
    record = {k: v for k, v in (row.data or {}).items() if k not in MANAGED}
    record["id"] = encode_example(row.example_id)
    record["created_at"] = row.created_at
    record["updated_at"] = row.updated_at
    return record


def _chunks(call: FlightCall, version_id: int) -> Iterator[list[Row[Any]]]:
    """The version's examples in chunks, by example id (never the whole version at once)."""
    after = 0
    while True:
        rows = call.run(_read_chunk(call, version_id, after))
        if not rows:
            return
        yield rows
        if len(rows) < READ_CHUNK:
            return
        after = rows[-1].example_id


async def _read_chunk(call: FlightCall, version_id: int, after: int) -> list[Row[Any]]:
    async with call.state.db.session() as session:
        stmt = (
            select(DatasetExample.example_id, DatasetExample.data, DatasetExample.created_at, DatasetExample.updated_at)
            .join(DatasetVersionExample, DatasetVersionExample.example_row_id == DatasetExample.id)
            # Walks the membership's primary key (version_id, example_id) in order.
            .where(DatasetVersionExample.version_id == version_id, DatasetVersionExample.example_id > after)
            .order_by(DatasetVersionExample.example_id)
            .limit(READ_CHUNK)
        )
        return list((await session.execute(stmt)).all())
