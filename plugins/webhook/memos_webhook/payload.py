"""The webhook request body, in the shape Memos v0.28 sends.

Upstream marshals its protobuf ``Memo`` struct with Go's ``encoding/json``, not protojson, so the
body differs from the REST API's JSON: keys are the snake_case proto names, every zero value is
left out (``""``, ``false``, ``0``, empty lists, unset messages), enums are numbers, int64 values
are numbers, and timestamps are ``{"seconds": N, "nanos": N}`` objects (zero parts left out too).
A message that is set but empty stays as ``{}``. Go escapes ``<``, ``>`` and ``&`` in strings.

The input is the memo as the REST API shows it (``event.resource``), so this module only
re-spells it; it never reads the database.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

STATE = {"NORMAL": 1, "ARCHIVED": 2}
VISIBILITY = {"PRIVATE": 1, "PROTECTED": 2, "PUBLIC": 3}
RELATION_TYPE = {"REFERENCE": 1, "COMMENT": 2}
MOTION_FAMILY = {"APPLE_LIVE_PHOTO": 1, "ANDROID_MOTION_PHOTO": 2}
MOTION_ROLE = {"STILL": 1, "VIDEO": 2, "CONTAINER": 3}

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def timestamp(value: Any) -> dict[str, int]:
    """An RFC 3339 time as a Go-marshalled ``timestamppb.Timestamp``: ``{"seconds", "nanos"}``, zeros left out."""
    if not isinstance(value, str) or not value:
        return {}
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return {}
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    delta = parsed - _EPOCH
    seconds = delta.days * 86400 + delta.seconds
    out: dict[str, int] = {}
    if seconds:
        out["seconds"] = seconds
    if delta.microseconds:
        out["nanos"] = delta.microseconds * 1000
    return out


def _number(value: Any) -> int | float:
    """int64 arrives as a JSON string from the API; Go writes it as a number. Whole floats lose ``.0``."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return 0
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value if isinstance(value, int | float) else 0


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    """Go's ``omitempty``: zero scalars, empty strings and empty lists are left out."""
    if value is None or value is False or value == "" or value == [] or (isinstance(value, int | float) and not value):
        return
    out[key] = value


def _enum(table: dict[str, int], value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return table.get(value, 0) if isinstance(value, str) else 0


def _relation_memo(value: Any) -> dict[str, Any]:
    value = value if isinstance(value, dict) else {}
    out: dict[str, Any] = {}
    _put(out, "name", value.get("name"))
    _put(out, "snippet", value.get("snippet"))
    return out


def relation(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if value.get("memo") is not None:
        out["memo"] = _relation_memo(value.get("memo"))
    if value.get("relatedMemo") is not None:
        out["related_memo"] = _relation_memo(value.get("relatedMemo"))
    _put(out, "type", _enum(RELATION_TYPE, value.get("type")))
    return out


def reaction(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "name", value.get("name"))
    _put(out, "creator", value.get("creator"))
    _put(out, "content_id", value.get("contentId"))
    _put(out, "reaction_type", value.get("reactionType"))
    if value.get("createTime") is not None:
        out["create_time"] = timestamp(value.get("createTime"))
    return out


def _motion_media(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "family", _enum(MOTION_FAMILY, value.get("family")))
    _put(out, "role", _enum(MOTION_ROLE, value.get("role")))
    _put(out, "group_id", value.get("groupId"))
    _put(out, "presentation_timestamp_us", _number(value.get("presentationTimestampUs", 0)))
    _put(out, "has_embedded_video", bool(value.get("hasEmbeddedVideo")))
    return out


def attachment(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "name", value.get("name"))
    if value.get("createTime") is not None:
        out["create_time"] = timestamp(value.get("createTime"))
    _put(out, "filename", value.get("filename"))
    _put(out, "content", value.get("content"))  # bytes: base64 in both encodings, never filled here
    _put(out, "external_link", value.get("externalLink"))
    _put(out, "type", value.get("type"))
    _put(out, "size", _number(value.get("size", 0)))
    _put(out, "memo", value.get("memo"))
    if isinstance(value.get("motionMedia"), dict):
        out["motion_media"] = _motion_media(value["motionMedia"])
    return out


def _property(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "has_link", bool(value.get("hasLink")))
    _put(out, "has_task_list", bool(value.get("hasTaskList")))
    _put(out, "has_code", bool(value.get("hasCode")))
    _put(out, "has_incomplete_tasks", bool(value.get("hasIncompleteTasks")))
    _put(out, "title", value.get("title"))
    return out


def _location(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "placeholder", value.get("placeholder"))
    _put(out, "latitude", _number(value.get("latitude", 0)))
    _put(out, "longitude", _number(value.get("longitude", 0)))
    return out


def memo(value: dict[str, Any]) -> dict[str, Any]:
    """A memo from its REST JSON to the Go ``encoding/json`` shape of ``v1pb.Memo`` (proto field order)."""
    out: dict[str, Any] = {}
    _put(out, "name", value.get("name"))
    _put(out, "state", _enum(STATE, value.get("state")))
    _put(out, "creator", value.get("creator"))
    if value.get("createTime") is not None:
        out["create_time"] = timestamp(value.get("createTime"))
    if value.get("updateTime") is not None:
        out["update_time"] = timestamp(value.get("updateTime"))
    _put(out, "content", value.get("content"))
    _put(out, "visibility", _enum(VISIBILITY, value.get("visibility")))
    _put(out, "tags", list(value.get("tags") or []))
    _put(out, "pinned", bool(value.get("pinned")))
    _put(out, "attachments", [attachment(a) for a in value.get("attachments") or [] if isinstance(a, dict)])
    _put(out, "relations", [relation(r) for r in value.get("relations") or [] if isinstance(r, dict)])
    _put(out, "reactions", [reaction(r) for r in value.get("reactions") or [] if isinstance(r, dict)])
    if isinstance(value.get("property"), dict):
        out["property"] = _property(value["property"])
    _put(out, "parent", value.get("parent"))
    _put(out, "snippet", value.get("snippet"))
    if isinstance(value.get("location"), dict):
        out["location"] = _location(value["location"])
    return out


def request_body(url: str, activity_type: str, memo_json: dict[str, Any]) -> dict[str, Any]:
    """``WebhookRequestPayload``: ``url`` (always written), ``activityType``, ``creator`` and ``memo``.

    ``creator`` is the memo's creator (for ``memos.memo.comment.created``, the commenter).
    """
    return {
        "url": url,
        "activityType": activity_type,
        "creator": memo_json.get("creator", ""),
        "memo": memo(memo_json),
    }


def encode(body: dict[str, Any]) -> bytes:
    """Compact JSON with Go's HTML-safe escaping (``<``, ``>``, ``&``, U+2028, U+2029)."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028")):
        text = text.replace(char, escaped)
    return text.replace("\u2029", "\\u2029").encode()
