"""Who sees what: space bindings, read-only roles, project bindings and service keys."""

from __future__ import annotations

import pytest
from arize._generated.api_client.exceptions import ApiException
from arize.organizations.types import PredefinedOrgRole

from evalplane.core.ids import Kind, encode_id
from tests.arrange import TaskSpec, bind, insert_task, key_for, member, user
from tests.support import Api, Server, unique


def test_user_of_space_a_sees_nothing_of_space_b(server: Server, api: Api) -> None:
    space_a, space_b = api.space(), api.space()
    project_a, project_b = api.project(space_a["id"]), api.project(space_b["id"])
    task_a = insert_task(server, TaskSpec(space_a["id"], unique("task"), project_id=project_a["id"]))
    insert_task(server, TaskSpec(space_b["id"], unique("task"), project_id=project_b["id"]))
    _, key = member(server, api, space_a["id"], "MEMBER")
    client = server.sdk(key)

    assert [s.id for s in client.spaces.list().spaces] == [space_a["id"]]
    assert [p.id for p in client.projects.list().projects] == [project_a["id"]]
    with pytest.raises(ApiException) as missing:
        client.projects.get(project=project_b["id"])
    assert missing.value.status == 404
    with pytest.raises(ApiException) as space_missing:
        client.spaces.get(space=space_b["id"])
    assert space_missing.value.status == 404

    with server.http(key) as http:
        tasks = http.get("/v2/tasks").json()
        assert [t["id"] for t in tasks["tasks"]] == [task_a]
        for params in ({"space_id": space_b["id"]}, {"project_id": project_b["id"]}):
            response = http.get("/v2/tasks", params=params)
            assert response.status_code == 404, response.text
            assert response.headers["content-type"] == "application/problem+json"
        assert http.get("/v2/projects", params={"space_id": space_b["id"]}).status_code == 404


def test_read_only_user_reads_but_gets_403_on_writes(server: Server, api: Api) -> None:
    space = api.space()
    project = api.project(space["id"])
    _, key = member(server, api, space["id"], "READ_ONLY")
    client = server.sdk(key)

    assert [p.id for p in client.projects.list(space=space["id"]).projects] == [project["id"]]
    assert client.projects.get(project=project["id"]).name == project["name"]
    for write in (
        lambda: client.projects.create(name=unique("proj"), space=space["id"]),
        lambda: client.projects.delete(project=project["id"]),
        lambda: client.spaces.update(space=space["id"], description="changed"),
    ):
        with pytest.raises(ApiException) as denied:
            write()
        assert denied.value.status == 403
    assert client.projects.get(project=project["id"]).id == project["id"]


def test_member_writes_but_only_space_admin_manages_the_space(server: Server, api: Api) -> None:
    space = api.space()
    _, key = member(server, api, space["id"], "MEMBER")
    client = server.sdk(key)
    created = client.projects.create(name=unique("proj"), space=space["id"])
    assert created.space_id == space["id"]
    with pytest.raises(ApiException) as denied:
        client.spaces.update(space=space["id"], name=unique("renamed"))
    assert denied.value.status == 403

    _, admin_key = member(server, api, space["id"], "ADMIN")
    renamed = server.sdk(admin_key).spaces.update(space=space["id"], description="by the space admin")
    assert renamed.description == "by the space admin"


def test_binding_changes_apply_to_the_next_request(server: Server, api: Api) -> None:
    space = api.space()
    person, key = member(server, api, space["id"], "READ_ONLY")
    with server.http(key) as http:
        assert http.post("/v2/projects", json={"space_id": space["id"], "name": unique("p")}).status_code == 403
        bind(api, person["id"], space["id"], "MEMBER")
        assert http.post("/v2/projects", json={"space_id": space["id"], "name": unique("p")}).status_code == 201
        api.ok(api.client.delete(f"/v2/spaces/{space['id']}/users/{person['id']}"), 204)
        assert http.get(f"/v2/spaces/{space['id']}").status_code == 404


def test_project_binding_grants_that_project_and_a_view_of_its_space(server: Server, api: Api) -> None:
    """A PROJECT binding: the project is readable (writable at MEMBER), its space is listed
    so names resolve, and nothing else in the space is visible."""
    space = api.space()
    granted, other = api.project(space["id"]), api.project(space["id"])
    insert_task(server, TaskSpec(space["id"], unique("task"), project_id=other["id"]))
    person = user(api)
    read_only = api.ok(api.client.get("/v2/roles", params={"is_predefined": True}))["roles"]
    role_id = {r["name"]: r["id"] for r in read_only}["Space Read-Only"]
    client_admin = server.sdk()
    binding = client_admin.role_bindings.create(
        user_id=person["id"], role_id=role_id, resource_type="PROJECT", resource_id=granted["id"]
    )
    assert binding.resource_type == "PROJECT" and binding.resource_id == granted["id"]
    key = key_for(server, person["id"])
    client = server.sdk(key)

    assert [s.id for s in client.spaces.list().spaces] == [space["id"]]
    assert [p.id for p in client.projects.list(space=space["name"]).projects] == [granted["id"]]
    assert client.projects.get(project=granted["name"], space=space["name"]).id == granted["id"]
    with pytest.raises(ApiException) as hidden:
        client.projects.get(project=other["id"])
    assert hidden.value.status == 404
    with pytest.raises(ApiException) as read_only_write:
        client.projects.update(project=granted["id"], name=unique("renamed"))
    assert read_only_write.value.status == 403
    with server.http(key) as http:
        assert http.get("/v2/tasks", params={"space_id": space["id"]}).status_code == 404
        assert http.post("/v2/projects", json={"space_id": space["id"], "name": unique("p")}).status_code in (403, 404)

    member_role = {r["name"]: r["id"] for r in read_only}["Space Member"]
    client_admin.role_bindings.update(binding_id=binding.id, role_id=member_role)
    assert client.projects.update(project=granted["id"], name=unique("renamed")).id == granted["id"]


