"""Datasets, versions and examples through the official arize SDK and raw HTTP."""

from __future__ import annotations

import pandas as pd
import pytest
from arize import ApiException
from arize.datasets.types import AnnotateRecordInput, AnnotationInput

from evalplane.core.ids import Kind, encode_id
from tests.arrange import assert_problem, user_key
from tests.support import Api, Server, unique


def _examples(client, dataset_id: str, version_id: str | None = None) -> list[dict]:
    response = client.datasets.list_examples(dataset=dataset_id, dataset_version_id=version_id, limit=500)
    assert response.pagination.has_more is False
    return [e.to_dict() | {"id": e.id} for e in response.examples]


def test_sdk_creates_datasets_from_records_and_dataframes(server: Server, api: Api) -> None:
    space = api.space()
    client = server.sdk()
    records = [
        {"question": "2+2?", "answer": "4", "meta": {"topic": "math"}},
        {"question": "Capital of Spain?", "answer": "Madrid"},
    ]
    from_records = client.datasets.create(name=unique("records"), space=space["id"], examples=records)
    frame = pd.DataFrame([{"input": "hi", "score": 0.5, "n": 3}, {"input": "bye", "score": 1.5, "n": 4}])
    from_frame = client.datasets.create(name=unique("frame"), space=space["name"], examples=frame, force_http=True)

    assert from_records.space_id == space["id"] and len(from_records.versions) == 1
    fetched = client.datasets.get(dataset=from_frame.name, space=space["name"])
    assert fetched.id == from_frame.id and [v.id for v in fetched.versions] == [from_frame.versions[0].id]

    df = client.datasets.list_examples(dataset=from_records.id).to_df()
    assert list(df["question"]) == ["2+2?", "Capital of Spain?"]
    assert list(df["answer"]) == ["4", "Madrid"]
    assert df["meta"].iloc[0] == {"topic": "math"}
    assert {"id", "created_at", "updated_at"} <= set(df.columns)
    user_columns = [c for c in df.columns if c not in ("id", "created_at", "updated_at")]
    assert user_columns == ["question", "answer", "meta"]  # the caller's column order survives
    frame_rows = _examples(client, from_frame.id)
    assert [(r["input"], r["score"], r["n"]) for r in frame_rows] == [("hi", 0.5, 3), ("bye", 1.5, 4)]

    listed = client.datasets.list(space=space["id"])
    assert [d.id for d in listed.datasets] == [from_frame.id, from_records.id]  # newest first
    assert listed.datasets[0].versions is None  # versions come with get, not list
    assert [d.id for d in client.datasets.list(space=space["name"], name="RECORDS").datasets] == [from_records.id]


def test_dataset_names_are_unique_per_space(server: Server, api: Api, http) -> None:
    space, other = api.space(), api.space()
    client = server.sdk()
    first = client.datasets.create(name="golden", space=space["id"], examples=[{"a": 1}])
    with pytest.raises(ApiException) as raised:
        client.datasets.create(name="golden", space=space["id"], examples=[{"a": 2}])
    assert raised.value.status == 409
    client.datasets.create(name="golden", space=other["id"], examples=[{"a": 3}])  # another space is fine
    second = client.datasets.create(name="silver", space=space["id"], examples=[{"a": 4}])
    assert_problem(http.patch(f"/v2/datasets/{second.id}", json={"name": "golden"}), 409)
    renamed = client.datasets.update(dataset=second.id, name="bronze")
    assert renamed.name == "bronze" and renamed.updated_at >= second.updated_at
    names = sorted(d.name for d in client.datasets.list(space=space["id"]).datasets)
    assert names == ["bronze", "golden"] and first.name == "golden"


