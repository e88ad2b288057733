"""The client address of a request: one rule for the sign-in throttle, session records and the rest.

``X-Forwarded-For`` and ``X-Real-IP`` are whatever the sender wrote, so they are believed only when
the direct peer is a proxy the admin listed in ``MEMOS_TRUSTED_PROXIES``. Each proxy appends the
address it received the request from to ``X-Forwarded-For``; reading the chain from the right and
skipping the trusted proxies, the first address that is not one of them is the last hop no trusted
party vouches beyond: the client. Anything to its left was written by the client and may be forged.
``X-Real-IP`` is used only when no ``X-Forwarded-For`` came. Without a trusted peer, the peer itself
is the client.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

from aiohttp import web

from .config import UNIX_PEER
from .context import CONTEXT

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_ip(request: web.Request) -> str:
    """The address of the client behind ``request`` (``""`` when unknown, e.g. an untrusted unix socket peer)."""
    ctx = request.config_dict.get(CONTEXT)
    return resolve_client_ip(
        request.remote,
        request.headers.getall("X-Forwarded-For", []),
        request.headers.get("X-Real-IP"),
        ctx.config.trusted_proxies if ctx is not None else (),
    )


def resolve_client_ip(
    peer: str | None, forwarded_for: Iterable[str], real_ip: str | None, trusted: tuple[str, ...]
) -> str:
    """The client address, from the direct ``peer``, the ``X-Forwarded-For`` header lines (in the
    order received), ``X-Real-IP`` and the canonical trusted-proxy entries.

    Addresses come back canonical (compressed IPv6, IPv4-mapped IPv6 as IPv4, no port or zone), so one
    address has one spelling in throttle keys. A malformed entry in the chain ends the walk: the last
    address a trusted proxy vouched for counts, never a string the client chose.
    """
    networks, trust_unix = _trust(trusted)
    peer_addr = parse_address(peer or "")
    fallback = str(peer_addr) if peer_addr is not None else ""
    peer_trusted = _is_trusted(peer_addr, networks) if peer_addr is not None else trust_unix and peer is not None
    if not peer_trusted:
        return fallback
    hops = ",".join(forwarded_for).split(",")
    if any(hop.strip() for hop in hops):
        client = fallback
        for hop in reversed(hops):
            addr = parse_address(hop)
            if addr is None:
                break
            client = str(addr)
            if not _is_trusted(addr, networks):
                break
        return client
    addr = parse_address(real_ip or "")
    return str(addr) if addr is not None else fallback


def parse_address(value: str) -> Address | None:
    """An IP address as proxies write them: bare, ``v4:port``, ``[v6]`` or ``[v6]:port``, with an
    optional IPv6 zone; ``None`` for anything else (``unknown``, obfuscated names, garbage)."""
    text = value.strip().strip('"')
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or (text[end + 1 :] and not (text[end + 1] == ":" and text[end + 2 :].isdigit())):
            return None
        text = text[1:end]
    elif text.count(":") == 1:
        text, _, port = text.partition(":")
        if not port.isdigit():
            return None
    try:
        addr = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped  # a dual-stack socket reports IPv4 peers this way
    return addr


@functools.lru_cache(maxsize=16)
def _trust(trusted: tuple[str, ...]) -> tuple[tuple[Network, ...], bool]:
    networks = tuple(ipaddress.ip_network(entry) for entry in trusted if entry != UNIX_PEER)
    return networks, UNIX_PEER in trusted


def _is_trusted(addr: Address, networks: tuple[Network, ...]) -> bool:
    return any(addr in network for network in networks)
