"""Projects through the official arize SDK and raw HTTP."""

from __future__ import annotations

from tests.support import Api, Server, unique


def test_sdk_creates_lists_and_gets_projects(server: Server, api: Api) -> None:
    space = api.space()
    client = server.sdk()
    name = unique("proj")
    created = client.projects.create(name=name, space=space["id"])
    assert created.name == name and created.space_id == space["id"]
    listed = client.projects.list(space=space["id"])
    assert [p.id for p in listed.projects] == [created.id]
    fetched = client.projects.get(project=name, space=space["name"])
    assert fetched.id == created.id


def test_duplicate_project_name_is_409_and_creates_nothing(api: Api, http) -> None:
    space = api.space()
    api.project(space["id"], "dup")
    response = http.post("/v2/projects", json={"space_id": space["id"], "name": "dup"})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    listed = api.ok(http.get("/v2/projects", params={"space_id": space["id"]}))["projects"]
    assert [p["name"] for p in listed] == ["dup"]
