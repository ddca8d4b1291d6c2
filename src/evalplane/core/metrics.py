"""Process-wide counters in the Prometheus text format (version 0.0.4), without a client library.

A dozen counters do not need ``prometheus-client``: a counter here is a dict from label
values to a number, and rendering is a few lines. The registry is per process on purpose,
like Prometheus client libraries' default one: the API, the engine and the providers all
count into it without being wired to each other, and each process exposes its own figures
(``evalplane serve`` on ``/metrics``; ``evalplane worker --metrics-port``). Figures that
describe the whole deployment (runs, queued units) come from the database instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    return "{" + ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)) + "}"


@dataclass
class Counter:
    name: str
    help: str
    label_names: tuple[str, ...] = ()
    kind: str = "counter"
    values: dict[tuple[str, ...], float] = field(default_factory=dict)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(str(labels[n]) for n in self.label_names)
        self.values[key] = self.values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self.values.get(tuple(str(labels[n]) for n in self.label_names), 0.0)

    def render(self) -> Iterable[str]:
        yield from family(self.name, self.help, self.kind, self.label_names, self.values)


def family(
    name: str, help: str, kind: str, label_names: Sequence[str], values: Mapping[tuple[str, ...], float]
) -> Iterable[str]:
    """One metric family's lines: HELP, TYPE, then one sample per label set."""
    yield f"# HELP {name} {_escape(help)}"
    yield f"# TYPE {name} {kind}"
    for key in sorted(values):
        yield f"{name}{_labels(label_names, key)} {_number(values[key])}"


class Registry:
    def __init__(self) -> None:
        self._metrics: dict[str, Counter] = {}

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        metric = self._metrics.get(name)
        if metric is None:
            metric = self._metrics[name] = Counter(name, help, tuple(labels))
        return metric

    def render(self) -> str:
        return "\n".join(line for metric in self._metrics.values() for line in metric.render()) + "\n"


REGISTRY = Registry()

HTTP_REQUESTS = REGISTRY.counter(
    "evalplane_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ("method", "route", "status"),
)
HTTP_SECONDS = REGISTRY.counter(
    "evalplane_http_request_seconds_total", "Time spent answering HTTP requests, by route template.", ("route",)
)
EVALUATIONS = REGISTRY.counter(
    "evalplane_evaluations_recorded_total",
    "Work units this process finished and recorded, by outcome (SUCCEEDED, ERRORED, SKIPPED).",
    ("outcome",),
)
UNITS_RELEASED = REGISTRY.counter(
    "evalplane_units_released_total", "Leased units this process handed back to the queue (shutdown or retry later)."
)
LEASES_REAPED = REGISTRY.counter(
    "evalplane_leases_reaped_total",
    "Expired leases (of crashed or stalled workers) this process returned to the queue.",
)
PROVIDER_CALLS = REGISTRY.counter(
    "evalplane_provider_calls_total",
    "Calls to LLM providers, by result: ok, transient (rate limit, overload, timeout) or fatal.",
    ("result",),
)
PROVIDER_RETRIES = REGISTRY.counter(
    "evalplane_provider_retries_total", "Provider calls repeated after a transient error."
)
TOKENS = REGISTRY.counter(
    "evalplane_llm_tokens_total", "LLM tokens used by recorded evaluations, by kind (prompt, completion).", ("kind",)
)
