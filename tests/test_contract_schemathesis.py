"""Schemathesis against the running server with the seed spec for ``GET /v2/tasks``.

Every check, positive and negative data, on both databases, against a space holding tasks
of all three types, in every phase (the seed's own examples, coverage, fuzzing). The seed's
``Id`` and ``cursor`` are plain strings in the schema but opaque server-issued tokens in
meaning, so a positive case is sent twice: once exactly as generated, and once with its ids
swapped for real ones and its cursor for one the server issued for the same filters. As
generated, an id the server never issued names nothing (404, which positive_data_acceptance
accepts: the seed's example ids included); only a forged cursor is a 400 by design, so that
call is spared positive_data_acceptance alone. Every other call passes every check.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance, unsupported_method

from evalplane.core.ids import Kind, encode_id
from tests.arrange import Populated, populate_space, seed_spec
from tests.support import Api, Server

MAX_EXAMPLES = int(os.environ.get("EVALPLANE_ST_MAX_EXAMPLES", "120"))


class RealValues:
    """Server-issued ids per kind (visible, foreign to the space, and gone) and live cursors."""

    def __init__(self, server: Server, mine: Populated, other: Populated) -> None:
        self.server = server
        missing = 10**9
        self.ids: dict[str, list[str]] = {
            "space_id": [mine.space["id"], other.space["id"], encode_id(Kind.SPACE, missing)],
            "project_id": [*mine.project_ids, *other.project_ids, encode_id(Kind.PROJECT, missing)],
            "dataset_id": [*mine.dataset_ids, *other.dataset_ids, encode_id(Kind.DATASET, missing)],
        }

    @staticmethod
    def _pick(options: list[str], generated: Any) -> str:
        digest = hashlib.blake2s(repr(generated).encode(), digest_size=4).digest()
        return options[int.from_bytes(digest, "big") % len(options)]

    def needs_meaning(self, case: Any) -> bool:
        query = case.query if isinstance(case.query, dict) else {}
        return any(query.get(name) is not None for name in (*self.ids, "cursor"))

    def make_meaningful(self, case: Any) -> None:
        """Swap generated ids and cursor for server-issued ones."""
        query = case.query
        for name, options in self.ids.items():
            if query.get(name) is not None:
                query[name] = self._pick(options, query[name])
        if query.get("cursor") is not None:
            fresh = self._issue_cursor({k: v for k, v in query.items() if k != "cursor"})
            if fresh is None:
                del query["cursor"]
            else:
                query["cursor"] = fresh

    def _issue_cursor(self, query: dict[str, Any]) -> str | None:
        with self.server.http() as client:
            response = client.get("/v2/tasks", params=query)
        if response.status_code != 200:
            return None
        return response.json()["pagination"].get("next_cursor")


@pytest.fixture
def real_values(server: Server, http: httpx.Client) -> RealValues:
    api = Api(http)
    return RealValues(server, populate_space(server, api), populate_space(server, api))


schema = schemathesis.openapi.from_path(
    seed_spec(),
    config=schemathesis.Config.from_dict(
        {
            # The bearer key is sent with every call below; checks such as ignored_auth
            # still probe the server without it.
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "with-security-parameters": False,
                # Unknown query parameters are ignored, as HTTP APIs customarily do; the
                # seed declares no policy for them.
                "allow-extra-parameters": False,
            },
            "checks": {"enabled": True},
            "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True}},
        }
    ),
)


@pytest.mark.slow
@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_list_tasks_obeys_seed_spec(case: Any, server: Server, real_values: RealValues) -> None:
    call = {"base_url": server.base_url, "headers": {"Authorization": f"Bearer {server.admin_key}"}}
    # The server also implements the newer API's POST /v2/tasks, which the seed document
    # does not list, so "other methods answer 405" cannot hold for this path.
    beyond_seed = [unsupported_method]
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if positive and real_values.needs_meaning(case):
        # As generated: an id the server never issued is a 404; a cursor it never issued a 400.
        forged_cursor = isinstance(case.query, dict) and case.query.get("cursor") is not None
        spared = [positive_data_acceptance] if forged_cursor else []
        case.call_and_validate(**call, excluded_checks=[*spared, *beyond_seed])
        real_values.make_meaningful(case)
    case.call_and_validate(**call, excluded_checks=beyond_seed)
