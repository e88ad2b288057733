"""Operations: the request middleware (request id, route, timing), ``GET /metrics`` and its access
rule, and the log format (plain text, or JSON lines with ``MEMOS_LOG_FORMAT=json``).

Every request gets an id: the caller's ``X-Request-Id`` when it is a sane token (1-128 characters
of ``A-Z a-z 0-9 . _ : + / = -``), else a new random one; it is echoed in the response's
``X-Request-Id``, written in the access log line and, in JSON logs, on every record logged while
the request is handled.

Requests are labelled by route, never by raw path, so the label set stays bounded: the route's name
(the API's RPC names such as ``MemoService.ListMemos``) or else its path template
(``/file/attachments/{uid}/{filename}``); ``unmatched`` for paths no route serves.

``GET /metrics`` (``MEMOS_METRICS``):

* ``loopback`` (default): served only when the connection itself comes from a loopback address and
  carries no proxy header (``X-Forwarded-For``, ``X-Real-IP``, ``Forwarded``), so a reverse proxy on
  the same host does not publish it; anyone else gets the same 404 as an unknown path.
* ``off``: no such route (404).
* ``token:<secret>``: served to any address presenting ``Authorization: Bearer <secret>``; 401
  otherwise.
"""

from __future__ import annotations

import contextvars
import datetime
import hmac
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from . import metrics
from .clientip import client_ip, parse_address
from .config import Config, parse_metrics
from .context import CONTEXT
from .errors import Code, error_response, http_error_response
from .handlers import no_db_connection

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
#: The request's id (``request[REQUEST_ID]``), for handlers and the access log.
REQUEST_ID = web.RequestKey("memos_request_id", str) if hasattr(web, "RequestKey") else "memos_request_id"
_SANE_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")
_PROXY_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")
#: The id of the request being handled by the current task, for log records.
current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("memos_request_id", default="")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def request_id_for(incoming: str | None) -> str:
    """The caller's id if it is a sane token (no spaces, quotes or control characters to forge log
    lines with), else 128 random bits in hex."""
    if incoming and _SANE_ID.fullmatch(incoming):
        return incoming
    return os.urandom(16).hex()


def route_label(request: web.BaseRequest) -> str:
    """The route's name, else its path template; ``unmatched`` when no route matched."""
    match_info = getattr(request, "match_info", None)
    resource = match_info.route.resource if match_info is not None else None
    if resource is None:
        return "unmatched"
    return resource.name or resource.canonical


def middleware(config: Config) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """The outermost middleware: the request id, and the request's count and time by route and status
    (not kept when metrics are off)."""
    count = config.metrics != "off"

    @web.middleware
    async def observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER))
        request[REQUEST_ID] = request_id
        token = current_request_id.set(request_id)
        start = time.perf_counter()
        status = 500  # an exception other than an HTTP one becomes aiohttp's 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as e:
            status = e.status
            raise
        finally:
            current_request_id.reset(token)
            if count:
                elapsed = time.perf_counter() - start
                key = (request.method, route_label(request), status)
                series = _series.get(key) or _new_series(key)
                series[0].inc()
                series[1].observe(elapsed)

    return observe_middleware


#: The labelled children of the request metrics by (method, route, status): ``labels()`` costs more
#: than counting; bounded as the labels are.
_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _new_series(key: tuple[str, str, int]) -> tuple[Any, Any]:
    method, route, status = key
    series = (metrics.HTTP_REQUESTS.labels(method, route, str(status)), metrics.HTTP_SECONDS.labels(method, route))
    _series[key] = series
    return series


async def _echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """Every response, streamed ones and error pages included, names the request's id."""
    request_id = request.get(REQUEST_ID)
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id


# -- GET /metrics --------------------------------------------------------------------------------------
def _direct_peer_is_loopback(request: web.Request) -> bool:
    """The connection itself, not a forwarded address, comes from loopback, and no proxy relayed it."""
    if any(name in request.headers for name in _PROXY_HEADERS):
        return False
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    if not isinstance(peer, tuple) or not peer:  # a unix socket peer has no address
        return False
    address = parse_address(str(peer[0]))
    return address is not None and address.is_loopback


def _bearer_matches(request: web.Request, secret: str) -> bool:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), secret.encode())


