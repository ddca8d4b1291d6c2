"""AI integrations through the official arize SDK and raw HTTP."""

from __future__ import annotations

import pytest
from arize.ai_integrations.types import AiIntegrationScopingRequest
from sqlalchemy import update

from evalplane.core.ids import Kind, decode_id
from evalplane.core.secrets import box_for
from evalplane.db.models import AiIntegration
from evalplane.domains.ai_integrations import service as ai_integrations
from tests.arrange import in_db, member_key, raw_row
from tests.support import Api, Server, unique

SECRET = "sk-test-" + "x1y2z3" * 6


def _space_scoped(api: Api, http, space_id: str, **extra) -> dict:
    body = {
        "name": unique("ai"),
        "provider": "OPEN_AI",
        "api_key": SECRET,
        "scopings": [{"space_id": space_id}],
        **extra,
    }
    return api.ok(http.post("/v2/ai-integrations", json=body), 201)


def test_sdk_creates_gets_lists_updates_and_deletes_without_revealing_the_key(server: Server, api: Api, http) -> None:
    space = api.space()
    client = server.sdk()
    name = unique("openai")
    created = client.ai_integrations.create(
        name=name,
        provider="OPEN_AI",
        api_key=SECRET,
        model_names=["gpt-4o-mini"],
        scopings=[AiIntegrationScopingRequest(space_id=space["id"])],
    )
    assert created.name == name and created.provider == "OPEN_AI" and created.has_api_key is True
    assert created.enable_default_models is False and created.function_calling_enabled is True
    assert created.auth_type == "DEFAULT"
    assert [s.space_id for s in created.scopings] == [space["id"]]

    by_name = client.ai_integrations.get(integration=name, space=space["name"])
    assert by_name.id == created.id and by_name.model_names == ["gpt-4o-mini"]
    listed = client.ai_integrations.list(space=space["id"])
    assert created.id in [i.id for i in listed.ai_integrations]

    updated = client.ai_integrations.update(
        integration=created.id, base_url="https://llm.example.test/v1", model_names=["gpt-4o"]
    )
    assert updated.base_url == "https://llm.example.test/v1" and updated.model_names == ["gpt-4o"]
    assert updated.has_api_key is True
    cleared = client.ai_integrations.update(integration=created.id, api_key=None)
    assert cleared.has_api_key is False
    other = api.space()
    rescoped = client.ai_integrations.update(
        integration=created.id, scopings=[AiIntegrationScopingRequest(space_id=other["id"])]
    )
    assert [s.space_id for s in rescoped.scopings] == [other["id"]]
    assert created.id not in [i.id for i in client.ai_integrations.list(space=space["id"]).ai_integrations]

    client.ai_integrations.delete(integration=created.id)
    assert http.get(f"/v2/ai-integrations/{created.id}").status_code == 404


def test_key_never_appears_in_any_response_and_is_encrypted_at_rest(server: Server, api: Api, http) -> None:
    space = api.space()
    responses = []
    created = _space_scoped(api, http, space["id"])
    responses.append(http.get(f"/v2/ai-integrations/{created['id']}"))
    responses.append(http.get("/v2/ai-integrations", params={"space_id": space["id"]}))
    responses.append(http.patch(f"/v2/ai-integrations/{created['id']}", json={"model_names": ["m"]}))
    for response in responses:
        assert response.status_code == 200
        assert SECRET not in response.text and 'api_key"' not in response.text.replace("has_api_key", "")
    assert created["has_api_key"] is True and "api_key" not in created

    row_id = decode_id(Kind.AI_INTEGRATION, created["id"])
    stored = raw_row(server, "ai_integrations", row_id)
    blob = bytes(stored["api_key_encrypted"])
    assert SECRET.encode() not in blob and b"x1y2z3" not in blob
    assert all(SECRET not in str(v) for v in stored.values())

    # The engine's accessor gets the plaintext back with the server's secret key.
    box = box_for((server.home / "secret.key").read_text().strip())
    integration, key, _ = in_db(server, lambda s: ai_integrations.load_for_use(s, row_id, box=box))
    assert key == SECRET and integration.name == created["name"]


