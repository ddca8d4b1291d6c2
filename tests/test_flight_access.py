"""Arrow Flight: every call needs a valid API key, and a request the server cannot read is a
clear INVALID_ARGUMENT; both before anything is stored."""

from __future__ import annotations

import pyarrow as pa
import pytest
from pyarrow import flight

from tests.support import Server


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
        actions = list(client.list_actions(options=options))
    assert isinstance(actions, list)


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
