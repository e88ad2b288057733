"""AIService.Transcribe: audio to text through one of the instance's AI providers.

The request is checked in upstream's order, each failure a 400 with upstream's message: provider id,
config, prompt and language length, audio present and inline (no ``uri``), 1 B to 25 MiB, filename
length, then the content type, sniffed as Go's ``http.DetectContentType`` does when none was sent,
against the allow-list. Lengths count UTF-8 bytes, as Go's ``len`` does. Only then is the AI setting
read: an unknown provider is NOT_FOUND, a provider that cannot be called (bad endpoint, no key) is
INVALID_ARGUMENT, and anything that goes wrong at the provider is INTERNAL "failed to transcribe
audio: ..." with the provider's own explanation, never a stack trace.

Providers (the model is fixed per type):

- OPENAI: multipart ``POST {endpoint}/audio/transcriptions`` with ``file``, ``model``
  (gpt-4o-transcribe), ``response_format=json`` and the optional ``prompt`` / ``language``;
  ``Authorization: Bearer {apiKey}``.
- GEMINI: ``POST {base}/{version}/models/gemini-2.5-flash:generateContent`` with the audio as
  ``inlineData`` plus a transcription instruction (language and prompt appended as hints),
  temperature 0, key in ``x-goog-api-key``. The endpoint's trailing ``/v1``, ``/v1beta`` or
  ``/v1alpha`` is the API version (default v1beta). Gemini takes inline audio up to 14 MiB and only
  its own audio types (wav, mp3, aiff, aac, ogg, flac).

Endpoints are set by admins and may be private (a self-hosted server), so they are not SSRF-guarded;
they must be absolute http(s) URLs. No cookies, no environment proxies, no redirects followed.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import logging
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from ..errors import ApiError, Code, invalid, not_found, unauthenticated
from . import instance
from .attachments import decode_content

if TYPE_CHECKING:
    from ..auth import Principal
    from ..context import Context

log = logging.getLogger(__name__)

MIB = 1024 * 1024
MAX_AUDIO_BYTES = 25 * MIB
MAX_PROMPT_LENGTH = 4096
MAX_LANGUAGE_LENGTH = 32
MAX_FILENAME_LENGTH = 255
#: Media types (parameters ignored, case-insensitive) that may be sent for transcription.
ALLOWED_CONTENT_TYPES = frozenset(
    {
        "audio/mpeg",
        "audio/mp4",
        "audio/mpga",
        "audio/wav",
        "audio/x-wav",
        "audio/webm",
        "audio/x-m4a",
        "video/mp4",
        "video/mpeg",
        "video/webm",
    }
)

OPENAI_MODEL = "gpt-4o-transcribe"
GEMINI_MODEL = "gemini-2.5-flash"
GEMINI_MAX_INLINE_BYTES = 14 * MIB
#: Gemini's audio types, by the media type that may name each.
GEMINI_CONTENT_TYPES = {
    "audio/wav": "audio/wav",
    "audio/x-wav": "audio/wav",
    "audio/mp3": "audio/mp3",
    "audio/mpeg": "audio/mp3",
    "audio/aiff": "audio/aiff",
    "audio/aac": "audio/aac",
    "audio/ogg": "audio/ogg",
    "audio/flac": "audio/flac",
    "audio/x-flac": "audio/flac",
}
GEMINI_INSTRUCTION = (
    "Transcribe the audio accurately. Return only the transcript text. "
    "Do not summarize, explain, or add content that is not spoken."
)
GEMINI_API_VERSIONS = ("v1alpha", "v1beta", "v1")

#: Seconds one provider call may take in all (connecting, uploading, waiting, reading).
TIMEOUT = 120.0
#: The largest provider answer read (a transcript of 25 MiB of audio is far smaller).
MAX_ANSWER_BYTES = 16 * MIB
#: How much of a provider's error body is quoted back to the caller.
MAX_ERROR_DETAIL = 300


class ProviderError(Exception):
    """The provider could not be reached or did not answer with a transcript."""


@dataclasses.dataclass(frozen=True)
class Transcription:
    provider_id: str
    prompt: str
    language: str
    audio: bytes
    filename: str
    content_type: str


@dataclasses.dataclass(frozen=True)
class Provider:
    id: str
    type: str
    endpoint: str
    api_key: str


# -- the request -----------------------------------------------------------------------------------
def _field(body: dict[str, Any], camel: str, snake: str) -> Any:
    """protojson input: the camelCase name or the proto (snake_case) name."""
    return body[camel] if camel in body else body.get(snake)


def _string(body: dict[str, Any], camel: str, snake: str, where: str) -> str:
    value = _field(body, camel, snake)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(f"invalid {where}: expected a string")
    return value


def _message(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(f"invalid {name}: expected an object")
    return value


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def parse_request(body: dict[str, Any]) -> Transcription:
    """Validate a TranscribeRequest body in upstream's order; 400 with upstream's message otherwise."""
    provider_id = _string(body, "providerId", "provider_id", "providerId").strip()
    if not provider_id:
        raise invalid("provider_id is required")
    config = _message(body, "config")
    if config is None:
        raise invalid("config is required")
    prompt = _string(config, "prompt", "prompt", "config.prompt").strip()
    if _utf8_len(prompt) > MAX_PROMPT_LENGTH:
        raise invalid(f"prompt is too long; maximum length is {MAX_PROMPT_LENGTH} characters")
    language = _string(config, "language", "language", "config.language").strip()
    if _utf8_len(language) > MAX_LANGUAGE_LENGTH:
        raise invalid(f"language is too long; maximum length is {MAX_LANGUAGE_LENGTH} characters")
    audio = _message(body, "audio")
    if audio is None:
        raise invalid("audio is required")
    if _string(audio, "uri", "uri", "audio.uri"):
        raise invalid("audio uri is not supported")
    content = decode_content(audio.get("content"))
    if not content:
        raise invalid("audio content is required")
    if len(content) > MAX_AUDIO_BYTES:
        raise invalid("audio file is too large; maximum size is 25 MiB")
    filename = _string(audio, "filename", "filename", "audio.filename").strip()
    if _utf8_len(filename) > MAX_FILENAME_LENGTH:
        raise invalid(f"filename is too long; maximum length is {MAX_FILENAME_LENGTH} characters")
    content_type = _string(audio, "contentType", "content_type", "audio.contentType").strip()
    if not content_type:
        content_type = sniff_content_type(content)
    media = media_type(content_type)
    if media is None or media not in ALLOWED_CONTENT_TYPES:
        raise invalid(f"audio content type {json.dumps(content_type)} is not supported")
    return Transcription(provider_id, prompt, language, content, filename, media)


_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_MEDIA_TYPE = re.compile(rf"^({_TOKEN})(?:/({_TOKEN}))?$")


def media_type(content_type: str) -> str | None:
    """The lower-cased ``type/subtype`` of a Content-Type value (parameters dropped); ``None`` if malformed."""
    head = content_type.split(";", 1)[0].strip()
    if not _MEDIA_TYPE.fullmatch(head):
        return None
    return head.lower()


def sniff_content_type(data: bytes) -> str:
    """What Go's ``http.DetectContentType`` says of audio and video: the media signatures it knows,
    else text or octet-stream (which the allow-list refuses, as upstream does)."""
    head = data[:512]
    if head.startswith(b"ID3"):
        return "audio/mpeg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    if head.startswith(b"OggS\x00"):
        return "application/ogg"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wave"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video/avi"
    if head.startswith(b"FORM") and head[8:12] == b"AIFF":
        return "audio/aiff"
    if head.startswith(b".snd"):
        return "audio/basic"
    if head.startswith(b"MThd\x00\x00\x00\x06"):
        return "audio/midi"
    if _is_mp4(head):
        return "video/mp4"
    if any(b <= 0x08 or b == 0x0B or 0x0E <= b <= 0x1A or 0x1C <= b <= 0x1F for b in head):
        return "application/octet-stream"
    return "text/plain; charset=utf-8"


def _is_mp4(head: bytes) -> bool:
    if len(head) < 12:
        return False
    box = int.from_bytes(head[:4], "big")
    if len(head) < box or box % 4 or head[4:8] != b"ftyp":
        return False
    return any(head[st : st + 3] == b"mp4" for st in range(8, box, 4) if st != 12)


# -- the provider ----------------------------------------------------------------------------------
def find_provider(setting: dict[str, Any], provider_id: str) -> Provider:
    for p in setting.get("providers", []):
        if p.get("id") == provider_id:
            return Provider(p["id"], p.get("type", ""), p.get("endpoint", ""), p.get("apiKey", ""))
    raise not_found("AI provider not found")


def _endpoint(raw: str, kind: str, name: str) -> str:
    endpoint = raw.strip() or instance.AI_DEFAULT_ENDPOINTS[kind]
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as e:
        raise ProviderError(f"invalid {name} endpoint: {e}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ProviderError(f"invalid {name} endpoint: {endpoint!r} is not an http(s) URL")
    return endpoint.rstrip("/")


def _check(provider: Provider) -> str:
    """The endpoint of a provider that can be called; ProviderError (a 400) otherwise."""
    names = {"OPENAI": "OpenAI", "GEMINI": "Gemini"}
    if provider.type not in names:
        raise ProviderError(f"AI capability is not supported by provider type {provider.type!r}")
    name = names[provider.type]
    endpoint = _endpoint(provider.endpoint, provider.type, name)
    if not provider.api_key:
        raise ProviderError(f"{name} API key is required")
    return endpoint


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=TIMEOUT),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )


def _detail(text: str) -> str:
    """The most useful short line of a provider's error body: its ``error.message`` if it has one."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            text = error["message"]
        elif isinstance(error, str):
            text = error
    text = " ".join(text.split())
    return text[:MAX_ERROR_DETAIL] + ("..." if len(text) > MAX_ERROR_DETAIL else "")