def test_read_only_member_sees_but_cannot_change(server: Server, api: Api, http) -> None:
    space = api.space()
    created = _space_scoped(api, http, space["id"])
    reader = member_key(server, {space["id"]: "READ_ONLY"})
    with server.http(reader) as as_reader:
        assert as_reader.get(f"/v2/ai-integrations/{created['id']}").status_code == 200
        for response in (
            as_reader.patch(f"/v2/ai-integrations/{created['id']}", json={"name": unique("x")}),
            as_reader.delete(f"/v2/ai-integrations/{created['id']}"),
            as_reader.post(
                "/v2/ai-integrations",
                json={"name": unique("x"), "provider": "ANTHROPIC", "scopings": [{"space_id": space["id"]}]},
            ),
        ):
            assert response.status_code == 403, response.text
            assert response.headers["content-type"] == "application/problem+json"


def test_members_manage_their_space_but_not_account_wide_integrations(server: Server, api: Api, http) -> None:
    space = api.space()
    member = member_key(server, {space["id"]: "MEMBER"})
    account_wide = api.ok(http.post("/v2/ai-integrations", json={"name": unique("acct"), "provider": "ANTHROPIC"}), 201)
    assert account_wide["scopings"] == [{"organization_id": None, "space_id": None}]
    with server.http(member) as as_member:
        own = as_member.post(
            "/v2/ai-integrations",
            json={"name": unique("mine"), "provider": "OPEN_AI", "scopings": [{"space_id": space["id"]}]},
        )
        assert own.status_code == 201, own.text
        # Account-wide ones are visible (usable) to everyone but only admins change them.
        assert as_member.get(f"/v2/ai-integrations/{account_wide['id']}").status_code == 200
        assert as_member.delete(f"/v2/ai-integrations/{account_wide['id']}").status_code == 403
        assert (
            as_member.post("/v2/ai-integrations", json={"name": unique("a"), "provider": "OPEN_AI"}).status_code == 403
        )
        assert as_member.delete(f"/v2/ai-integrations/{own.json()['id']}").status_code == 204


def test_integrations_of_other_spaces_are_invisible(server: Server, api: Api, http) -> None:
    mine, theirs = api.space(), api.space()
    hidden = _space_scoped(api, http, theirs["id"])
    outsider = member_key(server, {mine["id"]: "ADMIN"})
    with server.http(outsider) as as_outsider:
        assert as_outsider.get(f"/v2/ai-integrations/{hidden['id']}").status_code == 404
        assert as_outsider.patch(f"/v2/ai-integrations/{hidden['id']}", json={"name": "x"}).status_code == 404
        assert as_outsider.delete(f"/v2/ai-integrations/{hidden['id']}").status_code == 404
        listed = as_outsider.get("/v2/ai-integrations", params={"limit": 100}).json()["ai_integrations"]
        assert hidden["id"] not in [i["id"] for i in listed]
        assert as_outsider.get("/v2/ai-integrations", params={"space_id": theirs["id"]}).status_code == 404
        scoped_elsewhere = as_outsider.post(
            "/v2/ai-integrations",
            json={"name": unique("x"), "provider": "OPEN_AI", "scopings": [{"space_id": theirs["id"]}]},
        )
        assert scoped_elsewhere.status_code == 404


