"""``GET /api/v1/sse``: live refresh as Server-Sent Events (SPEC §2.3).

Only a Bearer credential (access JWT or PAT) opens a stream: cookies and query tokens are refused
with upstream's own 401 body. The stream holds no database connection while it waits.
"""

from __future__ import annotations

from aiohttp import web

from ...context import context_of, viewer_of
from ...handlers import no_db_connection
from ...live import Closed

routes = web.RouteTableDef()

HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",
}


@routes.get("/sse", name="SSE.Subscribe")
@no_db_connection
async def subscribe(request: web.Request) -> web.StreamResponse:
    viewer = viewer_of(request)
    bearer = request.headers.get("Authorization", "").lower().startswith("bearer ")
    if viewer is None or not bearer:
        return web.json_response({"error": "authentication required"}, status=401)
    ctx = context_of(request)
    hub = ctx.live
    subscriber = await hub.subscribe(viewer)
    response = web.StreamResponse(headers=HEADERS)
    try:
        await response.prepare(request)
        while True:
            try:
                frame = await subscriber.next(ctx.config.live_heartbeat)
            except Closed:
                break
            await response.write((frame or ": heartbeat\n\n").encode())
        return response
    except (ConnectionResetError, ConnectionError):
        return response  # the client went away
    finally:
        hub.unsubscribe(subscriber)
