"""Experiments over Arrow Flight through the real ``arize`` SDK, default arguments (no
``force_http``): ``experiments.run`` creates the experiment over Flight, reads the examples over
Flight, sends its traces over OTLP/gRPC and uploads the runs over Flight; the runs and their
evaluations are then readable through ``/v2``. Run uploads that cannot be stored leave nothing."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from arize.experiments.evaluators.base import CodeEvaluator, EvaluationResult
from arize.experiments.types import ExperimentTaskFieldNames
from pyarrow import flight

from tests.arrange import dataset, experiment
from tests.flight_support import command, put
from tests.support import Api, Server, unique


class MentionsQuestion(CodeEvaluator):
    def evaluate(self, *, output: Any = None, dataset_row: Any = None, **kwargs: Any) -> EvaluationResult:
        hit = dataset_row["question"] in (output or "")
        return EvaluationResult(score=1.0 if hit else 0.0, label="yes" if hit else "no", explanation="substring")


def _all_runs(api: Api, experiment_id: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = api.ok(api.client.get(f"/v2/experiments/{experiment_id}/runs", params=params))
        runs += page["experiment_runs"]
        cursor = page["pagination"].get("next_cursor")
        if not page["pagination"]["has_more"]:
            return runs


def _spans(api: Api, project_id: str) -> list[dict[str, Any]]:
    spans: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = api.ok(api.client.post("/v2/spans", params=params, json={"project_id": project_id}))
        spans += page["spans"]
        cursor = page["pagination"].get("next_cursor")
        if not page["pagination"]["has_more"]:
            return spans


@pytest.mark.slow
def test_experiment_run_with_default_arguments_over_200_examples(server: Server, api: Api) -> None:
    space = api.space()
    client = server.sdk(traces=True)
    questions = pd.DataFrame({"question": [f"question {i}" for i in range(200)]})
    data = client.datasets.create(name=unique("ds"), space=space["id"], examples=questions)

    made, results = client.experiments.run(
        name="flight-run",
        dataset=data.id,
        task=lambda dataset_row: "answer to " + dataset_row["question"],
        evaluators=[MentionsQuestion()],
    )
    assert made is not None and made.dataset_id == data.id
    assert len(results) == 200 and set(results["eval.MentionsQuestion.label"]) == {"yes"}

    runs = _all_runs(api, made.id)
    examples = client.datasets.list_examples(dataset=data.id, all=True).to_df()
    by_example = {e: q for e, q in zip(examples["id"], examples["question"], strict=True)}
    assert sorted(r["example_id"] for r in runs) == sorted(by_example)
    for run in runs:
        assert run["output"] == "answer to " + by_example[run["example_id"]]
        assert run["eval.MentionsQuestion.score"] == 1.0 and run["eval.MentionsQuestion.label"] == "yes"

    everything = client.experiments.list_runs(experiment=made.id, all=True)
    assert sorted(r.id for r in everything.experiment_runs) == sorted(r["id"] for r in runs)

    # The traces went over OTLP/gRPC into the project the experiment was created with.
    projects = api.ok(api.client.get("/v2/projects", params={"space_id": space["id"]}))["projects"]
    traced = [p for p in projects if made.id in p["name"]]
    assert len(traced) == 1
    trace_ids = {s["context"]["trace_id"] for s in _spans(api, traced[0]["id"])}
    assert {r["result.trace.id"] for r in runs} <= trace_ids
    assert {r["eval.MentionsQuestion.trace.id"] for r in runs} <= trace_ids


@pytest.mark.slow
def test_dry_run_reads_examples_over_flight_and_stores_nothing(server: Server, api: Api) -> None:
    space = api.space()
    client = server.sdk()
    questions = pd.DataFrame({"question": [f"q{i}" for i in range(200)]})
    data = client.datasets.create(name=unique("ds"), space=space["id"], examples=questions)
    made, results = client.experiments.run(
        name="dry", dataset=data.id, task=lambda dataset_row: dataset_row["question"], dry_run=True
    )
    assert made is None and list(results["output"]) == [f"q{i}" for i in range(10)]
    assert api.ok(api.client.get("/v2/experiments", params={"dataset_id": data.id}))["experiments"] == []


def test_more_than_1000_runs_upload_over_flight(server: Server, api: Api) -> None:
    space = api.space()
    data = dataset(api, space["id"], examples=3)
    client = server.sdk()
    runs = pd.DataFrame(
        {"example_id": [data.example_ids[i % 3] for i in range(2500)], "output": [f"o{i}" for i in range(2500)]}
    )
    made = client.experiments.create(
        name=unique("bulk"),
        dataset=data.id,
        experiment_runs=runs,
        task_fields=ExperimentTaskFieldNames(example_id="example_id", output="output"),
    )
    stored = _all_runs(api, made.id)
    assert [r["output"] for r in stored] == list(runs["output"])
    everything = client.experiments.list_runs(experiment=made.id, all=True).to_df()
    assert list(everything["output"]) == list(runs["output"])
    assert list(everything["id"]) == [r["id"] for r in stored]


def _post_runs(server: Server, api: Api, data_id: str, experiment_id: str, table: pa.Table) -> None:
    name = api.ok(api.client.get(f"/v2/experiments/{experiment_id}"))["name"]
    put(server, None, "post_experiment_data", table, dataset_id=data_id, experiment_name=name)


def test_a_run_that_does_not_validate_stores_none_of_the_upload(server: Server, api: Api) -> None:
    space = api.space()
    data = dataset(api, space["id"])
    exp_id = experiment(api, data)
    example_ids = [data.example_ids[0]] * 1500
    example_ids[1200] = ""  # in the second batch of 1,000: the first must be undone too
    table = pa.table({"example_id": example_ids, "output": ["o"] * 1500})
    with pytest.raises(pa.ArrowInvalid, match="example_id"):
        _post_runs(server, api, data.id, exp_id, table)
    assert len(_all_runs(api, exp_id)) == 1


def test_runs_without_an_output_column_are_refused(server: Server, api: Api) -> None:
    space = api.space()
    data = dataset(api, space["id"])
    exp_id = experiment(api, data)
    with pytest.raises(pa.ArrowInvalid, match="'output' column"):
        _post_runs(server, api, data.id, exp_id, pa.table({"example_id": data.example_ids}))
    assert len(_all_runs(api, exp_id)) == 1


def test_runs_for_an_unknown_experiment_are_not_found(server: Server, api: Api) -> None:
    space = api.space()
    data = dataset(api, space["id"])
    table = pa.table({"example_id": data.example_ids, "output": ["o", "p"]})
    with pytest.raises(KeyError, match="No experiment named 'nope'"):
        put(server, None, "post_experiment_data", table, dataset_id=data.id, experiment_name="nope")


def test_a_runs_upload_that_breaks_off_stores_nothing(server: Server, api: Api) -> None:
    space = api.space()
    data = dataset(api, space["id"])
    exp_id = experiment(api, data)
    name = api.ok(api.client.get(f"/v2/experiments/{exp_id}"))["name"]
    table = pa.table({"example_id": [data.example_ids[0]] * 3000, "output": ["o"] * 3000})
    client, _ = server.flight()
    short = flight.FlightCallOptions(headers=[(b"auth-token-bin", server.admin_key.encode())], timeout=1.5)
    descriptor = flight.FlightDescriptor.for_command(
        command("post_experiment_data", dataset_id=data.id, experiment_name=name)
    )
    with client:
        writer, replies = client.do_put(descriptor, table.schema, short)
        writer.write_batch(table.to_batches(max_chunksize=1000)[0])
        time.sleep(2.5)  # the deadline passes mid-stream
        with pytest.raises(flight.FlightError):
            writer.write_batch(table.to_batches(max_chunksize=1000)[1])
            writer.done_writing()
            replies.read()
    time.sleep(0.5)
    assert len(_all_runs(api, exp_id)) == 1


def test_a_second_experiment_of_the_same_name_is_refused(server: Server, api: Api) -> None:
    space = api.space()
    data = dataset(api, space["id"])
    exp_id = experiment(api, data)
    name = api.ok(api.client.get(f"/v2/experiments/{exp_id}"))["name"]
    client, options = server.flight()
    body = command("create_experiment_db_entry", space_id=space["id"], dataset_id=data.id, experiment_name=name)
    with client, pytest.raises(pa.ArrowInvalid, match="already exists"):
        list(client.do_action(flight.Action("create_experiment_db_entry", body), options))
