"""Organizations, spaces, users, roles, role bindings and service keys through the arize SDK."""

from __future__ import annotations

import pytest
from arize._generated.api_client.exceptions import ApiException
from arize.api_keys.types import (
    OrgBinding,
    PredefinedRoleAssignmentRequest,
    SpaceBinding,
    SpaceRoleAssignmentRequest,
)
from arize.spaces.types import PredefinedSpaceRole
from arize.users.types import PredefinedUserRole

from tests.arrange import key_for, member, user
from tests.support import Api, Server, unique


def status_of(call) -> int:
    with pytest.raises(ApiException) as failed:
        call()
    return failed.value.status


def test_sdk_organization_lifecycle(server: Server, api: Api) -> None:
    client = server.sdk()
    name = unique("org")
    org = client.organizations.create(name=name, description="team")
    assert org.name == name and org.description == "team"
    assert client.organizations.get(organization=name).id == org.id
    assert [o.id for o in client.organizations.list(name=name).organizations] == [org.id]
    updated = client.organizations.update(organization=org.id, description=None)
    assert updated.description == ""
    assert status_of(lambda: client.organizations.create(name=name)) == 409
    space = client.spaces.create(name=unique("space"), organization_id=org.id)

    outsider = server.sdk(member(server, api, api.space()["id"])[1])
    assert status_of(lambda: outsider.organizations.create(name=unique("org"))) == 403
    assert status_of(lambda: outsider.organizations.get(organization=org.id)) == 404

    client.organizations.delete(organization=org.id)
    assert status_of(lambda: client.organizations.get(organization=org.id)) == 404
    assert status_of(lambda: client.spaces.get(space=space.id)) == 404


def test_sdk_space_update_members_and_delete(server: Server, api: Api) -> None:
    client = server.sdk()
    space = client.spaces.create(name=unique("space"), organization_id=api.default_org_id(), description="first")
    assert space.description == "first" and space.is_private is False
    renamed = client.spaces.update(space=space.id, name=unique("renamed"), is_private=True)
    assert renamed.is_private is True and renamed.description == "first"
    assert client.spaces.get(space=renamed.name).id == space.id

    person = user(api)
    membership = client.spaces.add_user(
        space=space.id, user_id=person["id"], role=PredefinedSpaceRole(name="READ_ONLY")
    )
    assert membership.space_id == space.id and membership.user_id == person["id"]
    assert membership.role.name == "READ_ONLY"
    changed = client.spaces.add_user(space=space.id, user_id=person["id"], role=PredefinedSpaceRole(name="ADMIN"))
    assert changed.id == membership.id and changed.role.name == "ADMIN"
    client.spaces.remove_user(space=space.id, user_id=person["id"])
    assert status_of(lambda: client.spaces.remove_user(space=space.id, user_id=person["id"])) == 404

    client.spaces.delete(space=space.id)
    assert status_of(lambda: client.spaces.get(space=space.id)) == 404


def test_sdk_user_lifecycle(server: Server, api: Api) -> None:
    client = server.sdk()
    name = unique("person")
    email = f"{name}@Example.com"
    created = client.users.create(name=name, email=email, role=PredefinedUserRole(name="MEMBER"), invite_mode="NONE")
    assert created.email == email and created.status == "ACTIVE" and created.role.name == "MEMBER"
    assert created.invite_mode == "NONE" and created.temporary_password is None
    again = client.users.create(name="other", email=email, role=PredefinedUserRole(name="MEMBER"), invite_mode="NONE")
    assert again.id == created.id and again.name == name

    assert client.users.get(user=email.lower()).id == created.id
    assert [u.id for u in client.users.list(email=name).users] == [created.id]
    updated = client.users.update(user_id=created.id, name="Renamed", is_developer=False)
    assert updated.name == "Renamed" and updated.is_developer is False

    key = key_for(server, created.id)
    own = server.sdk(key)
    assert [u.id for u in own.users.list().users] == [created.id]
    assert status_of(lambda: own.users.update(user_id=created.id, name="x")) == 403
    assert status_of(lambda: own.api_keys.create(name="k")) == 403  # no developer permission

    client.users.delete(user_id=created.id)
    assert status_of(lambda: client.users.get(user=created.id)) == 404
    assert status_of(lambda: own.spaces.list()) == 401


