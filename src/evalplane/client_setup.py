"""How to point the ``arize`` SDK at this server: its REST API, Arrow Flight and OTLP/gRPC.

The SDK reads each endpoint from ``ArizeClient(...)`` arguments or ``ARIZE_*`` environment
variables (its ``arize/config.py``): ``api_scheme/host/port`` for REST, ``flight_scheme/host/port``
for Flight (``grpc`` plain, ``grpc+tls`` with TLS) and ``otlp_scheme/host/port`` for the traces
``experiments.run`` exports over OTLP/gRPC (``http`` means plaintext gRPC there). ``evalplane
serve`` prints both forms when it starts, and ``evalplane client-env`` prints them for a running
server from what ``GET /client-setup`` answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evalplane.settings import Settings

# What evalplane serves when the settings leave them out (EVALPLANE_FLIGHT_PORT,
# EVALPLANE_OTLP_GRPC_PORT); 0 means the service is off.
DEFAULT_FLIGHT_PORT = 8815
DEFAULT_OTLP_GRPC_PORT = 4317
_ANY_INTERFACE = ("", "0.0.0.0", "::", "[::]")


@dataclass(frozen=True, slots=True)
class Endpoint:
    scheme: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class SdkEndpoints:
    api: Endpoint
    flight: Endpoint | None  # None: this server runs no Flight service
    otlp: Endpoint | None  # None: no OTLP/gRPC receiver

    def to_wire(self) -> dict[str, Any]:
        """Flight and OTLP as ``GET /client-setup`` answers them; a client already knows the API."""

        def one(endpoint: Endpoint | None) -> dict[str, Any] | None:
            return None if endpoint is None else {"scheme": endpoint.scheme, "port": endpoint.port}

        return {"flight": one(self.flight), "otlp": one(self.otlp)}


def reachable_host(bind: str | None, fallback: str = "127.0.0.1") -> str:
    """A host a client on this machine can use for an interface the server binds."""
    return fallback if bind is None or bind.strip() in _ANY_INTERFACE else bind.strip()


def served_endpoints(settings: Settings, host: str | None = None, port: int | None = None) -> SdkEndpoints:
    """What this server's settings serve, as seen by a client reaching the API at ``host``."""
    api_host = reachable_host(host or settings.host)
    # Read with defaults: the Flight and OTLP/gRPC settings belong to those services.
    flight_port = int(getattr(settings, "flight_port", DEFAULT_FLIGHT_PORT) or 0)
    flight_bind = getattr(settings, "flight_host", None)
    has_tls = getattr(settings, "flight_tls_cert", None) is not None
    otlp_port = int(getattr(settings, "otlp_grpc_port", DEFAULT_OTLP_GRPC_PORT) or 0)
    return SdkEndpoints(
        api=Endpoint("http", api_host, port or settings.port),
        flight=Endpoint("grpc+tls" if has_tls else "grpc", reachable_host(flight_bind, api_host), flight_port)
        if flight_port
        else None,
        otlp=Endpoint("http", api_host, otlp_port) if otlp_port else None,
    )


def from_wire(data: Any, api: Endpoint) -> SdkEndpoints:
    """The endpoints ``GET /client-setup`` describes, on the host the API was reached at."""
    if not isinstance(data, dict):
        raise ValueError("the server's /client-setup answer is not a JSON object")

    def one(key: str) -> Endpoint | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict) or not isinstance(value.get("port"), int) or not value.get("scheme"):
            raise ValueError(f"the server's /client-setup answer has no usable '{key}'")
        return Endpoint(str(value["scheme"]), api.host, value["port"])

    return SdkEndpoints(api=api, flight=one("flight"), otlp=one("otlp"))


def environment(endpoints: SdkEndpoints, api_key: str | None = None) -> list[tuple[str, str]]:
    """The ``ARIZE_*`` variables, in order; the key only when given."""
    pairs = [("ARIZE_API_KEY", api_key)] if api_key else []
    for prefix, endpoint in (("API", endpoints.api), ("FLIGHT", endpoints.flight), ("OTLP", endpoints.otlp)):
        if endpoint is not None:
            pairs += [
                (f"ARIZE_{prefix}_SCHEME", endpoint.scheme),
                (f"ARIZE_{prefix}_HOST", endpoint.host),
                (f"ARIZE_{prefix}_PORT", str(endpoint.port)),
            ]
    return pairs


def shell_exports(endpoints: SdkEndpoints, api_key: str | None = None) -> str:
    """``export`` lines for a POSIX shell (``eval "$(evalplane client-env ...)"``)."""
    lines = [] if api_key else ["# export ARIZE_API_KEY=<your API key>"]
    lines += [f"export {name}={_shell_quote(value)}" for name, value in environment(endpoints, api_key)]
    lines += _missing_notes(endpoints, "# ")
    return "\n".join(lines)


def python_client(endpoints: SdkEndpoints, api_key: str | None = None) -> str:
    """The ``ArizeClient(...)`` call with every endpoint argument."""
    key = repr(api_key) if api_key else "API_KEY"
    lines = ["from arize import ArizeClient", "", "client = ArizeClient(", f"    api_key={key},"]
    for prefix, endpoint in (("api", endpoints.api), ("flight", endpoints.flight), ("otlp", endpoints.otlp)):
        if endpoint is not None:
            lines.append(
                f'    {prefix}_scheme="{endpoint.scheme}", {prefix}_host="{endpoint.host}", {prefix}_port={endpoint.port},'
            )
    lines.append(")")
    lines += _missing_notes(endpoints, "# ")
    return "\n".join(lines)


def banner(endpoints: SdkEndpoints) -> str:
    """What ``evalplane serve`` prints at start."""
    indent = "      "
    python = "\n".join(indent + line if line else "" for line in python_client(endpoints).splitlines())
    shell = "\n".join(indent + line for line in shell_exports(endpoints).splitlines())
    return (
        "\n  Point the arize SDK (API, Flight and OTLP) at this server:\n\n"
        f"{python}\n\n"
        "  or set these and call ArizeClient() with no endpoint arguments:\n\n"
        f"{shell}\n\n"
        "  (`evalplane client-env --url URL` prints them again for a running server.)\n"
    )


def _missing_notes(endpoints: SdkEndpoints, prefix: str) -> list[str]:
    notes = []
    if endpoints.flight is None:
        notes.append(f"{prefix}this server runs no Arrow Flight service (EVALPLANE_FLIGHT_PORT=0)")
    if endpoints.otlp is None:
        notes.append(f"{prefix}this server runs no OTLP/gRPC receiver (EVALPLANE_OTLP_GRPC_PORT=0)")
    return notes


def _shell_quote(value: str) -> str:
    if value and all(c.isalnum() or c in "-_.:/+@%" for c in value):
        return value
    return "'" + value.replace("'", "'\"'\"'") + "'"
