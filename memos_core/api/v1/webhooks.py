"""UserService webhooks (SPEC §5.6): list, create, update and delete a user's webhooks."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
