"""AIService: transcription through the instance's configured AI providers."""

from __future__ import annotations

from aiohttp import web

from ...context import context_of, viewer_of
from ...handlers import no_db_connection
from ...jsonbody import base64_body_bytes
from ...services import ai as ai_service
from .jsonutil import json_body, json_response

routes = web.RouteTableDef()


@routes.post("/ai:transcribe", name="AIService.Transcribe")
@no_db_connection  # the provider call can take minutes; the service reads the AI setting on its own connection
async def transcribe(request: web.Request) -> web.Response:
    """``body: "*"``: the whole TranscribeRequest; the answer is ``{"text"}``."""
    body = await json_body(request, base64_body_bytes(ai_service.MAX_AUDIO_BYTES))  # audio rides as base64
    return json_response(await ai_service.transcribe(context_of(request), viewer_of(request), body))