async def _read_capped(resp: aiohttp.ClientResponse) -> bytes:
    chunks, size = [], 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise ProviderError(f"the answer is larger than {MAX_ANSWER_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _post_json(session: aiohttp.ClientSession, url: str, **kwargs: Any) -> Any:
    """POST and return the decoded JSON answer; ProviderError for every way that can fail."""
    try:
        async with session.post(url, allow_redirects=False, **kwargs) as resp:
            text = (await _read_capped(resp)).decode("utf-8", "replace")
            if not 200 <= resp.status < 300:
                detail = _detail(text)
                raise ProviderError(f'POST "{url}": {resp.status} {resp.reason or ""}'.rstrip() + f": {detail}")
    except TimeoutError:
        raise ProviderError(f'POST "{url}": no answer within {TIMEOUT:g} seconds') from None
    except aiohttp.ClientError as e:
        raise ProviderError(f'POST "{url}": {str(e) or type(e).__name__}') from None
    try:
        return json.loads(text)
    except ValueError:
        raise ProviderError(f'POST "{url}": the answer is not JSON') from None


async def _openai(provider: Provider, endpoint: str, request: Transcription) -> str:
    form = aiohttp.FormData(quote_fields=False)  # a UTF-8 filename as is (quotes escaped), not %-encoded
    filename = request.filename.replace("\r", "_").replace("\n", "_")
    form.add_field(  # a stream: aiohttp warns that a large bytes body could stall the loop
        "file",
        io.BytesIO(request.audio),
        filename=filename if filename.strip() else "audio",
        content_type=request.content_type,
    )
    form.add_field("model", OPENAI_MODEL)
    form.add_field("response_format", "json")
    if request.prompt:
        form.add_field("prompt", request.prompt)
    if request.language:
        form.add_field("language", request.language)
    async with _session() as session:
        try:
            answer = await _post_json(
                session,
                endpoint + "/audio/transcriptions",
                data=form,
                headers={"Authorization": f"Bearer {provider.api_key}", "Accept": "application/json"},
            )
        except ProviderError as e:
            raise ProviderError(f"failed to send OpenAI transcription request: {e}") from None
    if not isinstance(answer, dict):
        raise ProviderError("OpenAI transcription response is not a JSON object")
    text = answer.get("text", "")
    if not isinstance(text, str):
        raise ProviderError("OpenAI transcription response has no text")
    return text


def _gemini_base(endpoint: str) -> tuple[str, str]:
    """``https://host/v1beta`` -> (``https://host``, ``v1beta``); no version suffix means v1beta."""
    parts = urlsplit(endpoint)
    path = parts.path.rstrip("/")
    for version in GEMINI_API_VERSIONS:
        if path == "/" + version or path.endswith("/" + version):
            base = urlunsplit(parts._replace(path=path[: -len(version) - 1]))
            return base.rstrip("/"), version
    return endpoint.rstrip("/"), "v1beta"


def gemini_prompt(prompt: str, language: str) -> str:
    parts = [GEMINI_INSTRUCTION]
    if language:
        parts.append(f"The input language is {language}.")
    if prompt:
        parts.append("Context and spelling hints:\n" + prompt)
    return "\n\n".join(parts)


async def _gemini(provider: Provider, endpoint: str, request: Transcription) -> str:
    if len(request.audio) > GEMINI_MAX_INLINE_BYTES:
        raise ProviderError(
            f"audio is too large for Gemini inline transcription; maximum size is {GEMINI_MAX_INLINE_BYTES} bytes"
        )
    mime = GEMINI_CONTENT_TYPES.get(request.content_type)
    if mime is None:
        raise ProviderError(f"audio content type {json.dumps(request.content_type)} is not supported by Gemini")
    base, version = _gemini_base(endpoint)
    payload = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"inlineData": {"mimeType": mime, "data": base64.b64encode(request.audio).decode("ascii")}},
                    {"text": gemini_prompt(request.prompt, request.language)},
                ],
            }
        ],
        "generationConfig": {"temperature": 0},
    }
    async with _session() as session:
        try:
            answer = await _post_json(
                session,
                f"{base}/{version}/models/{GEMINI_MODEL}:generateContent",
                data=io.BytesIO(json.dumps(payload).encode()),
                headers={"x-goog-api-key": provider.api_key, "Content-Type": "application/json"},
            )
        except ProviderError as e:
            raise ProviderError(f"failed to send Gemini transcription request: {e}") from None
    text = _gemini_text(answer).strip()
    if not text:
        raise ProviderError("Gemini transcription response did not include text")
    return text


