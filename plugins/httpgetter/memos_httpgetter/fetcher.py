"""The one guarded fetcher for user-given URLs, offered to every plugin through ``memos_http_fetcher``.

A GET goes out only to public addresses (or an explicitly allowed ``address:port``):

* ``http``/``https`` URLs with a host only; IP literals, which aiohttp never resolves, are checked
  before the request and before every redirect hop, which are followed by hand;
* host names are resolved by :class:`memos_core.netguard.GuardedResolver`, and aiohttp connects to
  the very addresses it returned: there is no second lookup a rebinding DNS server could answer
  differently. aiohttp's own DNS cache is off, so every new connection is checked afresh;
* one time limit covers all hops and the body; a byte cap bounds what :meth:`Fetcher.get` reads.

No cookies are kept and no proxy settings of the environment are used.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver

from memos_core import ApiError, Code, netguard

from .settings import REDIRECT_CAP, Settings

USER_AGENT = "memos-py httpgetter (link preview)"
CHUNK = 16 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_REFUSED = "the destination is not a public address"


@dataclasses.dataclass(frozen=True)
class Fetched:
    """A response read into memory: ``url`` is the final one (after redirects)."""

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    truncated: bool  # the body went on past the byte cap


class Fetcher:
    """GETs user-given URLs within the SSRF rules and ``settings``' limits.

    ``resolver`` replaces the system resolver behind the guard (tests); the guard stays.
    """

    def __init__(self, settings: Settings, *, resolver: AbstractResolver | None = None) -> None:
        self.settings = settings
        self._resolver = resolver
        self._sessions: dict[bool, aiohttp.ClientSession] = {}
        self._checker: netguard.GuardedResolver | None = None  # for check(); closed with the fetcher

    # -- sessions -----------------------------------------------------------------------------------
    def _guard(self, allow_private: bool) -> netguard.GuardedResolver:
        return netguard.GuardedResolver(allow_private, allow=self.settings.allow, inner=self._resolver)

    def _session(self, allow_private: bool) -> aiohttp.ClientSession:
        session = self._sessions.get(allow_private)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(resolver=self._guard(allow_private), use_dns_cache=False, limit=32)
            session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"User-Agent": USER_AGENT},
            )
            self._sessions[allow_private] = session
        return session

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()
        checker, self._checker = self._checker, None
        if checker is not None:
            await checker.close()

    # -- checks -------------------------------------------------------------------------------------
    def check_literal(self, url: str, allow_private: bool = False) -> None:
        """Raise unless ``url`` is http(s) with a host whose IP literal (if it is one) is allowed."""
        allow_private = allow_private or self.settings.allow_private
        try:
            netguard.check_url(url, allow_private, allow=self.settings.allow)
        except netguard.BadURL as e:
            raise ApiError(Code.INVALID_ARGUMENT, f"invalid URL: {e}") from None
        except netguard.DestinationRefused:
            raise ApiError(Code.PERMISSION_DENIED, _REFUSED) from None

    async def check(self, url: str, *, allow_private: bool = False) -> None:
        """Raise unless ``url`` passes the rules now: its scheme, and the address of its host (a
        name is resolved through the guard). A later fetch is checked again, at connection time."""
        allow_private = allow_private or self.settings.allow_private
        self.check_literal(url, allow_private)
        parts = urlsplit(url)
        host = parts.hostname or ""
        if allow_private or netguard.is_public_address(host) or _is_ip(host):
            return
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if self._checker is None:
            self._checker = self._guard(False)
        try:
            async with asyncio.timeout(self.settings.timeout):
                await self._checker.resolve(host, port)
        except netguard.DestinationRefused:
            raise ApiError(Code.PERMISSION_DENIED, _REFUSED) from None
        except TimeoutError:
            raise ApiError(Code.DEADLINE_EXCEEDED, f"resolving {host} took too long") from None
        except OSError as e:
            raise ApiError(Code.UNAVAILABLE, f"cannot resolve {host}: {e}") from None

    # -- fetching -----------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def open(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        max_redirects: int | None = None,
        allow_private: bool = False,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """GET ``url``, checking every hop; yields the final response (any status), released on exit.

        Its body must be read inside the block; the time limit (``timeout``, else the settings')
        covers every hop and the body.
        """
        allow_private = allow_private or self.settings.allow_private
        hops = self.settings.max_redirects if max_redirects is None else min(max_redirects, REDIRECT_CAP)
        session = self._session(allow_private)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout or self.settings.timeout)
        response: aiohttp.ClientResponse | None = None
        for _ in range(hops + 1):
            self.check_literal(url, allow_private)
            left = deadline - loop.time()
            if left <= 0:
                raise ApiError(Code.DEADLINE_EXCEEDED, "the remote host did not answer in time")
            response = await self._request(session, url, headers, left)
            location = response.headers.get("Location")
            if response.status in _REDIRECTS and location:
                response.release()
                url = urljoin(url, location)
                continue
            break
        else:
            raise ApiError(Code.UNAVAILABLE, f"more than {hops} redirects")
        try:
            yield response
        finally:
            response.release()

    async def _request(
        self, session: aiohttp.ClientSession, url: str, headers: Mapping[str, str] | None, left: float
    ) -> aiohttp.ClientResponse:
        try:
            return await session.get(
                url,
                allow_redirects=False,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=left, connect=min(5.0, left)),
            )
        except aiohttp.ClientConnectorError as e:
            if isinstance(e.os_error, netguard.DestinationRefused):
                raise ApiError(Code.PERMISSION_DENIED, _REFUSED) from None
            raise ApiError(Code.UNAVAILABLE, f"cannot reach the remote host: {e.os_error}") from None
        except aiohttp.InvalidURL as e:
            raise ApiError(Code.INVALID_ARGUMENT, f"invalid URL: {e}") from None
        except TimeoutError:
            raise ApiError(Code.DEADLINE_EXCEEDED, "the remote host did not answer in time") from None
        except aiohttp.ClientError as e:
            raise ApiError(Code.UNAVAILABLE, f"cannot fetch the URL: {e}") from None

    async def get(self, url: str, *, max_bytes: int | None = None, **options: Any) -> Fetched:
        """:meth:`open`, with the body read up to ``max_bytes`` (else the settings' ``max_bytes``)."""
        cap = max_bytes or self.settings.max_bytes
        async with self.open(url, **options) as response:
            body = bytearray()
            truncated = False
            try:
                async for chunk in response.content.iter_chunked(CHUNK):
                    body += chunk
                    if len(body) > cap:
                        del body[cap:]
                        truncated = True
                        break
            except TimeoutError:
                raise ApiError(Code.DEADLINE_EXCEEDED, "the remote host did not answer in time") from None
            except aiohttp.ClientError as e:
                raise ApiError(Code.UNAVAILABLE, f"the answer broke off: {e}") from None
            return Fetched(str(response.url), response.status, response.headers, bytes(body), truncated)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True
