"""Annotation configs and human annotations on spans, through the real ``arize`` SDK."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from arize._generated.api_client.exceptions import ApiException
from arize.annotation_configs.types import CategoricalAnnotationValueRequest
from arize.spans.types import AnnotateRecordInput, AnnotationInput, RecordGranularity

from tests.arrange import member
from tests.support import Api, Server, unique
from tests.support_spans import export, new_span_id, new_trace_id, project_id_named, request_pb, span_pb

MINUTE_NS = 60_000_000_000


def status_of(call: Any) -> int:
    with pytest.raises(ApiException) as failed:
        call()
    return failed.value.status


def categorical(client: Any, space_id: str, name: str | None = None) -> Any:
    return client.annotation_configs.create_categorical(
        name=name or unique("quality"),
        space=space_id,
        values=[
            CategoricalAnnotationValueRequest(label="good", score=1),
            CategoricalAnnotationValueRequest(label="bad", score=0),
        ],
        optimization_direction="MAXIMIZE",
    )


def note(record_id: str, **values: Any) -> AnnotateRecordInput:
    return AnnotateRecordInput(record_id=record_id, values=[AnnotationInput(**v) for v in values.values()])


def seed_spans(server: Server, api: Api, http: httpx.Client) -> dict[str, Any]:
    """A space and project with two traces (a root and a child each) in one session."""
    space = api.space()
    project = unique("proj")
    base = time.time_ns() - 30 * MINUTE_NS
    session = unique("session")
    traces = []
    spans = []
    for t in range(2):
        trace, root, child = new_trace_id(), new_span_id(), new_span_id()
        traces.append((trace, root, child))
        attributes = {"session.id": session, "input.value": f"q{t}"}
        start = base + t * MINUTE_NS
        spans.append(span_pb(trace_id=trace, span_id=root, name=f"agent-{t}", start_ns=start, attributes=attributes))
        spans.append(
            span_pb(
                trace_id=trace,
                span_id=child,
                parent_id=root,
                name=f"llm-{t}",
                start_ns=start + 1_000_000,
                attributes=attributes,
            )
        )
    response = export(server, request_pb(spans, project), space_id=space["id"])
    assert response.status_code == 200, response.text
    return {
        "space": space,
        "project": project,
        "project_id": project_id_named(http, space["id"], project),
        "traces": traces,
        "session": session,
    }


def annotations_by_span(client: Any, world: dict[str, Any], flt: str | None = None) -> dict[str, dict[str, Any]]:
    listed = client.spans.list(project=world["project_id"], filter=flt, limit=100)
    return {s.context.span_id: {a.name: a for a in (s.annotations or [])} for s in listed.spans}


def test_sdk_manages_annotation_configs_of_every_type(server: Server, api: Api) -> None:
    client = server.sdk()
    space = api.space()
    other = api.space()
    quality = categorical(client, space["id"], "quality")
    assert quality.type == "CATEGORICAL" and quality.space_id == space["id"]
    assert [(v.label, v.score) for v in quality.values] == [("good", 1), ("bad", 0)]
    assert quality.optimization_direction == "MAXIMIZE"
    rating = client.annotation_configs.create_continuous(
        name="rating", space=space["id"], minimum_score=0, maximum_score=10
    )
    assert (rating.minimum_score, rating.maximum_score, rating.optimization_direction) == (0, 10, "NONE")
    notes = client.annotation_configs.create_freeform(name="notes", space=space["id"])
    assert notes.type == "FREEFORM"
    categorical(client, other["id"], "quality")  # the same name in another space is fine

    listed = client.annotation_configs.list(space=space["id"], limit=2)
    assert [c.name for c in listed.annotation_configs] == ["notes", "rating"]  # newest first
    assert listed.pagination.has_more
    rest = client.annotation_configs.list(space=space["id"], limit=2, cursor=listed.pagination.next_cursor)
    assert [c.name for c in rest.annotation_configs] == ["quality"] and not rest.pagination.has_more
    assert [c.name for c in client.annotation_configs.list(space=space["id"], name="RAT").annotation_configs] == [
        "rating"
    ]
    assert client.annotation_configs.get(annotation_config="rating", space=space["id"]).id == rating.id

    changed = client.annotation_configs.update_continuous(annotation_config=rating.id, maximum_score=5)
    assert (changed.minimum_score, changed.maximum_score) == (0, 5)
    relabelled = client.annotation_configs.update_categorical(
        annotation_config=quality.id,
        values=[
            CategoricalAnnotationValueRequest(label="great"),
            CategoricalAnnotationValueRequest(label="poor"),
            CategoricalAnnotationValueRequest(label="ok"),
        ],
    )
    assert [v.label for v in relabelled.values] == ["great", "poor", "ok"]
    assert client.annotation_configs.update_freeform(annotation_config=notes.id, name="remarks").name == "remarks"

    assert status_of(lambda: categorical(client, space["id"], "quality")) == 409
    assert status_of(lambda: client.annotation_configs.update_freeform(annotation_config=rating.id, name="x")) == 422
    assert (
        status_of(lambda: client.annotation_configs.update_continuous(annotation_config=rating.id, minimum_score=5))
        == 400
    )
    assert (
        status_of(
            lambda: client.annotation_configs.create_continuous(
                name="upside-down", space=space["id"], minimum_score=3, maximum_score=1
            )
        )
        == 400
    )
    assert (
        status_of(
            lambda: client.annotation_configs.create_categorical(
                name="lonely", space=space["id"], values=[CategoricalAnnotationValueRequest(label="only")]
            )
        )
        == 400
    )

    client.annotation_configs.delete(annotation_config=notes.id)
    assert status_of(lambda: client.annotation_configs.get(annotation_config=notes.id)) == 404
    assert sorted(c.name for c in client.annotation_configs.list(space=space["id"]).annotation_configs) == [
        "quality",
        "rating",
    ]


def test_annotation_configs_follow_space_roles(server: Server, api: Api) -> None:
    space, other = api.space(), api.space()
    mine = categorical(server.sdk(), space["id"])
    theirs = categorical(server.sdk(), other["id"])
    _, reader_key = member(server, api, space["id"], "READ_ONLY")
    reader = server.sdk(reader_key)
    assert [c.id for c in reader.annotation_configs.list().annotation_configs] == [mine.id]
    assert reader.annotation_configs.get(annotation_config=mine.id).name == mine.name
    assert status_of(lambda: reader.annotation_configs.create_freeform(name="x", space=space["id"])) == 403
    assert status_of(lambda: reader.annotation_configs.delete(annotation_config=mine.id)) == 403
    assert status_of(lambda: reader.annotation_configs.get(annotation_config=theirs.id)) == 404
    assert status_of(lambda: reader.annotation_configs.delete(annotation_config=theirs.id)) == 404
    assert status_of(lambda: reader.annotation_configs.create_freeform(name="x", space=other["id"])) == 404
    with server.http(reader_key) as http:
        assert http.get("/v2/annotation-configs", params={"space_id": other["id"]}).status_code == 404
    assert server.sdk().annotation_configs.get(annotation_config=theirs.id).name == theirs.name


def test_sdk_annotates_spans_traces_and_sessions_and_filters_on_them(
    server: Server, api: Api, http: httpx.Client
) -> None:
    world = seed_spans(server, api, http)
    client = server.sdk()
    space_id, project = world["space"]["id"], world["project"]
    categorical(client, space_id, "quality")
    client.annotation_configs.create_continuous(name="rating", space=space_id, minimum_score=0, maximum_score=10)
    client.annotation_configs.create_freeform(name="notes", space=space_id)
    (_, root0, child0), (_, root1, child1) = world["traces"]

    client.spans.annotate(
        project=project,
        space=space_id,
        annotations=[
            note(child0, q={"name": "quality", "label": "good"}, r={"name": "rating", "score": 7.5}),
            note(child1, q={"name": "quality", "label": "bad", "text": "wrong answer"}),
        ],
    )
    client.spans.annotate(  # the same again: replaces, never duplicates
        project=world["project_id"],
        annotations=[note(child0, q={"name": "quality", "label": "good"}, r={"name": "rating", "score": 7.5})],
    )
    client.spans.annotate(
        project=world["project_id"],
        granularity=RecordGranularity.TRACE,
        annotations=[note(root1, n={"name": "notes", "text": "looked at the whole trace"})],
    )
    client.spans.annotate(
        project=world["project_id"],
        granularity=RecordGranularity.SESSION,
        annotations=[note(world["session"], r={"name": "rating", "score": 2})],
    )

    shown = annotations_by_span(client, world)
    assert sorted(shown[child0]) == ["quality", "rating"]
    good = shown[child0]["quality"]
    assert (good.label, good.score) == ("good", 1)  # the label's score from the config
    assert good.annotator.email and good.annotator.id and good.updated_at is not None
    assert shown[child0]["rating"].score == 7.5
    assert (shown[child1]["quality"].label, shown[child1]["quality"].text) == ("bad", "wrong answer")
    assert shown[root1]["notes"].text == "looked at the whole trace"
    assert shown[root0]["rating"].score == 2  # the session's first trace's root
    assert shown[root0].keys() == {"rating"}

    assert set(annotations_by_span(client, world, "annotation.quality.label = 'good'")) == {child0}
    assert set(annotations_by_span(client, world, "annotation.quality.score < 1")) == {child1}
    assert set(annotations_by_span(client, world, "annotation.rating.score >= 2")) == {child0, root0}
    assert set(annotations_by_span(client, world, "annotation.notes.text LIKE '%trace%'")) == {root1}
    assert set(annotations_by_span(client, world, "annotation.quality.label IS NULL")) == {root0, root1}
    with server.http() as admin:
        traces = admin.post(
            "/v2/traces", json={"project_id": world["project_id"], "filter": "annotation.quality.label = 'bad'"}
        ).json()["traces"]
    assert [t["root_span_id"] for t in traces] == [root1]
    assert (
        status_of(lambda: client.spans.list(project=world["project_id"], filter="annotation.quality.bogus = 1")) == 400
    )


def test_bad_annotations_are_refused_and_nothing_is_written(server: Server, api: Api, http: httpx.Client) -> None:
    world = seed_spans(server, api, http)
    client = server.sdk()
    space_id, project_id = world["space"]["id"], world["project_id"]
    categorical(client, space_id, "quality")
    client.annotation_configs.create_continuous(name="rating", space=space_id, minimum_score=0, maximum_score=10)
    client.annotation_configs.create_freeform(name="notes", space=space_id)
    (_, root0, child0), (_, root1, child1) = world["traces"]

    def annotate(*records: AnnotateRecordInput, **options: Any) -> int:
        return status_of(lambda: client.spans.annotate(project=project_id, annotations=list(records), **options))

    good = note(child0, q={"name": "quality", "label": "good"})
    assert annotate(good, note(child1, x={"name": "nonexistent"})) == 422
    assert annotate(good, note(child1, q={"name": "quality", "label": "maybe"})) == 422
    assert annotate(good, note(child1, q={"name": "quality", "label": "good", "score": 0.5})) == 422
    assert annotate(good, note(child1, r={"name": "rating", "score": 11})) == 422
    assert annotate(good, note(child1, r={"name": "rating", "label": "high"})) == 422
    assert annotate(good, note(child1, n={"name": "notes", "label": "x"})) == 422
    assert annotate(good, note(new_span_id(), q={"name": "quality", "label": "bad"})) == 404
    assert annotate(good, note(child0, q={"name": "quality", "label": "bad"})) == 400  # the record twice
    assert annotate(note(child0, a={"name": "quality", "label": "bad"}, b={"name": "quality", "label": "good"})) == 400
    assert annotate(good, granularity=RecordGranularity.TRACE) == 422  # not a root span
    assert annotate(note("no-such-session", q={"name": "quality", "label": "good"}), granularity="SESSION") == 404
    now = datetime.now(UTC)
    assert annotate(good, start_time=now - timedelta(days=40), end_time=now) == 400
    assert annotate(good, start_time=now - timedelta(days=8), granularity="SESSION") == 400
    assert annotate(good, end_time=now + timedelta(days=1)) == 400
    assert annotate(good, start_time=now - timedelta(seconds=10)) == 404  # the span is older than the window
    too_many = [
        {"record_id": new_span_id(), "values": [{"name": f"n{v}", "text": "x"} for v in range(11)]} for _ in range(1000)
    ]
    with server.http() as admin:
        for records in ([], too_many):
            response = admin.post("/v2/spans/annotate", json={"project_id": project_id, "annotations": records})
            assert response.status_code == 400
            assert response.headers["content-type"] == "application/problem+json"

    _, reader_key = member(server, api, space_id, "READ_ONLY")
    assert status_of(lambda: server.sdk(reader_key).spans.annotate(project=project_id, annotations=[good])) == 403
    outsider_space = api.space()
    _, outsider_key = member(server, api, outsider_space["id"], "ADMIN")
    assert status_of(lambda: server.sdk(outsider_key).spans.annotate(project=project_id, annotations=[good])) == 404

    assert all(not notes for notes in annotations_by_span(client, world).values())
