"""Experiments and their runs through the official arize SDK and raw HTTP."""

from __future__ import annotations

import pandas as pd
import pytest
from arize import ApiException
from arize.experiments import EvaluationResultFieldNames, ExperimentTaskFieldNames
from arize.experiments.types import AnnotateRecordInput, AnnotationInput

from evalplane.core.ids import Kind, encode_id
from tests.arrange import assert_problem, user_key
from tests.support import Api, Server, unique

FIELDS = ExperimentTaskFieldNames(example_id="example_id", output="output")


def _dataset(client, space_id: str, rows: list[dict] | None = None):
    rows = rows or [{"question": "2+2?", "answer": "4"}, {"question": "Capital of France?", "answer": "Paris"}]
    dataset = client.datasets.create(name=unique("ds"), space=space_id, examples=rows)
    examples = client.datasets.list_examples(dataset=dataset.id).examples
    return dataset, [e.id for e in examples]


def test_sdk_creates_an_experiment_with_runs_and_reads_them_back(server: Server, api: Api) -> None:
    space = api.space()
    client = server.sdk()
    dataset, example_ids = _dataset(client, space["id"])
    runs = [
        {"example_id": example_ids[0], "output": "4", "model": "small", "correct": 1.0, "why": "matches"},
        {"example_id": example_ids[1], "output": "Lyon", "model": "small", "correct": 0.0, "why": "wrong city"},
    ]
    experiment = client.experiments.create(
        name="baseline",
        dataset=dataset.id,
        experiment_runs=runs,
        task_fields=FIELDS,
        evaluator_columns={"correctness": EvaluationResultFieldNames(score="correct", explanation="why")},
    )
    assert experiment.dataset_id == dataset.id and experiment.space_id == space["id"]
    assert experiment.dataset_version_id == dataset.versions[0].id

    fetched = client.experiments.get(experiment="baseline", dataset=dataset.name, space=space["name"])
    assert fetched.id == experiment.id
    assert [e.id for e in client.experiments.list(dataset=dataset.id).experiments] == [experiment.id]
    assert [e.id for e in client.experiments.list(space=space["id"]).experiments] == [experiment.id]

    df = client.experiments.list_runs(experiment=experiment.id).to_df()
    assert list(df["example_id"]) == example_ids
    assert list(df["output"]) == ["4", "Lyon"]
    assert list(df["model"]) == ["small", "small"]
    assert list(df["eval.correctness.score"]) == [1.0, 0.0]
    assert list(df["eval.correctness.explanation"]) == ["matches", "wrong city"]


def test_append_search_and_annotate_runs(server: Server, api: Api, http) -> None:
    space = api.space()
    client = server.sdk()
    dataset, example_ids = _dataset(client, space["id"])
    experiment = client.experiments.create(
        name=unique("exp"),
        dataset=dataset.id,
        task_fields=FIELDS,
        experiment_runs=[{"example_id": example_ids[0], "output": "4", "eval.q.score": 0.2}],
    )
    appended = client.experiments.append_runs(
        experiment=experiment.id,
        # A DataFrame keeps extra columns; the SDK drops them from plain dicts before sending.
        experiment_runs=pd.DataFrame(
            [
                {"example_id": example_ids[1], "output": "Paris", "eval.q.score": 0.9, "error": None},
                {"example_id": example_ids[0], "output": "", "eval.q.score": None, "error": "timeout"},
            ]
        ),
    )
    assert len(appended.run_ids) == 2 and appended.id == experiment.id

    everything = client.experiments.list_runs(experiment=experiment.id)
    ids = [r.id for r in everything.experiment_runs]
    assert ids[1:] == appended.run_ids  # insertion order
    assert everything.experiment_runs[2].error == "timeout" and everything.experiment_runs[2].output == ""
    good = client.experiments.list_runs(experiment=experiment.id, filter="eval.q.score >= 0.5")
    assert [r.output for r in good.experiment_runs] == ["Paris"]

    client.experiments.annotate_runs(
        experiment=experiment.id,
        annotations=[
            AnnotateRecordInput(record_id=ids[0], values=[AnnotationInput(name="verdict", label="ok", text="fine")])
        ],
    )
    df = client.experiments.list_runs(experiment=experiment.id).to_df()
    assert df.loc[df["id"] == ids[0], "annotation.verdict.label"].iloc[0] == "ok"
    flagged = client.experiments.list_runs(experiment=experiment.id, filter="annotation.verdict.label = 'ok'")
    assert [r.id for r in flagged.experiment_runs] == [ids[0]]

    first = api.ok(http.get(f"/v2/experiments/{experiment.id}/runs", params={"limit": 2}))
    assert [r["id"] for r in first["experiment_runs"]] == ids[:2] and first["pagination"]["has_more"] is True
    rest = api.ok(
        http.get(
            f"/v2/experiments/{experiment.id}/runs", params={"limit": 500, "cursor": first["pagination"]["next_cursor"]}
        )
    )
    assert [r["id"] for r in rest["experiment_runs"]] == ids[2:]
    assert_problem(http.get(f"/v2/experiments/{experiment.id}/runs", params={"limit": 501}), 400)
    assert_problem(http.post(f"/v2/experiments/{experiment.id}/runs/search", json={"filter": " "}), 400)
    assert_problem(http.post(f"/v2/experiments/{experiment.id}/runs/search", json={"filter": "output ="}), 400)


