"""The REST body limit leaves room for everything the SDK sends over REST."""

from __future__ import annotations

import json

from arize.constants.config import DEFAULT_MAX_HTTP_PAYLOAD_SIZE_MB, REST_MAX_ITEMS_PER_REQUEST

from evalplane.settings import Settings
from tests.support import Api, Server, unique


def test_the_body_limit_is_above_the_sdks_rest_threshold() -> None:
    assert Settings().max_body_bytes >= 1.5 * DEFAULT_MAX_HTTP_PAYLOAD_SIZE_MB * 1024 * 1024


def test_sdk_creates_a_dataset_just_under_its_rest_threshold(server: Server, api: Api) -> None:
    # 900 rows of about 8.5 KB: some 7.7 MB of JSON, which the SDK still sends over REST
    # (it switches to Flight above 8 MiB or 1,000 rows).
    rows = [{"n": i, "question": f"q{i}", "context": f"context {i:05d} " * 660} for i in range(900)]
    size = len(json.dumps(rows).encode())
    assert (
        7 * 1024 * 1024 < size < DEFAULT_MAX_HTTP_PAYLOAD_SIZE_MB * 1024 * 1024
        and len(rows) < REST_MAX_ITEMS_PER_REQUEST
    )
    client = server.sdk()
    space = api.space()
    created = client.datasets.create(name=unique("big"), space=space["id"], examples=rows)
    examples = client.datasets.list_examples(dataset=created.id, limit=500)
    assert len(examples.examples) == 500
    got = {e.additional_properties["n"]: e.additional_properties["context"] for e in examples.examples}
    assert all(got[n] == rows[n]["context"] for n in got)
