"""The Memos REST gateway conventions: times, page tokens, masks, bodies, names."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ... import jsonbody
from ...errors import invalid
from ...wire import (  # the conventions below the API, re-exported for its handlers
    snake,
)

# -- request pieces ------------------------------------------------------------------------------
#: The request message: a JSON object body (empty means ``{}``), read and decoded within the limits
#: of :mod:`memos_core.jsonbody` (its one decoder); anything else is a 400, too large a 413.
json_body = jsonbody.read_object


def has_nul(request: web.Request) -> bool:
    """A NUL character in the path or a query parameter (bodies: :mod:`memos_core.jsonbody`)."""
    return "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in request.query.items())


def query_param(request: web.Request, *names: str, default: str | None = None) -> str | None:
    """A query parameter accepted in camelCase or snake_case."""
    for name in names:
        if name in request.query:
            return request.query[name]
    return default


def int_param(request: web.Request, *names: str, default: int = 0) -> int:
    """An int32 query parameter (``pageSize``); the gateway answers 400 for one out of range."""
    value = query_param(request, *names)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise invalid(f"invalid {names[0]}: {value!r}") from None
    if not -(2**31) <= number < 2**31:
        raise invalid(f"invalid {names[0]}: {value!r} is out of range")
    return number


def bool_param(request: web.Request, *names: str, default: bool = False) -> bool:
    value = query_param(request, *names)
    if value is None or value == "":
        return default
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise invalid(f"invalid {names[0]}: {value!r}")


def update_mask(request: web.Request, body: dict[str, Any] | None = None) -> list[str] | None:
    """The ``updateMask`` paths: ``?updateMask=a,b``, repeated ``?updateMask.paths=a``, or a body field.

    Returns ``None`` when no mask was sent. camelCase paths are normalised to snake_case, as the
    gateway's field-mask parsing does for the JSON form.
    """
    raw = query_param(request, "updateMask", "update_mask")
    if raw is None:  # the FieldMask message spelled out: ?updateMask.paths=a&updateMask.paths=b
        nested = [p for name in ("updateMask.paths", "update_mask.paths") for p in request.query.getall(name, [])]
        raw = ",".join(nested) if nested else None
    if raw is None and body is not None:
        raw = body.get("updateMask", body.get("update_mask"))
        if isinstance(raw, dict):
            raw = raw.get("paths", [])
        if isinstance(raw, list):
            raw = ",".join(str(p) for p in raw)
    if raw is None:
        return None
    return [snake(p.strip()) for p in str(raw).split(",") if p.strip()]


def json_response(data: Any, *, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode(),
        content_type="application/json",
    )
