"""Which address a sign-in comes from, behind the plant's reverse proxies.

A browser's address is the connection's peer, unless that peer is one of the `trusted_proxies` (settings: addresses
or CIDRs): then the client is the right-most X-Forwarded-For entry that is not itself a trusted proxy (each proxy
appends the address it saw, so entries to its left are whatever the client wrote and are never believed).
Streamlit reports a loopback peer as no address at all; that is read as 127.0.0.1. Uvicorn, which serves
Streamlit, already replaces a loopback peer by its X-Forwarded-For (FORWARDED_ALLOW_IPS, default 127.0.0.1,::1),
so a proxy on the same host needs no setting here; a proxy on another host does.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK = "127.0.0.1"
MAX_ADDRESS = 64  # as stored (sign_in_failures.client)


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """`["10.0.0.5", "10.1.0.0/16", "::1"]` -> networks; ValueError naming the entry that is not one."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR block (e.g. 10.0.0.5 or 10.1.0.0/16)") from None
    return tuple(networks)


def _trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted if network.version == ip.version)


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """The client's address for throttling and the failure log (see the module's docstring)."""
    address = (peer or LOOPBACK).strip()
    if not _trusted(address, trusted):
        return address[:MAX_ADDRESS]
    for hop in reversed([part.strip() for part in (forwarded_for or "").split(",") if part.strip()]):
        address = hop
        if not _trusted(hop, trusted):
            break
    return address[:MAX_ADDRESS]


def forwarded_https(peer: str | None, forwarded_proto: str | None, trusted: tuple[Network, ...]) -> bool:
    """True when a trusted proxy says the browser's connection was https (X-Forwarded-Proto)."""
    return _trusted((peer or LOOPBACK).strip(), trusted) and (forwarded_proto or "").split(",")[-1].strip() == "https"
