"""AIService (SPEC §9): transcription through the instance's configured AI providers."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
