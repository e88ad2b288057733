"""``GET /api/v1/sse``: live refresh as Server-Sent Events.

Only a Bearer credential (access JWT or PAT) opens a stream: cookies and query tokens are refused
with upstream's own 401 body. The stream holds no database connection while it waits.
"""

from __future__ import annotations

from aiohttp import web

from ...context import viewer_of
from ...handlers import no_db_connection
from ...live import serve_events

routes = web.RouteTableDef()


@routes.get("/sse", name="SSE.Subscribe")
@no_db_connection
async def subscribe(request: web.Request) -> web.StreamResponse:
    viewer = viewer_of(request)
    bearer = request.headers.get("Authorization", "").lower().startswith("bearer ")
    if viewer is None or not bearer:
        return web.json_response({"error": "authentication required"}, status=401)
    return await serve_events(request, viewer)
