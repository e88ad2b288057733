"""Outbound HTTP to user-given URLs, guarded against server-side request forgery.

Anything the server fetches on a user's behalf (webhooks, link previews, proxied images, OAuth
endpoints an admin configured) must not reach loopback, private networks or cloud metadata. The
check happens where it cannot be dodged: aiohttp connects to the addresses :class:`GuardedResolver`
returns, so a DNS answer is checked and used in one step (no rebinding window), and IP literals,
which aiohttp never resolves, are checked by :func:`check_url` before each request and redirect hop.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Collection
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult


class DestinationRefused(OSError):
    """The destination is not a public address (aiohttp wraps it in ``ClientConnectorError.os_error``)."""


class BadURL(ValueError):
    """Not an absolute ``http(s)`` URL with a host."""


def is_public_address(address: str) -> bool:
    """Whether ``address`` is on the public internet: not loopback, private, CGNAT, link-local, multicast, reserved.

    IPv4 addresses hidden in IPv6 (mapped, 6to4, Teredo) are judged by the IPv4 address.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return is_public_address(str(embedded))
    return ip.is_global and not ip.is_multicast


def allowed_destination(address: str, port: int, allow: Collection[tuple[str, int]]) -> bool:
    """Whether ``address:port`` is one of the explicitly allowed ``(address, port)`` pairs
    (addresses compared in canonical form, so ``::ffff:7f00:1`` is not ``127.0.0.1``)."""
    if not allow:
        return False
    try:
        canonical = ipaddress.ip_address(address.split("%", 1)[0]).compressed
    except ValueError:
        return False
    return (canonical, port) in allow


class GuardedResolver(AbstractResolver):
    """aiohttp's threaded resolver, minus every non-public answer (unless ``allow_private``).

    ``allow`` lists ``(address, port)`` pairs let through although not public (one service on a
    closed network, a test server); ``inner`` replaces the system resolver (tests).
    """

    def __init__(
        self,
        allow_private: bool = False,
        *,
        allow: Collection[tuple[str, int]] = (),
        inner: AbstractResolver | None = None,
    ) -> None:
        self._inner = inner or aiohttp.ThreadedResolver()
        self._allow_private = allow_private
        self._allow = frozenset(allow)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        if self._allow_private:
            return answers
        public = [
            answer
            for answer in answers
            if is_public_address(answer["host"]) or allowed_destination(answer["host"], answer["port"], self._allow)
        ]
        if not public:
            raise DestinationRefused(f"{host} does not resolve to a public address")
        return public

    async def close(self) -> None:
        await self._inner.close()


def check_url(url: str, allow_private: bool = False, *, allow: Collection[tuple[str, int]] = ()) -> None:
    """Raise :class:`BadURL` unless ``url`` is ``http(s)`` with a host, :class:`DestinationRefused`
    if its host is an IP literal that is not public (nor an ``allow``-ed ``(address, port)``).
    Host names are checked when they resolve."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError as e:
        raise BadURL(str(e)) from None
    if parts.scheme not in ("http", "https") or not host:
        raise BadURL("the URL must be http or https with a host")
    if allow_private:
        return
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    if not is_public_address(host) and not allowed_destination(host, port, allow):
        raise DestinationRefused(f"{host} is not a public address")


def guarded_session(*, allow_private: bool = False, timeout: float = 10.0, **kwargs) -> aiohttp.ClientSession:
    """A client session whose connections only reach public addresses. No cookies, no env proxies.

    Callers still run :func:`check_url` on every URL they request (IP literals skip the resolver)
    and should follow redirects by hand (``allow_redirects=False``) so each hop is checked too.
    """
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(allow_private), limit=32, ttl_dns_cache=60)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout, connect=min(5.0, timeout)),
        cookie_jar=aiohttp.DummyCookieJar(),
        **kwargs,
    )
