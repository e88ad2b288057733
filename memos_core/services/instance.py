"""Instance settings and profile.

Stored values are protojson with defaults omitted; readers always get every field. Each KEY is
described once, in :data:`SETTINGS`: who may read it, its defaults, how a write is validated and
normalised, and which fields are write-only secrets. Every route that reaches instance settings goes
through :func:`read_setting` / :func:`update_setting`, so the access rules live in one place.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import struct
from collections.abc import Callable
from typing import Any, Literal

from ..errors import ApiError, Code, denied, invalid, unauthenticated
from ..store import settings as settings_store
from ..store import users as users_store

DEFAULT_REACTIONS = ["👍", "👎", "❤️", "🎉", "😄", "😕", "😢", "😡"]
MIN_CONTENT_LENGTH_LIMIT = 8192
INT32_MAX = 2**31 - 1
AI_PROVIDER_TYPES = {1: "OPENAI", 2: "GEMINI"}
AI_DEFAULT_ENDPOINTS = {
    "OPENAI": "https://api.openai.com/v1",
    "GEMINI": "https://generativelanguage.googleapis.com/v1beta",
}
EMAIL_DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "smtpHost": "",
    "smtpPort": 0,
    "smtpUsername": "",
    "smtpPassword": "",
    "fromEmail": "",
    "fromName": "",
    "replyTo": "",
    "useTls": False,
    "useSsl": False,
}

Access = Literal["public", "user", "admin"]
Stored = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class SettingKind:
    """How one instance setting KEY behaves.

    ``complete`` turns a stored value (defaults already merged in at the top level) into the full
    internal value, secrets included; ``validate`` turns an API value into the protojson to store,
    given the current full value (for secrets kept when sent empty); ``view`` adds read-only fields
    for the API. ``secrets`` are dotted paths (``*`` for every list item) blanked on every read.
    Without ``validate`` the key is known but not served yet (UNIMPLEMENTED after the access check).
    """

    field: str | None
    read: Access = "public"
    defaults: Stored = dataclasses.field(default_factory=dict)
    complete: Callable[[Stored], Stored] | None = None
    validate: Callable[[Stored, Stored], Stored] | None = None
    view: Callable[[Stored], Stored] | None = None
    secrets: tuple[str, ...] = ()


async def get_setting(store, key: str) -> dict[str, Any]:
    """The setting ``key`` as stored, with defaults for missing fields.

    This is the server-side value: write-only secrets are included. The API reads through
    :func:`read_setting`, which hides them.
    """
    stored = await settings_store.get_instance_setting(store, key) or {}
    kind = SETTINGS.get(key)
    if kind is None:
        return stored
    value = copy.deepcopy(kind.defaults)
    value.update(stored)
    return kind.complete(value) if kind.complete else value


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
    """The most recently created admin; ``None`` means the instance needs setup."""
    return await users_store.latest_admin(store)


# -- settings through the API ----------------------------------------------------------------------
def _kind(key: str) -> SettingKind:
    kind = SETTINGS.get(key)
    if kind is None:
        raise invalid(f"unsupported instance setting key: {key}")
    return kind


def _check_read_access(kind: SettingKind, viewer) -> None:
    if kind.read == "public":
        return
    if viewer is None:
        raise unauthenticated("user not authenticated")
    if kind.read == "admin" and not viewer.is_admin:
        raise denied("permission denied")


def _not_yet(key: str) -> ApiError:
    return ApiError(Code.UNIMPLEMENTED, f"instance setting {key} is not supported by this memos-py build yet")


def _present(kind: SettingKind, value: Stored) -> Stored:
    """The API view of a full value: read-only fields added, write-only secrets blanked."""
    shown = kind.view(value) if kind.view else copy.deepcopy(value)
    for path in kind.secrets:
        _blank(shown, path.split("."))
    return shown


def _blank(node: Any, path: list[str]) -> None:
    head, *rest = path
    if head == "*":
        for item in node if isinstance(node, list) else []:
            _blank(item, rest)
    elif isinstance(node, dict) and head in node:
        if rest:
            _blank(node[head], rest)
        else:
            node[head] = ""


def _keep_secrets(stored: Stored, current: Stored, secrets: tuple[str, ...]) -> None:
    """A secret sent empty keeps the stored one, as long as its parent message was sent.

    Paths through lists (``*``) are matched by the key's validator itself (e.g. AI keys by provider id).
    """
    for path in secrets:
        *parents, leaf = path.split(".")
        if "*" in parents:
            continue
        new, old = stored, current
        for name in parents:
            new, old = new.get(name), old.get(name) if isinstance(old, dict) else None
            if not isinstance(new, dict):
                break
        else:
            if not new.get(leaf) and isinstance(old, dict) and old.get(leaf):
                new[leaf] = old[leaf]


async def read_setting(store, viewer, key: str) -> dict[str, Any] | None:
    """The value the API shows for ``key`` (``None`` for BASIC, whose content is never exposed)."""
    kind = _kind(key)
    _check_read_access(kind, viewer)
    if kind.field is None:
        return None
    if kind.validate is None:
        raise _not_yet(key)
    return _present(kind, await get_setting(store, key))


async def update_setting(store, viewer, key: str, body: dict[str, Any]) -> dict[str, Any]:
    """Replace the setting ``key`` whole with the value in ``body`` (an InstanceSetting; ADMIN only)
    and return it as the API shows it.

    The value is validated completely before anything is written, so bad input changes nothing.
    """
    if viewer is None:
        raise unauthenticated("user not authenticated")
    if not viewer.is_admin:
        raise denied("only admins may update instance settings")
    kind = _kind(key)
    if kind.field is None:
        # Upstream would write {} here, wiping the secret and the schema version.
        raise invalid(f"the {key} instance setting is internal and cannot be updated")
    if kind.validate is None:
        raise _not_yet(key)
    field = kind.field
    others = sorted(
        k.field for k in SETTINGS.values() if k.field and k.field != field and _pick(body, k.field) is not None
    )
    if others:
        raise invalid(f"instance setting {key} takes {field}, not {', '.join(others)}")
    value = _pick(body, field)
    if not isinstance(value, dict):
        raise invalid(f"{field} is required and must be an object")
    async with store.transaction():
        # Read and write in one transaction: kept secrets come from the value being replaced.
        current = await get_setting(store, key)
        stored = kind.validate(value, current)
        _keep_secrets(stored, current, kind.secrets)
        await settings_store.set_instance_setting(store, key, stored)
    return _present(kind, await get_setting(store, key))


async def candidate_setting(store, key: str, value: dict[str, Any]) -> dict[str, Any]:
    """The full server-side value ``key`` would have if ``value`` (the setting's API field, such as a
    ``notificationSetting`` object) were saved now: validated as an update is, with stored secrets
    kept where ``value`` leaves them empty. Nothing is written (an admin's "try these settings")."""
    kind = _kind(key)
    if kind.field is None or kind.validate is None:
        raise invalid(f"the {key} instance setting cannot be tried")
    if not isinstance(value, dict):
        raise invalid(f"{kind.field} must be an object")
    current = await get_setting(store, key)
    stored = kind.validate(value, current)
    _keep_secrets(stored, current, kind.secrets)
    merged = copy.deepcopy(kind.defaults)
    merged.update(stored)
    return kind.complete(merged) if kind.complete else merged


# -- validation helpers: API value -> stored protojson (camelCase, defaults omitted) ---------------
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


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"invalid {where}: expected an object")
    return value


