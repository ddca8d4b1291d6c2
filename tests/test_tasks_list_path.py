"""The optimised GET /v2/tasks path, on data written by the benchmark seeder.

Seeds a few hundred tasks (1-3 evaluators each, three types, JSON columns) straight into
a fresh server's database with ``bench/seed_tasks.py``, then checks what a user sees:
every task exactly once across pages, and filters that return exactly the matching tasks.
"""

from __future__ import annotations

import asyncio
import base64

import orjson
import pytest

from bench.seed_tasks import seed
from tests.conftest import start_server
from tests.support import Api, Server, drop_pg_database

N_TASKS, N_SPACES = 240, 4


@pytest.fixture(scope="module")
def seeded(server: Server, tmp_path_factory: pytest.TempPathFactory):
    """One seeded server per database for this module (the data is only read)."""
    home = tmp_path_factory.mktemp(f"seeded-{server.backend}")
    srv, pg_name = start_server(server.backend, home)
    try:
        assert asyncio.run(seed(srv.database_url, srv.admin_key, N_TASKS, N_SPACES, home / "seed")) == "seeded"
        yield srv
    finally:
        srv.stop()
        if pg_name:
            drop_pg_database(pg_name)


def walk(http, **params) -> list[dict]:
    tasks, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        body = http.get("/v2/tasks", params=query).json()
        tasks.extend(body["tasks"])
        if not body["pagination"]["has_more"]:
            assert "next_cursor" not in body["pagination"]
            return tasks
        cursor = body["pagination"]["next_cursor"]


def test_paging_serves_every_seeded_task_once_newest_first(seeded: Server) -> None:
    with seeded.http() as http:
        tasks = walk(http, limit=37)
    ids = [int(base64.b64decode(t["id"]).decode().split(":")[1]) for t in tasks]
    assert len(ids) == N_TASKS and len(set(ids)) == N_TASKS
    assert ids == sorted(ids, reverse=True)
    for task in tasks:
        assert 1 <= len(task["evaluators"]) <= 3
        assert all(e["evaluator_name"].endswith("-judge") for e in task["evaluators"])
        assert task["type"] in ("template_evaluation", "code_evaluation", "run_experiment")
        if task["type"] == "run_experiment":
            assert task["run_configuration"]["experiment_type"] == "llm_generation"
            assert task["run_configuration"]["messages"][0]["role"] == "system"


def test_name_filter_is_a_case_insensitive_literal_substring(seeded: Server) -> None:
    with seeded.http() as http:
        everything = walk(http, limit=100)
        matches = walk(http, name="ToXiCiTy", limit=10)
        assert [t["name"] for t in matches] == [t["name"] for t in everything if "toxicity" in t["name"]]
        assert matches, "the seeder writes toxicity tasks"
        # LIKE wildcards in the query are plain characters, not patterns.
        assert walk(http, name="tox%") == []
        assert walk(http, name="pii_leak") == []
        assert {t["name"] for t in walk(http, name="pii-leak")} == {
            t["name"] for t in everything if "pii-leak" in t["name"]
        }


def test_type_and_space_filters_through_the_sdk(seeded: Server) -> None:
    client = seeded.sdk()
    with seeded.http() as http:
        everything = walk(http, limit=100)
        spaces = {s["name"]: s["id"] for s in http.get("/v2/spaces", params={"name": "bench-space-"}).json()["spaces"]}
        in_space = walk(http, space_id=spaces["bench-space-002"], limit=100)
    runs = client.tasks.list(task_type="RUN_EXPERIMENT", limit=100)
    assert {t.name for t in runs.tasks} == {t["name"] for t in everything if t["type"] == "run_experiment"}
    assert all(t.type.upper() == "RUN_EXPERIMENT" for t in runs.tasks)
    assert in_space and all(t["name"] in {e["name"] for e in everything} for t in in_space)
    assert 0 < len(in_space) < N_TASKS


@pytest.mark.parametrize("dialect", ["seed", "current"])
def test_list_items_are_byte_for_byte_the_single_task_bodies(seeded: Server, dialect: str) -> None:
    """The list reads rows its own way (one statement, raw driver rows); GET reads ORM objects."""
    headers = {"X-Evalplane-Dialect": dialect}
    with seeded.http() as http:
        body = http.get("/v2/tasks", params={"limit": 100}, headers=headers).json()
        kinds = {(t["type"].lower(), t["last_run_at"] is None, bool(t["run_configuration"])) for t in body["tasks"]}
        assert len(kinds) >= 4, "the page mixes task types, run configurations and last_run_at"
        assert any(e["column_mappings"] and e["query_filter"] for t in body["tasks"] for e in t["evaluators"])
        for item in body["tasks"]:
            single = http.get(f"/v2/tasks/{item['id']}", headers=headers)
            assert single.status_code == 200
            assert orjson.dumps(item) == single.content, {
                k: (v, single.json().get(k)) for k, v in item.items() if v != single.json().get(k)
            }


def test_space_filter_answers_404_for_a_missing_space_and_empty_for_an_empty_one(seeded: Server) -> None:
    missing = base64.b64encode(b"Space:987654").decode()
    with seeded.http() as http:
        for params in (
            {"space_id": missing},
            {"space_id": missing, "cursor": "bogus"},
            {"space_id": missing, "name": "x"},
        ):
            response = http.get("/v2/tasks", params=params)
            assert response.status_code == 404, params
            assert response.json()["detail"] == "Space was not found."
        space = Api(http).space()
        body = http.get("/v2/tasks", params={"space_id": space["id"]}).json()
        assert body == {"tasks": [], "pagination": {"has_more": False}}
