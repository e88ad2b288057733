"""CORS for the REST gateway group (every path under ``/api/v1/``): any origin, no credentials, as
upstream's gateway answers.

Installed on the main application and scoped by path, so routes plugins add under ``/api/v1/`` (link
metadata, the test email) answer cross-origin callers exactly as the core's own do. Headers are
added in ``on_response_prepare``, so streamed responses (which send their headers before the handler
returns) get them too; preflights are answered by a middleware before routing can turn an
``OPTIONS`` into 405. File, RSS and health routes get no CORS headers, as upstream.
"""

from __future__ import annotations

from aiohttp import hdrs, web

ALLOW_METHODS = "GET,HEAD,PUT,PATCH,POST,DELETE"
PREFIX = "/api/v1/"


def _is_preflight(request: web.Request) -> bool:
    return (
        request.method == hdrs.METH_OPTIONS
        and request.path.startswith(PREFIX)
        and hdrs.ORIGIN in request.headers
        and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
    )


@web.middleware
async def preflight_middleware(request: web.Request, handler):
    if not _is_preflight(request):
        return await handler(request)
    response = web.Response(status=204)
    response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = ALLOW_METHODS
    requested = request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_HEADERS)
    if requested:
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = requested
    response.headers.add(hdrs.VARY, "Access-Control-Request-Method")
    response.headers.add(hdrs.VARY, "Access-Control-Request-Headers")
    return response


async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer to a cross-origin request, errors and streams included, may be read by any origin."""
    if hdrs.ORIGIN not in request.headers or not request.path.startswith(PREFIX):
        return
    response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = "*"
    response.headers.add(hdrs.VARY, "Origin")
