"""Answers of read routes served again while the database is unchanged.

Clients poll: a mobile app refreshes its memo list, an assistant re-reads its memories. When nothing
was committed since an answer was built, building it again would give the same bytes, so the API
keeps the answers of a few read routes (:data:`ROUTES`) and serves one again when all of these hold:

* the database's change mark (:meth:`memos_core.store.Driver.change_mark`: SQLite's
  ``data_version``, PostgreSQL's snapshot) equals the one read before the answer was built. Any
  commit by any connection, process or app instance changes the mark, so a memo written, a token
  deleted or a user archived anywhere is seen by the very next request on every instance;
* the request is the same: method, path and query, and the headers an answer may depend on
  (credentials, cookies, host and forwarding headers);
* the credential that authenticated it has not expired (a token's own expiry), and a personal
  access token's answers are rebuilt at least once a minute, so its "last used" time keeps being
  recorded as it is without the cache.

An answer is kept only when it was a 200 for an anonymous caller or one authenticated by the core's
access tokens or personal access tokens, and only while the core's auth plugin is the only one:
another ``memos_authenticate`` implementation may decide on things this key does not hold. Filters
using ``now()`` are never cached (their answer changes with time alone). A database without a
change mark (MySQL, MariaDB) caches nothing.

The cache holds at most ``MEMOS_RESPONSE_CACHE_MB`` megabytes (16 by default; 0 turns it off) and
forgets the least recently used answers first. Nothing in it is authoritative: it is per process
and every use is checked against the database.
"""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from aiohttp import web
from aiohttp.web_urldispatcher import MatchInfoError

from .auth import PRINCIPAL
from .context import CONTEXT

#: Read routes whose answer is a function of the database, the caller and the request alone.
ROUTES = frozenset(
    {
        "MemoService.ListMemos",
        "MemoService.GetMemo",
        "MemoService.ListMemoComments",
        "MemoService.ListMemoReactions",
        "MemoService.ListMemoRelations",
        "MemoService.ListMemoAttachments",
        "UserService.GetUser",
        "UserService.GetUserStats",
        "UserService.ListAllUserStats",
    }
)

#: Request headers an answer may depend on, beside the method, path and query.
KEY_HEADERS = ("Authorization", "Cookie", "Host", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded")

#: Seconds an answer for a personal access token is served before the request goes through again
#: (the core records a token's last use at most once a minute).
PAT_RECHECK = 60.0

#: Answers larger than this share of the cache are never kept.
LARGEST_SHARE = 0.25

#: Principal methods of the core's auth plugin.
_CACHEABLE_METHODS = frozenset({"pat", "access_token"})


@dataclasses.dataclass(frozen=True)
class Entry:
    mark: Hashable
    body: bytes
    content_type: str  # the whole Content-Type header
    valid_until: float  # epoch seconds; inf when only the mark limits it


class ResponseCache:
    """Least recently used answers by request key, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple[str, ...], Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[str, ...], mark: Hashable, now: float) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None or entry.mark != mark or entry.valid_until <= now:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry

    def put(self, key: tuple[str, ...], entry: Entry) -> None:
        if len(entry.body) > self.max_bytes * LARGEST_SHARE:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= len(old.body)
        self._entries[key] = entry
        self.size += len(entry.body)
        while self.size > self.max_bytes:
            _, dropped = self._entries.popitem(last=False)
            self.size -= len(dropped.body)

    def clear(self) -> None:
        self._entries.clear()
        self.size = 0


RESPONSE_CACHE = web.AppKey("memos_response_cache", ResponseCache)


def install(app: web.Application, ctx: Any) -> None:
    """Give the app a cache when the configuration and the installed plugins allow one."""
    if ctx.config.response_cache_mb <= 0:
        return
    from .auth import plugin as core_auth

    impls = ctx.plugins.pm.hook.memos_authenticate.get_hookimpls()
    if [impl.plugin for impl in impls] != [core_auth]:
        return  # another plugin authenticates: it may look at what the key does not hold
    app[RESPONSE_CACHE] = ResponseCache(int(ctx.config.response_cache_mb * 1024 * 1024))


def _key(request: web.Request) -> tuple[str, ...]:
    headers = request.headers
    return (request.method, request.raw_path, *(headers.get(h, "") for h in KEY_HEADERS))


def _cacheable_request(request: web.Request) -> bool:
    if request.method != "GET" or isinstance(request.match_info, MatchInfoError):
        return False
    if request.match_info.route.name not in ROUTES:
        return False
    # A filter calling now() answers differently as time passes (a search for "know" does not).
    return "now" not in request.query.get("filter", "")


def _valid_until(request: web.Request, now: float) -> float | None:
    """How long the answer to ``request`` may be served again; ``None``: not at all."""
    principal = request.get(PRINCIPAL)
    if principal is None:
        return float("inf")
    if principal.method not in _CACHEABLE_METHODS:
        return None
    until = principal.expires_at or float("inf")
    if principal.method == "pat":
        until = min(until, now + PAT_RECHECK)
    return until


@web.middleware
async def response_cache_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Serve a kept answer when the database is unchanged; keep new answers of :data:`ROUTES`.
    Runs before authentication: a kept answer was authenticated with the same credential against
    the same database state, and the credential has not expired since. And before the request
    takes a pooled connection: the change mark is read without one, and a kept answer needs none."""
    cache = request.app.get(RESPONSE_CACHE)
    if cache is None or not _cacheable_request(request):
        return await handler(request)
    store = request.config_dict[CONTEXT].store
    mark = await store.change_mark()
    if mark is None:
        return await handler(request)
    key = _key(request)
    now = time.time()
    entry = cache.get(key, mark, now)
    if entry is not None:
        return web.Response(body=entry.body, headers={"Content-Type": entry.content_type})
    response = await handler(request)
    if response.status == 200 and isinstance(response, web.Response) and isinstance(response.body, bytes):
        until = _valid_until(request, now)
        if until is not None and until > now:
            cache.put(key, Entry(mark, response.body, response.headers["Content-Type"], until))
    return response
