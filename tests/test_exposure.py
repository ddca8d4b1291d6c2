"""What the server exposes besides the API: its files on disk, /metrics and the API docs,
and host details in evaluation metadata."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import start_server
from tests.support import Api, LlmServer, Server, create_pg_database, drop_pg_database, unique
from tests.support_engine import integration, task_with, template_evaluator
from tests.support_spans import evaluations, project_id_named, send_spans

# These tests start servers of their own to inspect their files: the fast lane leaves the module out.
pytestmark = pytest.mark.slow

OPEN_ALWAYS = ("/healthz", "/readyz")
PROTECTABLE = ("/metrics", "/openapi.json", "/docs", "/redoc")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def serve_with_home(backend: str, tmp_path: Path, home: Path) -> tuple[Server, str | None]:
    """A server whose EVALPLANE_HOME is ``home`` (its SQLite file, if any, under it)."""
    pg_name, url = create_pg_database() if backend == "postgres" else (None, "")
    server = Server(
        backend=backend,
        database_url=url,
        home=tmp_path / "logs",
        admin_key="ep_test_" + unique("k"),
        env={"EVALPLANE_HOME": str(home), "EVALPLANE_DATABASE_URL": url},
    )
    server.start()
    return server, pg_name


@pytest.fixture
def fresh_home(server: Server, tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    home = tmp_path / "not-yet" / "evalplane"
    srv, pg_name = serve_with_home(server.backend, tmp_path, home)
    yield srv, home
    srv.stop()
    if pg_name:
        drop_pg_database(pg_name)


def test_a_new_home_and_its_files_are_private_to_the_server_user(fresh_home: tuple[Server, Path]) -> None:
    server, home = fresh_home
    with server.http() as http:
        Api(http).space()  # a write, so SQLite's write-ahead log is in use
    assert mode(home) == 0o700
    assert mode(home / "secret.key") == 0o600
    if server.backend == "sqlite":
        for name in ("evalplane.db", "evalplane.db-wal", "evalplane.db-shm"):
            assert (home / name).exists(), name
            assert mode(home / name) == 0o600, name


def test_another_process_sees_the_servers_sqlite_writes_at_once(tmp_path: Path) -> None:
    # The serve process holds two pools on the file (the API's and Arrow Flight's). Closing
    # any descriptor of the file there drops SQLite's locks for both, and a connection closing
    # later deleted the write-ahead log under the others: readers elsewhere saw old pages.
    home = tmp_path / "home"
    server, _ = serve_with_home("sqlite", tmp_path, home)
    try:
        check_sqlite_reader(server, home)
    finally:
        server.stop()


def check_sqlite_reader(server: Server, home: Path) -> None:
    with server.http() as http:
        api = Api(http)
        names = [api.space()["name"] for _ in range(3)]
        reader = sqlite3.connect(home / "evalplane.db")
        try:
            assert reader.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            stored = {row[0] for row in reader.execute("SELECT name FROM spaces")}
            assert set(names) <= stored
            names.append(api.space()["name"])  # written after the reader opened the file
            assert names[-1] in {row[0] for row in reader.execute("SELECT name FROM spaces")}
        finally:
            reader.close()
    assert (home / "evalplane.db-wal").exists()


def test_an_existing_home_with_loose_modes_is_tightened(tmp_path: Path) -> None:
    home = tmp_path / "loose"
    first, _ = serve_with_home("sqlite", tmp_path, home)
    first.stop()
    home.chmod(0o755)
    for path in home.iterdir():
        path.chmod(0o644)
    again, _ = serve_with_home("sqlite", tmp_path, home)
    try:
        assert mode(home) == 0o700
        for name in ("evalplane.db", "secret.key"):
            assert mode(home / name) == 0o600, name
    finally:
        again.stop()


def test_metrics_and_docs_are_open_by_default(server: Server) -> None:
    with server.http("") as anonymous:
        for path in (*OPEN_ALWAYS, *PROTECTABLE):
            assert anonymous.get(path).status_code == 200, path


@pytest.fixture
def private_server(server: Server, tmp_path: Path) -> Iterator[Server]:
    srv, pg_name = start_server(
        server.backend, tmp_path / "home", EVALPLANE_PUBLIC_METRICS="false", EVALPLANE_PUBLIC_DOCS="false"
    )
    yield srv
    srv.stop()
    if pg_name:
        drop_pg_database(pg_name)


def test_protected_metrics_and_docs_need_a_valid_key(private_server: Server) -> None:
    for key in ("", "ep_" + "x" * 43):
        with private_server.http(key) as stranger:
            for path in PROTECTABLE:
                refused = stranger.get(path)
                assert refused.status_code == 401, path
                assert refused.headers["content-type"] == "application/problem+json"
                assert refused.json()["status"] == 401
                assert "evalplane_build_info" not in refused.text and '"paths"' not in refused.text
            for path in OPEN_ALWAYS:
                assert stranger.get(path).status_code == 200, path
    with private_server.http() as keyed:
        assert "evalplane_build_info" in keyed.get("/metrics").text
        assert keyed.get("/openapi.json").json()["info"]["title"] == "evalplane"
        assert keyed.get("/docs").status_code == keyed.get("/redoc").status_code == 200


def test_evaluation_metadata_names_no_host_or_process(engine_server: Server, llm: LlmServer) -> None:
    with engine_server.http() as http:
        api = Api(http)
        space = api.space()
        evaluator = template_evaluator(api, space["id"], integration(api, space["id"], llm)["id"])
        project = unique("proj")
        send_spans(engine_server, space["id"], project, ["4 [[label:correct]]", "5 [[label:incorrect]]"])
        project_id = project_id_named(http, space["id"], project)
        client = engine_server.sdk()
        task = task_with(client, project_id, evaluator["id"])
        run = client.tasks.trigger_run(task=task.id, data_start_time=datetime.now(UTC) - timedelta(hours=1))
        assert client.tasks.wait_for_run(run_id=run.id, poll_interval=0.3, timeout=60).status == "COMPLETED"
        results = [e for span in evaluations(http, project_id) for e in span]
    assert len(results) == 2 and all(e.get("metadata") for e in results)
    host, pid = socket.gethostname(), str(engine_server.process.pid)
    for result in results:
        words = set(re.split(r"[^0-9A-Za-z_.-]+", json.dumps(result["metadata"])))
        assert host not in words and pid not in words, result["metadata"]
