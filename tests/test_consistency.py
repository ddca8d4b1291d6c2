"""Every resource a task points to answers the same situations with the same status:
invisible → 404, a read-only caller's write → 403, an id that names nothing (malformed, empty) → 404."""

from __future__ import annotations

from typing import Any

import pytest

from tests import arrange
from tests.support import Api, Server, unique

KINDS = ("spaces", "projects", "datasets", "experiments", "evaluators", "ai-integrations", "tasks")
SPACE_FILTERED_LISTS = ("projects", "datasets", "experiments", "evaluators", "ai-integrations", "tasks")


def one_of_each(api: Api, space: dict[str, Any]) -> dict[str, str]:
    sid = space["id"]
    data = arrange.dataset(api, sid)
    evaluator = arrange.evaluator(api, sid, kind="CODE").id
    task = {
        "name": unique("t"),
        "type": "code_evaluation",
        "dataset_id": data.id,
        "evaluators": [{"evaluator_id": evaluator}],
    }
    return {
        "spaces": sid,
        "projects": api.project(sid)["id"],
        "datasets": data.id,
        "experiments": arrange.experiment(api, data),
        "evaluators": evaluator,
        "ai-integrations": arrange.ai_integration(api, space_ids=[sid]),
        "tasks": api.ok(api.client.post("/v2/tasks", json=task), 201)["id"],
    }


@pytest.fixture(scope="module")
def scene(server: Server) -> tuple[dict[str, str], dict[str, str], str, str]:
    with server.http() as client:
        api = Api(client)
        mine, theirs = api.space(), api.space()
        own, other = one_of_each(api, mine), one_of_each(api, theirs)
    return own, other, theirs["id"], arrange.user_key(server, mine["id"], "READ_ONLY")


@pytest.mark.parametrize("kind", KINDS)
def test_same_status_for_the_same_situation(server: Server, http, scene, kind: str) -> None:
    own, other, their_space, reader_key = scene
    with server.http(reader_key) as reader:
        assert reader.get(f"/v2/{kind}/{own[kind]}").status_code == 200
        arrange.assert_problem(reader.get(f"/v2/{kind}/{other[kind]}"), 404)
        arrange.assert_problem(reader.delete(f"/v2/{kind}/{other[kind]}"), 404)
        arrange.assert_problem(reader.delete(f"/v2/{kind}/{own[kind]}"), 403)
        if kind != "experiments":  # experiments cannot be renamed
            arrange.assert_problem(reader.patch(f"/v2/{kind}/{other[kind]}", json={"name": unique("x")}), 404)
            arrange.assert_problem(reader.patch(f"/v2/{kind}/{own[kind]}", json={"name": unique("x")}), 403)
        if kind in SPACE_FILTERED_LISTS:
            arrange.assert_problem(reader.get(f"/v2/{kind}", params={"space_id": their_space}), 404)
    arrange.assert_problem(http.get(f"/v2/{kind}/junk"), 404)
    if kind in SPACE_FILTERED_LISTS:
        arrange.assert_problem(http.get(f"/v2/{kind}", params={"space_id": ""}), 404)
        arrange.assert_problem(http.get(f"/v2/{kind}", params={"space_id": "junk"}), 404)