def test_example_writes_keep_ids_and_versions_keep_their_content(server: Server, api: Api) -> None:
    space = api.space()
    client = server.sdk()
    dataset = client.datasets.create(
        name=unique("ds"), space=space["id"], examples=[{"q": "a", "v": 1}, {"q": "b", "v": 2}]
    )
    v1 = dataset.versions[0].id
    first_ids = [r["id"] for r in _examples(client, dataset.id)]

    appended = client.datasets.append_examples(dataset=dataset.id, examples=pd.DataFrame([{"q": "c", "v": 3}]))
    assert appended.dataset_version_id == v1 and len(appended.example_ids) == 1  # appended in place to the newest

    # An update naming new_version leaves v1 as it was.
    updated = client.datasets.update_examples(
        dataset=dataset.id, examples=[{"id": first_ids[0], "v": 10, "extra": "new column"}], new_version="v2"
    )
    v2 = updated.dataset_version_id
    assert v2 != v1 and updated.example_ids == [first_ids[0]]
    versions = client.datasets.get(dataset=dataset.id).versions
    assert [v.id for v in versions] == [v2, v1] and versions[0].name == "v2"

    latest = _examples(client, dataset.id)
    assert [r["id"] for r in latest] == first_ids + appended.example_ids  # ids are stable across versions
    assert (latest[0]["v"], latest[0]["extra"], latest[0]["q"]) == (10, "new column", "a")  # omitted fields kept
    older = _examples(client, dataset.id, v1)
    assert [r["v"] for r in older] == [1, 2, 3] and "extra" not in older[0]

    # Without new_version an update applies in place; unknown ids are ignored.
    in_place = client.datasets.update_examples(
        dataset=dataset.id,
        dataset_version_id=v2,
        examples=[{"id": first_ids[1], "v": 20}, {"id": "RGF0YXNldEV4YW1wbGU6OTk5OTk6YWJjZA==", "v": 0}],
    )
    assert in_place.dataset_version_id == v2 and in_place.example_ids == [first_ids[1]]
    assert [r["v"] for r in _examples(client, dataset.id, v2)] == [10, 20, 3]
    assert [r["v"] for r in _examples(client, dataset.id, v1)] == [1, 2, 3]

    deleted = client.datasets.delete_examples(
        dataset=dataset.id, dataset_version_id=v2, examples=[first_ids[0], first_ids[0][:-4] + "AAAA"]
    )
    assert deleted.completed is True
    assert deleted.deleted_example_ids == [first_ids[0]] and len(deleted.not_deleted_example_ids) == 1
    again = client.datasets.delete_examples(dataset=dataset.id, dataset_version_id=v2, examples=[first_ids[0]])
    assert again.deleted_example_ids == [] and again.not_deleted_example_ids == [first_ids[0]]  # idempotent
    assert [r["q"] for r in _examples(client, dataset.id)] == ["b", "c"]
    assert [r["q"] for r in _examples(client, dataset.id, v1)] == ["a", "b", "c"]
    assert client.datasets.get(dataset=dataset.id).updated_at > dataset.updated_at


def test_examples_page_in_insertion_order(server: Server, api: Api, http) -> None:
    space = api.space()
    client = server.sdk()
    dataset = client.datasets.create(name=unique("ds"), space=space["id"], examples=[{"n": i} for i in range(7)])
    seen, cursor = [], None
    while True:
        page = client.datasets.list_examples(dataset=dataset.id, limit=3, cursor=cursor)
        seen.extend(e.to_dict()["n"] for e in page.examples)
        if not page.pagination.has_more:
            break
        cursor = page.pagination.next_cursor
    assert seen == list(range(7))
    raw = api.ok(http.get(f"/v2/datasets/{dataset.id}/examples", params={"limit": 5}))
    assert [e["n"] for e in raw["examples"]] == [0, 1, 2, 3, 4] and raw["pagination"]["has_more"] is True
    rest = api.ok(
        http.get(f"/v2/datasets/{dataset.id}/examples", params={"limit": 5, "cursor": raw["pagination"]["next_cursor"]})
    )
    assert [e["n"] for e in rest["examples"]] == [5, 6] and rest["pagination"] == {"has_more": False}
    assert_problem(http.get(f"/v2/datasets/{dataset.id}/examples", params={"limit": 501}), 400)