def _omit_defaults(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v not in (False, "", 0, None, [], {})}


# -- GENERAL ---------------------------------------------------------------------------------------
def _complete_general(value: Stored) -> Stored:
    profile = value.get("customProfile")
    value["customProfile"] = (
        {"title": "", "description": "", "logoUrl": "", **profile} if isinstance(profile, dict) else None
    )
    return value


def _validate_general(value: dict[str, Any], _current: Stored) -> Stored:
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


# -- MEMO_RELATED ----------------------------------------------------------------------------------
def _complete_memo_related(value: Stored) -> Stored:
    try:
        limit = int(value.get("contentLengthLimit") or 0)
    except (TypeError, ValueError):
        limit = 0
    value["contentLengthLimit"] = max(limit, MIN_CONTENT_LENGTH_LIMIT)
    if not value.get("reactions"):
        value["reactions"] = list(DEFAULT_REACTIONS)
    return value


def _validate_memo_related(value: dict[str, Any], _current: Stored) -> Stored:
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
            # Lower limits are raised to the minimum, as reads do.
            "contentLengthLimit": max(limit, MIN_CONTENT_LENGTH_LIMIT),
            "enableDoubleClickEdit": _bool(value, "enableDoubleClickEdit", p),
            "reactions": list(reactions),
        }
    )


