"""`evalplane tasks list | runs | trigger --wait` on the server's own database, as an operator runs them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import pytest

from tests.support import Api, LlmServer, Server, unique
from tests.support_engine import integration, task_with, template_evaluator
from tests.support_spans import project_id_named, send_spans

# Each test runs the CLI as subprocesses against a server and waits for runs: the fast lane leaves it out.
pytestmark = pytest.mark.slow


def evalplane(server: Server, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "EVALPLANE_HOME": str(server.home),
        "EVALPLANE_DATABASE_URL": server.database_url,
        "EVALPLANE_LOG_LEVEL": "warning",
    }
    return subprocess.run(
        [sys.executable, "-m", "evalplane.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def judged_task(engine_server: Server, llm: LlmServer):
    """A task over five spans: two correct, one incorrect, one outside the choices, one without output."""

    def make(*, key: str = "sk-local") -> Any:
        with engine_server.http() as http:
            api = Api(http)
            space = api.space()
            judge = integration(api, space["id"], llm, key=key)
            evaluator = template_evaluator(api, space["id"], judge["id"])
            project = unique("proj")
            outputs = [
                "4 [[label:correct]]",
                "5 [[label:incorrect]]",
                None,
                "42 [[label:maybe]]",
                "4 [[label:correct]]",
            ]
            send_spans(engine_server, space["id"], project, outputs)
            project_id = project_id_named(http, space["id"], project)
        return task_with(engine_server.sdk(), project_id, evaluator["id"])

    return make


def test_trigger_wait_follows_the_run_to_exact_counters(engine_server: Server, judged_task) -> None:
    task = judged_task()
    listed = evalplane(engine_server, "tasks", "list", "--name", task.name)
    assert listed.returncode == 0, listed.stderr
    assert task.id in listed.stdout and task.name in listed.stdout

    done = evalplane(
        engine_server,
        "tasks",
        "trigger",
        task.name,
        "--start",
        "2000-01-01T00:00:00Z",
        "--end",
        "2000-01-20T00:00:00Z",
        "--wait",
        "--poll",
        "0.2",
    )
    assert done.returncode == 0, done.stderr  # an empty window completes at once
    assert "COMPLETED: 0 succeeded, 0 errored, 0 skipped" in done.stdout

    done = evalplane(engine_server, "tasks", "trigger", task.id, "--start", _hours_ago(2), "--wait", "--poll", "0.2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"triggered run \S+", done.stdout)
    assert "COMPLETED: 3 succeeded, 1 errored, 1 skipped" in done.stdout
    assert "5/5 units  COMPLETED" in done.stderr  # the progress line's last state

    runs = evalplane(engine_server, "tasks", "runs", task.name)
    assert runs.returncode == 0, runs.stderr
    lines = runs.stdout.splitlines()
    assert lines[0].split()[:2] == ["RUN", "STATUS"]
    assert [line.split()[1] for line in lines[1:]] == ["COMPLETED", "COMPLETED"]
    assert lines[1].split()[5:8] == ["3", "1", "1"]  # newest first (CREATED is two words)
    api_runs = engine_server.sdk().tasks.list_runs(task=task.id).task_runs
    assert {r.id for r in api_runs} == {line.split()[0] for line in lines[1:]}

    again = evalplane(engine_server, "tasks", "trigger", task.id, "--wait", "--poll", "0.2")
    assert again.returncode == 0 and "COMPLETED" in again.stdout  # continues from the last window


def test_trigger_wait_exits_non_zero_when_the_run_fails(engine_server: Server, judged_task) -> None:
    task = judged_task(key="bad-key")
    done = evalplane(engine_server, "tasks", "trigger", task.id, "--start", _hours_ago(2), "--wait", "--poll", "0.2")
    assert done.returncode == 1
    assert "FAILED" in done.stdout and "credentials were rejected" in done.stdout


def test_tasks_commands_explain_bad_input(engine_server: Server, judged_task) -> None:
    missing = evalplane(engine_server, "tasks", "runs", "no-such-task-" + unique())
    assert missing.returncode == 1 and "no task with the id or name" in missing.stderr
    task = judged_task()
    bad_time = evalplane(engine_server, "tasks", "trigger", task.id, "--start", "yesterday")
    assert bad_time.returncode == 2 and "ISO-8601" in bad_time.stderr
    too_long = evalplane(engine_server, "tasks", "trigger", task.id, "--start", "2000-01-01", "--end", "2000-03-01")
    assert too_long.returncode == 1 and "30 days" in too_long.stderr


def _hours_ago(hours: int) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()