def test_sdk_roles_predefined_and_custom(server: Server, api: Api) -> None:
    client = server.sdk()
    predefined = client.roles.list(is_predefined=True).roles
    assert {r.name for r in predefined} == {"Space Admin", "Space Member", "Space Read-Only"}
    by_name = {r.name: r for r in predefined}
    assert "PROJECT_READ" in by_name["Space Read-Only"].permissions
    assert "PROJECT_CREATE" not in by_name["Space Read-Only"].permissions
    assert status_of(lambda: client.roles.delete(role=by_name["Space Admin"].id)) == 403

    reader = client.roles.create(name=unique("reader"), permissions=["PROJECT_READ", "SPACE_READ"], description="reads")
    assert reader.is_predefined is False and sorted(reader.permissions) == ["PROJECT_READ", "SPACE_READ"]
    assert client.roles.get(role=reader.name).id == reader.id

    space = api.space()
    project = api.project(space["id"])
    person = user(api)
    binding = client.role_bindings.create(
        user_id=person["id"], role_id=reader.id, resource_type="SPACE", resource_id=space["id"]
    )
    reader_client = server.sdk(key_for(server, person["id"]))
    assert reader_client.projects.get(project=project["id"]).id == project["id"]
    assert status_of(lambda: reader_client.projects.create(name=unique("p"), space=space["id"])) == 403

    client.roles.update(role=reader.id, permissions=["PROJECT_READ", "PROJECT_CREATE"])
    assert reader_client.projects.create(name=unique("p"), space=space["id"]).space_id == space["id"]

    assert status_of(lambda: client.roles.delete(role=reader.id)) == 409
    client.role_bindings.delete(binding_id=binding.id)
    client.roles.delete(role=reader.id)
    assert status_of(lambda: client.roles.get(role=reader.id)) == 404


def test_sdk_role_bindings_crud_and_duplicate_is_409(server: Server, api: Api) -> None:
    client = server.sdk()
    roles = {r.name: r.id for r in client.roles.list(is_predefined=True).roles}
    space = api.space()
    person = user(api)
    binding = client.role_bindings.create(
        user_id=person["id"], role_id=roles["Space Member"], resource_type="SPACE", resource_id=space["id"]
    )
    assert binding.resource_type == "SPACE" and binding.resource_id == space["id"] and binding.user_id == person["id"]
    assert client.role_bindings.get(binding_id=binding.id).role_id == roles["Space Member"]
    listed = client.role_bindings.list(resource_type="SPACE", user_id=person["id"]).role_bindings
    assert [b.id for b in listed] == [binding.id]
    assert client.role_bindings.list(resource_type="PROJECT", user_id=person["id"]).role_bindings == []

    def duplicate() -> object:
        return client.role_bindings.create(
            user_id=person["id"], role_id=roles["Space Admin"], resource_type="SPACE", resource_id=space["id"]
        )

    assert status_of(duplicate) == 409
    updated = client.role_bindings.update(binding_id=binding.id, role_id=roles["Space Admin"])
    assert updated.role_id == roles["Space Admin"]

    own = server.sdk(key_for(server, person["id"]))
    assert [b.id for b in own.role_bindings.list(resource_type="SPACE").role_bindings] == [binding.id]

    client.role_bindings.delete(binding_id=binding.id)
    assert status_of(lambda: client.role_bindings.get(binding_id=binding.id)) == 404
    assert own.spaces.list().spaces == []


