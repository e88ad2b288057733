"""Instance settings and profile (SPEC §9).

Stored values are protojson with defaults omitted; readers always get every field. Access rules
for reading and writing settings live here, in one place, for every route that reaches them.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from ..errors import ApiError, Code, denied, invalid, unauthenticated
from ..store import settings as settings_store
from ..store import users as users_store

DEFAULT_REACTIONS = ["👍", "👎", "❤️", "🎉", "😄", "😕", "😢", "😡"]
MIN_CONTENT_LENGTH_LIMIT = 8192
INT32_MAX = 2**31 - 1

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

#: Every key upstream v0.28 knows, and the API field of each one's value.
KNOWN_KEYS: dict[str, str | None] = {
    "BASIC": None,
    "GENERAL": "generalSetting",
    "STORAGE": "storageSetting",
    "MEMO_RELATED": "memoRelatedSetting",
    "TAGS": "tagsSetting",
    "NOTIFICATION": "notificationSetting",
    "AI": "aiSetting",
}
#: Keys memos-py serves today; the others are answered with UNIMPLEMENTED after the access check.
SUPPORTED_KEYS = ("GENERAL", "MEMO_RELATED")
#: Who may read each key (SPEC §9.2): public, authenticated or admin.
READ_ACCESS = {"STORAGE": "admin", "NOTIFICATION": "admin", "AI": "user"}


async def get_setting(store, key: str) -> dict[str, Any]:
    """The setting ``key`` as stored, with defaults for missing fields."""
    stored = await settings_store.get_instance_setting(store, key) or {}
    value = copy.deepcopy(DEFAULTS.get(key, {}))
    value.update(stored)
    if key == "MEMO_RELATED":
        try:
            limit = int(value.get("contentLengthLimit") or 0)
        except (TypeError, ValueError):
            limit = 0
        value["contentLengthLimit"] = max(limit, MIN_CONTENT_LENGTH_LIMIT)
        if not value.get("reactions"):
            value["reactions"] = list(DEFAULT_REACTIONS)
    if key == "GENERAL":
        profile = value.get("customProfile")
        value["customProfile"] = (
            {"title": "", "description": "", "logoUrl": "", **profile} if isinstance(profile, dict) else None
        )
    return value


async def general(store) -> dict[str, Any]:
    return await get_setting(store, "GENERAL")


async def memo_related(store) -> dict[str, Any]:
    return await get_setting(store, "MEMO_RELATED")


# -- profile ---------------------------------------------------------------------------------------
def build_commit() -> str:
    """The profile's ``commit``: upstream reports its build commit; memos-py names its own build."""
    from .. import __version__

    return f"memos-py-{__version__}"


async def latest_admin(store) -> users_store.User | None:
    """The most recently created admin (SPEC §9.1); ``None`` means the instance needs setup."""
    return await users_store.latest_admin(store)


# -- settings through the API ----------------------------------------------------------------------
def _check_key(key: str) -> None:
    if key not in KNOWN_KEYS:
        raise invalid(f"unsupported instance setting key: {key}")


def _check_read_access(key: str, viewer) -> None:
    need = READ_ACCESS.get(key)
    if need is None:
        return
    if viewer is None:
        raise unauthenticated("user not authenticated")
    if need == "admin" and not viewer.is_admin:
        raise denied("permission denied")


def _not_yet(key: str) -> ApiError:
    return ApiError(Code.UNIMPLEMENTED, f"instance setting {key} is not supported by this memos-py build yet")


async def read_setting(store, viewer, key: str) -> dict[str, Any] | None:
    """The value the API shows for ``key`` (``None`` for BASIC, whose content is never exposed)."""
    _check_key(key)
    _check_read_access(key, viewer)
    if key == "BASIC":
        return None
    if key not in SUPPORTED_KEYS:
        raise _not_yet(key)
    return await get_setting(store, key)


async def update_setting(store, viewer, key: str, body: dict[str, Any]) -> dict[str, Any]:
    """Replace the setting ``key`` whole with the value in ``body`` (an InstanceSetting; ADMIN only)
    and return it as read back.

    The value is validated completely before anything is written, so bad input changes nothing.
    """
    if viewer is None:
        raise unauthenticated("user not authenticated")
    if not viewer.is_admin:
        raise denied("only admins may update instance settings")
    _check_key(key)
    if key == "BASIC":
        # Upstream would write {} here, wiping the secret and the schema version (SPEC §9.2).
        raise invalid("the BASIC instance setting is internal and cannot be updated")
    if key not in SUPPORTED_KEYS:
        raise _not_yet(key)
    field = KNOWN_KEYS[key]
    assert field is not None
    others = sorted(f for f in KNOWN_KEYS.values() if f and f != field and _pick(body, f) is not None)
    if others:
        raise invalid(f"instance setting {key} takes {field}, not {', '.join(others)}")
    value = _pick(body, field)
    if not isinstance(value, dict):
        raise invalid(f"{field} is required and must be an object")
    stored = _VALIDATORS[key](value)
    async with store.transaction():
        await settings_store.set_instance_setting(store, key, stored)
    return await get_setting(store, key)


