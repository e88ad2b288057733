"""AIService.Transcribe over HTTP, against a fake OpenAI and Gemini on a local port.

The fake provider records what it receives, so each test checks both ends: the request memos-py
sends (model, key, multipart fields or inline data, prompt and language) and the answer it gives.
Providers are configured the way an admin does it, through PATCH /api/v1/instance/settings/AI.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from typing import Any

import pytest
from aiohttp import web

from memos_core.services import ai as ai_service

URL = "/api/v1/ai:transcribe"
OPENAI_KEY = "sk-test-openai-0123456789"
GEMINI_KEY = "AIza-test-gemini-987654"
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 4  # an ID3 tag: sniffed as audio/mpeg
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 64


class FakeProvider:
    """One server playing both providers. ``mode`` picks the answer: ok, error, slow, garbage, empty."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.calls: list[dict[str, Any]] = []

    async def openai(self, request: web.Request) -> web.StreamResponse:
        fields: dict[str, Any] = {}
        reader = await request.multipart()
        async for part in reader:
            data = await part.read()
            if part.filename is not None:
                fields[part.name] = {"filename": part.filename, "type": part.headers.get("Content-Type"), "data": data}
            else:
                fields[part.name] = data.decode()
        self.calls.append({"path": request.path, "auth": request.headers.get("Authorization"), "fields": fields})
        return await self._answer({"text": "hello from openai"})

    async def gemini(self, request: web.Request) -> web.StreamResponse:
        self.calls.append(
            {
                "path": request.path,
                "key": request.headers.get("x-goog-api-key"),
                "query": dict(request.query),
                "json": await request.json(),
            }
        )
        return await self._answer({"candidates": [{"content": {"parts": [{"text": "  hello "}, {"text": "gemini "}]}}]})

    async def _answer(self, ok: dict[str, Any]) -> web.StreamResponse:
        if self.mode == "error":
            return web.json_response({"error": {"message": "the model is overloaded", "code": 500}}, status=500)
        if self.mode == "slow":
            await asyncio.sleep(2)
        if self.mode == "garbage":
            return web.Response(text="<html>not json</html>", content_type="text/html")
        if self.mode == "empty":
            return web.json_response({"candidates": []})
        return web.json_response(ok)


@pytest.fixture
async def fake(aiohttp_server):
    provider = FakeProvider()
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/audio/transcriptions", provider.openai)
    app.router.add_post("/v1beta/models/{call}", provider.gemini)
    app.router.add_post("/custom/v1/models/{call}", provider.gemini)
    provider.server = await aiohttp_server(app)
    return provider


@pytest.fixture
async def admin(memos_users):
    return await memos_users("root", role="ADMIN")


@pytest.fixture
async def user(memos_users):
    return await memos_users("plain")


@pytest.fixture
async def providers(memos_client, admin, fake):
    """Configure ``oa`` (OpenAI) and ``gm`` (Gemini) on the fake server, as an admin would."""
    return await configure(
        memos_client,
        admin,
        [
            {"id": "oa", "title": "OpenAI", "type": "OPENAI", "endpoint": str(fake.server.make_url("/v1")) + "/"},
            {"id": "gm", "title": "Gemini", "type": "GEMINI", "endpoint": str(fake.server.make_url("/v1beta"))},
        ],
    )


