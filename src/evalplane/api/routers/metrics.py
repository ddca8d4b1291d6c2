"""``GET /metrics``: Prometheus text exposition, without authentication (like /healthz).

It shows this process's counters (requests; and when it runs the engine, evaluations,
provider calls and tokens) plus deployment-wide gauges read from the database (runs by
status, queued and leased units, run result and token totals), cached for a few seconds
so frequent scrapes cost the database nothing. Keep it off the public internet if the
figures are sensitive: it names no tenant, but shows activity.
"""

from __future__ import annotations

import time

from fastapi import APIRouter
from starlette.responses import Response

from evalplane import __version__
from evalplane.api.deps import State
from evalplane.core import metrics
from evalplane.domains.task_runs import stats

router = APIRouter(include_in_schema=False)

CACHE_SECONDS = 5.0
_cached: dict[int, tuple[float, str]] = {}


async def _database_gauges(state: State) -> str:
    key = id(state.db)
    now = time.monotonic()
    hit = _cached.get(key)
    if hit and hit[0] > now:
        return hit[1]
    async with state.db.session() as session:
        totals = await stats.totals(session)
    lines = [
        *metrics.family(
            "evalplane_task_runs",
            "Task runs by status (all tasks).",
            "gauge",
            ("status",),
            {(k,): v for k, v in totals.runs_by_status.items()},
        ),
        *metrics.family(
            "evalplane_work_units_open",
            "Work units waiting (PENDING) or in flight (LEASED), all workers.",
            "gauge",
            ("state",),
            {(k,): v for k, v in totals.open_units.items()},
        ),
        *metrics.family(
            "evalplane_task_run_results",
            "Results counted on task runs (all runs), by outcome.",
            "gauge",
            ("outcome",),
            {(k,): v for k, v in totals.results.items()},
        ),
        *metrics.family(
            "evalplane_task_run_tokens",
            "LLM tokens counted on task runs (all runs), by kind.",
            "gauge",
            ("kind",),
            {(k,): v for k, v in totals.tokens.items()},
        ),
    ]
    text = "\n".join(lines) + "\n"
    _cached[key] = (now + CACHE_SECONDS, text)
    return text


@router.get("/metrics")
async def prometheus_metrics(state: State) -> Response:
    build = "\n".join(
        metrics.family("evalplane_build_info", "The running version.", "gauge", ("version",), {(__version__,): 1})
    )
    try:
        gauges = await _database_gauges(state)
        up = 1
    except Exception:  # noqa: BLE001 - the process figures are still worth serving
        gauges, up = "", 0
    database_up = "\n".join(
        metrics.family("evalplane_database_up", "Whether the database answered.", "gauge", (), {(): up})
    )
    body = metrics.REGISTRY.render() + gauges + build + "\n" + database_up + "\n"
    return Response(body, media_type=metrics.CONTENT_TYPE)
