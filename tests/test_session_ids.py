"""Each span's session (``attributes.session.id``) is stored at ingest, for session-scope tasks."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from sqlalchemy import select

from evalplane.core.ids import Kind, decode_id
from evalplane.db.models import Span
from tests.arrange import in_db
from tests.support import Api, Server
from tests.support_spans import export, new_project_name, project_id_named, request_pb, span_pb


def stored_sessions(server: Server, project_id: str) -> dict[str, str | None]:
    async def work(session: Any) -> dict[str, str | None]:
        rows = await session.execute(
            select(Span.name, Span.session_id).where(Span.project_id == decode_id(Kind.PROJECT, project_id))
        )
        return dict(rows.all())

    return in_db(server, work)


def test_protobuf_export_stores_the_session_of_each_span(server: Server, api: Api, http: httpx.Client) -> None:
    space, project = api.space(), new_project_name()
    spans = [
        span_pb(name="plain", attributes={"session.id": "chat-1", "input.value": "hi"}),
        span_pb(name="unicode", attributes={"session.id": "séance-ü" * 10}),
        span_pb(name="longest", attributes={"session.id": "s" * 256}),
        span_pb(name="too-long", attributes={"session.id": "s" * 257}),
        span_pb(name="number", attributes={"session.id": 42}),
        span_pb(name="list", attributes={"session.id": ["a", "b"]}),
        span_pb(name="none", attributes={"input.value": "no session"}),
        span_pb(name="nul", attributes={"session.id": "a\x00b"}),
    ]
    assert export(server, request_pb(spans, project), space_id=space["id"]).status_code == 200

    assert stored_sessions(server, project_id_named(http, space["id"], project)) == {
        "plain": "chat-1",
        "unicode": "séance-ü" * 10,
        "longest": "s" * 256,
        "too-long": None,
        "number": None,
        "list": None,
        "none": None,
        "nul": "a\ufffdb",
    }


def test_json_export_stores_the_session_of_each_span(server: Server, api: Api, http: httpx.Client) -> None:
    space, project = api.space(), new_project_name()
    start = time.time_ns() - 60_000_000_000

    def span(name: str, span_id: str, attributes: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "traceId": "1" * 32,
            "spanId": span_id,
            "name": name,
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(start + 1000),
            "attributes": attributes,
        }

    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "openinference.project.name", "value": {"stringValue": project}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            span("flat", "1" * 16, [{"key": "session.id", "value": {"stringValue": "s-1"}}]),
                            span(
                                "kvlist",
                                "2" * 16,
                                [
                                    {
                                        "key": "session",
                                        "value": {
                                            "kvlistValue": {"values": [{"key": "id", "value": {"stringValue": "s-2"}}]}
                                        },
                                    }
                                ],
                            ),
                            span("boolean", "3" * 16, [{"key": "session.id", "value": {"boolValue": True}}]),
                        ]
                    }
                ],
            }
        ]
    }
    response = export(
        server, json.dumps(document).encode(), space_id=space["id"], headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text

    assert stored_sessions(server, project_id_named(http, space["id"], project)) == {
        "flat": "s-1",
        "kvlist": "s-2",
        "boolean": None,
    }
