"""Paging GET /v2/tasks: complete, duplicate-free, newest first, under every filter."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from evalplane.core.ids import Kind, decode_id
from tests import arrange
from tests.arrange import TASK_TYPES, Attached, TaskSpec
from tests.support import Api, Server

TOTAL = 230


@dataclass
class Arranged:
    """Tasks the member can see, spread over three spaces, plus one space they cannot see."""

    key: str  # a READ_ONLY member of the three visible spaces
    token: str  # shared by the visible spaces' names
    spaces: list[dict[str, Any]]
    hidden_space: dict[str, Any]
    tasks: list[dict[str, Any]]  # id, space, project, dataset, type, name (oldest first)

    def ids(self, keep: Callable[[dict[str, Any]], bool] = lambda t: True) -> list[str]:
        """Matching task ids in the documented order: newest (largest id) first."""
        return [t["id"] for t in reversed(self.tasks) if keep(t)]


def task_name(i: int) -> str:
    return ("ALPHA" if i % 5 == 0 else "alpha" if i % 5 == 1 else "beta") + f" task {i:03d} 100%_done"


@pytest.fixture(scope="module")
def arranged(server: Server) -> Arranged:
    token = uuid.uuid4().hex[:8]
    with server.http() as client:
        api = Api(client)
        spaces = [api.space(f"paging-{token}-{tag}") for tag in ("a", "b", "c")]
        hidden = api.space(f"paging-{token}-hidden")
        projects = {s["id"]: [api.project(s["id"])["id"] for _ in range(2)] for s in [*spaces, hidden]}
        datasets = {s["id"]: [arrange.dataset(api, s["id"]).id for _ in range(2)] for s in [*spaces, hidden]}
        llm = arrange.ai_integration(api)
        evaluators = {s["id"]: arrange.evaluator(api, s["id"], integration_id=llm).id for s in [*spaces, hidden]}
        specs, rows = [], []
        for i in range(TOTAL + 20):
            space = hidden if i >= TOTAL else spaces[i % 3]
            sid = space["id"]
            kind = TASK_TYPES[(i // 3) % 3]
            project = projects[sid][i % 2] if kind == "TEMPLATE_EVALUATION" else None
            dataset = None if project else datasets[sid][(i // 2) % 2]
            specs.append(
                TaskSpec(
                    sid,
                    task_name(i),
                    kind,
                    project_id=project,
                    dataset_id=dataset,
                    evaluators=[] if kind == "RUN_EXPERIMENT" else [Attached(evaluators[sid])],
                    run_configuration=arrange.stored_llm_generation_config(llm) if kind == "RUN_EXPERIMENT" else None,
                    sampling_rate=1.0 if project else None,
                )
            )
            rows.append({"space": sid, "project": project, "dataset": dataset, "type": kind, "name": task_name(i)})
    for row, task_id in zip(rows, arrange.insert_tasks(server, specs), strict=True):
        row["id"] = task_id
    key = arrange.member_key(server, {s["id"]: "READ_ONLY" for s in spaces})
    return Arranged(key, token, spaces, hidden, [r for r in rows if r["space"] != hidden["id"]])


def walk(client: httpx.Client, params: dict[str, Any], limit: int) -> list[str]:
    """Follow next_cursor to the end, checking each page on the way."""
    ids: list[str] = []
    cursor = None
    for _ in range(1000):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get("/v2/tasks", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        page, meta = [t["id"] for t in body["tasks"]], body["pagination"]
        ids += page
        if not meta["has_more"]:
            assert "next_cursor" not in meta and len(page) <= limit
            return ids
        assert len(page) == limit and isinstance(meta["next_cursor"], str)
        cursor = meta["next_cursor"]
    raise AssertionError("pagination did not end")


def assert_newest_first(ids: list[str]) -> None:
    numbers = [decode_id(Kind.TASK, i) for i in ids]
    assert numbers == sorted(numbers, reverse=True) and len(set(numbers)) == len(numbers)


FILTERS: list[
    tuple[str, Callable[[Arranged], dict[str, str]], Callable[[Arranged], Callable[[dict[str, Any]], bool]]]
] = [
    ("none", lambda a: {}, lambda a: lambda t: True),
    ("space_id", lambda a: {"space_id": a.spaces[1]["id"]}, lambda a: lambda t: t["space"] == a.spaces[1]["id"]),
    ("space_name_all", lambda a: {"space_name": f"PAGING-{a.token.upper()}"}, lambda a: lambda t: True),
    ("space_name_one", lambda a: {"space_name": f"{a.token}-C"}, lambda a: lambda t: t["space"] == a.spaces[2]["id"]),
    ("name", lambda a: {"name": "Alpha"}, lambda a: lambda t: "alpha" in t["name"].lower()),
    ("name_literal_percent", lambda a: {"name": "100%_D"}, lambda a: lambda t: True),
    (
        "project_id",
        lambda a: {"project_id": next(t["project"] for t in a.tasks if t["project"])},
        lambda a: lambda t: t["project"] == next(x["project"] for x in a.tasks if x["project"]),
    ),
    (
        "dataset_id",
        lambda a: {"dataset_id": next(t["dataset"] for t in a.tasks if t["dataset"])},
        lambda a: lambda t: t["dataset"] == next(x["dataset"] for x in a.tasks if x["dataset"]),
    ),
    ("type_lower", lambda a: {"type": "code_evaluation"}, lambda a: lambda t: t["type"] == "CODE_EVALUATION"),
    ("type_upper", lambda a: {"type": "RUN_EXPERIMENT"}, lambda a: lambda t: t["type"] == "RUN_EXPERIMENT"),
    ("type_mixed", lambda a: {"type": "Template_Evaluation"}, lambda a: lambda t: t["type"] == "TEMPLATE_EVALUATION"),
    (
        "combined",
        lambda a: {"space_name": a.token, "type": "template_evaluation", "name": "alpha"},
        lambda a: lambda t: t["type"] == "TEMPLATE_EVALUATION" and "alpha" in t["name"].lower(),
    ),
]


@pytest.mark.parametrize("limit", [100, 7])
@pytest.mark.parametrize(("label", "params", "keep"), FILTERS, ids=[f[0] for f in FILTERS])
def test_pages_union_is_the_filtered_set_newest_first(
    server: Server, arranged: Arranged, label: str, params: Any, keep: Any, limit: int
) -> None:
    expected = arranged.ids(keep(arranged))
    assert expected, label
    with server.http(arranged.key) as member:
        got = walk(member, params(arranged), limit)
    assert got == expected
    assert_newest_first(got)


def test_an_admin_pages_past_one_hundred_across_spaces(server: Server, arranged: Arranged) -> None:
    with server.http() as admin:
        got = walk(admin, {"space_name": arranged.token}, 100)
    hidden = [t["id"] for t in admin_tasks_of(server, arranged.hidden_space["id"])]
    assert len(got) == TOTAL + len(hidden) == TOTAL + 20
    assert set(got) == set(arranged.ids()) | set(hidden)
    assert_newest_first(got)


def admin_tasks_of(server: Server, space_id: str) -> list[dict[str, Any]]:
    with server.http() as admin:
        body = admin.get("/v2/tasks", params={"space_id": space_id, "limit": 100}).json()
    assert body["pagination"]["has_more"] is False
    return body["tasks"]


def test_default_page_is_fifty(server: Server, arranged: Arranged) -> None:
    with server.http(arranged.key) as member:
        body = member.get("/v2/tasks").json()
    assert [t["id"] for t in body["tasks"]] == arranged.ids()[:50]
    assert body["pagination"]["has_more"] is True


def test_inserts_and_deletes_between_pages_neither_repeat_nor_skip(server: Server, api: Api) -> None:
    space = api.space()
    ids = arrange.insert_tasks(server, [TaskSpec(space["id"], f"steady {i:03d}", "CODE_EVALUATION") for i in range(60)])
    newest_first = list(reversed(ids))
    seen: list[str] = []
    deleted: set[str] = set()
    cursor = None
    with server.http() as client:
        for round_ in range(100):
            params = {"space_id": space["id"], "limit": 10, **({"cursor": cursor} if cursor else {})}
            body = client.get("/v2/tasks", params=params).json()
            seen += [t["id"] for t in body["tasks"]]
            if not body["pagination"]["has_more"]:
                break
            cursor = body["pagination"]["next_cursor"]
            # Between pages: new tasks arrive, an unseen one and a seen one disappear.
            arrange.insert_tasks(
                server, [TaskSpec(space["id"], f"late {round_}-{j}", "RUN_EXPERIMENT") for j in range(3)]
            )
            unseen = [i for i in newest_first if i not in seen and i not in deleted]
            gone = [unseen[-1], seen[0]] if unseen else [seen[0]]
            arrange.delete_tasks(server, gone)
            deleted |= set(gone)
    throughout = [i for i in newest_first if i not in deleted]
    assert len(seen) == len(set(seen)), "a task was served twice"
    assert [i for i in seen if i in set(throughout)] == throughout, "a task that existed throughout was skipped"
    assert not set(seen) - set(ids), "a task created after paging began was served behind the cursor"
    assert_newest_first(seen)


def test_sdk_pages_with_limit_and_cursor(server: Server, arranged: Arranged) -> None:
    client = server.sdk(arranged.key)
    for filters, keep, limit in (
        ({}, lambda t: True, 100),
        (
            {"space": arranged.spaces[0]["id"], "task_type": "CODE_EVALUATION"},
            lambda t: t["space"] == arranged.spaces[0]["id"] and t["type"] == "CODE_EVALUATION",
            6,
        ),
        ({"name": "ALPHA"}, lambda t: "alpha" in t["name"].lower(), 25),
    ):
        got: list[str] = []
        cursor = None
        while True:
            page = client.tasks.list(limit=limit, cursor=cursor, **filters)
            assert len(page.tasks) <= limit
            got += [t.id for t in page.tasks]
            if not page.pagination.has_more:
                break
            cursor = page.pagination.next_cursor
        assert got == arranged.ids(keep), filters