def _pool_families(store: Any) -> list[Metric]:
    """Connection pool use, where the driver's pool says it. ``databases`` keeps the driver's pool on
    its backend without a public accessor, so it is read duck-typed: asyncpg (PostgreSQL) and aiomysql
    (MySQL) report size, idle and maximum; memos-py's SQLite backend opens connections on demand and
    keeps a few idle ones, with no fixed size to report, so it has no pool gauges."""
    pool = getattr(getattr(store.db, "_backend", None), "_pool", None)
    if pool is None:
        return []
    if hasattr(pool, "get_idle_size"):  # asyncpg
        size, idle, most = pool.get_size(), pool.get_idle_size(), pool.get_max_size()
    elif hasattr(pool, "freesize"):  # aiomysql
        size, idle, most = pool.size, pool.freesize, pool.maxsize
    else:
        return []
    in_use = GaugeMetricFamily(
        "memos_db_pool_connections", "Connections of the database pool, by state.", labels=["state"]
    )
    in_use.add_metric(["idle"], idle)
    in_use.add_metric(["in_use"], size - idle)
    return [in_use, GaugeMetricFamily("memos_db_pool_max_connections", "The pool's maximum size.", value=most)]


async def render(app: web.Application) -> bytes:
    """The page ``/metrics`` serves: the process's (or every worker's) counters and histograms,
    then the values read now for ``app``: its pool and the plugins' :func:`metrics.gauge_at_scrape`."""
    body = generate_latest(metrics.registry())
    live = CollectorRegistry(auto_describe=False)
    families = _pool_families(app[CONTEXT].store) + await metrics.read_scrape_gauges(app)
    live.register(metrics.Families(families))
    return body + generate_latest(live)


def _metrics_handler(config: Config) -> Handler:
    rule = config.metrics

    @no_db_connection  # a gauge reading the database takes a connection of its own, briefly
    async def serve_metrics(request: web.Request) -> web.StreamResponse:
        if rule == "loopback":
            if not _direct_peer_is_loopback(request):
                return http_error_response(web.HTTPNotFound())  # as an unknown path: nothing to see
        elif not _bearer_matches(request, rule.removeprefix("token:")):
            return error_response(
                Code.UNAUTHENTICATED, "a bearer token is required", {"WWW-Authenticate": 'Bearer realm="metrics"'}
            )
        body = await render(request.app)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return serve_metrics


def install(app: web.Application, config: Config) -> None:
    """Echo request ids and, unless ``MEMOS_METRICS=off``, serve ``GET /metrics`` (the middleware
    itself is listed first in the app's middlewares by the factory)."""
    parse_metrics(config.metrics)  # a Config built in code is checked as the environment's is
    app.on_response_prepare.append(_echo_request_id)
    if config.metrics != "off":
        app.router.add_get("/metrics", _metrics_handler(config), name="metrics")


# -- logs ------------------------------------------------------------------------------------------------
class AccessLogger(AbstractAccessLogger):
    """``memos serve``'s access log: one line per request. In text, the combined log format's fields
    (client, request line, status, size, referer, user agent) then ``route=``, ``duration_ms=`` and
    ``request_id=``; in JSON (``MEMOS_LOG_FORMAT=json``) the same as fields of one object. The client
    is the address :func:`memos_core.clientip.client_ip` resolves (the one the throttle counts), and
    query secrets are masked by :func:`redact`."""

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        client = (client_ip(request) if isinstance(request, web.Request) else request.remote) or "-"
        route = route_label(request)
        request_id = request.get(REQUEST_ID) or "-"
        path = redact(request.path_qs)
        referer = redact(request.headers.get("Referer", "-"))
        agent = request.headers.get("User-Agent", "-")
        ms = round(time * 1000, 2)
        fields = {
            "client": client,
            "method": request.method,
            "path": path,
            "route": route,
            "status": response.status,
            "bytes": response.body_length,
            "duration_ms": ms,
            "request_id": request_id,
            "referer": referer,
            "user_agent": agent,
        }
        self.logger.info(
            '%s "%s %s HTTP/%d.%d" %d %d "%s" "%s" route=%s duration_ms=%.2f request_id=%s',
            client,
            request.method,
            path,
            request.version.major,
            request.version.minor,
            response.status,
            response.body_length,
            referer,
            agent,
            route,
            ms,
            request_id,
            extra={"access": fields},
        )


_SECRET_QUERY = re.compile(r"(?<=[?&])(token=)[^&#]*")


def redact(url: str) -> str:
    """``url`` with the values of secret query parameters (a password reset link's ``token``) as ``***``."""
    return _SECRET_QUERY.sub(r"\1***", url) if "token=" in url else url


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the request id when
    logged while a request is handled, an access record's fields, and the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id.get()
        if request_id:
            out["request_id"] = request_id
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            out.update(access)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(log_format: str) -> None:
    """The process's logging for ``memos serve``: INFO and up on stderr, as text or JSON lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=logging.INFO, handlers=[handler])


__all__ = [
    "REQUEST_ID",
    "REQUEST_ID_HEADER",
    "AccessLogger",
    "JsonFormatter",
    "configure_logging",
    "current_request_id",
    "install",
    "middleware",
    "redact",
    "render",
    "request_id_for",
    "route_label",
]