async def configure(client, admin, providers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = {"OPENAI": OPENAI_KEY, "GEMINI": GEMINI_KEY}
    body = {"aiSetting": {"providers": [{"apiKey": keys.get(p["type"], "k" * 12), **p} for p in providers]}}
    r = await client.patch("/api/v1/instance/settings/AI", json=body, headers=admin.headers)
    assert r.status == 200, await r.text()
    return (await r.json())["aiSetting"]["providers"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def request(provider: str = "oa", audio: bytes = MP3, **audio_fields: Any) -> dict[str, Any]:
    config = {k: audio_fields.pop(k) for k in ("prompt", "language") if k in audio_fields}
    return {"providerId": provider, "config": config, "audio": {"content": b64(audio), **audio_fields}}


async def call(client, headers, body) -> tuple[int, Any]:
    # a stream body: aiohttp warns about large bytes bodies (and warnings are errors here)
    data = io.BytesIO(json.dumps(body).encode())
    r = await client.post(URL, data=data, headers={**headers, "Content-Type": "application/json"})
    return r.status, await r.json()


async def expect_error(client, headers, body, status: int, code: int, message: str | None = None) -> dict:
    got_status, got = await call(client, headers, body)
    assert (got_status, got["code"]) == (status, code), got
    assert set(got) == {"code", "message", "details"}
    if message is not None:
        assert got["message"] == message
    return got


# -- the providers ---------------------------------------------------------------------------------
async def test_openai_multipart_request_and_text(memos_client, user, fake, providers):
    body = request(
        "oa",
        prompt="  Names: Memos, aiohttp ",
        language=" en ",
        filename="note\r\n1.webm",
        contentType="audio/webm;codecs=opus",
    )
    status, got = await call(memos_client, user.headers, body)
    assert status == 200, got
    assert got == {"text": "hello from openai"}
    [seen] = fake.calls
    assert seen["path"] == "/v1/audio/transcriptions"  # the configured endpoint's trailing "/" is dropped
    assert seen["auth"] == f"Bearer {OPENAI_KEY}"
    fields = seen["fields"]
    assert fields["model"] == "gpt-4o-transcribe"
    assert fields["response_format"] == "json"
    assert fields["prompt"] == "Names: Memos, aiohttp"
    assert fields["language"] == "en"
    assert fields["file"] == {"filename": "note__1.webm", "type": "audio/webm", "data": MP3}


async def test_openai_optional_fields_left_out_and_type_sniffed(memos_client, user, fake, providers):
    status, got = await call(
        memos_client, user.headers, {"provider_id": "oa", "config": {}, "audio": {"content": b64(MP3)}}
    )
    assert status == 200, got
    [seen] = fake.calls
    assert set(seen["fields"]) == {"file", "model", "response_format"}
    assert seen["fields"]["file"]["filename"] == "audio"
    assert seen["fields"]["file"]["type"] == "audio/mpeg"  # sniffed from the ID3 tag


async def test_gemini_generate_content_with_inline_audio(memos_client, user, fake, providers):
    body = request("gm", audio=WAV, prompt="Kubernetes", language="de", contentType="audio/x-wav")
    status, got = await call(memos_client, user.headers, body)
    assert status == 200, got
    assert got == {"text": "hello gemini"}  # text parts joined, trimmed
    [seen] = fake.calls
    assert seen["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert seen["key"] == GEMINI_KEY and "key" not in seen["query"]
    [content] = seen["json"]["contents"]
    assert content["role"] == "user"
    inline, text = content["parts"]
    assert inline == {"inlineData": {"mimeType": "audio/wav", "data": b64(WAV)}}
    assert text["text"].startswith("Transcribe the audio accurately.")
    assert "The input language is de." in text["text"]
    assert text["text"].endswith("Context and spelling hints:\nKubernetes")
    assert seen["json"]["generationConfig"] == {"temperature": 0}


async def test_openai_filename_is_sent_as_utf8(memos_client, user, fake, providers):
    status, got = await call(memos_client, user.headers, request("oa", filename='Sprachnotiz "é".mp3'))
    assert status == 200, got
    assert fake.calls[0]["fields"]["file"]["filename"] == 'Sprachnotiz "é".mp3'


async def test_gemini_endpoint_version_is_taken_from_the_endpoint(memos_client, admin, user, fake):
    await configure(
        memos_client,
        admin,
        [{"id": "gm", "title": "Gemini", "type": "GEMINI", "endpoint": str(fake.server.make_url("/custom/v1/"))}],
    )
    status, got = await call(memos_client, user.headers, request("gm", audio=WAV, contentType="audio/wav"))
    assert status == 200, got
    assert fake.calls[0]["path"] == "/custom/v1/models/gemini-2.5-flash:generateContent"
    assert fake.calls[0]["json"]["contents"][0]["parts"][1]["text"] == ai_service.GEMINI_INSTRUCTION


async def test_gemini_refuses_audio_it_cannot_take(memos_client, user, fake, providers):
    got = await expect_error(memos_client, user.headers, request("gm", contentType="audio/webm"), 500, 13)
    assert got["message"] == 'failed to transcribe audio: audio content type "audio/webm" is not supported by Gemini'
    assert fake.calls == []


async def test_gemini_inline_limit(memos_client, user, fake, providers):
    big = b"\x00" * (14 * 1024 * 1024 + 1)
    got = await expect_error(memos_client, user.headers, request("gm", audio=big, contentType="audio/mpeg"), 500, 13)
    assert got["message"] == (
        "failed to transcribe audio: audio is too large for Gemini inline transcription; maximum size is 14680064 bytes"
    )
    assert fake.calls == []


# -- provider failures -----------------------------------------------------------------------------
@pytest.mark.parametrize("provider", ["oa", "gm"])
async def test_provider_error_is_a_clear_internal_error(memos_client, user, fake, providers, provider):
    fake.mode = "error"
    got = await expect_error(memos_client, user.headers, request(provider, audio=WAV, contentType="audio/wav"), 500, 13)
    assert got["message"].startswith("failed to transcribe audio: failed to send ")
    assert "500 Internal Server Error: the model is overloaded" in got["message"]
    assert OPENAI_KEY not in got["message"] and GEMINI_KEY not in got["message"]


@pytest.mark.parametrize("provider", ["oa", "gm"])
async def test_provider_garbage_is_a_clear_internal_error(memos_client, user, fake, providers, provider):
    fake.mode = "garbage"
    got = await expect_error(memos_client, user.headers, request(provider, audio=WAV, contentType="audio/wav"), 500, 13)
    assert got["message"].startswith("failed to transcribe audio: failed to send ")
    assert got["message"].endswith("the answer is not JSON")


async def test_oversized_answer_is_refused(memos_client, user, fake, providers, monkeypatch):
    monkeypatch.setattr(ai_service, "MAX_ANSWER_BYTES", 8)
    got = await expect_error(memos_client, user.headers, request("oa"), 500, 13)
    assert got["message"].endswith("the answer is larger than 8 bytes")


async def test_gemini_without_text_is_an_error(memos_client, user, fake, providers):
    fake.mode = "empty"
    await expect_error(
        memos_client,
        user.headers,
        request("gm", audio=WAV, contentType="audio/wav"),
        500,
        13,
        "failed to transcribe audio: Gemini transcription response did not include text",
    )


@pytest.mark.parametrize("provider", ["oa", "gm"])
async def test_provider_timeout(memos_client, user, fake, providers, provider, monkeypatch):
    monkeypatch.setattr(ai_service, "TIMEOUT", 0.2)
    fake.mode = "slow"
    got = await expect_error(memos_client, user.headers, request(provider, audio=WAV, contentType="audio/wav"), 500, 13)
    assert got["message"].endswith("no answer within 0.2 seconds")


async def test_unreachable_provider(memos_client, admin, user, unused_tcp_port):
    endpoint = f"http://127.0.0.1:{unused_tcp_port}/v1"
    await configure(memos_client, admin, [{"id": "oa", "title": "Down", "type": "OPENAI", "endpoint": endpoint}])
    got = await expect_error(memos_client, user.headers, request("oa"), 500, 13)
    assert got["message"].startswith(
        f'failed to transcribe audio: failed to send OpenAI transcription request: POST "{endpoint}'
    )


async def test_endpoint_must_be_http(memos_client, admin, user):
    await configure(
        memos_client, admin, [{"id": "oa", "title": "FTP", "type": "OPENAI", "endpoint": "ftp://example.com/v1"}]
    )
    got = await expect_error(memos_client, user.headers, request("oa"), 400, 3)
    assert got["message"].startswith("failed to create AI transcriber: invalid OpenAI endpoint")


# -- access and validation -------------------------------------------------------------------------
async def test_anonymous_is_401(memos_client, fake, providers):
    await expect_error(memos_client, {}, request(), 401, 16)
    assert fake.calls == []


async def test_unknown_provider_is_404(memos_client, user, fake, providers):
    await expect_error(memos_client, user.headers, request("nope"), 404, 5, "AI provider not found")
    assert fake.calls == []


async def test_no_providers_configured(memos_client, user):
    await expect_error(memos_client, user.headers, request("oa"), 404, 5, "AI provider not found")


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_without(request(), "providerId"), "provider_id is required"),
        ({**request(), "providerId": "  "}, "provider_id is required"),
        (_without(request(), "config"), "config is required"),
        ({**request(), "config": None}, "config is required"),
        (request(prompt="p" * 4097), "prompt is too long; maximum length is 4096 characters"),
        (request(prompt="é" * 2049), "prompt is too long; maximum length is 4096 characters"),  # bytes, as Go counts
        (request(language="l" * 33), "language is too long; maximum length is 32 characters"),
        (_without(request(), "audio"), "audio is required"),
        (request(uri="https://example.com/a.mp3"), "audio uri is not supported"),
        (request(audio=b""), "audio content is required"),
        ({**request(), "audio": {}}, "audio content is required"),
        (request(filename="f" * 256), "filename is too long; maximum length is 255 characters"),
        (request(contentType="image/png"), 'audio content type "image/png" is not supported'),
        (request(contentType="audio/"), 'audio content type "audio/" is not supported'),
        (request(audio=WAV), 'audio content type "audio/wave" is not supported'),  # Go sniffs WAV as audio/wave
        (request(audio=b"just some text"), 'audio content type "text/plain; charset=utf-8" is not supported'),
        # the order: an over-long prompt is reported before the missing audio
        (
            {"providerId": "oa", "config": {"prompt": "p" * 4097}},
            "prompt is too long; maximum length is 4096 characters",
        ),
        # and every request check comes before the provider lookup
        (request("nope", contentType="image/png"), 'audio content type "image/png" is not supported'),
    ],
)
async def test_invalid_requests(memos_client, user, fake, providers, body, message):
    await expect_error(memos_client, user.headers, body, 400, 3, message)
    assert fake.calls == []


