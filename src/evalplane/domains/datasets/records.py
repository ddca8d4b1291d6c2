"""Dataset examples as flat records, the way filters over examples see them."""

from __future__ import annotations

from typing import Any

from evalplane.core.ids import Kind, encode_id
from evalplane.db.models import DatasetExample
from evalplane.domains.datasets import annotations as notes


def example_record(row: DatasetExample) -> dict[str, Any]:
    """The example's own columns, its public ``id`` and ``annotation.<name>.<field>`` columns."""
    record = dict(row.data or {})
    record["id"] = encode_id(Kind.DATASET_EXAMPLE, row.example_id)
    record.update(notes.flatten(row.annotations))
    return record


def example_document_sql(dialect: str, data: Any) -> Any:
    """The example's own columns as a JSON document SQL filters can read (JSONB on PostgreSQL).

    ``id`` and ``annotation.*`` are not in it: search filters records in memory, and this form
    exists so tests can prove the SQL and in-memory readings of the language agree.
    """
    from sqlalchemy.dialects import postgresql

    return data.cast(postgresql.JSONB) if dialect == "postgresql" else data
