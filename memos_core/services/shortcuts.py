"""Shortcuts: saved ListMemos filters kept in the owner's ``SHORTCUTS`` user setting.

The setting holds ``{"shortcuts":[{"id","title","filter"}]}`` in insertion order. Only the owner
may see or change them (admins get 403). Every change re-reads the setting under a row lock inside
one transaction, so concurrent writers never lose each other's shortcuts.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from ..errors import ApiError, Code, denied, invalid, not_found, unauthenticated
from ..store import settings as settings_store
from ..store import users as users_store
from ..store.users import User
from ..wire import required_mask

if TYPE_CHECKING:
    from ..auth import Principal
    from ..context import Context

KEY = "SHORTCUTS"
UPDATE_PATHS = ("title", "filter")
#: Fields a client may echo back in an update body; never update paths when the mask is derived.
_READ_ONLY = {"name", "update_mask"}


def shortcut_json(user: User, entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": f"{user.name}/shortcuts/{entry.get('id', '')}",
        "title": entry.get("title", ""),
        "filter": entry.get("filter", ""),
    }


def _entries(value: dict[str, Any] | None) -> list[dict[str, Any]]:
    items = (value or {}).get("shortcuts")
    return [s for s in items if isinstance(s, dict)] if isinstance(items, list) else []


async def _owner(ctx: Context, viewer: Principal | None, username: str, *, missing: Code) -> User:
    """The path user, who must be the caller. An unknown user is ``missing`` (404 for list/create,
    400 for the calls naming a shortcut, as upstream answers)."""
    if viewer is None:
        raise unauthenticated("user not authenticated")
    user = await users_store.get_user(ctx.store, username=username) if username else None
    if user is None or user.username != username:
        raise ApiError(missing, f"user not found: {username}")
    if viewer.id != user.id:
        raise denied("permission denied")
    return user


def _string(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(f"{key} must be a string")
    return value


async def _check(ctx: Context, title: str, filter_: str) -> None:
    """``title`` required; ``filter`` non-empty and accepted by the memo filter engine."""
    if not title.strip():
        raise invalid("title is required")
    if not filter_.strip():
        raise invalid("filter is required")
    clause = await ctx.first(
        "memos_compile_filter", expression=filter_, scope="memo", context={"dialect": ctx.store.dialect}
    )
    if clause is None:
        raise invalid("filter is not supported")


async def list_shortcuts(ctx: Context, viewer: Principal | None, username: str) -> list[dict[str, Any]]:
    user = await _owner(ctx, viewer, username, missing=Code.NOT_FOUND)
    stored = await settings_store.get_user_setting(ctx.store, user.id, KEY)
    return [shortcut_json(user, e) for e in _entries(stored)]


async def get_shortcut(ctx: Context, viewer: Principal | None, username: str, shortcut_id: str) -> dict[str, Any]:
    user = await _owner(ctx, viewer, username, missing=Code.INVALID_ARGUMENT)
    for entry in _entries(await settings_store.get_user_setting(ctx.store, user.id, KEY)):
        if entry.get("id") == shortcut_id:
            return shortcut_json(user, entry)
    raise not_found("shortcut not found")


async def create_shortcut(
    ctx: Context, viewer: Principal | None, username: str, body: dict[str, Any], *, validate_only: bool = False
) -> dict[str, Any]:
    user = await _owner(ctx, viewer, username, missing=Code.NOT_FOUND)
    entry = {"id": str(uuid.uuid4()), "title": _string(body, "title"), "filter": _string(body, "filter")}
    await _check(ctx, entry["title"], entry["filter"])
    if validate_only:
        return shortcut_json(user, entry)
    async with ctx.store.transaction():
        stored = await settings_store.get_user_setting_for_update(ctx.store, user.id, KEY)
        entries = _entries(stored)
        entries.append(entry)
        await settings_store.set_user_setting(ctx.store, user.id, KEY, {**(stored or {}), "shortcuts": entries})
    return shortcut_json(user, entry)


async def update_shortcut(
    ctx: Context,
    viewer: Principal | None,
    username: str,
    shortcut_id: str,
    body: dict[str, Any],
    mask: list[str] | None,
) -> dict[str, Any]:
    """UpdateShortcut: ``title`` and ``filter`` paths; other paths are ignored, as upstream does."""
    user = await _owner(ctx, viewer, username, missing=Code.INVALID_ARGUMENT)
    paths = [p for p in required_mask(mask, body, _READ_ONLY) if p in UPDATE_PATHS]
    changes = {p: _string(body, p) for p in paths}
    async with ctx.store.transaction():
        stored = await settings_store.get_user_setting_for_update(ctx.store, user.id, KEY)
        entries = _entries(stored)
        entry = next((e for e in entries if e.get("id") == shortcut_id), None)
        if entry is None:
            raise not_found("shortcut not found")
        entry.update(changes)
        await _check(ctx, str(entry.get("title", "")), str(entry.get("filter", "")))
        await settings_store.set_user_setting(ctx.store, user.id, KEY, {**(stored or {}), "shortcuts": entries})
    return shortcut_json(user, entry)


async def delete_shortcut(ctx: Context, viewer: Principal | None, username: str, shortcut_id: str) -> None:
    user = await _owner(ctx, viewer, username, missing=Code.INVALID_ARGUMENT)
    async with ctx.store.transaction():
        stored = await settings_store.get_user_setting_for_update(ctx.store, user.id, KEY)
        entries = _entries(stored)
        kept = [e for e in entries if e.get("id") != shortcut_id]
        if len(kept) == len(entries):
            raise not_found("shortcut not found")
        await settings_store.set_user_setting(ctx.store, user.id, KEY, {**(stored or {}), "shortcuts": kept})