def test_list_filters_by_space_and_name_and_paginates(server: Server, api: Api, http) -> None:
    space, other = api.space(), api.space()
    tag = unique("pg")
    ids = [_space_scoped(api, http, space["id"], name=f"{tag}-{i}")["id"] for i in range(3)]
    _space_scoped(api, http, other["id"], name=f"{tag}-other")
    seen, cursor = [], None
    while True:
        params = {"space_id": space["id"], "name": tag.upper(), "limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = api.ok(http.get("/v2/ai-integrations", params=params))
        seen += [i["id"] for i in body["ai_integrations"]]
        if not body["pagination"]["has_more"]:
            break
        cursor = body["pagination"]["next_cursor"]
    assert seen == list(reversed(ids))
    by_space_name = api.ok(http.get("/v2/ai-integrations", params={"space_name": other["name"], "name": tag}))
    assert [i["name"] for i in by_space_name["ai_integrations"]] == [f"{tag}-other"]


def test_duplicate_name_is_409(api: Api, http) -> None:
    name = unique("dup")
    api.ok(http.post("/v2/ai-integrations", json={"name": name, "provider": "OPEN_AI"}), 201)
    response = http.post("/v2/ai-integrations", json={"name": name, "provider": "ANTHROPIC"})
    assert response.status_code == 409 and response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "body",
    [
        {"provider": "OPEN_AI"},
        {"name": "n", "provider": "NOT_A_PROVIDER"},
        {"name": "n", "provider": "CUSTOM"},
        {"name": "n", "provider": "OPEN_AI", "base_url": "ftp://nope"},
        {"name": "n", "provider": "OPEN_AI", "auth_type": "MAGIC"},
        {"name": "n", "provider": "OPEN_AI", "headers": {"bad header": "v"}},
        {"name": "n", "provider": "OPEN_AI", "enable_default_models": "yes"},
        {"name": "n", "provider": "OPEN_AI", "surprise": 1},
        {"name": "n", "provider": "VERTEX_AI"},
        {"name": "n", "provider": "OPEN_AI", "provider_metadata": {"kind": "AWS", "role_arn": "arn:aws:iam::1:role/x"}},
        {"name": "n", "provider": "AWS_BEDROCK", "provider_metadata": {"kind": "AWS"}},
        {"name": "n", "provider": "OPEN_AI", "scopings": [{"space_id": "not-an-id"}]},
        {"name": "n", "provider": "OPEN_AI", "scopings": [{}, {"space_id": "U3BhY2U6MTox"}]},
    ],
)
def test_bad_input_is_a_4xx_problem(http, body: dict) -> None:
    if isinstance(body.get("name"), str):
        body = {**body, "name": unique("bad")}
    response = http.post("/v2/ai-integrations", json=body)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_providers_with_their_required_settings(api: Api, http) -> None:
    cases = [
        {"provider": "CUSTOM", "base_url": "http://localhost:4000/v1"},
        {"provider": "azure_open_ai", "base_url": "https://x.openai.azure.com"},
        {"provider": "AWS_BEDROCK", "provider_metadata": {"kind": "AWS", "role_arn": "arn:aws:iam::1:role/r"}},
        {
            "provider": "VERTEX_AI",
            "provider_metadata": {
                "kind": "GCP",
                "project_id": "p",
                "location": "us-central1",
                "project_access_label": "l",
            },
        },
    ]
    for case in cases:
        created = api.ok(http.post("/v2/ai-integrations", json={"name": unique("p"), **case}), 201)
        assert created["has_api_key"] is False
    # Bad ids in paths and garbage updates are problems, never 500s.
    assert http.get("/v2/ai-integrations/%%%").status_code in (400, 404)
    assert http.patch(f"/v2/ai-integrations/{created['id']}", json={"name": None}).status_code == 400
    assert http.patch(f"/v2/ai-integrations/{created['id']}", json={"provider_metadata": None}).status_code == 400


def test_unstorable_values_are_400_not_500(http) -> None:
    for body in (
        {"name": "x\u0000", "provider": "OPEN_AI"},
        {"name": unique("n"), "provider": "OPEN_AI", "headers": {"x-a": "a\u0000"}},
        {"name": unique("n"), "provider": "OPEN_AI", "api_key": "sk\u0000"},
    ):
        response = http.post("/v2/ai-integrations", json=body)
        assert response.status_code == 400, response.text
    # A NUL in a name filter is valid text that matches nothing, as on every list.
    listed = http.get("/v2/ai-integrations", params={"name": "\u0000"})
    assert listed.status_code == 200 and listed.json()["ai_integrations"] == []


HEADER_VALUE = "Bearer hdr-" + "q7w8e9" * 5