def test_sdk_service_key_acts_with_its_space_role(server: Server, api: Api) -> None:
    client = server.sdk()
    space, other = api.space(), api.space()
    project = api.project(space["id"])
    read_only = SpaceRoleAssignmentRequest(PredefinedRoleAssignmentRequest(type="PREDEFINED", name="READ_ONLY"))
    created = client.api_keys.create_service_key(
        name=unique("svc"),
        orgs=[OrgBinding(org_id=space["organization_id"], spaces=[SpaceBinding(space=space["name"], role=read_only)])],
    )
    assert created.key and created.key_type == "SERVICE"
    bot = created.bot_user
    assert bot.account_role.actual_instance.name == "MEMBER"
    assert [s.space_id for s in bot.organizations[0].spaces] == [space["id"]]
    assert bot.organizations[0].spaces[0].role.actual_instance.name == "READ_ONLY"

    service = server.sdk(created.key)
    assert [s.id for s in service.spaces.list().spaces] == [space["id"]]
    assert service.projects.get(project=project["id"]).id == project["id"]
    assert status_of(lambda: service.projects.create(name=unique("p"), space=space["id"])) == 403
    assert status_of(lambda: service.spaces.get(space=other["id"])) == 404

    in_space = client.api_keys.list(space=space["id"]).api_keys
    assert [k.actual_instance.id for k in in_space] == [created.id]
    assert in_space[0].actual_instance.bot_user.id == bot.id
    client.api_keys.revoke(api_key_id=created.id)
    assert status_of(lambda: service.spaces.list()) == 401


def test_service_key_cannot_exceed_its_creator(server: Server, api: Api) -> None:
    space = api.space()
    _, key = member(server, api, space["id"], "MEMBER")
    creator = server.sdk(key)
    admin_role = SpaceRoleAssignmentRequest(PredefinedRoleAssignmentRequest(type="PREDEFINED", name="ADMIN"))

    def too_much() -> object:
        return creator.api_keys.create_service_key(
            name=unique("svc"),
            orgs=[
                OrgBinding(org_id=space["organization_id"], spaces=[SpaceBinding(space=space["id"], role=admin_role)])
            ],
        )

    assert status_of(too_much) == 403
    created = creator.api_keys.create_service_key(
        name=unique("svc"), orgs=[OrgBinding(org_id=space["organization_id"], spaces=[SpaceBinding(space=space["id"])])]
    )
    assert created.bot_user.organizations[0].spaces[0].role.actual_instance.name == "MEMBER"
    assert [k.actual_instance.id for k in creator.api_keys.list(key_type="SERVICE").api_keys] == [created.id]


def test_bad_identity_input_is_400_problem(api: Api, http) -> None:
    space = api.space()
    person = user(api)
    unknown_role = {
        "user_id": person["id"],
        "role_id": "bm9wZQ==",
        "resource_type": "SPACE",
        "resource_id": space["id"],
    }
    assert http.post("/v2/role-bindings", json=unknown_role).status_code == 404  # an id naming no role
    cases = [
        http.post(
            "/v2/role-bindings",
            json={"user_id": person["id"], "role_id": "x", "resource_type": "TEAM", "resource_id": space["id"]},
        ),
        http.post("/v2/api-keys", json={"key_type": "ROBOT", "name": "x"}),
        http.post("/v2/api-keys", json={"key_type": "USER", "name": "x", "organizations": []}),
        http.post(
            "/v2/users",
            json={
                "name": "x",
                "email": "not-an-email",
                "role": {"type": "PREDEFINED", "name": "MEMBER"},
                "invite_mode": "NONE",
            },
        ),
        http.get("/v2/api-keys", params={"status": "SLEEPING"}),
        http.post(f"/v2/spaces/{space['id']}/users", json={"user_id": person["id"], "role": {"type": "OWNER"}}),
    ]
    for response in cases:
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/problem+json"
    binding = {
        "user_id": person["id"],
        "role_id": api.ok(http.get("/v2/roles"))["roles"][0]["id"],
        "resource_type": "PROJECT",
        "resource_id": space["id"],
    }
    assert http.post("/v2/role-bindings", json=binding).status_code == 404  # a space id names no project
