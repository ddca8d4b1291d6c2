"""Authentication by API key: missing, unknown, revoked, refreshed and expired keys, and rate limits."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from arize._generated.api_client.exceptions import ApiException

from tests.arrange import key_for, member, user
from tests.conftest import start_server
from tests.support import Api, Server, drop_pg_database, unique


def assert_401(response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["status"] == 401


def test_missing_or_unknown_key_is_401_problem(server: Server) -> None:
    with server.http("") as http:
        assert_401(http.get("/v2/spaces"))
    with server.http("ep_not_a_real_key") as http:
        assert_401(http.get("/v2/projects"))
    with server.http("", Authorization="Basic Zm9vOmJhcg==") as http:
        assert_401(http.get("/v2/tasks"))
    with pytest.raises(ApiException) as refused:
        server.sdk("ep_wrong").spaces.list()
    assert refused.value.status == 401


def test_sdk_sends_its_key_as_a_bearer_token(server: Server, api: Api) -> None:
    space = api.space()
    _, key = member(server, api, space["id"])
    assert [s.id for s in server.sdk(key).spaces.list().spaces] == [space["id"]]


def test_user_key_create_list_and_revoke_take_effect_at_once(server: Server, api: Api) -> None:
    space = api.space()
    _, bootstrap_key = member(server, api, space["id"])
    owner = server.sdk(bootstrap_key)
    created = owner.api_keys.create(name="laptop", description="for tests")
    assert created.key and created.key_type == "USER" and created.status == "ACTIVE"
    assert created.redacted_key != created.key and created.key.endswith(created.redacted_key[-4:])

    listed = owner.api_keys.list()
    names = {k.actual_instance.name: k.actual_instance for k in listed.api_keys}
    assert "laptop" in names and not hasattr(names["laptop"], "key")

    new_client = server.sdk(created.key)
    assert [s.id for s in new_client.spaces.list().spaces] == [space["id"]]  # cached principal now
    owner.api_keys.revoke(api_key_id=created.id)
    with pytest.raises(ApiException) as revoked:
        new_client.spaces.list()
    assert revoked.value.status == 401
    revoked_list = owner.api_keys.list(status="REVOKED")
    assert [k.actual_instance.id for k in revoked_list.api_keys] == [created.id]
    owner.api_keys.revoke(api_key_id=created.id)  # revoking again is a no-op


def test_other_users_keys_are_invisible_to_non_admins(server: Server, api: Api) -> None:
    space = api.space()
    first, first_key = member(server, api, space["id"])
    _, second_key = member(server, api, space["id"])
    created = server.sdk(first_key).api_keys.create(name=unique("k"))
    intruder = server.sdk(second_key)
    with pytest.raises(ApiException) as hidden:
        intruder.api_keys.revoke(api_key_id=created.id)
    assert hidden.value.status == 404
    with pytest.raises(ApiException) as forbidden:
        intruder.api_keys.list(user_id=first["id"])
    assert forbidden.value.status == 403
    as_admin = server.sdk().api_keys.list(user_id=first["id"])
    assert created.id in {k.actual_instance.id for k in as_admin.api_keys}


def test_refresh_replaces_the_secret(server: Server, api: Api) -> None:
    space = api.space()
    _, owner_key = member(server, api, space["id"])
    owner = server.sdk(owner_key)
    created = owner.api_keys.create(name=unique("k"))
    server.sdk(created.key).spaces.list()
    refreshed = owner.api_keys.refresh(api_key_id=created.id)
    assert refreshed.id == created.id and refreshed.key != created.key
    with pytest.raises(ApiException) as old:
        server.sdk(created.key).spaces.list()
    assert old.value.status == 401
    assert [s.id for s in server.sdk(refreshed.key).spaces.list().spaces] == [space["id"]]

    graced = owner.api_keys.refresh(api_key_id=created.id, grace_period_seconds=600)
    assert server.sdk(refreshed.key).spaces.list().spaces  # still valid during the grace period
    assert server.sdk(graced.key).spaces.list().spaces


def test_refresh_of_an_expiring_key_needs_a_new_expiry(server: Server, api: Api) -> None:
    space = api.space()
    _, owner_key = member(server, api, space["id"])
    owner = server.sdk(owner_key)
    soon = datetime.now(UTC) + timedelta(days=1)
    created = owner.api_keys.create(name=unique("k"), expires_at=soon)
    with pytest.raises(ApiException) as unbounded:
        owner.api_keys.refresh(api_key_id=created.id)
    assert unbounded.value.status == 422
    later = owner.api_keys.refresh(api_key_id=created.id, expires_at=soon + timedelta(days=1))
    assert later.expires_at is not None


def test_expired_key_is_401_like_an_unknown_one(server: Server, api: Api) -> None:
    person = user(api)
    key = key_for(server, person["id"], expires_at=datetime.now(UTC) - timedelta(seconds=1))
    with server.http(key) as http:
        response = http.get("/v2/spaces")
    assert_401(response)
    with server.http("ep_" + secrets.token_urlsafe(32)) as http:
        unknown = http.get("/v2/spaces")
    assert response.content == unknown.content


def test_last_used_at_is_recorded(server: Server, api: Api) -> None:
    space = api.space()
    _, owner_key = member(server, api, space["id"])
    owner = server.sdk(owner_key)
    created = owner.api_keys.create(name=unique("k"))
    assert created.last_used_at is None
    server.sdk(created.key).spaces.list()
    listed = {k.actual_instance.id: k.actual_instance for k in owner.api_keys.list().api_keys}
    assert listed[created.id].last_used_at is not None


@pytest.fixture
def limited_server(server: Server, tmp_path: Path) -> Iterator[Server]:
    srv, pg_name = start_server(server.backend, tmp_path / "home", EVALPLANE_RATE_LIMIT="5")
    yield srv
    srv.stop()
    if pg_name:
        drop_pg_database(pg_name)


@pytest.mark.slow
def test_rate_limit_answers_429_with_retry_after(limited_server: Server) -> None:
    with limited_server.http() as http:
        statuses = [http.get("/v2/spaces") for _ in range(12)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    assert all(r.status_code in (200, 429) for r in statuses)
    first = limited[0]
    assert first.headers["content-type"] == "application/problem+json"
    assert int(first.headers["retry-after"]) >= 1
    assert first.json()["status"] == 429

    # urllib3 inside the SDK waits out Retry-After on GETs by itself; a POST is not retried,
    # so the SDK user sees the 429.
    client = limited_server.sdk()
    with pytest.raises(ApiException) as throttled:
        for _ in range(12):
            client.organizations.create(name=unique("org"))
    assert throttled.value.status == 429
    assert int(throttled.value.headers["Retry-After"]) >= 1
