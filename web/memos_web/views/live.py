"""``GET /web/live``: the core's live events for open pages, authenticated by the session cookie.

``/api/v1/sse`` takes Bearer credentials only, and pages hold no token that script could read, so
pages listen here instead: the same stream, the same rule about who sees which event (the core's
:func:`memos_core.live.serve_events`), opened with the HttpOnly refresh cookie. No database
connection is held while the stream waits; at each heartbeat the session is checked again, so a
sign-out elsewhere ends the stream.
"""

from __future__ import annotations

from aiohttp import web

from memos_core import Code, context_of, error_response, no_db_connection, serve_events, viewer_of
from memos_core.auth.cookies import refresh_cookie_of
from memos_core.services import auth as auth_service

routes = web.RouteTableDef()


@routes.get("/web/live", name="web.live")
@no_db_connection
async def live(request: web.Request) -> web.StreamResponse:
    viewer = viewer_of(request)
    if viewer is None:
        return error_response(Code.UNAUTHENTICATED, "sign in to receive live updates")
    ctx = context_of(request)
    refresh = refresh_cookie_of(request)

    async def still_signed_in() -> bool:
        principal = await auth_service.session_principal(ctx, refresh)
        return principal is not None and principal.id == viewer.id

    return await serve_events(
        request, viewer, still_valid=still_signed_in, headers={"X-Content-Type-Options": "nosniff"}
    )
