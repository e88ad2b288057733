"""CORS for the REST gateway group (``/api/v1/*``, SPEC §2.4 table): any origin, no credentials.

Headers are added in ``on_response_prepare``, so streamed responses (which send their headers
before the handler returns) get them too; preflights are answered by a middleware before routing
can turn an ``OPTIONS`` into 405. File, RSS and health routes get no CORS headers, as upstream.
"""

from __future__ import annotations

from aiohttp import hdrs, web

ALLOW_METHODS = "GET,HEAD,PUT,PATCH,POST,DELETE"


def _is_preflight(request: web.Request) -> bool:
    return (
        request.method == hdrs.METH_OPTIONS
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
    if hdrs.ORIGIN not in request.headers:
        return
    response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = "*"
    response.headers.add(hdrs.VARY, "Origin")


def enable_cors(app: web.Application) -> None:
    """Install on a sub-application before it is frozen; the preflight middleware must come first."""
    app.middlewares.insert(0, preflight_middleware)
    app.on_response_prepare.append(add_cors_headers)