def organization_role(server: Server, person_id: str, org_id: str, role: str, key: str | None = None) -> None:
    """Make a user a member of an organization with a predefined role, through the SDK."""
    membership = server.sdk(key).organizations.add_user(
        organization=org_id, user_id=person_id, role=PredefinedOrgRole(name=role)
    )
    assert membership.organization_id == org_id and membership.user_id == person_id


def test_creating_a_space_needs_an_organization_role_that_allows_it(server: Server, api: Api) -> None:
    space = api.space()
    org_id = space["organization_id"]
    for space_role in ("READ_ONLY", "MEMBER", "ADMIN"):
        person, key = member(server, api, space["id"], space_role)
        name = unique("space")
        with server.http(key) as http:
            refused = http.post("/v2/spaces", json={"name": name, "organization_id": org_id})
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        with pytest.raises(ApiException) as denied:
            server.sdk(key).spaces.create(name=name, organization_id=org_id)
        assert denied.value.status == 403
        assert api.ok(api.client.get("/v2/spaces", params={"name": name}))["spaces"] == []

    organization_role(server, person["id"], org_id, "READ_ONLY")
    with server.http(key) as http:
        assert http.post("/v2/spaces", json={"name": unique("space"), "organization_id": org_id}).status_code == 403

    creator = user(api)
    organization_role(server, creator["id"], org_id, "MEMBER")
    client = server.sdk(key_for(server, creator["id"]))
    created = client.spaces.create(name=unique("space"), organization_id=org_id)
    assert created.organization_id == org_id
    assert client.spaces.update(space=created.id, description="by its creator").description == "by its creator"


def test_organization_roles_reach_its_spaces_as_in_arize(server: Server, api: Api) -> None:
    """An organization ADMIN runs every space in it; a lesser role is the fallback role in its
    public spaces only; another organization's spaces stay out of reach; removing a member
    removes their roles on its spaces too."""
    client = server.sdk()
    org = client.organizations.create(name=unique("org"))
    public = client.spaces.create(name=unique("space"), organization_id=org.id)
    private = client.spaces.create(name=unique("space"), organization_id=org.id, is_private=True)
    elsewhere = api.space()

    reader = user(api)
    organization_role(server, reader["id"], org.id, "READ_ONLY")
    read_only = server.sdk(key_for(server, reader["id"]))
    assert read_only.organizations.get(organization=org.id).id == org.id
    assert [s.id for s in read_only.spaces.list().spaces] == [public.id]
    with pytest.raises(ApiException) as write:
        read_only.projects.create(name=unique("p"), space=public.id)
    assert write.value.status == 403
    with pytest.raises(ApiException) as not_admin:
        read_only.organizations.add_user(
            organization=org.id, user_id=reader["id"], role=PredefinedOrgRole(name="ADMIN")
        )
    assert not_admin.value.status == 403

    boss = user(api)
    organization_role(server, boss["id"], org.id, "ADMIN")
    admin_key = key_for(server, boss["id"])
    admin = server.sdk(admin_key)
    assert {s.id for s in admin.spaces.list().spaces} == {public.id, private.id}
    assert (
        admin.spaces.update(space=private.id, description="run by the org admin").description == "run by the org admin"
    )
    assert status_of(lambda: admin.spaces.get(space=elsewhere["id"])) == 404
    assert (
        status_of(
            lambda: admin.organizations.add_user(
                organization=elsewhere["organization_id"], user_id=boss["id"], role=PredefinedOrgRole(name="ADMIN")
            )
        )
        == 404
    )

    bind(api, reader["id"], private.id, "MEMBER")
    admin.organizations.remove_user(organization=org.id, user_id=reader["id"])  # org admins manage members
    assert read_only.spaces.list().spaces == []
    # Memberships are not role bindings in the API (as in AX, whose SDK knows only SPACE and PROJECT ones).
    assert api.ok(api.client.get("/v2/role-bindings", params={"user_id": boss["id"]}))["role_bindings"] == []
    assert api.client.get("/v2/role-bindings", params={"resource_type": "ORGANIZATION"}).status_code == 400


def status_of(call) -> int:
    with pytest.raises(ApiException) as failed:
        call()
    return failed.value.status


def test_bad_organization_membership_requests_are_4xx_and_change_nothing(server: Server, api: Api) -> None:
    org_id = api.default_org_id()
    person = user(api)
    path = f"/v2/organizations/{org_id}/users"
    missing_user = encode_id(Kind.USER, 987_654_321)
    cases = [
        ({"user_id": "garbage", "role": {"type": "PREDEFINED", "name": "MEMBER"}}, 404),  # names no user
        ({"user_id": person["id"]}, 400),
        ({"user_id": person["id"], "role": {"type": "PREDEFINED", "name": "MEMBER"}, "extra": 1}, 400),
        ({"user_id": person["id"], "role": {"type": "PREDEFINED", "name": "OWNER"}}, 422),
        ({"user_id": person["id"], "role": {"type": "CUSTOM", "id": "Um9sZToxOng="}}, 422),
        ({"user_id": missing_user, "role": {"type": "PREDEFINED", "name": "MEMBER"}}, 404),
    ]
    for body, status in cases:
        response = api.client.post(path, json=body)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert api.client.delete(f"{path}/{person['id']}").status_code == 404  # not a member
    with server.http(key_for(server, person["id"])) as http:  # no membership was made
        assert http.get(f"/v2/organizations/{org_id}").status_code == 404
