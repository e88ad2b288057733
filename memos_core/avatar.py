"""``GET /file/users/{username}/avatar``: the bytes of an avatar stored as a data URI.

Public, looked up by exact username. A missing user or an empty avatar is 404; an avatar that is a
plain URL (set by an identity provider) is 404 here too, since clients use that URL directly
(upstream answers 500); an unsupported image type is 400.
"""

from __future__ import annotations

import base64
import binascii
import re

from aiohttp import web

from .context import context_of
from .store import users as users_store

routes = web.RouteTableDef()

ALLOWED_TYPES = ("image/png", "image/jpeg", "image/jpg", "image/gif", "image/webp", "image/heic", "image/heif")
_DATA_URI = re.compile(r"^data:([^;,]+);base64,(.*)$", re.DOTALL)
HEADERS = {
    "Cache-Control": "public, max-age=3600",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline';",
}


@routes.get("/file/users/{username}/avatar", name="UserService.GetUserAvatar")
async def get_user_avatar(request: web.Request) -> web.Response:
    username = request.match_info["username"]
    user = await users_store.get_user(context_of(request).store, username=username)
    if user is None or user.username != username or not user.avatar_url:
        raise web.HTTPNotFound(text="avatar not found")
    m = _DATA_URI.match(user.avatar_url)
    if m is None:
        raise web.HTTPNotFound(text="avatar is not stored on this server")
    mime = m.group(1).strip().lower()
    if mime not in ALLOWED_TYPES:
        raise web.HTTPBadRequest(text=f"unsupported avatar type {mime}")
    try:
        data = base64.b64decode(m.group(2), validate=True)
    except (binascii.Error, ValueError):
        raise web.HTTPNotFound(text="avatar data is corrupt") from None
    return web.Response(body=data, content_type=mime, headers=HEADERS)
