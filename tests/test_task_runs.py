"""Task runs: trigger, list, get, cancel and wait, through the SDK and raw HTTP, on both databases."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from arize._generated.api_client.exceptions import ApiException

from evalplane.core.ids import Kind, decode_id
from evalplane.db.models import TaskRun
from evalplane.domains.task_runs.transitions import ALLOWED, IllegalTransition, transition
from tests import arrange
from tests.arrange import World, assert_problem, make_world, project_task_body
from tests.support import Api, Server, unique

CURRENT = {"X-Evalplane-Dialect": "current"}
SEED_RUN_FIELDS = {
    "id",
    "task_id",
    "status",
    "run_started_at",
    "run_finished_at",
    "data_start_time",
    "data_end_time",
    "num_successes",
    "num_errors",
    "num_skipped",
    "created_at",
    "created_by_user_id",
}


def hours_ago(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


def create(http, body: dict[str, Any]) -> dict[str, Any]:
    response = http.post("/v2/tasks", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def run_experiment_task(http, world: World) -> dict[str, Any]:
    return create(
        http,
        {
            "name": unique("rx"),
            "type": "run_experiment",
            "dataset_id": world.dataset.id,
            "run_configuration": arrange.llm_generation_config(world.integration_id, upper=False),
        },
    )


def test_sdk_triggers_lists_gets_cancels_and_waits_for_a_run(server: Server, world: World, http) -> None:
    client = server.sdk()
    task = create(http, project_task_body(world))
    start, end = hours_ago(5), hours_ago(1)
    run = client.tasks.trigger_run(
        task=task["name"],
        space=world.space["name"],
        data_start_time=start,
        data_end_time=end,
        max_spans=50,
        override_evaluations=True,
    )
    assert run.status == "PENDING" and run.task_id == task["id"]
    assert run.run_started_at is None and run.run_finished_at is None
    assert abs((run.data_start_time - start).total_seconds()) < 0.01
    assert run.num_successes == run.num_errors == run.num_skipped == 0
    assert run.created_by_user_id is not None and run.failure_reason is None and run.experiment_id is None
    assert client.tasks.get(task=task["id"]).last_run_at is not None

    listed = client.tasks.list_runs(task=task["id"])
    assert [r.id for r in listed.task_runs] == [run.id]
    assert client.tasks.get_run(run_id=run.id).status == "PENDING"

    cancelled = client.tasks.cancel_run(run_id=run.id)
    assert cancelled.status == "CANCELLED" and cancelled.run_finished_at is not None
    assert cancelled.failure_reason
    assert client.tasks.wait_for_run(run_id=run.id, poll_interval=0.05, timeout=5).status == "CANCELLED"
    with pytest.raises(ApiException) as caught:
        client.tasks.cancel_run(run_id=run.id)
    assert caught.value.status == 409


def test_second_trigger_while_a_run_is_active_is_409(server: Server, world: World, http) -> None:
    client = server.sdk()
    task = create(http, project_task_body(world))
    first = client.tasks.trigger_run(task=task["id"], data_start_time=hours_ago(3), data_end_time=hours_ago(2))
    with pytest.raises(ApiException) as caught:
        client.tasks.trigger_run(task=task["id"], data_start_time=hours_ago(1))
    assert caught.value.status == 409
    arrange.set_run_status(server, first.id, "RUNNING")
    assert_problem(http.post(f"/v2/tasks/{task['id']}/trigger", json={}), 409, "pending or running")
    arrange.set_run_status(server, first.id, "COMPLETED")
    # Once the run is over a new one may start; without a start time it continues where the last window ended.
    second = client.tasks.trigger_run(task=task["id"])
    assert second.data_start_time == first.data_end_time
    assert second.status == "PENDING"


def test_a_first_trigger_without_a_window_covers_the_last_seven_days(server: Server, world: World, http) -> None:
    client = server.sdk()
    task = create(http, project_task_body(world))
    before = datetime.now(UTC)
    run = client.tasks.trigger_run(task=task["id"])  # no window at all, as the SDK sends it
    assert run.status == "PENDING"
    assert before - timedelta(seconds=5) <= run.data_end_time <= datetime.now(UTC) + timedelta(seconds=5)
    assert run.data_end_time - run.data_start_time == timedelta(days=7)


def test_concurrent_triggers_let_exactly_one_run_through(server: Server, world: World, http) -> None:
    task = create(http, project_task_body(world))
    body = {"data_start_time": hours_ago(2).isoformat()}

    def fire(_: int) -> int:
        with server.http() as client:
            return client.post(f"/v2/tasks/{task['id']}/trigger", json=body).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(fire, range(6)))
    assert statuses.count(201) == 1 and statuses.count(409) == 5, statuses
    assert len(http.get(f"/v2/tasks/{task['id']}/runs").json()["task_runs"]) == 1


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"data_start_time": "2026-01-01T00:00:00Z", "data_end_time": "2026-03-01T00:00:00Z"}, 400, "30 days"),
        ({"data_start_time": "2026-01-02T00:00:00Z", "data_end_time": "2026-01-01T00:00:00Z"}, 400, "before"),
        ({"data_start_time": "2026-01-01T00:00:00Z", "max_spans": 0}, 400, "max_spans"),
        ({"data_start_time": "yesterday"}, 400, "data_start_time"),
        ({"data_start_time": "2026-01-01T00:00:00Z", "experiment_name": "x"}, 400, "experiment_name"),
        ({"data_start_time": "2026-01-01T00:00:00Z", "experiment_ids": []}, 400, "experiment_ids"),
        ({"data_start_time": "2026-01-01T00:00:00Z", "colour": "blue"}, 400, "colour"),
    ],
)
def test_evaluation_trigger_rejects_bad_windows_and_foreign_fields(
    body: dict[str, Any], status: int, fragment: str, world: World, http
) -> None:
    task = create(http, project_task_body(world))
    assert_problem(http.post(f"/v2/tasks/{task['id']}/trigger", json=body), status, fragment)
    assert http.get(f"/v2/tasks/{task['id']}/runs").json()["task_runs"] == []
    assert http.get(f"/v2/tasks/{task['id']}").json()["last_run_at"] is None


def test_dataset_evaluation_run_records_its_experiments(server: Server, world: World, api: Api, http) -> None:
    task = create(
        http,
        project_task_body(world, project_id=None, dataset_id=world.dataset.id, experiment_ids=[world.experiment_id]),
    )
    second_experiment = arrange.experiment(api, world.dataset)
    other_dataset = arrange.dataset(api, world.space["id"])
    foreign = arrange.experiment(api, other_dataset)
    assert_problem(http.post(f"/v2/tasks/{task['id']}/trigger", json={"experiment_ids": [foreign]}), 422, "belong")
    assert_problem(
        http.post(f"/v2/tasks/{task['id']}/trigger", json={"data_start_time": "2026-01-01T00:00:00Z"}),
        400,
        "dataset-based",
    )
    run = server.sdk().tasks.trigger_run(task=task["id"], experiment_ids=[second_experiment])
    assert run.status == "PENDING" and run.data_start_time is None and run.data_end_time is None
    stored = stored_run(server, run.id)
    assert stored.parameters == {"experiment_ids": [decode_id(Kind.EXPERIMENT, second_experiment)]}
    assert stored.max_spans == 10_000 and stored.override_evaluations is False


def test_sdk_triggers_run_experiment_task(server: Server, world: World, http) -> None:
    client = server.sdk()
    task = run_experiment_task(http, world)
    follow_up = create(http, project_task_body(world, project_id=None, dataset_id=world.dataset.id))
    run = client.tasks.trigger_run(
        task=task["id"],
        experiment_name="baseline",
        dataset_version_id=world.dataset.version_id,
        example_ids=world.dataset.example_ids[:1],
        tracing_metadata={"team": "qa"},
        evaluation_task_ids=[follow_up["id"]],
    )
    assert run.status == "PENDING" and run.experiment_id is None and run.data_start_time is None
    assert stored_run(server, run.id).parameters == {
        "experiment_name": "baseline",
        "dataset_version_id": decode_id(Kind.DATASET_VERSION, world.dataset.version_id),
        "example_ids": [decode_id(Kind.DATASET_EXAMPLE, world.dataset.example_ids[0])],
        "tracing_metadata": {"team": "qa"},
        "evaluation_task_ids": [decode_id(Kind.TASK, follow_up["id"])],
    }


def test_run_experiment_trigger_rejections(server: Server, world: World, api: Api, http) -> None:
    task = run_experiment_task(http, world)
    taken = unique("exp")
    arrange.experiment(api, world.dataset, name=taken)
    project_task = create(http, project_task_body(world))
    other_dataset = arrange.dataset(api, world.space["id"])
    url = f"/v2/tasks/{task['id']}/trigger"
    assert_problem(http.post(url, json={}), 400, "experiment_name")
    assert_problem(http.post(url, json={"experiment_name": taken}), 409, taken)
    assert_problem(http.post(url, json={"experiment_name": 'say "hi"'}), 400, "double quotes")
    assert_problem(
        http.post(url, json={"experiment_name": "e", "max_examples": 2, "example_ids": world.dataset.example_ids}),
        400,
        "mutually exclusive",
    )
    assert_problem(http.post(url, json={"experiment_name": "e", "max_spans": 5}), 400, "max_spans")
    assert_problem(
        http.post(url, json={"experiment_name": "e", "query_filter": "(attributes.a = 1"}), 400, "query_filter"
    )
    assert_problem(
        http.post(url, json={"experiment_name": "e", "dataset_version_id": other_dataset.version_id}),
        422,
        "another dataset",
    )
    assert_problem(
        http.post(
            url,
            json={"experiment_name": "e", "example_ids": other_dataset.example_ids[:1] + ["RGF0YXNldEV4YW1wbGU6OTk5"]},
        ),
        422,
        "example_ids",
    )
    assert_problem(
        http.post(url, json={"experiment_name": "e", "evaluation_task_ids": [project_task["id"]]}),
        422,
        "not an evaluation task on this task's dataset",
    )
    assert_problem(
        http.post(url, json={"experiment_name": "e", "evaluation_task_ids": [task["id"]]}), 422, "evaluation"
    )
    assert http.get(f"/v2/tasks/{task['id']}/runs").json()["task_runs"] == []
    ok = http.post(url, json={"experiment_name": "e", "max_examples": 1, "query_filter": "split = 'test'"})
    assert ok.status_code == 201, ok.text


def test_list_runs_filters_by_status_in_either_case_and_pages(server: Server, world: World, http) -> None:
    client = server.sdk()
    task = create(http, project_task_body(world))
    ids = []
    for final in ("COMPLETED", "FAILED", "COMPLETED", None):
        run = client.tasks.trigger_run(task=task["id"], data_start_time=hours_ago(1))
        ids.append(run.id)
        if final:
            arrange.set_run_status(server, run.id, final)
    newest_first = ids[::-1]
    completed = client.tasks.list_runs(task=task["id"], status="COMPLETED")
    assert [r.id for r in completed.task_runs] == [ids[2], ids[0]]
    lower = http.get(f"/v2/tasks/{task['id']}/runs", params={"status": "pending"}).json()["task_runs"]
    assert [r["id"] for r in lower] == [ids[3]] and lower[0]["status"] == "pending"
    page = client.tasks.list_runs(task=task["id"], limit=3)
    assert [r.id for r in page.task_runs] == newest_first[:3] and page.pagination.has_more
    rest = client.tasks.list_runs(task=task["id"], limit=3, cursor=page.pagination.next_cursor)
    assert [r.id for r in rest.task_runs] == newest_first[3:] and not rest.pagination.has_more
    assert_problem(http.get(f"/v2/tasks/{task['id']}/runs", params={"status": "sleeping"}), 400, "status")
    assert_problem(
        http.get(f"/v2/tasks/{task['id']}/runs", params={"status": "failed", "cursor": page.pagination.next_cursor}),
        400,
        "cursor",
    )


def test_cancel_is_refused_once_a_run_is_over(server: Server, world: World, http) -> None:
    task = create(http, project_task_body(world))
    run = http.post(f"/v2/tasks/{task['id']}/trigger", json={"data_start_time": hours_ago(2).isoformat()}).json()
    arrange.set_run_status(server, run["id"], "RUNNING")
    cancelled = http.post(f"/v2/task-runs/{run['id']}/cancel", headers=CURRENT).json()
    assert cancelled["status"] == "CANCELLED" and cancelled["run_finished_at"] is not None
    for final in ("COMPLETED", "FAILED"):
        arrange.set_run_status(server, run["id"], final)
        assert_problem(http.post(f"/v2/task-runs/{run['id']}/cancel"), 409, final.lower())
    assert_problem(http.post("/v2/task-runs/T25saW5lVGFza1J1bjo5OTk5OTk=/cancel"), 404)
    assert_problem(http.get("/v2/task-runs/not-an-id"), 404, "run_id")


def test_seed_dialect_task_run_has_only_basic_fields_and_lower_case_status(world: World, http) -> None:
    task = create(http, project_task_body(world))
    created = http.post(f"/v2/tasks/{task['id']}/trigger", json={"data_start_time": hours_ago(1).isoformat()})
    assert created.status_code == 201
    for run in (
        created.json(),
        http.get(f"/v2/task-runs/{created.json()['id']}").json(),
        *http.get(f"/v2/tasks/{task['id']}/runs").json()["task_runs"],
        http.post(f"/v2/task-runs/{created.json()['id']}/cancel").json(),
    ):
        assert set(run) == SEED_RUN_FIELDS
        assert run["status"] in ("pending", "cancelled")
    current = http.get(f"/v2/task-runs/{created.json()['id']}", headers=CURRENT).json()
    assert set(current) == SEED_RUN_FIELDS | {"experiment_id", "failure_reason"}
    assert current["status"] == "CANCELLED"


def test_read_only_member_can_list_runs_but_not_trigger_or_cancel(server: Server, world: World, http) -> None:
    task = create(http, project_task_body(world))
    run = http.post(f"/v2/tasks/{task['id']}/trigger", json={"data_start_time": hours_ago(1).isoformat()}).json()
    reader = arrange.user_key(server, world.space["id"], "READ_ONLY")
    with server.http(reader) as as_reader:
        assert as_reader.get(f"/v2/task-runs/{run['id']}").status_code == 200
        assert len(as_reader.get(f"/v2/tasks/{task['id']}/runs").json()["task_runs"]) == 1
        assert_problem(as_reader.post(f"/v2/task-runs/{run['id']}/cancel"), 403)
    outsider = arrange.user_key(server, make_world(Api(http)).space["id"], "ADMIN")
    with server.http(outsider) as as_outsider:
        assert_problem(as_outsider.get(f"/v2/task-runs/{run['id']}"), 404)
        assert_problem(as_outsider.get(f"/v2/tasks/{task['id']}/runs"), 404)


# --- the state machine the engine will share ---------------------------------------------


def stored_run(server: Server, run_id: str) -> TaskRun:
    async def work(session):
        return await session.get(TaskRun, decode_id(Kind.TASK_RUN, run_id))

    return arrange.in_db(server, work)


def test_transition_table_allows_only_forward_moves() -> None:
    assert ALLOWED["PENDING"] == {"RUNNING", "CANCELLED", "FAILED"}
    assert ALLOWED["RUNNING"] == {"COMPLETED", "FAILED", "CANCELLED"}
    assert all(not ALLOWED[s] for s in ("COMPLETED", "FAILED", "CANCELLED"))


def test_transition_is_compare_and_set(server: Server, world: World, http) -> None:
    task = create(http, project_task_body(world))
    run = http.post(f"/v2/tasks/{task['id']}/trigger", json={"data_start_time": hours_ago(1).isoformat()}).json()
    run_id = decode_id(Kind.TASK_RUN, run["id"])

    async def move(session, expected: str, target: str) -> bool:
        return await transition(session, run_id, expected, target)

    assert arrange.in_db(server, lambda s: move(s, "PENDING", "RUNNING")) is True
    assert arrange.in_db(server, lambda s: move(s, "PENDING", "CANCELLED")) is False  # someone else moved it first
    with pytest.raises(IllegalTransition):
        arrange.in_db(server, lambda s: move(s, "RUNNING", "PENDING"))
    assert arrange.in_db(server, lambda s: move(s, "RUNNING", "COMPLETED")) is True
    finished = stored_run(server, run["id"])
    assert finished.status == "COMPLETED"
    assert finished.run_started_at is not None and finished.run_finished_at is not None