# -- validation: API value -> stored protojson (camelCase, defaults omitted) -----------------------
def _pick(value: dict[str, Any], camel: str) -> Any:
    """A field given in camelCase or snake_case (the gateway accepts both)."""
    if camel in value:
        return value[camel]
    snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return value.get(snake)


def _bool(value: dict[str, Any], name: str, prefix: str) -> bool:
    v = _pick(value, name)
    if v is None:
        return False
    if not isinstance(v, bool):
        raise invalid(f"invalid {prefix}.{name}: expected a boolean, got {v!r}")
    return v


def _str(value: dict[str, Any], name: str, prefix: str) -> str:
    v = _pick(value, name)
    if v is None:
        return ""
    if not isinstance(v, str):
        raise invalid(f"invalid {prefix}.{name}: expected a string, got {v!r}")
    return v


def _int32(value: dict[str, Any], name: str, prefix: str) -> int:
    """protojson int32: a JSON number with no fraction, or a decimal string."""
    v = _pick(value, name)
    if v is None:
        return 0
    if isinstance(v, bool):
        raise invalid(f"invalid {prefix}.{name}: expected an integer, got {v!r}")
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        v = int(v)
    elif isinstance(v, str):
        try:
            v = int(v.strip())
        except ValueError:
            raise invalid(f"invalid {prefix}.{name}: expected an integer, got {v!r}") from None
    if not isinstance(v, int) or not -(2**31) <= v <= INT32_MAX:
        raise invalid(f"invalid {prefix}.{name}: expected a 32-bit integer, got {v!r}")
    return v


def _omit_defaults(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v not in (False, "", 0, None, [], {})}


def _validate_general(value: dict[str, Any]) -> dict[str, Any]:
    p = "generalSetting"
    out: dict[str, Any] = {}
    for name in (
        "disallowUserRegistration",
        "disallowPasswordAuth",
        "disallowChangeUsername",
        "disallowChangeNickname",
    ):
        out[name] = _bool(value, name, p)
    for name in ("additionalScript", "additionalStyle"):
        out[name] = _str(value, name, p)
    offset = _int32(value, "weekStartDayOffset", p)
    if not 0 <= offset <= 6:
        raise invalid(f"invalid {p}.weekStartDayOffset: expected 0 (Sunday) to 6 (Saturday), got {offset}")
    out["weekStartDayOffset"] = offset
    profile = _pick(value, "customProfile")
    if profile is not None:
        if not isinstance(profile, dict):
            raise invalid(f"invalid {p}.customProfile: expected an object")
        cp = f"{p}.customProfile"
        # A set message is kept even when its fields are empty (protojson writes it as {}).
        out["customProfile"] = _omit_defaults({n: _str(profile, n, cp) for n in ("title", "description", "logoUrl")})
        return {**_omit_defaults(out), "customProfile": out["customProfile"]}
    return _omit_defaults(out)


def _validate_memo_related(value: dict[str, Any]) -> dict[str, Any]:
    p = "memoRelatedSetting"
    limit = _int32(value, "contentLengthLimit", p)
    reactions = _pick(value, "reactions")
    if reactions is None:
        reactions = []
    if not isinstance(reactions, list) or not all(isinstance(r, str) for r in reactions):
        raise invalid(f"invalid {p}.reactions: expected a list of strings")
    if any(not r.strip() for r in reactions):
        raise invalid(f"invalid {p}.reactions: a reaction must not be empty")
    return _omit_defaults(
        {
            # Lower limits are raised to the minimum, as reads do (SPEC §9.2).
            "contentLengthLimit": max(limit, MIN_CONTENT_LENGTH_LIMIT),
            "enableDoubleClickEdit": _bool(value, "enableDoubleClickEdit", p),
            "reactions": list(reactions),
        }
    )


_VALIDATORS = {"GENERAL": _validate_general, "MEMO_RELATED": _validate_memo_related}
