"""Placeholder: routes of this resource are being written."""

from aiohttp import web

routes = web.RouteTableDef()
