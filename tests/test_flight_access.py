"""Arrow Flight: every call needs a valid API key, spaces and roles hold exactly as on ``/v2``,
and a request the server cannot read is a clear INVALID_ARGUMENT; all before anything is stored."""

from __future__ import annotations

import pyarrow as pa
import pytest
from pyarrow import flight

from tests.arrange import dataset, experiment, user_key
from tests.flight_support import action, get, put
from tests.support import Api, Server, unique


def test_flight_refuses_calls_without_a_key(server: Server) -> None:
    client, options = server.flight(key="")
    with client, pytest.raises(flight.FlightUnauthenticatedError, match="API key"):
        list(client.list_actions(options=options))


def test_flight_refuses_a_wrong_key(server: Server) -> None:
    client, options = server.flight(key="ep_not_a_real_key")
    with client, pytest.raises(flight.FlightUnauthenticatedError, match="not valid"):
        client.do_get(flight.Ticket(b'{"getDataset": {}}'), options=options).read_all()


def test_flight_accepts_a_bearer_authorization_header(server: Server) -> None:
    client, _ = server.flight()
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {server.admin_key}".encode())])
    with client:
        actions = [a.type for a in client.list_actions(options=options)]
    assert "create_experiment_db_entry" in actions


@pytest.mark.parametrize(
    "ticket",
    [b"not json", b"[1, 2]", b'{"getEverything": {}}', b'{"getDataset": "x"}'],
)
def test_flight_unreadable_tickets_are_invalid_arguments(server: Server, ticket: bytes) -> None:
    client, options = server.flight()
    with client, pytest.raises(pa.ArrowInvalid):
        client.do_get(flight.Ticket(ticket), options=options).read_all()


def test_flight_unknown_action_is_an_invalid_argument(server: Server) -> None:
    client, options = server.flight()
    with client, pytest.raises(pa.ArrowInvalid, match="Unknown action 'drop_everything'"):
        list(client.do_action(flight.Action("drop_everything", b"{}"), options=options))


def _runs(example_ids: list[str]) -> pa.Table:
    return pa.table({"example_id": example_ids, "output": ["o"] * len(example_ids)})


def _examples() -> pa.Table:
    return pa.table({"question": ["q1", "q2"]})


def _runs_in(api: Api, experiment_id: str) -> int:
    return len(api.ok(api.client.get(f"/v2/experiments/{experiment_id}/runs"))["experiment_runs"])


def test_a_read_only_key_reads_but_cannot_write_over_flight(server: Server, api: Api) -> None:
    space = api.space()
    data = dataset(api, space["id"])
    exp_id = experiment(api, data)
    exp_name = api.ok(api.client.get(f"/v2/experiments/{exp_id}"))["name"]
    reader = user_key(server, space["id"], "READ_ONLY")

    assert get(server, reader, "get_dataset", space_id=space["id"], dataset_id=data.id).num_rows == 2
    assert get(server, reader, "get_experiment", space_id=space["id"], experiment_id=exp_id).num_rows == 1

    name = unique("ro")
    with pytest.raises(flight.FlightUnauthorizedError):
        put(server, reader, "create_dataset", _examples(), space_id=space["id"], dataset_name=name)
    with pytest.raises(flight.FlightUnauthorizedError):
        action(
            server, reader, "create_experiment_db_entry", space_id=space["id"], dataset_id=data.id, experiment_name=name
        )
    with pytest.raises(flight.FlightUnauthorizedError):
        put(
            server,
            reader,
            "post_experiment_data",
            _runs(data.example_ids),
            space_id=space["id"],
            dataset_id=data.id,
            experiment_name=exp_name,
        )
    names = [d["name"] for d in api.ok(api.client.get("/v2/datasets", params={"space_id": space["id"]}))["datasets"]]
    assert name not in names
    experiments = api.ok(api.client.get("/v2/experiments", params={"dataset_id": data.id}))["experiments"]
    assert [e["id"] for e in experiments] == [exp_id]
    assert _runs_in(api, exp_id) == 1


def test_a_key_of_another_space_finds_nothing_here(server: Server, api: Api) -> None:
    mine, theirs = api.space(), api.space()
    data = dataset(api, mine["id"])
    exp_id = experiment(api, data)
    exp_name = api.ok(api.client.get(f"/v2/experiments/{exp_id}"))["name"]
    outsider = user_key(server, theirs["id"], "ADMIN")

    with pytest.raises(KeyError, match="not found"):
        get(server, outsider, "get_dataset", space_id=mine["id"], dataset_id=data.id)
    # Naming their own space does not help: the dataset is not in it.
    with pytest.raises(KeyError, match="not found"):
        get(server, outsider, "get_dataset", space_id=theirs["id"], dataset_id=data.id)
    with pytest.raises(KeyError, match="not found"):
        get(server, outsider, "get_experiment", space_id=mine["id"], experiment_id=exp_id)
    with pytest.raises(KeyError, match="not found"):
        put(server, outsider, "create_dataset", _examples(), space_id=mine["id"], dataset_name=unique("x"))
    with pytest.raises(KeyError, match="not found"):
        action(
            server,
            outsider,
            "create_experiment_db_entry",
            space_id=theirs["id"],
            dataset_id=data.id,
            experiment_name="x",
        )
    with pytest.raises(KeyError, match="not found"):
        put(
            server,
            outsider,
            "post_experiment_data",
            _runs(data.example_ids),
            space_id=theirs["id"],
            dataset_id=data.id,
            experiment_name=exp_name,
        )
    assert len(api.ok(api.client.get("/v2/datasets", params={"space_id": mine["id"]}))["datasets"]) == 1
    assert _runs_in(api, exp_id) == 1