# -- TAGS ------------------------------------------------------------------------------------------
def _component(value: Any) -> float | int:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _complete_color(color: Any) -> Stored | None:
    """google.type.Color as protojson emits it: every component, ``alpha`` null when unset."""
    if not isinstance(color, dict):
        return None
    alpha = color.get("alpha")
    return {
        "red": _component(color.get("red")),
        "green": _component(color.get("green")),
        "blue": _component(color.get("blue")),
        "alpha": _component(alpha) if alpha is not None else None,
    }


def _complete_tags(value: Stored) -> Stored:
    tags = value.get("tags")
    out: dict[str, Any] = {}
    for pattern, meta in sorted(tags.items()) if isinstance(tags, dict) else ():
        meta = meta if isinstance(meta, dict) else {}
        out[pattern] = {
            "backgroundColor": _complete_color(meta.get("backgroundColor")),
            "blurContent": meta.get("blurContent") is True,
        }
    value["tags"] = out  # protojson writes map entries sorted by key
    return value


def _float32(v: float) -> float | int:
    """``v`` rounded to float32 and written as briefly as protojson writes a float (0.1, not 0.10000000149)."""
    f = struct.unpack("f", struct.pack("f", v))[0]
    for digits in range(1, 10):
        short = float(f"{f:.{digits}g}")
        if struct.unpack("f", struct.pack("f", short))[0] == f:
            f = short
            break
    return int(f) if f.is_integer() else f


def _unit_float(v: Any, where: str) -> float | int:
    """A colour component: a JSON number (or protojson's numeric string) that is finite and in [0, 1]."""
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise invalid(f"invalid {where}: expected a number, got {v!r}")
    try:
        f = float(v)
    except (ValueError, OverflowError):
        raise invalid(f"invalid {where}: expected a number, got {v!r}") from None
    if not math.isfinite(f):
        raise invalid(f"invalid {where}: must be a finite number")
    if not 0 <= f <= 1:
        raise invalid(f"invalid {where}: must be between 0 and 1, got {v!r}")
    return _float32(f)


def _validate_color(color: Any, where: str) -> Stored:
    color = _object(color, where)
    out = {n: _unit_float(_pick(color, n), f"{where}.{n}") for n in ("red", "green", "blue")}
    out = _omit_defaults(out)
    alpha = _pick(color, "alpha")
    if alpha is not None:
        # A wrapper: set means set, even to 0 (fully transparent).
        out["alpha"] = _unit_float(alpha, f"{where}.alpha")
    return out


_REPEAT = re.compile(r"\{(\d+)(?:,(\d*))?\}")
_GROUP_FLAGS = re.compile(r"\(\?([a-zA-Z-]*)[:)]")


def _re2_checked(pattern: str) -> str:
    """Reject constructs RE2 refuses although Python's ``re`` accepts them, and return the pattern
    with RE2's Unicode classes (``\\pL``, ``\\p{Greek}``) swapped for ``\\w`` so ``re`` can check the rest.

    Upstream and its clients match tag patterns with RE2-style engines; a pattern only Python
    understands would be stored and then fail everywhere else.
    """

    def refuse(what: str) -> ApiError:
        return invalid(f"invalid tag pattern {pattern!r}: {what} are not supported")

    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt in "pP":
                end = pattern.find("}", i) + 1 if pattern.startswith("{", i + 2) else i + 3
                if end <= 0 or end > n:
                    raise invalid(f"invalid tag pattern {pattern!r}: incomplete \\{nxt} class")
                out.append("\\w")
                i = end
                continue
            if nxt in "123456789" and not in_class:
                raise refuse("backreferences")
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
            out.append(c)
            i += 1
            continue
        if c == "[":
            j = i + 1 + pattern.startswith("^", i + 1)
            j += pattern.startswith("]", j)
            out.append(pattern[i:j])
            in_class, i = True, j
            continue
        if pattern.startswith("(?", i):
            rest = pattern[i + 2 :]
            if rest.startswith(("=", "!", "<=", "<!")):
                raise refuse("lookarounds")
            if rest.startswith("P="):
                raise refuse("backreferences")
            if rest.startswith(">"):
                raise refuse("atomic groups")
            if rest.startswith("("):
                raise refuse("conditionals")
            if rest.startswith("#"):
                raise refuse("comments")
            flags = _GROUP_FLAGS.match(pattern, i)
            if flags and set(flags.group(1)) - set("imsU-"):
                raise refuse("flags other than i, m, s and U")
        if c == "{" and (m := _REPEAT.match(pattern, i)):
            if any(int(x) > 1000 for x in m.groups() if x):
                raise refuse("repeat counts above 1000")
            out.append(m.group())
            i = m.end()
            if pattern.startswith("+", i):
                raise refuse("possessive quantifiers")
            continue
        if c in "*+?" and pattern.startswith("+", i + 1):
            raise refuse("possessive quantifiers")
        out.append(c)
        i += 1
    return "".join(out)


