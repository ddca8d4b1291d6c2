"""Bad input to GET /v2/tasks (and the edge in general) is a clean 4xx Problem that changes nothing."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from evalplane.core.ids import Kind, encode_id
from evalplane.settings import Settings
from tests.arrange import Populated, TaskSpec, insert_tasks, member_key, populate_space, task_snapshot
from tests.support import Api, Server

URI_REFERENCE = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@/?#%]*$")
PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}
TRICKY_NAMES = (
    "it's 100% done",
    "snake_case task",
    "back\\slash task",
    "x' OR 1=1 -- y",
    "plain task",
    "Évaluation ÜBER",
)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    )
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) <= PROBLEM_KEYS, body
    assert isinstance(body["title"], str) and body["title"]
    assert body["status"] == status
    if "instance" in body:
        assert URI_REFERENCE.match(body["instance"]), body["instance"]
    return body


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass
class Scene:
    """Two populated spaces, a member of the first, and a space whose name is full of LIKE and quote characters."""

    mine: Populated
    theirs: Populated
    member_key: str  # MEMBER of `mine` only
    tricky_space: str


@pytest.fixture(scope="module")
def scene(server: Server) -> Iterator[Scene]:
    with server.http() as client:
        api = Api(client)
        mine, theirs = populate_space(server, api), populate_space(server, api)
        tricky = api.space(f"tricky {uuid.uuid4().hex[:8]} 100%_\\'")["id"]
    insert_tasks(server, [TaskSpec(tricky, name, "CODE_EVALUATION") for name in TRICKY_NAMES])
    yield Scene(mine, theirs, member_key(server, {mine.space["id"]: "MEMBER"}), tricky)


@pytest.fixture
def unchanged(server: Server) -> Iterator[None]:
    """Fails the test if any task row changed while it ran."""
    before = task_snapshot(server)
    yield
    assert task_snapshot(server) == before


def get_tasks(server: Server, key: str | None = None, **params: Any) -> httpx.Response:
    with server.http(key) as client:
        return client.get("/v2/tasks", params=params)


ID_KINDS = {"space_id": Kind.SPACE, "project_id": Kind.PROJECT, "dataset_id": Kind.DATASET}
MALFORMED = {
    "not base64": lambda kind: "not base64!!",
    "base64 of garbage": lambda kind: b64("\x00\xffgarbage"),
    "base64 without colon": lambda kind: b64("hello world"),
    "non-numeric": lambda kind: b64(f"{kind}:abc:xxxx"),
    "bad check": lambda kind: b64(f"{kind}:1:zzzz"),
    "zero": lambda kind: b64(f"{kind}:0"),
    "negative": lambda kind: b64(f"{kind}:-5"),
    "huge number": lambda kind: b64(f"{kind}:{2**70}"),
    "extra parts": lambda kind: b64(f"{kind}:1:aaaa:bbbb"),
    "empty": lambda kind: "",
    "very long": lambda kind: "QUFB" * 2000,
}


@pytest.mark.parametrize("param", list(ID_KINDS))
@pytest.mark.parametrize("malformed", list(MALFORMED))
def test_ids_that_name_nothing_are_404(
    server: Server, scene: Scene, unchanged: None, param: str, malformed: str
) -> None:
    value = MALFORMED[malformed](ID_KINDS[param].value)
    body = assert_problem(get_tasks(server, **{param: value}), 404)
    assert param in body["detail"]


@pytest.mark.parametrize(
    ("param", "kind"),
    [("project_id", Kind.SPACE), ("space_id", Kind.PROJECT), ("dataset_id", Kind.PROJECT), ("project_id", Kind.TASK)],
)
def test_an_id_of_the_wrong_kind_is_404(server: Server, scene: Scene, param: str, kind: Kind) -> None:
    assert_problem(get_tasks(server, **{param: encode_id(kind, 1)}), 404)


@pytest.mark.parametrize("param", list(ID_KINDS))
def test_the_seed_specs_example_ids_are_404(server: Server, scene: Scene, param: str) -> None:
    # The seed documents 'RW50aXR5OjEyMzQ1' ("Entity:12345") and 'U3BhY2U6MTIzNDU=' ("Space:12345").
    for example in ("RW50aXR5OjEyMzQ1", "U3BhY2U6MTIzNDU=", "UHJvamVjdDoxMjM0NQ==", "RGF0YXNldDoxMjM0NQ=="):
        assert_problem(get_tasks(server, **{param: example}), 404)


@pytest.mark.parametrize(
    ("param", "kind"), [("space_id", Kind.SPACE), ("project_id", Kind.PROJECT), ("dataset_id", Kind.DATASET)]
)
def test_a_well_formed_unknown_id_is_404(server: Server, scene: Scene, param: str, kind: Kind) -> None:
    assert_problem(get_tasks(server, **{param: encode_id(kind, 10**12)}), 404)


def test_another_spaces_resources_are_404_for_a_member(server: Server, scene: Scene) -> None:
    theirs = scene.theirs
    for param, value in (
        ("space_id", theirs.space["id"]),
        ("project_id", theirs.project_ids[0]),
        ("dataset_id", theirs.dataset_ids[0]),
    ):
        body = assert_problem(get_tasks(server, scene.member_key, **{param: value}), 404)
        assert theirs.space["name"] not in body["detail"]
    # Their own space still works, and the other space's tasks never appear.
    listed = get_tasks(server, scene.member_key, limit=100).json()["tasks"]
    assert {t["id"] for t in listed} == set(scene.mine.task_ids.values())
    assert get_tasks(server, scene.member_key, space_name=theirs.space["name"]).json()["tasks"] == []


def test_percent_encoded_ids_are_accepted(server: Server, scene: Scene) -> None:
    project = scene.mine.project_ids[0]
    expected = {scene.mine.task_ids["Production hallucination check"], scene.mine.task_ids["Backfill judge"]}
    with server.http() as client:
        for raw in (quote(project, safe=""), quote(quote(project, safe=""), safe="")):
            response = client.get(f"/v2/tasks?project_id={raw}")
            assert response.status_code == 200, (raw, response.text)
            assert {t["id"] for t in response.json()["tasks"]} == expected
        task_id = scene.mine.task_ids["Judge dataset"]
        response = client.get(f"/v2/tasks/{quote(task_id, safe='')}")
        assert response.status_code == 200 and response.json()["id"] == task_id


def first_cursor(server: Server, **params: Any) -> str:
    body = get_tasks(server, limit=1, **params).json()
    assert body["pagination"]["has_more"] is True
    return body["pagination"]["next_cursor"]


def flip(text: str, at: int) -> str:
    """Change one character (not the last, whose low bits may be padding)."""
    replacement = "A" if text[at] != "A" else "B"
    return text[:at] + replacement + text[at + 1 :]


def flip_byte(cursor: str, at: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[at] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


def test_tampered_cursors_are_400(server: Server, scene: Scene, unchanged: None) -> None:
    space = scene.mine.space["id"]
    cursor = first_cursor(server, space_id=space)
    for forged in (
        flip(cursor, 0),
        flip(cursor, len(cursor) // 2),
        flip_byte(cursor, -1),
        flip_byte(cursor, 20),
        cursor[:-3],
        cursor + "AAAA",
        "x",
        "%%%",
        "=" * 8,
        "A" * 3000,
    ):
        body = assert_problem(get_tasks(server, space_id=space, cursor=forged), 400)
        assert "cursor" in body["detail"]
    # A cursor from another list is not a tasks cursor.
    with server.http() as client:
        projects = client.get("/v2/projects", params={"limit": 1}).json()
    if projects["pagination"]["has_more"]:
        assert_problem(get_tasks(server, cursor=projects["pagination"]["next_cursor"]), 400)


def test_a_cursor_reused_with_different_filters_is_400(server: Server, scene: Scene) -> None:
    space = scene.mine.space["id"]
    cursor = first_cursor(server, space_id=space, type="run_experiment")
    for other in (
        {"space_id": space},
        {"space_id": space, "type": "code_evaluation"},
        {"space_id": scene.theirs.space["id"], "type": "run_experiment"},
        {"space_id": space, "type": "run_experiment", "name": "x"},
        {"type": "run_experiment"},
    ):
        body = assert_problem(get_tasks(server, cursor=cursor, **other), 400)
        assert "filters" in body["detail"]
    # The same filters in another case, and another page size, are still the same listing.
    same = get_tasks(server, cursor=cursor, space_id=space, type="RUN_EXPERIMENT", limit=5)
    assert same.status_code == 200 and len(same.json()["tasks"]) == 1


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1", "1.5", "", "1e2", "99999999999999999999999"])
def test_out_of_range_limits_are_400(server: Server, scene: Scene, limit: str) -> None:
    assert_problem(get_tasks(server, limit=limit), 400)


@pytest.mark.parametrize("limit", ["1", "100", "050"])
def test_in_range_limits_are_accepted(server: Server, scene: Scene, limit: str) -> None:
    assert get_tasks(server, limit=limit).status_code == 200


@pytest.mark.parametrize("value", ["bogus", "", "template-evaluation", "TEMPLATE_EVALUATIONS", "agent_call"])
def test_unknown_task_types_are_400(server: Server, scene: Scene, value: str) -> None:
    body = assert_problem(get_tasks(server, type=value), 400)
    assert "type" in body["detail"]


@pytest.mark.parametrize("param", ["name", "space_name"])
def test_search_text_longer_than_255_is_400(server: Server, scene: Scene, param: str) -> None:
    assert_problem(get_tasks(server, **{param: "a" * 256}), 400)
    assert get_tasks(server, **{param: "a" * 255}).status_code == 200


@pytest.mark.parametrize(
    ("needle", "expected"),
    [
        ("' OR 1=1 --", ["x' OR 1=1 -- y"]),
        ("%", ["it's 100% done"]),
        ("_", ["snake_case task"]),
        ("\\", ["back\\slash task"]),
        ("'", ["x' OR 1=1 -- y", "it's 100% done"]),
        ("%_", []),
        ("\x00", []),
        ("TASK", ["plain task", "back\\slash task", "snake_case task"]),
        # Non-ASCII text always matches as written (full Unicode case folding is up to the database).
        ("Évaluation Ü", ["Évaluation ÜBER"]),
        ("valuation", ["Évaluation ÜBER"]),
    ],
)
def test_sql_metacharacters_in_name_are_literal(server: Server, scene: Scene, needle: str, expected: list[str]) -> None:
    response = get_tasks(server, space_id=scene.tricky_space, name=needle)
    assert response.status_code == 200, response.text
    assert sorted(t["name"] for t in response.json()["tasks"]) == sorted(expected)


@pytest.mark.parametrize(
    ("needle", "matches"),
    [("%_\\'", True), ("100%", True), ("%", True), ("_", True), ("%%", False), ("' OR 1=1 --", False), ("\x00", False)],
)
def test_sql_metacharacters_in_space_name_are_literal(server: Server, scene: Scene, needle: str, matches: bool) -> None:
    response = get_tasks(server, space_id=scene.tricky_space, space_name=needle)
    assert response.status_code == 200, response.text
    assert sorted(t["name"] for t in response.json()["tasks"]) == (sorted(TRICKY_NAMES) if matches else [])


def project_names(server: Server, space_id: str) -> list[str]:
    with server.http() as client:
        return [p["name"] for p in client.get("/v2/projects", params={"space_id": space_id}).json()["projects"]]


def test_a_body_over_the_limit_is_413_and_creates_nothing(server: Server, scene: Scene) -> None:
    space = scene.mine.space["id"]
    before = project_names(server, space)
    over = Settings().max_body_bytes + 1024  # the default limit: the test server sets none
    huge = b'{"space_id": "' + space.encode() + b'", "name": "' + b"x" * over + b'"}'

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(huge), 65536):
            yield huge[start : start + 65536]

    with server.http() as client:
        assert_problem(client.post("/v2/projects", content=huge, headers={"content-type": "application/json"}), 413)
        # Without a Content-Length the limit is enforced while reading.
        assert_problem(client.post("/v2/projects", content=chunks(), headers={"content-type": "application/json"}), 413)
    assert project_names(server, space) == before


@pytest.mark.parametrize("body", [b"{", b"not json", b'{"name": "x",}', b"\xff\xfe", b"[]", b"null"])
def test_invalid_json_is_400_and_creates_nothing(server: Server, scene: Scene, body: bytes) -> None:
    space = scene.mine.space["id"]
    before = project_names(server, space)
    with server.http() as client:
        assert_problem(client.post("/v2/projects", content=body, headers={"content-type": "application/json"}), 400)
    assert project_names(server, space) == before


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"],
)
def test_wrong_content_type_is_415_and_creates_nothing(server: Server, scene: Scene, content_type: str) -> None:
    space = scene.mine.space["id"]
    before = project_names(server, space)
    payload = f'{{"space_id": "{space}", "name": "sneaky"}}'
    with server.http() as client:
        assert_problem(client.post("/v2/projects", content=payload, headers={"content-type": content_type}), 415)
    assert project_names(server, space) == before


@pytest.mark.parametrize(
    "path", ["/v2/nope", "/v2/tasks/x/y/z", "/nope", "/v3/tasks", "/v2/tasks/" + encode_id(Kind.TASK, 10**12)]
)
def test_unknown_paths_are_404_problems(server: Server, path: str) -> None:
    with server.http() as client:
        assert_problem(client.get(path), 404)


@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH"])
def test_wrong_methods_are_405_problems(server: Server, scene: Scene, unchanged: None, method: str) -> None:
    with server.http() as client:
        response = client.request(method, "/v2/tasks", json={})
    assert_problem(response, 405)
    assert "GET" in response.headers["allow"]


@pytest.mark.parametrize("key", ["", "nonsense", "ep_" + "0" * 43])
def test_missing_or_unknown_keys_are_401_problems(server: Server, key: str) -> None:
    with server.http(key or "") as client:
        response = client.get("/v2/tasks")
    assert_problem(response, 401)


ODD_QUERIES = [
    "space_id=%00",
    "name=%00%00",
    "space_name=%F0%9F%92%A9",
    "name=%ZZ",
    "type=%00",
    "limit=%00",
    "cursor=%00",
    "cursor=" + "%FF" * 50,
    "space_id=" + quote("U3BhY2U6MTpxUndY\n"),
    "name=a&name=b",
    "limit=1&limit=2",
    "project_id=" + quote(b64("Model:" + "9" * 40)),
    "dataset_id=" + quote(b64("Dataset:-1")),
    "space_id=" + quote(b64("Space:1:x:y")),
    "unknown=1",
]


@pytest.mark.parametrize("query", ODD_QUERIES)
def test_odd_queries_never_cause_a_server_error(server: Server, scene: Scene, query: str) -> None:
    with server.http() as client:
        response = client.get(f"/v2/tasks?{query}")
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_problem(response, response.status_code)


@pytest.mark.parametrize(
    "path",
    [
        "/v2/tasks/%00",
        "/v2/tasks/%25",
        "/v2/tasks/..%2F..%2Fetc",
        "/v2/tasks/" + "A" * 5000,
        "/v2/tasks/" + b64("OnlineTask:1:aaaa"),
        "/v2/projects/" + encode_id(Kind.SPACE, 1),
        "/v2/spaces/%F0%9F%92%A9",
        "/v2/projects?space_id=%00",
        "/v2/projects?name=%00",
        "/v2/spaces?name=%00",
        "/v2/spaces?limit=0",
    ],
)
def test_odd_paths_never_cause_a_server_error(server: Server, scene: Scene, path: str) -> None:
    with server.http() as client:
        response = client.get(path)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_problem(response, response.status_code)