def test_search_and_annotate_examples(server: Server, api: Api, http) -> None:
    space = api.space()
    client = server.sdk()
    rows = [
        {"topic": "math", "q": "2+2", "n": 1},
        {"topic": "geo", "q": "capital", "n": 2},
        {"topic": "math", "q": "3*3", "n": 3},
    ]
    dataset = client.datasets.create(name=unique("ds"), space=space["id"], examples=rows)
    found = client.datasets.list_examples(dataset=dataset.id, filter="topic = 'math' AND n > 1")
    assert [e.to_dict()["q"] for e in found.examples] == ["3*3"]
    paged = client.datasets.list_examples(dataset=dataset.id, filter="topic = 'math'", limit=1)
    assert paged.pagination.has_more is True
    second = client.datasets.list_examples(
        dataset=dataset.id, filter="topic = 'math'", limit=1, cursor=paged.pagination.next_cursor
    )
    assert [e.to_dict()["n"] for e in paged.examples + second.examples] == [1, 3]

    target = found.examples[0].id
    client.datasets.annotate_examples(
        dataset=dataset.id,
        annotations=[
            AnnotateRecordInput(record_id=target, values=[AnnotationInput(name="quality", label="good", score=0.9)])
        ],
    )
    client.datasets.annotate_examples(  # same name again overwrites; unknown record ids are ignored
        dataset=dataset.id,
        annotations=[
            AnnotateRecordInput(record_id=target, values=[AnnotationInput(name="quality", label="great", score=1.0)]),
            AnnotateRecordInput(record_id="not-an-id", values=[AnnotationInput(name="quality", label="x")]),
        ],
    )
    df = client.datasets.list_examples(dataset=dataset.id).to_df()
    annotated = df[df["id"] == target].iloc[0]
    assert annotated["annotation.quality.label"] == "great" and annotated["annotation.quality.score"] == 1.0
    assert annotated["annotation.quality.annotator_email"] == "admin@localhost"
    by_annotation = client.datasets.list_examples(dataset=dataset.id, filter="annotation.quality.label = 'great'")
    assert [e.id for e in by_annotation.examples] == [target]

    assert_problem(http.post(f"/v2/datasets/{dataset.id}/examples/search", json={"filter": "topic = "}), 400)
    assert_problem(http.post(f"/v2/datasets/{dataset.id}/examples/search", json={"filter": "   "}), 400)
    assert_problem(http.post(f"/v2/datasets/{dataset.id}/examples/search", json={"limit": 501}), 400)


def test_list_datasets_pages_with_filters(server: Server, api: Api, http) -> None:
    space = api.space(unique("pager"))
    client = server.sdk()
    made = [client.datasets.create(name=f"pg-{i}", space=space["id"], examples=[{"i": i}]).id for i in range(5)]
    ids, cursor = [], None
    while True:
        params = {"space_name": space["name"], "name": "PG-", "limit": 2} | ({"cursor": cursor} if cursor else {})
        body = api.ok(http.get("/v2/datasets", params=params))
        ids.extend(d["id"] for d in body["datasets"])
        if not body["pagination"]["has_more"]:
            break
        cursor = body["pagination"]["next_cursor"]
    assert ids == list(reversed(made))
    assert_problem(http.get("/v2/datasets", params={"space_id": space["id"], "cursor": cursor or "bogus"}), 400)


def test_datasets_in_other_spaces_are_invisible(server: Server, api: Api) -> None:
    mine, theirs = api.space(), api.space()
    admin = server.sdk()
    hidden = admin.datasets.create(name=unique("hidden"), space=theirs["id"], examples=[{"a": 1}])
    visible = admin.datasets.create(name=unique("visible"), space=mine["id"], examples=[{"a": 2}])
    key = user_key(server, mine["id"], "MEMBER")
    with server.http(key) as http:
        listed = api.ok(http.get("/v2/datasets"))["datasets"]
        assert [d["id"] for d in listed] == [visible.id]
        assert_problem(http.get(f"/v2/datasets/{hidden.id}"), 404)
        assert_problem(http.get(f"/v2/datasets/{hidden.id}/examples"), 404)
        assert_problem(http.post(f"/v2/datasets/{hidden.id}/examples", json={"examples": [{"a": 3}]}), 404)
        assert_problem(http.delete(f"/v2/datasets/{hidden.id}"), 404)
        assert_problem(http.get("/v2/datasets", params={"space_id": theirs["id"]}), 404)
        create = {"name": "x", "space_id": theirs["id"], "examples": [{"a": 1}]}
        assert_problem(http.post("/v2/datasets", json=create), 404)
        other_version = hidden.versions[0].id
        assert_problem(
            http.get(f"/v2/datasets/{visible.id}/examples", params={"dataset_version_id": other_version}), 404
        )
    reader = user_key(server, mine["id"], "READ_ONLY")
    with server.http(reader) as http:
        assert api.ok(http.get(f"/v2/datasets/{visible.id}"))["id"] == visible.id
        assert_problem(http.post(f"/v2/datasets/{visible.id}/examples", json={"examples": [{"a": 3}]}), 403)
        assert_problem(http.delete(f"/v2/datasets/{visible.id}"), 403)
    assert admin.datasets.get(dataset=hidden.id).id == hidden.id