async def test_limits_are_inclusive(memos_client, user, fake, providers):
    body = request(prompt="p" * 4096, language="l" * 32, filename="f" * 255, contentType="AUDIO/MPEG")
    status, got = await call(memos_client, user.headers, body)
    assert status == 200, got
    assert len(fake.calls[0]["fields"]["prompt"]) == 4096
    assert fake.calls[0]["fields"]["file"]["type"] == "audio/mpeg"


@pytest.mark.parametrize("content", ["not base64!", 42])
async def test_bad_base64(memos_client, user, fake, providers, content):
    body = {"providerId": "oa", "config": {}, "audio": {"content": content}}
    await expect_error(memos_client, user.headers, body, 400, 3)
    assert fake.calls == []


async def test_url_safe_unpadded_base64_is_accepted(memos_client, user, fake, providers):
    body = {
        "providerId": "oa",
        "config": {},
        "audio": {"content": b64(MP3).replace("+", "-").replace("/", "_").rstrip("=")},
    }
    status, got = await call(memos_client, user.headers, body)
    assert status == 200, got
    assert fake.calls[0]["fields"]["file"]["data"] == MP3


async def test_audio_size_limit(memos_client, user, fake, providers):
    limit = 25 * 1024 * 1024
    await expect_error(
        memos_client,
        user.headers,
        request(audio=b"\x00" * (limit + 1), contentType="audio/mpeg"),
        400,
        3,
        "audio file is too large; maximum size is 25 MiB",
    )
    assert fake.calls == []
    status, got = await call(memos_client, user.headers, request(audio=b"\x00" * limit, contentType="audio/mpeg"))
    assert status == 200, got
    assert len(fake.calls[0]["fields"]["file"]["data"]) == limit


async def test_body_must_be_a_json_object(memos_client, user, providers):
    r = await memos_client.post(URL, data=b"[1, 2]", headers={**user.headers, "Content-Type": "application/json"})
    assert r.status == 400 and (await r.json())["code"] == 3
    r = await memos_client.post(URL, data=b"{oops", headers={**user.headers, "Content-Type": "application/json"})
    assert r.status == 400 and (await r.json())["code"] == 3
    await expect_error(memos_client, user.headers, {**request(), "config": "x"}, 400, 3)


async def test_api_keys_never_leave_in_answers(memos_client, user, fake, providers):
    r = await memos_client.get("/api/v1/instance/settings/AI", headers=user.headers)
    assert OPENAI_KEY not in await r.text()
    status, got = await call(memos_client, user.headers, request())
    assert status == 200 and OPENAI_KEY not in json.dumps(got)
