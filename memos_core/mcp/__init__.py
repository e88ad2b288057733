"""The built-in MCP endpoint: Streamable HTTP at ``/mcp`` for MCP clients.

One JSON-RPC message per ``POST``, answered with ``application/json`` (a notification or a client's
response gets 202). Sessions are upstream's: ``initialize`` hands out an ``Mcp-Session-Id``
(``mcp-session-<uuid>``), later requests must carry an id of that form, and nothing is kept on the
server, so any instance behind a load balancer can answer any request. ``DELETE`` ends a session
(200); ``GET`` is 405, as there is no server-to-client stream, and so is any other method (in the
Memos error shape).

Before any of that: an ``Origin`` must be the request's own host or ``MEMOS_INSTANCE_URL``
(else 403), cross-origin answers carry reflected CORS headers, and a bearer credential, if sent,
must be valid (else 401). It is resolved through ``memos_authenticate``, as for the API.

Routes: ``/mcp``, ``/mcp/readonly``, ``/mcp/x/{toolsets}``, ``/mcp/x/{toolsets}/readonly``.
Register with ``app.router.add_routes(memos_core.mcp.routes)``.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from aiohttp import hdrs, web

from .. import jsonbody
from ..context import context_of
from ..errors import ApiError, method_not_allowed
from ..services import memos as memo_service
from . import server
from .protocol import INVALID_REQUEST, PARSE_ERROR, PROTOCOL_VERSIONS, RpcError, error_response, parse_message
from .protocol import request_id_of as _request_id_of
from .tools import HEADER_EXCLUDE_TOOLS, HEADER_READONLY, HEADER_TOOLS, HEADER_TOOLSETS, Call, ToolConfig

log = logging.getLogger(__name__)

SESSION_HEADER = "Mcp-Session-Id"
VERSION_HEADER = "MCP-Protocol-Version"
SESSION_PREFIX = "mcp-session-"
_SESSION_RE = re.compile(
    "^" + SESSION_PREFIX + r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)

ALLOW_METHODS = "GET, POST, DELETE, OPTIONS"
ALLOW_HEADERS = ", ".join(
    (
        "Authorization",
        "Content-Type",
        "Accept",
        SESSION_HEADER,
        VERSION_HEADER,
        "Last-Event-ID",
        HEADER_READONLY,
        HEADER_TOOLSETS,
        HEADER_TOOLS,
        HEADER_EXCLUDE_TOOLS,
    )
)


# -- origin, CORS, credentials ---------------------------------------------------------------------
def allowed_origin(origin: str, host: str, instance_url: str) -> bool:
    """Same host as the request (scheme not compared), or scheme+host of the instance URL."""
    parsed = urlsplit(origin)
    if not parsed.scheme or not parsed.netloc:
        return False
    if host and parsed.netloc.lower() == host.lower():
        return True
    if not instance_url:
        return False
    instance = urlsplit(instance_url)
    if not instance.scheme or not instance.netloc:
        return False
    return parsed.scheme.lower() == instance.scheme.lower() and parsed.netloc.lower() == instance.netloc.lower()


def _message(status: int, message: str, headers: dict[str, str]) -> web.Response:
    return web.json_response({"message": message}, status=status, headers=headers)


def _rpc_error(status: int, id_: Any, error: RpcError, headers: dict[str, str]) -> web.Response:
    return _json(error_response(id_, error), headers, status=status)


def _json(body: Any, headers: dict[str, str], *, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        content_type="application/json",
        headers=headers,
    )


async def handle(request: web.Request) -> web.StreamResponse:
    ctx = context_of(request)
    origin = request.headers.get(hdrs.ORIGIN, "")
    headers: dict[str, str] = {}
    if origin:
        if not allowed_origin(origin, request.host, ctx.config.instance_url):
            return _message(403, "invalid origin", {})
        headers = {
            hdrs.VARY: "Origin",
            hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: origin,
            hdrs.ACCESS_CONTROL_ALLOW_HEADERS: ALLOW_HEADERS,
            hdrs.ACCESS_CONTROL_ALLOW_METHODS: ALLOW_METHODS,
            hdrs.ACCESS_CONTROL_EXPOSE_HEADERS: SESSION_HEADER,
        }
        if request.method == hdrs.METH_OPTIONS:
            return web.Response(status=204, headers=headers)

    try:
        viewer = await ctx.first("memos_authenticate", app=ctx.app, request=request)
    except ApiError:
        return _message(401, "invalid or expired token", headers)
    if viewer is None and request.headers.get(hdrs.AUTHORIZATION):
        return _message(401, "invalid or expired token", headers)

    if request.method == hdrs.METH_POST:
        return await _post(request, Call(ctx, viewer, ToolConfig.from_request(request)), headers)
    if request.method == hdrs.METH_DELETE:
        return web.Response(status=200, headers=headers)  # nothing is kept per session
    if request.method == hdrs.METH_GET:
        headers[hdrs.ALLOW] = "POST, DELETE"
        return web.Response(status=405, text="server-to-client streams are not supported", headers=headers)
    return method_not_allowed((hdrs.METH_POST, hdrs.METH_DELETE), headers)


def _accepts_json(accept: str) -> bool:
    if not accept.strip():
        return True
    for part in accept.split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media in ("application/json", "application/*", "*/*"):
            return True
    return False


async def _post(request: web.Request, call: Call, headers: dict[str, str]) -> web.StreamResponse:
    if request.content_type != "application/json":
        error = RpcError(INVALID_REQUEST, "Invalid content type: must be 'application/json'")
        return _rpc_error(400, None, error, headers)
    if not _accepts_json(request.headers.get(hdrs.ACCEPT, "")):
        error = RpcError(INVALID_REQUEST, "Not Acceptable: client must accept application/json")
        return _rpc_error(406, None, error, headers)
    version = request.headers.get(VERSION_HEADER)
    if version is not None and version not in PROTOCOL_VERSIONS:
        error = RpcError(INVALID_REQUEST, f"Unsupported protocol version: {version}")
        return _rpc_error(400, None, error, headers)

    # Decoded once, by the API's own decoder and limits; memo content may need more room than the
    # default, as far as the instance's content length limit allows.
    try:
        data = jsonbody.decode(
            await jsonbody.read_body(request, larger_limit=lambda: memo_service.max_body_bytes(call.ctx))
        )
    except jsonbody.BodyTooLarge as e:
        return _rpc_error(413, None, RpcError(INVALID_REQUEST, e.message), headers)
    except jsonbody.InvalidJSON as e:
        return _rpc_error(400, None, RpcError(PARSE_ERROR, e.message), headers)
    try:
        message = parse_message(data)
    except RpcError as e:
        return _rpc_error(400, _request_id_of(data), e, headers)
    if message is None:
        return web.Response(status=202, headers=headers)

    if message.method == "initialize":
        headers[SESSION_HEADER] = SESSION_PREFIX + str(uuid.uuid4())
    elif not _SESSION_RE.match(request.headers.get(SESSION_HEADER, "")):
        return web.Response(status=400, text="Invalid session ID", headers=headers)

    response = await server.handle(call, message)
    if response is None:
        return web.Response(status=202, headers=headers)
    return _json(response, headers)


routes = web.RouteTableDef()
for _path in ("/mcp", "/mcp/readonly", "/mcp/x/{toolsets}", "/mcp/x/{toolsets}/readonly"):
    routes.route("*", _path)(handle)

__all__ = ["allowed_origin", "handle", "routes"]