def test_bad_dataset_input_is_a_4xx_problem(server: Server, api: Api, http) -> None:
    space = api.space()
    dataset = server.sdk().datasets.create(name=unique("ds"), space=space["id"], examples=[{"a": 1}])
    base = f"/v2/datasets/{dataset.id}"
    cases = [
        http.post("/v2/datasets", json={"name": "x", "space_id": space["id"], "examples": []}),
        http.post("/v2/datasets", json={"name": "x", "space_id": space["id"], "examples": [{}]}),
        http.post("/v2/datasets", json={"name": "x", "space_id": space["id"], "examples": [{"id": "e1", "a": 1}]}),
        http.post("/v2/datasets", json={"name": "x", "space_id": space["id"], "examples": [{"created_at": "now"}]}),
        http.post("/v2/datasets", json={"name": "x", "space_id": space["id"], "examples": ["text"]}),
        http.post("/v2/datasets", json={"name": "   ", "space_id": space["id"], "examples": [{"a": 1}]}),
        http.post("/v2/datasets", json={"name": "x", "space_id": "nope", "examples": [{"a": 1}]}),
        http.post("/v2/datasets", json={"name": "x", "space_id": space["id"], "examples": [{"a": 1}], "extra": 1}),
        http.post("/v2/datasets", json={"name": "x", "space_id": space["id"], "examples": [{"a": 1}] * 1001}),
        http.post("/v2/datasets", content=b"{not json", headers={"content-type": "application/json"}),
        http.get("/v2/datasets/not-an-id"),
        http.get(f"{base}/examples", params={"dataset_version_id": "garbage"}),
        http.get(f"{base}/examples", params={"cursor": "garbage"}),
        http.patch(base, json={}),
        http.patch(f"{base}/examples", json={"examples": [{"a": 2}]}),
        http.patch(f"{base}/examples", json={"examples": [{"id": "x", "a": 1}, {"id": "x", "a": 2}]}),
        http.request("DELETE", f"{base}/examples", json={"example_ids": ["x"]}),
        http.request(
            "DELETE", f"{base}/examples", json={"dataset_version_id": dataset.versions[0].id, "example_ids": []}
        ),
        http.request(
            "DELETE", f"{base}/examples", json={"dataset_version_id": dataset.versions[0].id, "example_ids": ["a", "a"]}
        ),
        http.post(f"{base}/examples/annotate", json={"annotations": []}),
        http.post(f"{base}/examples/annotate", json={"annotations": [{"record_id": "x", "values": [{"name": ""}]}]}),
    ]
    for response in cases:
        assert 400 <= response.status_code < 500, (
            f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
        )
        assert response.headers["content-type"].startswith("application/problem+json")
    assert_problem(http.get(f"/v2/datasets/{encode_id(Kind.DATASET, 999_999_999)}"), 404)
    no_version = encode_id(Kind.DATASET_VERSION, 999_999_999)
    assert_problem(http.get(f"{base}/examples", params={"dataset_version_id": no_version}), 404)


def test_deleting_a_dataset_removes_it(server: Server, api: Api, http) -> None:
    space = api.space()
    client = server.sdk()
    dataset = client.datasets.create(name=unique("gone"), space=space["id"], examples=[{"a": 1}])
    client.datasets.delete(dataset=dataset.name, space=space["id"])
    assert_problem(http.get(f"/v2/datasets/{dataset.id}"), 404)
    assert_problem(http.get(f"/v2/datasets/{dataset.id}/examples"), 404)
    assert client.datasets.list(space=space["id"]).datasets == []


def test_example_search_speaks_the_one_filter_language(server: Server, api: Api, http) -> None:
    space = api.space()
    rows = [{"score": "1", "k": "a"}, {"score": 2, "k": "b"}, {"score": "x", "k": "c"}, {"k": "d"}]
    body = {"space_id": space["id"], "name": unique("ds"), "examples": rows}
    dataset = api.ok(http.post("/v2/datasets", json=body), 201)
    search = f"/v2/datasets/{dataset['id']}/examples/search"

    def kept(text: str) -> list[str]:
        return [e["k"] for e in api.ok(http.post(search, json={"filter": text}))["examples"]]

    assert kept("score = 1") == ["a"]  # a numeric string compared with a number is that number
    assert kept("score >= 1") == ["a", "b"]
    assert kept("score = '1'") == ["a"] and kept("score = '2'") == []  # a quoted string matches strings only
    assert kept("NOT (score > 1)") == ["a"]  # 'x' and a missing score are unknown, under NOT too
    assert kept("NOT (missing = 'x')") == []
    assert kept("score IS NULL") == ["d"]
    assert_problem(http.post(search, json={"filter": "k = 'a' AND (score > 1"}), 400, "expected ')'", "position 22")
