"""Span calls over Arrow Flight with the real arize SDK on its default paths (no force_http):
``update_evaluations``, ``update_metadata`` and ``export_to_df``, read back through /v2/spans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pyarrow import flight

from tests.support import Api, Server
from tests.support_spans import list_spans, new_project_name, new_span_id, project_id_named, user_key
from tests.test_pandas_arrow import by_name, sdk_log, spans_frame


@pytest.fixture
def logged(server: Server, api: Api) -> tuple[dict[str, Any], str, pd.DataFrame]:
    """A space with a project of three spans (a root and two children) logged through the SDK."""
    space = api.space()
    project = new_project_name()
    frame = spans_frame(3, session="conv-1")
    sdk_log(server, space["id"], project, frame)
    return space, project, frame


def test_update_evaluations_over_flight_lands_on_the_spans(
    server: Server, http: httpx.Client, logged: tuple[dict[str, Any], str, pd.DataFrame]
) -> None:
    space, project, frame = logged
    ids = frame["context.span_id"].tolist()
    ghost = new_span_id()
    evals = pd.DataFrame(
        {
            "context.span_id": [ids[1], ids[2], ghost],
            "eval.relevance.label": ["relevant", "irrelevant", "relevant"],
            "eval.relevance.score": [0.9, 0.1, 1.0],
            "eval.relevance.explanation": ["on topic", "off topic", "?"],
            "trace_eval.helpful.label": ["yes", None, None],
        }
    )
    reply = server.sdk().spans.update_evaluations(space_id=space["id"], project_name=project, dataframe=evals)
    assert int(reply["records_updated"]) == 2  # spans (protobuf JSON writes 64-bit integers as text)
    assert reply["unmatched_ids"] == [ghost]

    spans = by_name(http, space["id"], project)
    assert spans["llm-1"]["evaluations"] == [
        {"name": "relevance", "label": "relevant", "score": 0.9, "explanation": "on topic"}
    ]
    assert spans["llm-2"]["evaluations"][0]["label"] == "irrelevant"
    helpful = spans["agent"]["evaluations"]
    assert [(e["name"], e["label"], e["metadata"]["scope"]) for e in helpful] == [("helpful", "yes", "TRACE")]
    project_id = project_id_named(http, space["id"], project)
    found = list_spans(http, project_id, filter="eval.relevance.score > 0.5")["spans"]
    assert [s["name"] for s in found] == ["llm-1"]


def test_update_metadata_over_flight_merges_into_span_metadata(
    server: Server, http: httpx.Client, logged: tuple[dict[str, Any], str, pd.DataFrame]
) -> None:
    space, project, frame = logged
    ids = frame["context.span_id"].tolist()
    ghost = new_span_id()
    patches = pd.DataFrame(
        {
            "context.span_id": [ids[0], ids[1], ghost],
            "patch_document": [{"reviewed": True, "tenant": "globex"}, {"priority": "high"}, {"x": 1}],
        }
    )
    reply = server.sdk().spans.update_metadata(space_id=space["id"], project_name=project, dataframe=patches)
    counts = (reply["spans_processed"], reply["spans_updated"], reply["spans_failed"])
    assert tuple(int(c) for c in counts) == (3, 2, 1)
    assert reply["errors"][0]["span_id"] == ghost

    spans = by_name(http, space["id"], project)
    assert spans["agent"]["attributes"]["metadata"] == {"tenant": "globex", "attempt": 0, "reviewed": True}
    assert spans["llm-1"]["attributes"]["metadata"] == {"tenant": "acme", "attempt": 1, "priority": "high"}
    assert spans["llm-2"]["attributes"]["metadata"] == {"tenant": "acme", "attempt": 2}
    project_id = project_id_named(http, space["id"], project)
    found = list_spans(http, project_id, filter="metadata.priority = 'high'")["spans"]
    assert [s["name"] for s in found] == ["llm-1"]


def _window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(hours=1), now + timedelta(minutes=1)


def test_export_to_df_returns_what_v2_spans_returns(
    server: Server, http: httpx.Client, logged: tuple[dict[str, Any], str, pd.DataFrame]
) -> None:
    space, project, frame = logged
    client = server.sdk()
    evals = pd.DataFrame({"context.span_id": [frame["context.span_id"][1]], "eval.tone.label": ["calm"]})
    client.spans.update_evaluations(space_id=space["id"], project_name=project, dataframe=evals)
    start, end = _window()
    df = client.spans.export_to_df(space_id=space["id"], project_name=project, start_time=start, end_time=end)

    project_id = project_id_named(http, space["id"], project)
    listed = list_spans(http, project_id, start_time=start.isoformat(), end_time=end.isoformat())["spans"]
    assert sorted(df["context.span_id"]) == sorted(s["context"]["span_id"] for s in listed)
    rows = {row["context.span_id"]: row for row in df.to_dict("records")}
    for span in listed:
        row = rows[span["context"]["span_id"]]
        assert row["context.trace_id"] == span["context"]["trace_id"]
        assert row["name"] == span["name"] and row["span_kind"] == span["kind"]
        assert (row["status_code"], row["status_message"]) == (span["status_code"], span["status_message"])
        # the SDK turns the nanoseconds into naive UTC timestamps
        assert row["start_time"] == pd.Timestamp(span["start_time"]).tz_localize(None)
        assert row["end_time"] == pd.Timestamp(span["end_time"]).tz_localize(None)
        assert _none(row.get("parent_id")) == span.get("parent_id")
        attributes = span["attributes"]
        assert row["attributes.input.value"] == attributes["input"]["value"]
        assert row["attributes.llm.token_count.total"] == attributes["llm"]["token_count"]["total"]
        assert row["attributes.metadata"] == attributes["metadata"]
        assert row["attributes.session.id"] == attributes["session"]["id"]
        messages = [
            {"message": {"role": m["message.role"], "content": m["message.content"]}}
            for m in row["attributes.llm.input_messages"]
        ]
        assert messages == attributes["llm"]["input_messages"]
        labels = {e["name"]: e.get("label") for e in span["evaluations"]}
        assert _none(row.get("eval.tone.label")) == labels.get("tone")
    assert df["time"].is_monotonic_increasing

    # The same filter language as /v2/spans, and projected columns.
    errors = client.spans.export_to_df(
        space_id=space["id"],
        project_name=project,
        start_time=start,
        end_time=end,
        where="status_code = 'ERROR'",
        columns=["name", "attributes.llm"],
    )
    assert list(errors["name"]) == [s["name"] for s in listed if s["status_code"] == "ERROR"]
    assert "attributes.llm.model_name" in errors.columns and "attributes.input.value" not in errors.columns
    with pytest.raises(RuntimeError, match="not a valid filter"):
        client.spans.export_to_df(
            space_id=space["id"], project_name=project, start_time=start, end_time=end, where="status_code = "
        )


def _none(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value


def test_span_flight_calls_enforce_keys_roles_and_spaces(
    server: Server, api: Api, http: httpx.Client, logged: tuple[dict[str, Any], str, pd.DataFrame]
) -> None:
    space, project, frame = logged
    evals = pd.DataFrame({"context.span_id": [frame["context.span_id"][0]], "eval.x.label": ["y"]})
    start, end = _window()
    reader = user_key(server, space["id"], "READ_ONLY")
    stranger = user_key(server, api.space()["id"], "MEMBER")
    for key, status in (("ep_not_a_key", "not valid"), (reader, "does not allow changes"), (stranger, "not found")):
        client = server.sdk(key)
        with pytest.raises(RuntimeError, match=status):
            client.spans.update_evaluations(space_id=space["id"], project_name=project, dataframe=evals)
    assert all(s["evaluations"] == [] for s in by_name(http, space["id"], project).values())
    # Reading needs only READ_ONLY; another space's key sees nothing of this one.
    exported = server.sdk(reader).spans.export_to_df(
        space_id=space["id"], project_name=project, start_time=start, end_time=end
    )
    assert len(exported) == 3
    with pytest.raises(RuntimeError, match="not found"):
        server.sdk(stranger).spans.export_to_df(
            space_id=space["id"], project_name=project, start_time=start, end_time=end
        )


def test_bad_span_uploads_are_invalid_arguments_and_store_nothing(
    server: Server, http: httpx.Client, logged: tuple[dict[str, Any], str, pd.DataFrame]
) -> None:
    space, project, frame = logged
    client, options = server.flight()
    command = b'{"writeSpanEvaluationRequest": {"spaceId": "%s", "externalModelId": "%s"}}' % (
        space["id"].encode(),
        project.encode(),
    )
    ids = frame["context.span_id"].tolist()
    tables = {
        "no span id": pa.table({"eval.x.label": ["a"]}),
        "not hex": pa.table({"context.span_id": [ids[0], "zz-not-an-id"], "eval.x.label": ["a", "b"]}),
        "no evals": pa.table({"context.span_id": [ids[0]], "note": ["a"]}),
    }
    with client:
        for why, table in tables.items():
            writer, _ = client.do_put(flight.FlightDescriptor.for_command(command), table.schema, options=options)
            with pytest.raises(pa.ArrowInvalid):
                writer.write_table(table)
                writer.done_writing()
                writer.close()
            assert why
        unknown = command.replace(project.encode(), b"no-such-project")
        writer, _ = client.do_put(
            flight.FlightDescriptor.for_command(unknown), tables["not hex"].schema, options=options
        )
        with pytest.raises(pa.ArrowKeyError):
            writer.write_table(tables["not hex"])
            writer.close()
    assert all(s["evaluations"] == [] for s in by_name(http, space["id"], project).values())


def test_update_annotations_over_flight_lands_on_the_spans_and_in_the_export(
    server: Server, http: httpx.Client, logged: tuple[dict[str, Any], str, pd.DataFrame]
) -> None:
    from arize.annotation_configs.types import CategoricalAnnotationValueRequest

    space, project, frame = logged
    client = server.sdk()
    client.annotation_configs.create_categorical(
        name="quality",
        space=space["id"],
        values=[
            CategoricalAnnotationValueRequest(label="good", score=1),
            CategoricalAnnotationValueRequest(label="bad", score=0),
        ],
    )
    ids = frame["context.span_id"].tolist()
    ghost = new_span_id()
    annotations = pd.DataFrame(
        {"context.span_id": [ids[1], ids[2], ghost], "annotation.quality.label": ["good", "bad", "good"]}
    )
    reply = client.spans.update_annotations(space_id=space["id"], project_name=project, dataframe=annotations)
    assert int(reply["records_updated"]) == 2 and reply["unmatched_ids"] == [ghost]

    spans = by_name(http, space["id"], project)
    assert [(a["name"], a["label"]) for a in spans["llm-1"]["annotations"]] == [("quality", "good")]
    assert [(a["name"], a["label"]) for a in spans["llm-2"]["annotations"]] == [("quality", "bad")]
    assert spans["agent"]["annotations"] == []

    start, end = _window()
    df = client.spans.export_to_df(space_id=space["id"], project_name=project, start_time=start, end_time=end)
    labels = dict(zip(df["context.span_id"], df["annotation.quality.label"], strict=True))
    assert (labels[ids[1]], labels[ids[2]], _none(labels[ids[0]])) == ("good", "bad", None)

    # A label the config does not allow is refused, and nothing of the table is written.
    wrong = pd.DataFrame({"context.span_id": [ids[0], ids[1]], "annotation.quality.label": ["good", "superb"]})
    with pytest.raises(RuntimeError, match="superb"):
        client.spans.update_annotations(space_id=space["id"], project_name=project, dataframe=wrong)
    assert by_name(http, space["id"], project)["agent"]["annotations"] == []


def test_export_sampling_keeps_whole_traces_and_the_same_ones_each_time(
    server: Server, api: Api, http: httpx.Client
) -> None:
    space = api.space()
    project = new_project_name()
    frame = pd.concat([spans_frame(2) for _ in range(24)], ignore_index=True)
    sdk_log(server, space["id"], project, frame)
    client = server.sdk()
    start, end = _window()

    def sample() -> pd.DataFrame:
        return client.spans.export_to_df(
            space_id=space["id"], project_name=project, start_time=start, end_time=end, sample_rate=0.5
        )

    first, second = sample(), sample()
    assert sorted(first["context.span_id"]) == sorted(second["context.span_id"])
    per_trace = first.groupby("context.trace_id").size()
    assert set(per_trace) == {2}  # a trace is kept whole or not at all
    assert 0 < len(per_trace) < 24
