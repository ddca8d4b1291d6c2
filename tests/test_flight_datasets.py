"""Datasets over Arrow Flight through the real ``arize`` SDK: bulk create from a DataFrame and
from parquet, read back whole with ``list_examples(all=True)`` and ``export_to_parquet``; and
uploads that cannot be stored leave nothing behind."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import flight

from tests.arrange import assert_problem
from tests.flight_support import command, get, put
from tests.support import Api, Server, unique

ROWS = 20_000


def _frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    score = rng.random(rows)
    score[::97] = np.nan  # missing values come back missing
    return pd.DataFrame(
        {
            "question": [f"What is {i} + {i}? ünïcode ✓" for i in range(rows)],
            "answer": [str(2 * i) for i in range(rows)],
            "n": np.arange(rows, dtype="int64"),
            "score": score,
            "context": [f'{{"doc": {i}, "tags": ["a", "b"]}}' for i in range(rows)],
        }
    )


def _own_columns(df: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    return df[list(like.columns)].reset_index(drop=True)


def _reads_back_identical(server: Server, dataset_id: str, expected: pd.DataFrame, tmp_path: Path) -> None:
    client = server.sdk()
    listed = client.datasets.list_examples(dataset=dataset_id, all=True)
    assert len(listed.examples) == len(expected)
    frame = listed.to_df()
    # The SDK's to_df picks pandas' nullable dtypes; the values are what must match.
    pd.testing.assert_frame_equal(_own_columns(frame, expected).astype(expected.dtypes.to_dict()), expected)
    ids = list(frame["id"])
    assert len(set(ids)) == len(ids)

    path = tmp_path / "export.parquet"
    client.datasets.export_to_parquet(dataset=dataset_id, path=str(path))
    exported = pd.read_parquet(path)
    pd.testing.assert_frame_equal(_own_columns(exported, expected), expected)
    assert list(exported["id"]) == ids

    # The REST API reads the same store: its first page is the first examples, in order.
    with server.http() as http:
        page = Api(http).ok(http.get(f"/v2/datasets/{dataset_id}/examples", params={"limit": 100}))
    assert [e["id"] for e in page["examples"]] == ids[:100]
    assert [e["question"] for e in page["examples"]] == list(expected["question"][:100])


@pytest.mark.slow
def test_dataframe_of_20000_rows_reads_back_identical(server: Server, api: Api, tmp_path: Path) -> None:
    space = api.space()
    expected = _frame(ROWS)
    dataset = server.sdk().datasets.create(name=unique("big"), space=space["id"], examples=expected.copy())
    _reads_back_identical(server, dataset.id, expected, tmp_path)


@pytest.mark.slow
def test_parquet_files_of_20000_rows_read_back_identical(server: Server, api: Api, tmp_path: Path) -> None:
    space = api.space()
    expected = _frame(ROWS)
    halves = [tmp_path / "part-1.parquet", tmp_path / "part-2.parquet"]
    pq.write_table(pa.Table.from_pandas(expected.iloc[: ROWS // 2], preserve_index=False), halves[0])
    pq.write_table(pa.Table.from_pandas(expected.iloc[ROWS // 2 :], preserve_index=False), halves[1])
    dataset = server.sdk().datasets.create(name=unique("parquet"), space=space["id"], examples=[str(p) for p in halves])
    _reads_back_identical(server, dataset.id, expected, tmp_path)


def _name_is_free(api: Api, space_id: str, name: str) -> None:
    """Nothing was stored under ``name``: creating it now succeeds (a stored one would be a 409)."""
    body = {"space_id": space_id, "name": name, "examples": [{"a": 1}]}
    api.ok(api.client.post("/v2/datasets", json=body), 201)


def _table(rows: int = 3000) -> pa.Table:
    return pa.table({"question": [f"q{i}" for i in range(rows)], "n": list(range(rows))})


def test_a_column_that_cannot_be_stored_is_refused_before_anything_is_stored(server: Server, api: Api) -> None:
    space = api.space()
    name = unique("binary")
    table = _table().append_column("blob", pa.array([b"\x00\x01"] * 3000, pa.binary()))
    with pytest.raises(pa.ArrowInvalid, match="Column 'blob' has type binary"):
        put(server, None, "create_dataset", table, space_id=space["id"], dataset_name=name)
    _name_is_free(api, space["id"], name)


@pytest.mark.parametrize(
    ("column", "message"),
    [
        (pa.array([2**64 - 1] * 3000, pa.uint64()), "beyond the 64-bit range"),
        (pa.array(["nul \x00 inside"] * 3000), "NUL"),
        (pa.array([1] * 3000, pa.decimal128(10, 2)), "cannot be stored"),
    ],
)
def test_values_that_cannot_be_stored_are_refused(server: Server, api: Api, column: pa.Array, message: str) -> None:
    space = api.space()
    name = unique("bad")
    table = _table().append_column("bad", column)
    with pytest.raises(pa.ArrowInvalid, match=message):
        put(server, None, "create_dataset", table, space_id=space["id"], dataset_name=name)
    _name_is_free(api, space["id"], name)


def test_an_upload_without_rows_is_refused(server: Server, api: Api) -> None:
    space = api.space()
    name = unique("empty")
    with pytest.raises(pa.ArrowInvalid, match="no examples"):
        put(server, None, "create_dataset", _table(0), space_id=space["id"], dataset_name=name)
    _name_is_free(api, space["id"], name)


def test_an_upload_that_breaks_off_stores_nothing(server: Server, api: Api) -> None:
    space = api.space()
    name = unique("cut")
    table = _table()
    client, _ = server.flight()
    short = flight.FlightCallOptions(headers=[(b"auth-token-bin", server.admin_key.encode())], timeout=1.5)
    descriptor = flight.FlightDescriptor.for_command(command("create_dataset", space_id=space["id"], dataset_name=name))
    with client:
        writer, replies = client.do_put(descriptor, table.schema, short)
        writer.write_batch(table.to_batches(max_chunksize=1000)[0])
        time.sleep(2.5)  # the call's deadline passes mid-stream: the server sees it cut off
        with pytest.raises(flight.FlightError):
            writer.write_batch(table.to_batches(max_chunksize=1000)[1])
            writer.done_writing()
            replies.read()
    time.sleep(0.5)
    _name_is_free(api, space["id"], name)


def test_a_name_already_taken_is_refused_and_the_dataset_kept(server: Server, api: Api) -> None:
    space = api.space()
    name = unique("taken")
    first = server.sdk().datasets.create(name=name, space=space["id"], examples=[{"a": 1}, {"a": 2}])
    with pytest.raises(pa.ArrowInvalid, match="already exists"):
        put(server, None, "create_dataset", _table(), space_id=space["id"], dataset_name=name)
    kept = api.ok(api.client.get(f"/v2/datasets/{first.id}/examples"))["examples"]
    assert [e["a"] for e in kept] == [1, 2]


def test_unknown_datasets_and_spaces_are_not_found(server: Server, api: Api) -> None:
    space = api.space()
    gone = server.sdk().datasets.create(name=unique("gone"), space=space["id"], examples=[{"a": 1}])
    api.ok(api.client.delete(f"/v2/datasets/{gone.id}"), 204)
    with pytest.raises(KeyError, match="Dataset was not found"):
        get(server, None, "get_dataset", space_id=space["id"], dataset_id=gone.id)
    with pytest.raises(KeyError, match="No dataset has the id given in 'dataset_id'"):
        get(server, None, "get_dataset", space_id=space["id"], dataset_id="not-an-id")
    api.ok(api.client.delete(f"/v2/spaces/{space['id']}"), 204)
    with pytest.raises(KeyError, match="Space was not found"):
        put(server, None, "create_dataset", _table(), space_id=space["id"], dataset_name=unique("x"))


def test_a_version_of_another_dataset_is_not_found(server: Server, api: Api) -> None:
    space = api.space()
    client = server.sdk()
    one = client.datasets.create(name=unique("one"), space=space["id"], examples=[{"a": 1}])
    two = client.datasets.create(name=unique("two"), space=space["id"], examples=[{"a": 2}])
    other_version = api.ok(api.client.get(f"/v2/datasets/{two.id}"))["versions"][0]["id"]
    with pytest.raises(KeyError, match="version"):
        get(server, None, "get_dataset", space_id=space["id"], dataset_id=one.id, dataset_version=other_version)
    rest = api.client.get(f"/v2/datasets/{one.id}/examples", params={"dataset_version_id": other_version})
    assert_problem(rest, 404)


def test_concurrent_uploads_are_all_stored(server: Server, api: Api) -> None:
    space = api.space()
    names = [unique("together") for _ in range(3)]
    frames = [pd.DataFrame({"question": [f"{name} {i}" for i in range(4000)]}) for name in names]
    client = server.sdk()
    with ThreadPoolExecutor(max_workers=3) as pool:
        made = list(
            pool.map(
                lambda pair: client.datasets.create(name=pair[0], space=space["id"], examples=pair[1]),
                zip(names, frames, strict=True),
            )
        )
    for dataset, frame in zip(made, frames, strict=True):
        table = get(server, None, "get_dataset", space_id=space["id"], dataset_id=dataset.id)
        assert table.column("question").to_pylist() == list(frame["question"])


def test_a_version_without_examples_reads_as_an_empty_table(server: Server, api: Api) -> None:
    space = api.space()
    made = api.ok(
        api.client.post("/v2/datasets", json={"space_id": space["id"], "name": unique("e"), "examples": [{"a": 1}]}),
        201,
    )
    example = api.ok(api.client.get(f"/v2/datasets/{made['id']}/examples"))["examples"][0]
    version = made["versions"][0]["id"]
    body = {"example_ids": [example["id"]], "dataset_version_id": version}
    api.ok(api.client.request("DELETE", f"/v2/datasets/{made['id']}/examples", json=body))
    table = get(server, None, "get_dataset", space_id=space["id"], dataset_id=made["id"])
    assert table.num_rows == 0 and table.schema.names == ["id", "created_at", "updated_at"]
