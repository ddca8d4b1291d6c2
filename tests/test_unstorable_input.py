"""Values no database can store are a clear 400 on every endpoint, never a 500."""

from __future__ import annotations

import pytest

from tests.support import Api, unique


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "bad\\u0000name", "space_id": "%s"}',
        '{"name": NaN, "space_id": "%s"}',
        '{"name": "x", "space_id": "%s", "n": 99999999999999999999999}',
    ],
    ids=["nul", "nan", "huge-int"],
)
def test_unstorable_json_is_rejected(api: Api, http, body: str) -> None:
    space = api.space()
    response = http.post("/v2/projects", content=body % space["id"], headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert api.ok(http.get("/v2/projects", params={"space_id": space["id"]}))["projects"] == []


def test_nul_in_a_name_filter_matches_nothing(http) -> None:
    lists = ("tasks", "projects", "spaces", "organizations", "datasets", "experiments", "evaluators", "ai-integrations")
    for path, key in ((f"/v2/{name}", name.replace("-", "_")) for name in lists):
        response = http.get(path, params={"name": f"{unique()}\x00"})
        assert response.status_code == 200, (path, response.text)
        assert response.json()[key] == []
