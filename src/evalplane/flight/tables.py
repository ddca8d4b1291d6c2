"""Arrow record batches to stored records and back, and the spool uploads wait in.

Stored records are JSON objects. Uploads take the column types JSON can hold; reads rebuild
one Arrow type per column from the values found (see :class:`ColumnTypes`).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import IO, Any

import orjson
import pyarrow as pa

from evalplane.core.errors import InvalidInput

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _storable(data_type: pa.DataType) -> bool:
    if (
        pa.types.is_null(data_type)
        or pa.types.is_boolean(data_type)
        or pa.types.is_integer(data_type)
        or pa.types.is_floating(data_type)
        or pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        or pa.types.is_string_view(data_type)
    ):
        return True
    if pa.types.is_dictionary(data_type):
        return _storable(data_type.value_type)
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type) or pa.types.is_fixed_size_list(data_type):
        return _storable(data_type.value_type)
    if pa.types.is_struct(data_type):
        return all(_storable(data_type.field(i).type) for i in range(data_type.num_fields))
    return False


def upload_columns(schema: pa.Schema, managed: Sequence[str] = ()) -> list[str]:
    """The columns of an upload that become record fields (``managed`` ones are dropped), once
    every column has a name and a type records can hold."""
    names = schema.names
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise InvalidInput(f"The upload's schema names these columns more than once: {duplicated}.")
    columns = []
    for column in schema:
        if not column.name.strip():
            raise InvalidInput("The upload's schema has a column without a name.")
        if "\x00" in column.name:
            raise InvalidInput("The upload's column names must not contain NUL characters.")
        if column.name in managed:
            continue
        if not _storable(column.type):
            raise InvalidInput(
                f"Column '{column.name}' has type {column.type}, which cannot be stored: use strings, "
                "numbers, booleans, or lists and structs of them (binary, decimal and temporal "
                "columns are refused; the SDK sends times as integer milliseconds)."
            )
        columns.append(column.name)
    if not columns:
        raise InvalidInput("The upload has no columns of its own besides the managed ones.")
    return columns


def _clean(value: Any) -> Any:
    """NaN and infinities become null (JSON has neither); NUL characters are refused."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput("Values must not contain NUL characters.")
        return value
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def batch_records(batch: pa.RecordBatch, columns: Sequence[str]) -> list[dict[str, Any]]:
    """The rows of ``batch`` as records of ``columns`` (in that order)."""
    values = [batch.column(name).to_pylist() for name in columns]
    return [
        {name: _clean(column[i]) for name, column in zip(columns, values, strict=True)} for i in range(batch.num_rows)
    ]


class ColumnTypes:
    """Learns one Arrow type per field from records: booleans, 64-bit integers, floats (integers
    and floats mixed), strings; lists and objects, and fields of mixed kinds, as JSON text; a
    field only ever null stays null. ``fixed`` fields keep the type given. Fields come in the
    order they were first seen."""

    def __init__(self, fixed: dict[str, pa.DataType] | None = None) -> None:
        self._kinds: dict[str, set[str]] = {}
        self._fixed = fixed or {}

    def add(self, record: dict[str, Any]) -> None:
        for name, value in record.items():
            kinds = self._kinds.setdefault(name, set())
            if value is None or name in self._fixed:
                continue
            if isinstance(value, bool):
                kinds.add("bool")
            elif isinstance(value, int):
                kinds.add("int" if INT64_MIN <= value <= INT64_MAX else "text")
            elif isinstance(value, float):
                kinds.add("float")
            elif isinstance(value, str):
                kinds.add("str")
            else:
                kinds.add("json")

    def schema(self) -> pa.Schema:
        """The fields seen, then any fixed field never seen (so an empty read still has them)."""
        seen = [pa.field(name, self._fixed.get(name) or _type_for(kinds)) for name, kinds in self._kinds.items()]
        unseen = [pa.field(name, data_type) for name, data_type in self._fixed.items() if name not in self._kinds]
        return pa.schema(seen + unseen)


def _type_for(kinds: set[str]) -> pa.DataType:
    if not kinds:
        return pa.null()
    if kinds == {"bool"}:
        return pa.bool_()
    if kinds == {"int"}:
        return pa.int64()
    if kinds <= {"int", "float"}:
        return pa.float64()
    return pa.string()


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def column_values(records: Sequence[dict[str, Any]], field: pa.Field) -> list[Any]:
    """The values of one field across ``records``, coerced to the field's type."""
    values = [record.get(field.name) for record in records]
    if pa.types.is_string(field.type):
        return [_as_text(v) for v in values]
    if pa.types.is_floating(field.type):
        return [float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None for v in values]
    if pa.types.is_integer(field.type):
        return [v if isinstance(v, int) and not isinstance(v, bool) else None for v in values]
    if pa.types.is_boolean(field.type):
        return [v if isinstance(v, bool) else None for v in values]
    if pa.types.is_timestamp(field.type):
        return [v if isinstance(v, datetime) else None for v in values]
    return [None] * len(values)


def records_batch(records: Sequence[dict[str, Any]], schema: pa.Schema) -> pa.RecordBatch:
    arrays = [pa.array(column_values(records, field), type=field.type) for field in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def records_stream(
    chunks: Callable[[], Iterable[list[dict[str, Any]]]], fixed: dict[str, pa.DataType] | None = None
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The schema of the records ``chunks()`` yields, learnt in a first pass, and their batches,
    built in a second: memory holds one chunk at a time, however many records there are."""
    types = ColumnTypes(fixed)
    for chunk in chunks():
        for record in chunk:
            types.add(record)
    schema = types.schema()

    def batches() -> Iterator[pa.RecordBatch]:
        for chunk in chunks():
            if chunk:
                yield records_batch(chunk, schema)

    return schema, batches()


class Spool:
    """An upload's batches on disk (an unnamed temporary file) until its stream has ended."""

    def __init__(self, schema: pa.Schema, max_bytes: int) -> None:
        self.schema = schema
        self.max_bytes = max_bytes
        self.rows = 0
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="evalplane-flight-")
        self._writer = pa.ipc.new_stream(self._file, schema)

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        self._writer.write_batch(batch)
        self.rows += batch.num_rows
        if self._file.tell() > self.max_bytes:
            raise InvalidInput(
                f"The upload is larger than this server accepts ({self.max_bytes} bytes of Arrow data); "
                "split it, or raise EVALPLANE_FLIGHT_MAX_UPLOAD_BYTES."
            )

    def batches(self, max_rows: int) -> Iterator[pa.RecordBatch]:
        """The spooled batches again, in order, cut to at most ``max_rows`` rows each."""
        self._writer.close()
        self._file.seek(0)
        with pa.ipc.open_stream(self._file) as reader:
            for batch in reader:
                for start in range(0, batch.num_rows, max_rows):
                    yield batch.slice(start, max_rows)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def receive(reader: Any, spool: Spool, live: Callable[[], None]) -> None:
    """Read a DoPut stream to its end into ``spool``. A broken stream raises here, or in
    ``live()``, which raises if the client went away (gRPC ends such a stream quietly)."""
    for chunk in reader:
        if chunk.data is not None:
            spool.write(chunk.data)
    live()
