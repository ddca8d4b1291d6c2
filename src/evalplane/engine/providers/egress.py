"""HTTP clients for the provider SDKs that connect only where the egress policy allows.

The check happens where the connection is made: each new connection resolves the host,
keeps the addresses the policy allows and connects to one of those, so a name that
changes its answer after it was checked (DNS rebinding) still cannot reach a refused
address. TLS and the Host header keep using the name from the URL.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable
from typing import Any

from evalplane.core.egress import EgressPolicy, EgressRefused, UnresolvedHost

try:
    import httpcore2 as core
    import httpx2 as http  # the SDKs' own fork of httpx, where installed
except ImportError:  # pragma: no cover - older SDKs use httpx itself
    import httpcore as core  # type: ignore[no-redef]
    import httpx as http  # type: ignore[no-redef]

# TCP keep-alive, as the SDKs' own default clients set it, so idle pooled connections are noticed dead.
_SOCKET_OPTIONS = [
    (socket.SOL_SOCKET, socket.SO_KEEPALIVE, True),
    *[
        (socket.IPPROTO_TCP, getattr(socket, name), value)
        for name, value in (("TCP_KEEPINTVL", 60), ("TCP_KEEPCNT", 5), ("TCP_KEEPIDLE", 60))
        if hasattr(socket, name)
    ],
]


class GuardedBackend(core.AsyncNetworkBackend):
    """Opens TCP connections only to addresses the policy allows, checked at connect time."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self.inner = core.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> Any:
        try:
            addresses = await self.policy.addresses(host, port)
        except UnresolvedHost as exc:
            raise core.ConnectError(str(exc)) from None
        last: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (core.ConnectError, core.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
        raise EgressRefused("unix sockets are not reachable from AI integrations")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(http.AsyncHTTPTransport):
    """httpx's transport with its connection pool on a :class:`GuardedBackend`; no proxies."""

    def __init__(self, policy: EgressPolicy, *, limits: Any, tls: ssl.SSLContext) -> None:
        super().__init__(limits=limits, verify=tls, trust_env=False)
        # Rebuilt with the same settings; httpx offers no other way to choose the network backend.
        self._pool = core.AsyncConnectionPool(
            ssl_context=tls,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            socket_options=_SOCKET_OPTIONS,
            network_backend=GuardedBackend(policy),
        )


def guarded_client(policy: EgressPolicy, *, connections: int, timeout: float, tls: ssl.SSLContext) -> Any:
    """An ``AsyncClient`` for a provider SDK: egress-checked connections, no redirects followed,
    no proxy taken from the environment."""
    limits = http.Limits(max_connections=connections, max_keepalive_connections=connections)
    return http.AsyncClient(
        transport=GuardedTransport(policy, limits=limits, tls=tls),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )


def refusal_in(exc: BaseException) -> EgressRefused | None:
    """The egress refusal behind an SDK's connection error, if that is what it was."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, EgressRefused):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