def _gemini_text(answer: Any) -> str:
    """The text parts of the first candidate (thoughts left out), joined."""
    candidates = answer.get("candidates") if isinstance(answer, dict) else None
    if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
        return ""
    content = candidates[0].get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list):
        return ""
    return "".join(
        p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
    )


# -- the RPC ---------------------------------------------------------------------------------------
async def transcribe(ctx: Context, viewer: Principal | None, body: dict[str, Any]) -> dict[str, Any]:
    """TranscribeResponse ``{"text"}`` for a TranscribeRequest body.

    The database is touched only to read the AI setting; the provider call, which can take minutes,
    holds no connection (the route is marked ``no_db_connection``).
    """
    if viewer is None:
        raise unauthenticated("user not authenticated")
    request = parse_request(body)
    async with ctx.store.connection():
        setting = await instance.get_setting(ctx.store, "AI")
    provider = find_provider(setting, request.provider_id)
    try:
        endpoint = _check(provider)
    except ProviderError as e:
        raise invalid(f"failed to create AI transcriber: {e}") from None
    call = _openai if provider.type == "OPENAI" else _gemini
    try:
        text = await call(provider, endpoint, request)
    except ProviderError as e:
        log.warning("transcription through AI provider %r failed: %s", provider.id, e)
        raise ApiError(Code.INTERNAL, f"failed to transcribe audio: {e}") from None
    return {"text": text}