def test_run_experiment_over_rest_only(server: Server, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1")  # tracing goes to a closed port; fail fast
    space = api.space()
    client = server.sdk()
    dataset, example_ids = _dataset(client, space["id"], [{"question": "2+2?"}])

    experiment, results = client.experiments.run(
        name="rest-run",
        dataset=dataset.name,
        space=space["name"],
        force_http=True,
        task=lambda dataset_row: "answer to " + dataset_row["question"],
    )
    assert experiment is not None and experiment.dataset_id == dataset.id
    runs = client.experiments.list_runs(experiment="rest-run", dataset=dataset.id).to_df()
    assert list(runs["example_id"]) == example_ids
    assert list(runs["output"]) == ["answer to 2+2?"]
    assert "latency" in runs.columns and list(results["output"]) == ["answer to 2+2?"]


def test_standalone_experiments_live_in_a_space(server: Server, api: Api, http) -> None:
    space = api.space()
    client = server.sdk()
    fields = ExperimentTaskFieldNames(output="output")
    made = client.experiments.create(
        name="adhoc", space=space["id"], experiment_runs=[{"output": "x", "tag": "a"}], task_fields=fields
    )
    assert made.dataset_id is None and made.dataset_version_id is None
    assert client.experiments.get(experiment="adhoc", space=space["name"]).id == made.id
    with pytest.raises(ApiException) as raised:
        client.experiments.create(
            name="adhoc", space=space["id"], experiment_runs=[{"output": "y"}], task_fields=fields
        )
    assert raised.value.status == 409
    raw = api.ok(http.get(f"/v2/experiments/{made.id}"))
    assert raw["dataset_id"] is None and raw["dataset_version_id"] is None and raw["integration_id"] is None


def test_experiment_names_are_unique_per_dataset(server: Server, api: Api, http) -> None:
    space = api.space()
    client = server.sdk()
    first, first_examples = _dataset(client, space["id"])
    second, second_examples = _dataset(client, space["id"])
    body = {
        "name": "same",
        "dataset_id": first.id,
        "experiment_runs": [{"example_id": first_examples[0], "output": "o"}],
    }
    api.ok(http.post("/v2/experiments", json=body), 201)
    assert_problem(http.post("/v2/experiments", json=body), 409)
    other = {**body, "dataset_id": second.id, "experiment_runs": [{"example_id": second_examples[0], "output": "o"}]}
    api.ok(http.post("/v2/experiments", json=other), 201)
    assert len(client.experiments.list(space=space["id"]).experiments) == 2


def test_experiments_in_other_spaces_are_invisible(server: Server, api: Api) -> None:
    mine, theirs = api.space(), api.space()
    admin = server.sdk()
    their_dataset, their_examples = _dataset(admin, theirs["id"])
    hidden = admin.experiments.create(
        name=unique("exp"),
        dataset=their_dataset.id,
        task_fields=FIELDS,
        experiment_runs=[{"example_id": their_examples[0], "output": "o"}],
    )
    my_dataset, my_examples = _dataset(admin, mine["id"])
    visible = admin.experiments.create(
        name=unique("exp"),
        dataset=my_dataset.id,
        task_fields=FIELDS,
        experiment_runs=[{"example_id": my_examples[0], "output": "o"}],
    )
    with server.http(user_key(server, mine["id"], "MEMBER")) as http:
        assert [e["id"] for e in api.ok(http.get("/v2/experiments"))["experiments"]] == [visible.id]
        assert_problem(http.get(f"/v2/experiments/{hidden.id}"), 404)
        assert_problem(http.get(f"/v2/experiments/{hidden.id}/runs"), 404)
        assert_problem(http.post(f"/v2/experiments/{hidden.id}/runs/search", json={}), 404)
        assert_problem(
            http.post(
                f"/v2/experiments/{hidden.id}/runs", json={"experiment_runs": [{"example_id": "e", "output": "o"}]}
            ),
            404,
        )
        assert_problem(http.delete(f"/v2/experiments/{hidden.id}"), 404)
        assert_problem(http.get("/v2/experiments", params={"dataset_id": their_dataset.id}), 404)
        body = {"name": "x", "dataset_id": their_dataset.id, "experiment_runs": [{"example_id": "e", "output": "o"}]}
        assert_problem(http.post("/v2/experiments", json=body), 404)
    with server.http(user_key(server, mine["id"], "READ_ONLY")) as http:
        assert api.ok(http.get(f"/v2/experiments/{visible.id}/runs"))["experiment_runs"][0]["output"] == "o"
        assert_problem(http.delete(f"/v2/experiments/{visible.id}"), 403)


def test_bad_experiment_input_is_a_4xx_problem(server: Server, api: Api, http) -> None:
    space = api.space()
    client = server.sdk()
    dataset, example_ids = _dataset(client, space["id"])
    run = {"example_id": example_ids[0], "output": "o"}
    experiment = api.ok(
        http.post("/v2/experiments", json={"name": unique("e"), "dataset_id": dataset.id, "experiment_runs": [run]}),
        201,
    )
    runs_url = f"/v2/experiments/{experiment['id']}/runs"
    cases = [
        http.post("/v2/experiments", json={"name": "a", "experiment_runs": [run]}),
        http.post(
            "/v2/experiments",
            json={"name": "a", "dataset_id": dataset.id, "space_id": space["id"], "experiment_runs": [run]},
        ),
        http.post("/v2/experiments", json={"name": "a", "dataset_id": dataset.id, "experiment_runs": []}),
        http.post(
            "/v2/experiments", json={"name": "a", "dataset_id": dataset.id, "experiment_runs": [{"example_id": "e"}]}
        ),
        http.post(
            "/v2/experiments", json={"name": "a", "dataset_id": dataset.id, "experiment_runs": [{"output": "o"}]}
        ),
        http.post(
            "/v2/experiments", json={"name": "a", "dataset_id": dataset.id, "experiment_runs": [{**run, "id": "r1"}]}
        ),
        http.post("/v2/experiments", json={"name": 'say "hi"', "dataset_id": dataset.id, "experiment_runs": [run]}),
        http.post("/v2/experiments", json={"name": "a", "dataset_id": "garbage", "experiment_runs": [run]}),
        http.post("/v2/experiments", json={"name": "a", "dataset_id": dataset.id, "experiment_runs": [run] * 1001}),
        http.get("/v2/experiments", params={"dataset_id": dataset.id, "space_id": space["id"]}),
        http.get("/v2/experiments", params={"cursor": "garbage"}),
        http.get("/v2/experiments/garbage"),
        http.post(runs_url, json={"experiment_runs": [{"output": "o"}]}),
        http.post(runs_url, json={"experiment_runs": "nope"}),
        http.post(f"{runs_url}/annotate", json={"annotations": [{"record_id": "x", "values": []}]}),
        http.post(f"{runs_url}/search", json={"limit": 0}),
        http.post(f"{runs_url}/search", json={"unknown": 1}),
    ]
    for response in cases:
        assert 400 <= response.status_code < 500, (
            f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
        )
        assert response.headers["content-type"].startswith("application/problem+json")
    assert_problem(http.get(f"/v2/experiments/{encode_id(Kind.EXPERIMENT, 999_999_999)}"), 404)


def test_deleting_experiments_and_their_datasets(server: Server, api: Api, http) -> None:
    space = api.space()
    client = server.sdk()
    dataset, example_ids = _dataset(client, space["id"])
    runs = [{"example_id": example_ids[0], "output": "o"}]
    doomed = client.experiments.create(name="doomed", dataset=dataset.id, experiment_runs=runs, task_fields=FIELDS)
    kept = client.experiments.create(name="kept", dataset=dataset.id, experiment_runs=runs, task_fields=FIELDS)
    client.experiments.delete(experiment="doomed", dataset=dataset.id)
    assert_problem(http.get(f"/v2/experiments/{doomed.id}"), 404)
    assert [e.id for e in client.experiments.list(dataset=dataset.id).experiments] == [kept.id]
    client.datasets.delete(dataset=dataset.id)
    assert_problem(http.get(f"/v2/experiments/{kept.id}"), 404)


def test_run_search_speaks_the_one_filter_language(server: Server, api: Api, http) -> None:
    space = api.space()
    body = {"space_id": space["id"], "name": unique("ds"), "examples": [{"q": "a"}]}
    dataset = api.ok(http.post("/v2/datasets", json=body), 201)
    example_id = api.ok(http.get(f"/v2/datasets/{dataset['id']}/examples"))["examples"][0]["id"]
    runs = [
        {"example_id": example_id, "output": "4", "eval.q.score": 0.2},
        {"example_id": example_id, "output": "four", "eval.q.score": 0.9},
        {"example_id": example_id, "output": "4.0", "error": "late"},
    ]
    experiment = api.ok(
        http.post(
            "/v2/experiments", json={"name": unique("exp"), "dataset_id": dataset["id"], "experiment_runs": runs}
        ),
        201,
    )
    search = f"/v2/experiments/{experiment['id']}/runs/search"

    def kept(text: str) -> list[str]:
        return [r["output"] for r in api.ok(http.post(search, json={"filter": text}))["experiment_runs"]]

    assert kept("output = 4") == ["4", "4.0"]  # numeric strings compared with a number
    assert kept("output = '4'") == ["4"]
    assert kept("NOT (eval.q.score < 0.5)") == ["four"]  # the third run has no score: unknown
    assert kept("NOT (error = 'late')") == []  # a missing error is unknown, not unequal
    assert kept("error IS NULL AND output LIKE 'f%'") == ["four"]
    assert_problem(http.post(search, json={"filter": "output IN ('4',"}), 400, "position 15")