def test_headers_are_write_only_and_sealed_at_rest(server: Server, api: Api, http) -> None:
    """No answer shows header values, to an administrator or to a reader of another space."""
    space = api.space()
    # Letters outside hex, so no unique() name in the listing can contain the value by chance.
    headers = {"Authorization": HEADER_VALUE, "X-Tenant": "zyxw"}
    account_wide = api.ok(
        http.post(
            "/v2/ai-integrations",
            json={
                "name": unique("ai"),
                "provider": "OPEN_AI",
                "api_key": SECRET,
                "headers": headers,
            },
        ),
        201,
    )
    assert account_wide["headers"] is None and account_wide["has_headers"] is True
    reader = member_key(server, {api.space()["id"]: "READ_ONLY"})
    with server.http(reader) as as_reader:
        for client in (http, as_reader):
            for path in (f"/v2/ai-integrations/{account_wide['id']}", "/v2/ai-integrations?limit=100"):
                response = client.get(path)
                assert response.status_code == 200 and "q7w8e9" not in response.text and "zyxw" not in response.text
    fetched = server.sdk().ai_integrations.get(integration=account_wide["id"])
    assert fetched.headers is None and fetched.has_api_key is True

    row_id = decode_id(Kind.AI_INTEGRATION, account_wide["id"])
    assert "q7w8e9" not in str(raw_row(server, "ai_integrations", row_id)["headers"])
    box = box_for((server.home / "secret.key").read_text().strip())
    _, _, opened = in_db(server, lambda s: ai_integrations.load_for_use(s, row_id, box=box))
    assert opened == headers

    scoped = _space_scoped(api, http, space["id"])
    assert scoped["headers"] is None and scoped["has_headers"] is False
    cleared = api.ok(http.patch(f"/v2/ai-integrations/{account_wide['id']}", json={"headers": None}))
    assert cleared["has_headers"] is False


def test_repointing_needs_the_credentials_again_unless_admin(server: Server, api: Api, http) -> None:
    space = api.space()
    created = _space_scoped(
        api, http, space["id"], base_url="https://one.example.test/v1", headers={"X-Token": HEADER_VALUE}
    )
    path = f"/v2/ai-integrations/{created['id']}"
    member = member_key(server, {space["id"]: "MEMBER"})
    with server.http(member) as as_member:
        for change in (
            {"base_url": "https://two.example.test/v1"},
            {"base_url": "https://two.example.test/v1", "api_key": "sk-new"},  # the headers would follow too
            {"provider": "ANTHROPIC", "headers": {"X-Token": "v"}},
            {"headers": {"X-Token": "other"}},
        ):
            response = as_member.patch(path, json=change)
            assert response.status_code == 403, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert "again" in response.json()["detail"]
        assert api.ok(http.get(path))["base_url"] == "https://one.example.test/v1"
        # Edits that send nothing anywhere new, or that send the credentials again, are fine.
        assert (
            as_member.patch(path, json={"name": unique("ai"), "base_url": "https://one.example.test/v1"}).status_code
            == 200
        )
        moved = as_member.patch(
            path, json={"base_url": "https://two.example.test/v1", "api_key": "sk-new", "headers": {"X-Token": "fresh"}}
        )
        assert moved.status_code == 200 and moved.json()["base_url"] == "https://two.example.test/v1"
    admin = member_key(server, {space["id"]: "ADMIN"})
    with server.http(admin) as as_admin:
        moved = as_admin.patch(path, json={"base_url": "https://three.example.test/v1"})
        assert moved.status_code == 200 and moved.json()["has_api_key"] is True


@pytest.mark.slow
def test_headers_saved_in_plain_text_are_sealed_at_the_next_start(fresh_server: Server) -> None:
    with fresh_server.http() as http:
        created = Api(http).ok(
            http.post(
                "/v2/ai-integrations",
                json={
                    "name": unique("ai"),
                    "provider": "OPEN_AI",
                    "headers": {"X-Token": HEADER_VALUE},
                },
            ),
            201,
        )
    row_id = decode_id(Kind.AI_INTEGRATION, created["id"])
    legacy = {"X-Token": HEADER_VALUE}
    in_db(
        fresh_server,
        lambda s: s.execute(update(AiIntegration).where(AiIntegration.id == row_id).values(headers=legacy)),
    )
    assert "q7w8e9" in str(raw_row(fresh_server, "ai_integrations", row_id)["headers"])
    fresh_server.stop()
    fresh_server.start()
    assert "q7w8e9" not in str(raw_row(fresh_server, "ai_integrations", row_id)["headers"])
    box = box_for((fresh_server.home / "secret.key").read_text().strip())
    _, _, opened = in_db(fresh_server, lambda s: ai_integrations.load_for_use(s, row_id, box=box))
    assert opened == legacy
