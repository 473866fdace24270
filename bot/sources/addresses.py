"""Which addresses content fetches may connect to: public ones, plus what the operator trusts."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

__all__ = ["FetchAllow", "IPAddress", "IPNetwork", "address_refusal", "embedded_ipv4", "parse_address"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: a NAT64 gateway forwards to the IPv4 inside
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def parse_address(text: str) -> IPAddress | None:
    """An IP address written the canonical way (an IPv6 zone like %eth0 allowed), else None."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 host an IPv6 address really reaches (mapped, NAT64, 6to4), so ::ffff:10.0.0.5 is 10.0.0.5."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return address.sixtofour


def _kind(address: IPAddress) -> str | None:
    """What makes this one address unfit for a content fetch, in words; None for a public address."""
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:  # ipaddress counts multicast as global, so it is checked on its own
        return "a multicast address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:  # 100.64/10 (carrier-grade NAT) and whatever Python adds later
        return "not a public address"
    return None


def address_refusal(address: IPAddress) -> str | None:
    """Why a content fetch may not connect to this address ("a private address"), or None when it may."""
    inner = embedded_ipv4(address)
    if inner is None:
        return _kind(address)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _kind(inner)  # ::ffff:0:0/96 is the IPv4 host itself; its own class says nothing
    return _kind(inner) or _kind(address)


@dataclass(frozen=True)
class FetchAllow:
    """NEWSBOT_FETCH_ALLOW: host names and networks the operator trusts although they are not public."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> FetchAllow:
        """Read "cms.intranet, 10.1.2.3, 192.168.0.0/16"; raises ValueError naming the bad entry."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in (text or "").split(","):
            entry = raw.strip()
            if not entry:
                continue
            if "/" in entry or parse_address(entry.strip("[]")) is not None:
                try:
                    networks.append(ipaddress.ip_network(entry.strip("[]"), strict=True))
                except ValueError as exc:
                    hint = " (host bits set)" if "host bits" in str(exc) else ""
                    raise ValueError(f"{entry!r} is not an address or CIDR range{hint}") from None
                continue
            host = _host_name(entry)
            if host is None:
                raise ValueError(f"{entry!r} is not a host name, address or CIDR range")
            hosts.add(host)
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        """Whether this DNS name is trusted, whatever it resolves to."""
        return bool(self.hosts) and _host_name(host) in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        """Whether this address, or the IPv4 host it carries, lies in a trusted network."""
        inner = embedded_ipv4(address)
        candidates = [address] if inner is None else [address, inner]
        return any(
            candidate in network
            for network in self.networks
            for candidate in candidates
            if candidate.version == network.version
        )

    def refusal(self, address: IPAddress) -> str | None:
        """Why a content fetch may not connect to this address, or None (public or trusted)."""
        if self.allows_address(address):
            return None
        return address_refusal(address)


def _host_name(text: str) -> str | None:
    """A DNS name in the form URLs carry it (lower case, punycode, no trailing dot), or None."""
    try:
        name = text.strip().rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        return None
    if labels[-1].isdigit():  # 127.1 or 2130706433: a number, not a name
        return None
    return name
