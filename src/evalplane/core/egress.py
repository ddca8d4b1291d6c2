"""Which network addresses the server's own outbound calls (AI integrations) may reach.

By default only public unicast addresses: loopback, private, link-local, unique-local,
CGNAT, multicast, unspecified, reserved and cloud metadata addresses are refused, as are
IPv6 forms that embed one of those IPv4 addresses. The operator opens exceptions with
``EVALPLANE_EGRESS_ALLOW``: host names (reached whatever they resolve to) and CIDR ranges.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Instance metadata services; most are link-local or unique-local anyway, listed so a
# public-looking one (Oracle's, Alibaba's) is refused too.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "169.254.169.253", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# A name resolution slower than this is treated as a failure.
RESOLVE_TIMEOUT_SECONDS = 5.0


class EgressRefused(Exception):
    """An outbound call would reach an address the egress policy does not allow."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnresolvedHost(Exception):
    """A host name could not be resolved (no answer, or none in time)."""


def _normal_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def literal_address(host: str) -> IPAddress | None:
    """The address a host written as a number stands for, in any form the C resolver
    accepts (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``[::ffff:127.0.0.1]``); None for a name."""
    host = _normal_host(host)
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefx." for c in host) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4, Teredo, IPv4-compatible)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _why_refused(address: IPAddress) -> str | None:
    """Why the default policy refuses this address, or None when it is public unicast."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            return _why_refused(inner)
        if address in ipaddress.ip_network("fc00::/7"):
            return "a unique-local address"
    if address.is_private:
        return "a private address"
    if address in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if not address.is_global or address.is_reserved:
        return "a non-public address"
    return None


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """Public addresses, plus the operator's allowed host names and networks."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> EgressPolicy:
        """``"127.0.0.1/8, ::1, llm.internal"`` -> a policy; ValueError for an unusable entry."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for item in (text or "").split(","):
            item = item.strip()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            name = _normal_host(item)
            if not name or any(not (c.isalnum() or c in "-._") for c in name) or not name.isascii():
                raise ValueError(f"EVALPLANE_EGRESS_ALLOW: {item!r} is neither a host name nor a CIDR range")
            hosts.add(name)
        return cls(frozenset(hosts), tuple(networks))

    def host_allowed(self, host: str) -> bool:
        return _normal_host(host) in self.hosts

    def refusal(self, address: IPAddress) -> str | None:
        """Why this address may not be reached, or None when it may."""
        forms = [address]
        if isinstance(address, ipaddress.IPv6Address) and (inner := _embedded_ipv4(address)) is not None:
            forms.append(inner)
        if any(form in network for form in forms for network in self.networks if form.version == network.version):
            return None
        return _why_refused(address)

    def check_host(self, host: str) -> IPAddress | None:
        """Refuse a host that is a refused address or a metadata name, before any lookup;
        the literal address when the host is one (None for a name)."""
        if self.host_allowed(host):
            return None
        literal = literal_address(host)
        if literal is not None:
            reason = self.refusal(literal)
            if reason is not None:
                raise EgressRefused(f"{_normal_host(host)} is {reason}, which this server does not call")
            return literal
        if _normal_host(host) in METADATA_HOSTS:
            raise EgressRefused(f"{_normal_host(host)} is a cloud metadata host, which this server does not call")
        return None

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses ``host`` may be reached at, resolved now; EgressRefused when none
        may, UnresolvedHost when the name does not resolve."""
        literal = self.check_host(host)
        if literal is not None:
            return [str(literal)]
        found = await _resolve(_normal_host(host), port)
        if self.host_allowed(host):
            return found
        allowed = [a for a in found if self.refusal(ipaddress.ip_address(a.split("%", 1)[0])) is None]
        if not allowed:
            reason = self.refusal(ipaddress.ip_address(found[0].split("%", 1)[0]))
            raise EgressRefused(
                f"{_normal_host(host)} resolves to {found[0]}, {reason}, which this server does not call"
            )
        return allowed

    async def check_url(self, url: str) -> None:
        """Refuse a URL whose host is, or resolves only to, refused addresses. A name that
        does not resolve passes: every call checks again where it connects."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            port = 443
        try:
            await self.addresses(host, port)
        except UnresolvedHost:
            return


async def _resolve(host: str, port: int) -> list[str]:
    """Every address of ``host`` (off the event loop, bounded in time), first answer first."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_SECONDS)
    except (OSError, TimeoutError, UnicodeError) as exc:
        raise UnresolvedHost(f"{host} could not be resolved") from exc
    found: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in found:
            found.append(address)
    if not found:
        raise UnresolvedHost(f"{host} could not be resolved")
    return found
