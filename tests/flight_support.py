"""Raw Flight requests shaped the way the ``arize`` SDK sends them, for tests of what the SDK
itself never sends (bad schemas, broken streams, other keys)."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
from pyarrow import flight

from tests.support import Server


def command(kind: str, **fields: Any) -> bytes:
    """``{"<kind>": {...}}`` with the SDK's lowerCamelCase names."""

    def camel(name: str) -> str:
        head, *rest = name.split("_")
        return head + "".join(part.title() for part in rest)

    return json.dumps({camel(kind): {camel(k): v for k, v in fields.items()}}).encode()


def put(server: Server, key: str | None, kind: str, table: pa.Table, **fields: Any) -> bytes | None:
    """Upload ``table`` as the SDK does (write all, finish, read the one reply)."""
    client, options = server.flight(key)
    with client:
        writer, replies = client.do_put(
            flight.FlightDescriptor.for_command(command(kind, **fields)), table.schema, options
        )
        with writer:
            for batch in table.to_batches(max_chunksize=1000):
                writer.write_batch(batch)
            writer.done_writing()
            reply = replies.read()
    return None if reply is None else reply.to_pybytes()


def get(server: Server, key: str | None, kind: str, **fields: Any) -> pa.Table:
    client, options = server.flight(key)
    with client:
        return client.do_get(flight.Ticket(command(kind, **fields)), options).read_all()


def action(server: Server, key: str | None, kind: str, **fields: Any) -> list[bytes]:
    client, options = server.flight(key)
    with client:
        return [r.body.to_pybytes() for r in client.do_action(flight.Action(kind, command(kind, **fields)), options)]
