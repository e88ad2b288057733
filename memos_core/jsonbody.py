"""The one decoder for JSON request bodies, shared by the REST API and MCP.

A body is read against a size limit, decoded as strict UTF-8 and parsed with bounds on nesting and
number size. Whatever a client sends, the answer is a 4xx, never a 500 from the parser:

* over the route's limit: :class:`BodyTooLarge` (413, code 8), checked against ``Content-Length``
  before reading and while reading, so an oversized body is never held in memory;
* anything that is not acceptable JSON: :class:`InvalidJSON` (400, code 3). That covers invalid
  UTF-8, nesting deeper than :data:`MAX_DEPTH`, a number literal longer than
  :data:`MAX_NUMBER_CHARS` or outside the 64-bit range (no protobuf number field can hold it),
  ``NaN``/``Infinity`` (not JSON, though Python's parser accepts them), duplicate keys (protojson
  refuses a repeated field), unpaired UTF-16 surrogate escapes (not text) and U+0000 (PostgreSQL
  cannot store it, so it is refused on every driver).

Both are :class:`~memos_core.errors.ApiError`, so a REST handler lets them through to the error
middleware; MCP maps them onto its JSON-RPC envelope.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .errors import ApiError, Code

MIB = 1024 * 1024
#: The limit of a route that names none: far above any message but attachments and audio.
DEFAULT_MAX_BYTES = 4 * MIB
#: No body is ever larger, whatever a route's own limit: the cap of upstream's gateway.
MAX_BODY_BYTES = 256 * MIB
#: Memos' messages nest a handful of levels; protojson itself stops far deeper.
MAX_DEPTH = 100
#: An int64 has at most 20 characters and a double needs 17 significant digits.
MAX_NUMBER_CHARS = 100

NUL_MESSAGE = "invalid argument: text must not contain the NUL character (U+0000)"
TOO_LARGE_MESSAGE = "request body too large"

_INT_MIN = -(2**63)
_INT_END = 2**64  # uint64 fields go up to 2**64 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidJSON(ApiError):
    """A body that is not acceptable JSON (400)."""

    def __init__(self, message: str) -> None:
        super().__init__(Code.INVALID_ARGUMENT, message)


def _invalid(reason: str) -> InvalidJSON:
    return InvalidJSON(f"invalid JSON body: {reason}")


class BodyTooLarge(ApiError):
    """A body over the route's limit (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(Code.RESOURCE_EXHAUSTED, TOO_LARGE_MESSAGE, status=413)
        self.limit = limit


class _Refused(ValueError):
    """Raised inside the parser's hooks; turned into :class:`InvalidJSON`."""


# -- reading -----------------------------------------------------------------------------------------
async def read_body(
    request: web.Request,
    max_bytes: int | None = None,
    *,
    larger_limit: Callable[[], Awaitable[int]] | None = None,
) -> bytes:
    """The raw body, at most ``max_bytes`` (default :data:`DEFAULT_MAX_BYTES`, never more than
    :data:`MAX_BODY_BYTES`).

    ``larger_limit`` is asked once, only for a body over ``max_bytes``, for a limit the route may
    allow beyond it (memos: the instance's content length limit), so ordinary requests do not pay
    for looking it up.
    """
    limit = min(DEFAULT_MAX_BYTES if max_bytes is None else max_bytes, MAX_BODY_BYTES)
    raised = False

    async def exceeded(size: int) -> bool:
        nonlocal limit, raised
        if size <= limit:
            return False
        if larger_limit is not None and not raised:
            raised = True
            limit = min(max(limit, await larger_limit()), MAX_BODY_BYTES)
        return size > limit

    declared = request.content_length
    if declared is not None and await exceeded(declared):
        raise BodyTooLarge(limit)
    parts: list[bytes] = []
    total = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        total += len(chunk)
        if await exceeded(total):
            raise BodyTooLarge(limit)
        parts.append(chunk)
    return b"".join(parts)


async def read_object(
    request: web.Request,
    max_bytes: int | None = None,
    *,
    larger_limit: Callable[[], Awaitable[int]] | None = None,
) -> dict[str, Any]:
    """A body that must be a JSON object (a request message); an empty body is ``{}``."""
    return decode_object(await read_body(request, max_bytes, larger_limit=larger_limit))


def base64_body_bytes(decoded_bytes: int) -> int:
    """The limit for a body carrying ``decoded_bytes`` as base64 (4/3 larger) plus its other fields."""
    return -(-decoded_bytes // 3) * 4 + 64 * 1024


# -- decoding ----------------------------------------------------------------------------------------
def decode_object(raw: bytes) -> dict[str, Any]:
    """:func:`decode` for a body that must be an object; an empty (or all-blank) body is ``{}``."""
    if not raw.strip():
        return {}
    value = decode(raw)
    if not isinstance(value, dict):
        raise ApiError(Code.INVALID_ARGUMENT, "the request body must be a JSON object")
    return value


def decode(raw: bytes) -> Any:
    """Any JSON value, within the limits described above; :class:`InvalidJSON` otherwise."""
    try:
        text = raw.decode("utf-8")  # strict: json.loads would also guess UTF-16 and UTF-32
    except UnicodeDecodeError as e:
        raise _invalid(f"invalid UTF-8 at byte {e.start}") from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object,
            parse_int=_int,
            parse_float=_float,
            parse_constant=_constant,
        )
    except RecursionError:  # the parser recurses once per level; far past MAX_DEPTH anyway
        raise _invalid(f"nesting deeper than {MAX_DEPTH} levels") from None
    except ValueError as e:
        raise _invalid(str(e)) from None
    _check(value, text)
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"duplicate field {json.dumps(key, ensure_ascii=False)}")
            seen.add(key)
    return obj


def _int(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        raise _Refused(f"number longer than {MAX_NUMBER_CHARS} characters")
    number = int(literal)
    if not _INT_MIN <= number < _INT_END:
        raise _Refused(f"number out of range: {literal}")
    return number


def _float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise _Refused(f"number longer than {MAX_NUMBER_CHARS} characters")
    number = float(literal)
    if not math.isfinite(number):
        raise _Refused(f"number out of range: {literal}")
    return number


def _constant(name: str) -> Any:
    raise _Refused(f"invalid JSON value {name}")


def _check(value: Any, text: str) -> None:
    """Nesting depth, U+0000 and lone surrogates, walking the value only when the text says it may
    need to: strings can only hold those characters through ``\\u`` escapes (a raw control
    character is a parse error, raw surrogates are not UTF-8), and fewer brackets than
    :data:`MAX_DEPTH` cannot nest deeper."""
    strings = "\\u" in text
    if not strings and text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            items: Any = node.values()
            if strings:
                for key in node:
                    _check_string(key)
        elif isinstance(node, list):
            items = node
        else:
            if strings and isinstance(node, str):
                _check_string(node)
            continue
        depth += 1
        if depth > MAX_DEPTH:
            raise _invalid(f"nesting deeper than {MAX_DEPTH} levels")
        stack.extend((item, depth) for item in items if strings or isinstance(item, dict | list))


def _check_string(text: str) -> None:
    if "\x00" in text:
        raise InvalidJSON(NUL_MESSAGE)
    if not text.isascii() and _SURROGATE.search(text):
        raise _invalid("a \\u escape is an unpaired UTF-16 surrogate")
