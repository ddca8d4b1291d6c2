"""Operating the engine: `/metrics` in the Prometheus text format on the server and on a
standalone worker, and `EVALPLANE_LOG_FORMAT=json` logs."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import start_server
from tests.support import Api, LlmServer, Server, drop_pg_database, free_port, unique, wait_until
from tests.support_engine import integration, task_with, template_evaluator
from tests.support_engine_faults import SECRET, WorkerProcess, seed_spans
from tests.support_spans import project_id_named

SAMPLE = re.compile(r'^([a-z_]+)(\{(?:[a-z_]+="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+]+|[+-]Inf|NaN)$')


def parse(text: str) -> dict[str, float]:
    """Every sample of an exposition, keyed by 'name{labels}'; fails on a malformed line."""
    samples = {}
    declared = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            declared.add(line.split()[2])
            continue
        if line.startswith("#") or not line:
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample: {line!r}"
        assert match.group(1) in declared, f"{match.group(1)} has no TYPE line"
        samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return samples


def backfill(server: Server, llm: LlmServer, spans: int) -> str:
    with server.http() as http:
        api = Api(http)
        space = api.space()
        judge = integration(api, space["id"], llm)
        evaluator = template_evaluator(api, space["id"], judge["id"], explain=False)
        project = unique("proj")
        seed_spans(server, space["id"], project, spans)
        project_id = project_id_named(http, space["id"], project)
    client = server.sdk()
    task = task_with(client, project_id, evaluator["id"])
    run = client.tasks.trigger_run(task=task.id, data_start_time=datetime.now(UTC) - timedelta(hours=2))
    return client.tasks.wait_for_run(run_id=run.id, poll_interval=0.3, timeout=120).status


def test_metrics_count_requests_runs_and_evaluations(engine_server: Server, llm: LlmServer) -> None:
    assert backfill(engine_server, llm, 20) == "COMPLETED"
    with engine_server.http() as http:
        http.get("/v2/spaces")
        http.get("/v2/tasks/not-an-id")
    response = httpx.get(f"{engine_server.base_url}/metrics")  # no key: scraped like /healthz
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = parse(response.text)
    assert samples['evalplane_http_requests_total{method="GET",route="/v2/spaces",status="200"}'] >= 1
    # Route templates, not paths: one series however many ids are asked for.
    assert samples['evalplane_http_requests_total{method="GET",route="/v2/tasks/{task_id}",status="404"}'] >= 1
    assert samples['evalplane_task_runs{status="COMPLETED"}'] >= 1
    assert samples['evalplane_work_units_open{state="PENDING"}'] >= 0
    assert samples['evalplane_evaluations_recorded_total{outcome="SUCCEEDED"}'] >= 17
    assert samples['evalplane_task_run_results{outcome="SKIPPED"}'] >= 0
    assert samples['evalplane_provider_calls_total{result="ok"}'] >= 17
    assert samples['evalplane_llm_tokens_total{kind="prompt"}'] > 0
    assert samples['evalplane_task_run_tokens{kind="completion"}'] > 0
    assert samples["evalplane_database_up"] == 1


@pytest.fixture
def api_only(server: Server, tmp_path: Path):
    api_server, pg_name = start_server(
        server.backend,
        tmp_path / "api",
        EVALPLANE_WORKER="false",
        EVALPLANE_SECRET_KEY=SECRET,
        EVALPLANE_LOG_FORMAT="json",
        EVALPLANE_LOG_LEVEL="info",
    )
    yield api_server
    api_server.stop()
    if pg_name:
        drop_pg_database(pg_name)


@pytest.mark.slow
def test_standalone_worker_serves_metrics_and_both_log_json(api_only: Server, llm: LlmServer, tmp_path: Path) -> None:
    port = free_port()
    worker = WorkerProcess(
        api_only.database_url,
        tmp_path / "worker",
        api_only.admin_key,
        env={"EVALPLANE_SECRET_KEY": SECRET, "EVALPLANE_TICK_SECONDS": "0.2", "EVALPLANE_LOG_FORMAT": "json"},
    )
    try:
        worker.start(args=("--metrics-port", str(port)))
        assert backfill(api_only, llm, 10) == "COMPLETED"
        samples = wait_until(
            lambda: (
                (s := parse(httpx.get(f"http://127.0.0.1:{port}/metrics").text))
                and s.get('evalplane_evaluations_recorded_total{outcome="SUCCEEDED"}', 0) >= 9
                and s
            ),
            10,
            "the worker's metrics",
        )
        assert samples['evalplane_provider_calls_total{result="ok"}'] >= 9
        assert httpx.get(f"http://127.0.0.1:{port}/other").status_code == 404
        code, _ = worker.terminate()
        assert code == 0
    finally:
        worker.stop()
    assert api_only.log_path is not None
    for name, log in (("worker", worker.log()), ("server", api_only.log_path.read_text())):
        records = [json.loads(line) for line in log.splitlines() if line.strip()]  # every line is one JSON object
        assert records, name
        assert all({"ts", "level", "logger", "message"} <= set(r) for r in records), name
    messages = [json.loads(line)["message"] for line in worker.log().splitlines()]
    assert any(m.startswith("worker ") and m.endswith("stopped") for m in messages)
