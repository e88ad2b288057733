"""Instance settings with their defaults merged in (SPEC §9.2).

Stored values are protojson with defaults omitted; readers always get every field.
"""

from __future__ import annotations

import copy
from typing import Any

from ..store import settings as settings_store

DEFAULT_REACTIONS = ["👍", "👎", "❤️", "🎉", "😄", "😕", "😢", "😡"]
MIN_CONTENT_LENGTH_LIMIT = 8192

DEFAULTS: dict[str, dict[str, Any]] = {
    "GENERAL": {
        "disallowUserRegistration": False,
        "disallowPasswordAuth": False,
        "additionalScript": "",
        "additionalStyle": "",
        "weekStartDayOffset": 0,
        "disallowChangeUsername": False,
        "disallowChangeNickname": False,
    },
    "MEMO_RELATED": {
        "contentLengthLimit": MIN_CONTENT_LENGTH_LIMIT,
        "enableDoubleClickEdit": False,
        "reactions": DEFAULT_REACTIONS,
    },
}


async def get_setting(store, key: str) -> dict[str, Any]:
    """The setting ``key`` as stored, with defaults for missing fields."""
    stored = await settings_store.get_instance_setting(store, key) or {}
    value = copy.deepcopy(DEFAULTS.get(key, {}))
    value.update(stored)
    if key == "MEMO_RELATED":
        value["contentLengthLimit"] = max(int(value.get("contentLengthLimit") or 0), MIN_CONTENT_LENGTH_LIMIT)
        if not value.get("reactions"):
            value["reactions"] = list(DEFAULT_REACTIONS)
    return value


async def general(store) -> dict[str, Any]:
    return await get_setting(store, "GENERAL")


async def memo_related(store) -> dict[str, Any]:
    return await get_setting(store, "MEMO_RELATED")