def _check_tag_pattern(pattern: str) -> None:
    if not pattern.strip():
        raise invalid("invalid tagsSetting.tags: a tag pattern must not be empty")
    try:
        re.compile(_re2_checked(pattern))
    except re.error as e:
        raise invalid(f"invalid tag pattern {pattern!r}: {e}") from None


def _validate_tags(value: dict[str, Any], _current: Stored) -> Stored:
    tags = _pick(value, "tags")
    if tags is None:
        tags = {}
    if not isinstance(tags, dict):
        raise invalid("invalid tagsSetting.tags: expected an object of tag pattern -> metadata")
    out: dict[str, Any] = {}
    for pattern, meta in sorted(tags.items()):
        _check_tag_pattern(pattern)
        where = f"tagsSetting.tags[{pattern!r}]"
        if meta is None:
            raise invalid(f"invalid {where}: tag metadata is required")
        meta = _object(meta, where)
        entry: dict[str, Any] = {}
        color = _pick(meta, "backgroundColor")
        if color is not None:
            entry["backgroundColor"] = _validate_color(color, f"{where}.backgroundColor")
        if _bool(meta, "blurContent", where):
            entry["blurContent"] = True
        out[pattern] = entry
    return {"tags": out} if out else {}


# -- NOTIFICATION ----------------------------------------------------------------------------------
def _complete_notification(value: Stored) -> Stored:
    email = value.get("email")
    value["email"] = {**EMAIL_DEFAULTS, **(email if isinstance(email, dict) else {})}
    return value


def _validate_notification(value: dict[str, Any], _current: Stored) -> Stored:
    """``email`` null or absent clears the whole configuration, password included; an email
    message with an empty ``smtpPassword`` keeps the stored password (see ``secrets``)."""
    email = _pick(value, "email")
    if email is None:
        return {}
    p = "notificationSetting.email"
    email = _object(email, p)
    out: dict[str, Any] = {}
    for name, default in EMAIL_DEFAULTS.items():
        if isinstance(default, bool):
            out[name] = _bool(email, name, p)
        elif isinstance(default, str):
            out[name] = _str(email, name, p)
    port = _int32(email, "smtpPort", p)
    if not 0 <= port <= 65535:
        raise invalid(f"invalid {p}.smtpPort: expected 0 to 65535, got {port}")
    out["smtpPort"] = port
    return {"email": _omit_defaults({name: out[name] for name in EMAIL_DEFAULTS})}


# -- AI --------------------------------------------------------------------------------------------
def api_key_hint(key: str) -> str:
    """What the API shows of a stored key: enough to recognise it, never enough to use it."""
    if not key:
        return ""
    if len(key) <= 8:
        return "..."
    return f"{key[:4]}...{key[-4:]}"


def _complete_ai(value: Stored) -> Stored:
    providers = value.get("providers")
    value["providers"] = [
        {
            "id": str(p.get("id") or ""),
            "title": str(p.get("title") or ""),
            "type": p.get("type") or "AI_PROVIDER_TYPE_UNSPECIFIED",
            "endpoint": str(p.get("endpoint") or ""),
            "apiKey": str(p.get("apiKey") or ""),
        }
        for p in (providers if isinstance(providers, list) else [])
        if isinstance(p, dict)
    ]
    return value


def _view_ai(value: Stored) -> Stored:
    return {
        **value,
        "providers": [
            {**p, "apiKeySet": bool(p["apiKey"]), "apiKeyHint": api_key_hint(p["apiKey"])} for p in value["providers"]
        ],
    }


