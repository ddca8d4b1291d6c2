"""One-step SDK set-up (`serve` prints it, `evalplane client-env` repeats it) and the access log."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import start_server
from tests.support import Api, Server, drop_pg_database, unique, wait_until

# Where the SDK's Flight and OTLP/gRPC ports are when the test server names none.
DEFAULT_FLIGHT_PORT, DEFAULT_OTLP_GRPC_PORT = 8815, 4317

# A child process that uses nothing but the ARIZE_* environment, as a user's script would.
SDK_SCRIPT = """
import json, sys
from arize import ArizeClient
client = ArizeClient()
project = client.projects.create(name=sys.argv[1], space=sys.argv[2])
config = client.sdk_config
print(json.dumps({
    "project": project.id,
    "spaces": [s.id for s in client.spaces.list().spaces],
    "flight": [config.flight_scheme, config.flight_host, config.flight_port],
    "otlp_url": config.otlp_url,
}))
"""


def evalplane(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARIZE_")}
    return subprocess.run(
        [sys.executable, "-m", "evalplane.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


def exports(text: str) -> dict[str, str]:
    return dict(re.findall(r"^\s*export (ARIZE_\w+)=(\S+)$", text, flags=re.MULTILINE))


def run_sdk(env: dict[str, str], *args: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ARIZE_")}
    done = subprocess.run(
        [sys.executable, "-c", SDK_SCRIPT, *args], env={**clean, **env}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_printed_settings_point_the_real_sdk_at_the_server(server: Server, api: Api) -> None:
    flight_port = getattr(server, "flight_port", DEFAULT_FLIGHT_PORT)
    otlp_port = getattr(server, "otlp_grpc_port", DEFAULT_OTLP_GRPC_PORT)
    assert server.log_path is not None
    banner = server.log_path.read_text(errors="replace")
    assert "ArizeClient(" in banner and f"api_port={server.port}" in banner
    printed_at_start = exports(banner)

    listed = evalplane("client-env", "--url", server.base_url, "--api-key", server.admin_key)
    assert listed.returncode == 0, listed.stderr
    env = exports(listed.stdout)
    assert env == {**printed_at_start, "ARIZE_API_KEY": server.admin_key}
    assert env["ARIZE_API_PORT"] == str(server.port) and env["ARIZE_FLIGHT_PORT"] == str(flight_port)

    space = api.space()
    seen = run_sdk(env, unique("proj"), space["id"])
    assert space["id"] in seen["spaces"]
    assert seen["project"] in {
        p["id"] for p in api.ok(api.client.get("/v2/projects", params={"space_id": space["id"]}))["projects"]
    }
    assert seen["flight"] == ["grpc", "127.0.0.1", flight_port]
    assert seen["otlp_url"] == f"http://127.0.0.1:{otlp_port}/v1"

    as_python = evalplane("client-env", "--url", server.base_url, "--api-key", server.admin_key, "--python")
    assert as_python.returncode == 0, as_python.stderr
    script = as_python.stdout + "\nprint([s.id for s in client.spaces.list().spaces])\n"
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0 and space["id"] in ran.stdout, ran.stderr

    unreachable = evalplane("client-env", "--url", "http://127.0.0.1:9")
    assert unreachable.returncode != 0 and "could not read" in unreachable.stderr


@pytest.fixture
def logged_server(server: Server, tmp_path: Path) -> Iterator[Server]:
    srv, pg_name = start_server(server.backend, tmp_path / "home", EVALPLANE_ACCESS_LOG="true")
    yield srv
    srv.stop()
    if pg_name:
        drop_pg_database(pg_name)


@pytest.mark.slow
def test_the_access_log_has_one_line_per_request_and_no_secrets(logged_server: Server, server: Server) -> None:
    with logged_server.http() as admin:
        created = admin.post("/v2/api-keys", json={"name": "logged", "key_type": "USER"}).json()
    secret, key_id = created["key"], created["id"]
    marker = unique("body-marker")
    with logged_server.http(secret) as http:
        assert http.get("/v2/spaces", params={"name": "query-marker"}).status_code == 200
        assert http.post("/v2/projects", json={"name": marker, "space_id": "nope"}).status_code == 404
    with logged_server.http("ep_not_a_real_key") as stranger:
        assert stranger.get("/v2/spaces").status_code == 401

    expected = [
        rf"GET /v2/spaces 200 \d+\.\dms key={re.escape(key_id)}$",
        rf"POST /v2/projects 404 \d+\.\dms key={re.escape(key_id)}$",
        r"GET /v2/spaces 401 \d+\.\dms key=-$",
    ]

    def access_lines() -> list[str]:
        return [line for line in logged_server.log().splitlines() if "evalplane.access" in line]

    # A line is written once its response has gone out, so the last may trail the client a little.
    wait_until(
        lambda: all(any(re.search(p, line) for line in access_lines()) for p in expected),
        timeout=10,
        what="the access log lines",
    )
    text = logged_server.log()
    for secret_text in (secret, "ep_not_a_real_key", marker, "query-marker", logged_server.admin_key):
        assert secret_text not in text
    assert "evalplane.access" not in server.log()  # off unless asked for


def test_the_sdk_bugs_the_readme_names_and_their_working_forms(server: Server, api: Api) -> None:
    from arize._generated.api_client.exceptions import ApiException
    from arize._generated.api_client.models import ManagedCodeConfigRequest, SpanEvaluatorInput
    from arize.tasks.types import TaskEvaluatorInput

    client = server.sdk()
    space = api.space()
    project = api.project(space["id"])
    config = {"type": "MANAGED", "name": "json", "managed_evaluator": "JSON_PARSEABLE", "variables": ["output"]}
    # A typed code config reaches the server as null: a clear 400, nothing created.
    with pytest.raises(ApiException) as typed:
        client.evaluators.create_code_evaluator(
            name=unique("typed"), space=space["id"], commit_message="x", code_config=ManagedCodeConfigRequest(**config)
        )
    assert typed.value.status == 400 and "code_config" in typed.value.body
    evaluator = client.evaluators.create_code_evaluator(
        name=unique("dict"), space=space["id"], commit_message="x", code_config=config
    )
    mappings = {"output": "attributes.output.value"}
    # TaskEvaluatorInput(evaluator_id=...) is serialized as null: a clear 400, nothing created.
    with pytest.raises(ApiException) as keyword:
        client.tasks.create_evaluation_task(
            name=unique("kw"),
            task_type="CODE_EVALUATION",
            project=project["id"],
            evaluators=[TaskEvaluatorInput(evaluator_id=evaluator.id, column_mappings=mappings)],
        )
    assert keyword.value.status == 400
    task = client.tasks.create_evaluation_task(
        name=unique("wrapped"),
        task_type="CODE_EVALUATION",
        project=project["id"],
        evaluators=[TaskEvaluatorInput(SpanEvaluatorInput(evaluator_id=evaluator.id, column_mappings=mappings))],
    )
    assert [e.evaluator_id for e in task.evaluators] == [evaluator.id]
    assert [t.id for t in client.tasks.list(space=space["id"]).tasks] == [task.id]
