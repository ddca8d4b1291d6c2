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