def _provider_type(v: Any, where: str) -> str:
    if isinstance(v, int) and not isinstance(v, bool):
        v = AI_PROVIDER_TYPES.get(v, v)
    if not isinstance(v, str) or v not in AI_DEFAULT_ENDPOINTS:
        raise invalid(f"invalid {where}.type: expected OPENAI or GEMINI, got {v!r}")
    return v


def _validate_ai(value: dict[str, Any], current: Stored) -> Stored:
    from .memos import new_uid  # the memos service imports this module

    providers = _pick(value, "providers")
    if providers is None:
        providers = []
    if not isinstance(providers, list):
        raise invalid("invalid aiSetting.providers: expected a list")
    stored_keys = {p["id"]: p["apiKey"] for p in current.get("providers", []) if p["id"]}
    seen: set[str] = set()
    out = []
    for index, item in enumerate(providers):
        where = f"aiSetting.providers[{index}]"
        item = _object(item, where)
        provider_id = _str(item, "id", where).strip() or new_uid()
        if provider_id in seen:
            raise invalid(f"invalid {where}.id: duplicate provider id {provider_id!r}")
        seen.add(provider_id)
        title = _str(item, "title", where).strip()
        if not title:
            raise invalid(f"invalid {where}.title: a provider title is required")
        kind = _provider_type(_pick(item, "type"), where)
        endpoint = _str(item, "endpoint", where).strip() or AI_DEFAULT_ENDPOINTS[kind]
        # Write-only: sent empty means "keep the key stored for this provider id".
        api_key = _str(item, "apiKey", where).strip() or stored_keys.get(provider_id, "")
        if not api_key:
            raise invalid(f"invalid {where}.apiKey: an API key is required for provider {provider_id!r}")
        out.append({"id": provider_id, "title": title, "type": kind, "endpoint": endpoint, "apiKey": api_key})
    return {"providers": out} if out else {}


#: Every key upstream v0.28 knows. STORAGE is served by :mod:`memos_core.services.storage_setting` (its
#: storage types are checked against the backends registered on the context); the API routes it there.
SETTINGS: dict[str, SettingKind] = {
    "BASIC": SettingKind(field=None),
    "GENERAL": SettingKind(
        field="generalSetting",
        defaults={
            "disallowUserRegistration": False,
            "disallowPasswordAuth": False,
            "additionalScript": "",
            "additionalStyle": "",
            "weekStartDayOffset": 0,
            "disallowChangeUsername": False,
            "disallowChangeNickname": False,
        },
        complete=_complete_general,
        validate=_validate_general,
    ),
    "STORAGE": SettingKind(field="storageSetting", read="admin"),
    "MEMO_RELATED": SettingKind(
        field="memoRelatedSetting",
        defaults={
            "contentLengthLimit": MIN_CONTENT_LENGTH_LIMIT,
            "enableDoubleClickEdit": False,
            "reactions": DEFAULT_REACTIONS,
        },
        complete=_complete_memo_related,
        validate=_validate_memo_related,
    ),
    "TAGS": SettingKind(field="tagsSetting", defaults={"tags": {}}, complete=_complete_tags, validate=_validate_tags),
    "NOTIFICATION": SettingKind(
        field="notificationSetting",
        read="admin",
        complete=_complete_notification,
        validate=_validate_notification,
        secrets=("email.smtpPassword",),
    ),
    "AI": SettingKind(
        field="aiSetting",
        read="user",
        complete=_complete_ai,
        validate=_validate_ai,
        view=_view_ai,
        secrets=("providers.*.apiKey",),
    ),
}
#: The API field carrying each key's value (``None``: never exposed).
KNOWN_KEYS: dict[str, str | None] = {key: kind.field for key, kind in SETTINGS.items()}
#: Keys memos-py serves today; the others are answered with UNIMPLEMENTED after the access check.
SUPPORTED_KEYS = tuple(key for key, kind in SETTINGS.items() if kind.validate is not None)
#: Who may read each key when it is not public.
READ_ACCESS = {key: kind.read for key, kind in SETTINGS.items() if kind.read != "public"}
DEFAULTS = {key: kind.defaults for key, kind in SETTINGS.items() if kind.defaults}
