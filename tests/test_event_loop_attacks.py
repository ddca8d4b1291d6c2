"""Nothing a key holder sends runs unbounded on the event loop: hostile regexes, LIKE
patterns and gzip bodies get a bounded answer while /healthz keeps answering in time."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.arrange import user_key
from tests.support import Api, Server, unique
from tests.support_engine import code_evaluator, task_with
from tests.support_responsive import HEALTHZ_BUDGET_S, during_attack
from tests.support_spans import (
    evaluations,
    export,
    export_response,
    list_spans,
    project_id_named,
    request_pb,
    send_spans,
    span_pb,
)

EVIL_REGEX = "^(a+)+$"
EVIL_TEXT = "a" * 5000 + "b"


def _problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()


# ---------------------------------------------------------------- MATCHES_REGEX


def _regex_config(pattern: str, kind: str = "REGEX") -> dict:
    return {
        "type": "MANAGED",
        "name": "evil_regex",
        "managed_evaluator": "MATCHES_REGEX",
        "variables": ["attributes.output.value"],
        "static_params": [{"name": "pattern", "type": kind, "default_value": pattern}],
    }


def test_a_catastrophic_regex_task_completes_and_the_server_stays_responsive(engine_server: Server) -> None:
    with engine_server.http() as http:
        api = Api(http)
        space = api.space()
        evaluator = code_evaluator(api, space["id"], _regex_config(EVIL_REGEX))
        client = engine_server.sdk()

        def attack() -> tuple[object, str]:
            project = unique("proj")
            send_spans(engine_server, space["id"], project, [EVIL_TEXT, "aaaa"])
            project_id = project_id_named(http, space["id"], project)
            task = task_with(client, project_id, evaluator["id"], task_type="CODE_EVALUATION")
            run = client.tasks.trigger_run(task=task.id, data_start_time=datetime.now(UTC) - timedelta(hours=1))
            return client.tasks.wait_for_run(run_id=run.id, poll_interval=0.1, timeout=60), project_id

        (done, project_id), slowest = during_attack(engine_server, attack)
        assert (done.status, done.num_successes) == ("COMPLETED", 2)
        assert sorted(e["label"] for span in evaluations(http, project_id) for e in span) == ["false", "true"]
        assert slowest < HEALTHZ_BUDGET_S


@pytest.mark.parametrize("kind", ["REGEX", "STRING"])
@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        (r"(a)\1", "backreference"),
        (r"(?=a)b", "lookahead"),
        (r"(?<!a)b", "lookahead"),
        ("a" * 1001, "longer than 1000"),
    ],
    ids=["backreference", "lookahead", "lookbehind", "too-long"],
)
def test_a_pattern_re2_cannot_run_is_refused_when_saved(api: Api, pattern: str, says: str, kind: str) -> None:
    space = api.space()
    body = {
        "space_id": space["id"],
        "name": unique("code"),
        "type": "CODE",
        "version": {"commit_message": "first", "code_config": _regex_config(pattern, kind)},
    }
    problem = _problem(api.client.post("/v2/evaluators", json=body), 400)
    assert says in problem["detail"]
    assert api.client.get("/v2/evaluators", params={"space_id": space["id"]}).json()["evaluators"] == []


# ---------------------------------------------------------------- LIKE


def test_a_like_pattern_of_many_percents_is_answered_fast_to_a_read_only_key(server: Server, api: Api) -> None:
    space = api.space()
    body = {"space_id": space["id"], "name": unique("ds"), "examples": [{"question": "a" * 20_000}, {"question": "ax"}]}
    dataset = api.ok(api.client.post("/v2/datasets", json=body), 201)
    reader = user_key(server, space["id"], "READ_ONLY")
    search = {"filter": "question LIKE '" + "%" * 40 + "x'"}
    with server.http(reader) as http:

        def attack() -> httpx.Response:
            return http.post(f"/v2/datasets/{dataset['id']}/examples/search", json=search)

        response, slowest = during_attack(server, attack, repeat_for=1.0)
    assert response.status_code == 200, response.text
    assert [e["question"] for e in response.json()["examples"]] == ["ax"]
    assert slowest < HEALTHZ_BUDGET_S


# ---------------------------------------------------------------- gzip


def _empty_members(size: int) -> bytes:
    member = gzip.compress(b"")
    return member * (size // len(member))


def test_eight_megabytes_of_empty_gzip_members_get_a_fast_400(server: Server, api: Api) -> None:
    space = api.space()
    body = _empty_members(8 * 1024 * 1024)

    def attack() -> httpx.Response:
        return export(server, body, space_id=space["id"], headers={"content-encoding": "gzip"})

    response, slowest = during_attack(server, attack, repeat_for=1.0)
    assert "gzip members" in _problem(response, 400)["detail"]
    assert response.elapsed.total_seconds() < 5
    assert slowest < HEALTHZ_BUDGET_S


def test_a_few_gzip_members_still_make_one_request(server: Server, api: Api) -> None:
    space = api.space()
    project = unique("proj")
    payload = request_pb([span_pb(), span_pb()], project)
    third = len(payload) // 3 + 1
    body = b"".join(gzip.compress(payload[i : i + third]) for i in range(0, len(payload), third))
    export_response(export(server, body, space_id=space["id"], headers={"content-encoding": "gzip"}))
    assert len(list_spans(api.client, project_id_named(api.client, space["id"], project))["spans"]) == 2


def test_a_key_that_may_not_write_is_refused_before_anything_is_decompressed(server: Server, api: Api) -> None:
    space = api.space()
    reader = user_key(server, space["id"], "READ_ONLY")
    # Not gzip at all: decompressing it first would answer 400; the permission check answers 403.
    not_gzip = b"\x1f\x8b this is not a gzip stream" * 1000
    refused = export(server, not_gzip, space_id=space["id"], key=reader, headers={"content-encoding": "gzip"})
    _problem(refused, 403)
    unknown = export(server, not_gzip, space_id=space["id"], key="ep_not_a_key", headers={"content-encoding": "gzip"})
    _problem(unknown, 401)
    writer = export(server, not_gzip, space_id=space["id"], headers={"content-encoding": "gzip"})
    assert "not valid gzip" in _problem(writer, 400)["detail"]
