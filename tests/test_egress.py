"""The egress policy: an AI integration's base_url may not reach loopback, private, link-local,
metadata or other non-public addresses unless the operator allows them, checked when the
integration is saved and again where each call connects; provider error bodies never reach
a run's failure_reason beyond a short sanitized summary."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from evalplane.core.egress import EgressPolicy, EgressRefused
from evalplane.core.ids import Kind, decode_id
from evalplane.db.models import AiIntegration
from evalplane.engine.providers import FatalProviderError, ProviderConfig, TransientProviderError, build_provider
from evalplane.engine.providers.base import ChatRequest
from tests.arrange import assert_problem, in_db
from tests.conftest import start_server
from tests.llm_server import FAKE_SECRET
from tests.support import LOOPBACK_EGRESS, Api, LlmServer, Server, drop_pg_database, unique
from tests.support_engine import task_with, template_evaluator
from tests.support_spans import project_id_named, send_spans

REFUSED_HOSTS = [
    "169.254.169.254",
    "10.0.0.1",
    "[fd00::1]",
    "[::ffff:127.0.0.1]",
    "2130706433",
    "0x7f.1",
    "0177.0.0.1",
    "0.0.0.0",
    "[::]",
    "127.0.0.1",
    "localhost",
    "100.64.0.1",
    "[fd00:ec2::254]",
    "224.0.0.1",
    "metadata.google.internal",
]

# The guarded server allows one private range and one name, and not loopback.
GUARDED_ALLOW = "10.0.0.0/8,llm.internal"
SECRET_KEY = "sk-integration-secret-4242424242"
HEADER_SECRET = "hdr-secret-value-8675309"


# --- the policy itself ------------------------------------------------------------------------


@pytest.mark.parametrize("host", REFUSED_HOSTS)
async def test_default_policy_refuses_non_public_destinations(host: str) -> None:
    with pytest.raises(EgressRefused):
        await EgressPolicy().addresses(host.strip("[]"), 443)


@pytest.mark.parametrize("host", ["8.8.8.8", "[2606:4700::1111]", "1.1.1.1"])
async def test_default_policy_lets_public_addresses_through(host: str) -> None:
    assert await EgressPolicy().addresses(host.strip("[]"), 443)


async def test_allow_list_opens_ranges_and_names_only() -> None:
    policy = EgressPolicy.parse(" 127.0.0.1/8, ::1 ,LLM.internal, 10.1.0.0/16")
    assert await policy.addresses("127.0.0.9", 80) == ["127.0.0.9"]
    assert [ipaddress.ip_address(a) for a in await policy.addresses("::ffff:127.0.0.1", 80)] == [
        ipaddress.ip_address("::ffff:127.0.0.1")
    ]
    assert await policy.addresses("10.1.2.3", 80) == ["10.1.2.3"]
    assert policy.host_allowed("llm.internal.")
    for still_refused in ("10.2.0.1", "169.254.169.254", "fd00::1", "0.0.0.0"):
        with pytest.raises(EgressRefused):
            await policy.addresses(still_refused, 80)
    with pytest.raises(ValueError):
        EgressPolicy.parse("127.0.0.1/8, not a host!")


# --- providers: refused at connect time, error bodies summarized --------------------------------


def _provider(llm: LlmServer, kind: str, egress: EgressPolicy, **overrides):
    base = llm.openai_base_url if kind != "ANTHROPIC" else llm.base_url
    config = {
        "provider": kind,
        "api_key": SECRET_KEY,
        "base_url": base,
        "timeout_seconds": 5.0,
        "headers": {"X-Test-Token": HEADER_SECRET},
        "egress": egress,
        **overrides,
    }
    return build_provider(ProviderConfig(**config))


def _request(prompt: str) -> ChatRequest:
    return ChatRequest(model="judge-1", messages=[{"role": "user", "content": prompt}])


@pytest.mark.parametrize("kind", ["OPEN_AI", "ANTHROPIC"])
@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("localhost", "localhost resolves to "),  # checked on the answer of the lookup made to connect
    ],
)
async def test_a_refused_destination_fails_fatally_without_a_request(
    llm: LlmServer, kind: str, host: str, reason: str
) -> None:
    before = llm.stats().get("requests", 0)
    base = (llm.openai_base_url if kind != "ANTHROPIC" else llm.base_url).replace("127.0.0.1", host)
    provider = _provider(llm, kind, EgressPolicy(), base_url=base)
    try:
        with pytest.raises(FatalProviderError, match=f"may not be called: {reason}"):
            await provider.chat(_request("hello"))
    finally:
        await provider.close()
    assert llm.stats().get("requests", 0) == before


@pytest.mark.parametrize("kind", ["OPEN_AI", "ANTHROPIC"])
async def test_redirects_are_not_followed(llm: LlmServer, kind: str) -> None:
    before = llm.stats()
    provider = _provider(llm, kind, EgressPolicy.parse("127.0.0.1/32"))
    try:
        with pytest.raises(FatalProviderError, match="307"):
            await provider.chat(_request(f"[[redirect]] {unique()}"))
    finally:
        await provider.close()
    after = llm.stats()
    assert after["requests"] == before.get("requests", 0) + 1 and after["redirects"] == before.get("redirects", 0) + 1


@pytest.mark.parametrize("kind", ["OPEN_AI", "ANTHROPIC"])
@pytest.mark.parametrize(("status", "error"), [(500, TransientProviderError), (403, FatalProviderError)])
async def test_error_bodies_never_reach_the_reason(llm: LlmServer, kind: str, status: int, error: type) -> None:
    provider = _provider(llm, kind, EgressPolicy.parse(LOOPBACK_EGRESS))
    try:
        with pytest.raises(error) as html:
            await provider.chat(_request(f"[[leak:{status}:html]] {unique()}"))
        with pytest.raises(error) as shaped:
            await provider.chat(_request(f"[[leak:{status}:json]] {unique()}"))
    finally:
        await provider.close()
    for reason in (html.value.reason, shaped.value.reason):
        assert str(status) in reason and len(reason) < 400
        for leaked in (SECRET_KEY, HEADER_SECRET, FAKE_SECRET):
            assert leaked not in reason, reason
    # Nothing at all from a body that is not a provider's JSON error.
    assert all(echo not in html.value.reason.lower() for echo in ("<html", "x-test-token", "user-agent", "internal"))
    # Only the provider's own error fields are kept from a JSON error body.
    assert "upstream_error/denied: upstream refused" in shaped.value.reason


# --- the server: refused at save, allowed by the operator, re-checked at call time --------------


@pytest.fixture(scope="module")
def guarded_server(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """An engine-running server whose allow-list opens 10.0.0.0/8 and llm.internal, not loopback."""
    srv, pg_name = start_server(
        server.backend,
        tmp_path_factory.mktemp(f"guarded-{server.backend}"),
        EVALPLANE_EGRESS_ALLOW=GUARDED_ALLOW,
        EVALPLANE_TICK_SECONDS="0.2",
    )
    yield srv
    srv.stop()
    if pg_name:
        drop_pg_database(pg_name)


def _body(space_id: str, base_url: str) -> dict:
    return {
        "name": unique("egress"),
        "provider": "CUSTOM",
        "api_key": SECRET_KEY,
        "base_url": base_url,
        "scopings": [{"space_id": space_id}],
    }


def test_refused_base_urls_are_refused_at_save_and_change_nothing(guarded_server: Server) -> None:
    with guarded_server.http() as http:
        api = Api(http)
        space = api.space()
        kept = api.ok(http.post("/v2/ai-integrations", json=_body(space["id"], "http://10.0.0.1:8080/v1")), 201)
        for host in [h for h in REFUSED_HOSTS if h != "10.0.0.1"]:
            url = f"http://{host}:8080/v1"
            body = _body(space["id"], url)
            assert_problem(http.post("/v2/ai-integrations", json=body), 422, "base_url", "EVALPLANE_EGRESS_ALLOW")
            assert http.get("/v2/ai-integrations", params={"name": body["name"]}).json()["ai_integrations"] == []
            assert_problem(http.patch(f"/v2/ai-integrations/{kept['id']}", json={"base_url": url}), 422, "base_url")
        assert api.ok(http.get(f"/v2/ai-integrations/{kept['id']}"))["base_url"] == "http://10.0.0.1:8080/v1"


def test_operator_allowed_ranges_and_names_are_accepted(guarded_server: Server, server: Server) -> None:
    with guarded_server.http() as http:
        space = Api(http).space()
        for url in ("http://10.20.30.40/v1", "https://llm.internal/v1", "https://api.openai.com/v1"):
            assert http.post("/v2/ai-integrations", json=_body(space["id"], url)).status_code == 201, url
    # The shared test server allows loopback, so the local judge and its other spellings pass there.
    with server.http() as http:
        space = Api(http).space()
        for url in ("http://127.0.0.1:9/v1", "http://[::ffff:127.0.0.1]:9/v1", "http://2130706433:9/v1"):
            assert http.post("/v2/ai-integrations", json=_body(space["id"], url)).status_code == 201, url
        assert_problem(http.post("/v2/ai-integrations", json=_body(space["id"], "http://10.0.0.1/v1")), 422, "private")


def test_a_destination_refused_at_call_time_fails_the_run_and_sends_nothing(
    guarded_server: Server, llm: LlmServer
) -> None:
    """A row pointing at loopback (saved under a looser policy, or a name that now resolves
    there) never reaches it: the connection is checked where it is made."""
    with guarded_server.http() as http:
        api = Api(http)
        space = api.space()
        judge = api.ok(http.post("/v2/ai-integrations", json=_body(space["id"], f"http://10.0.0.1:{llm.port}/v1")), 201)
        evaluator = template_evaluator(api, space["id"], judge["id"])
        row_id = decode_id(Kind.AI_INTEGRATION, judge["id"])
        in_db(
            guarded_server,
            lambda s: s.execute(
                update(AiIntegration).where(AiIntegration.id == row_id).values(base_url=llm.openai_base_url)
            ),
        )
        project = unique("proj")
        send_spans(guarded_server, space["id"], project, ["4 [[label:correct]]", "5 [[label:incorrect]]"])
        project_id = project_id_named(http, space["id"], project)
    client = guarded_server.sdk()
    task = task_with(client, project_id, evaluator["id"])
    before = llm.stats().get("requests", 0)
    run = client.tasks.trigger_run(task=task.id, data_start_time=datetime.now(UTC) - timedelta(hours=1))
    done = client.tasks.wait_for_run(run_id=run.id, poll_interval=0.3, timeout=30)
    assert done.status == "FAILED", done
    assert "may not be called" in done.failure_reason and "loopback" in done.failure_reason
    assert llm.stats().get("requests", 0) == before


def test_failure_reason_holds_no_provider_body(engine_server: Server, llm: LlmServer) -> None:
    with engine_server.http() as http:
        api = Api(http)
        space = api.space()
        body = {**_body(space["id"], llm.openai_base_url), "headers": {"X-Test-Token": HEADER_SECRET}}
        judge = api.ok(http.post("/v2/ai-integrations", json=body), 201)
        evaluator = template_evaluator(api, space["id"], judge["id"])
        project = unique("proj")
        send_spans(engine_server, space["id"], project, [f"[[leak:403:html]] {unique()}"])
        project_id = project_id_named(http, space["id"], project)
    client = engine_server.sdk()
    task = task_with(client, project_id, evaluator["id"])
    run = client.tasks.trigger_run(task=task.id, data_start_time=datetime.now(UTC) - timedelta(hours=1))
    done = client.tasks.wait_for_run(run_id=run.id, poll_interval=0.3, timeout=30)
    assert done.status == "FAILED" and "403" in done.failure_reason, done
    for leaked in (SECRET_KEY, HEADER_SECRET, FAKE_SECRET, "<html", "X-Test-Token", "x-test-token"):
        assert leaked not in done.failure_reason, done.failure_reason
    # The sealed headers were still sent with the call.
    assert llm.stats().get(f"header:x-test-token={HEADER_SECRET}", 0) >= 1
