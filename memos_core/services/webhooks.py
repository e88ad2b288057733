"""User webhooks: kept in the owner's ``WEBHOOKS`` user setting, managed by the owner or an admin.

The setting holds ``{"webhooks":[{"id","title","url"}]}`` in insertion order; the id is 16 hex
characters (8 random bytes) and the API's ``displayName`` is the stored ``title``. Every change
re-reads the setting under a row lock in one transaction, so concurrent writers never lose each
other's hooks. Delivery is not here: the ``memos-webhook`` plugin posts to the URLs on memo events,
reading them with :func:`user_webhooks`.

A URL must be absolute ``http``/``https``, its host must resolve, and (unless
``Config.allow_private_webhooks``) no address it resolves to may be private, loopback, link-local
or otherwise non-public; the plugin checks again when it connects (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .. import netguard
from ..errors import invalid, not_found
from ..store import settings as settings_store
from ..store import users as users_store
from ..store.users import User
from ..wire import snake
from . import access

if TYPE_CHECKING:
    from ..auth import Principal
    from ..context import Context
    from ..store import Store

KEY = "WEBHOOKS"
UPDATE_PATHS = ("url", "display_name")
#: Fields of the UserWebhook message: a derived mask may only name these.
_FIELDS = {"name", "url", "display_name", "create_time", "update_time"}
#: How long the URL check waits for DNS before calling the host unresolvable.
RESOLVE_TIMEOUT = 10.0


def webhook_json(user: User, entry: dict[str, Any]) -> dict[str, Any]:
    """A ``UserWebhook``: its times are never populated, so protojson shows them as ``null``."""
    return {
        "name": f"{user.name}/webhooks/{entry.get('id', '')}",
        "url": entry.get("url", ""),
        "displayName": entry.get("title", ""),
        "createTime": None,
        "updateTime": None,
    }


def entries(value: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The stored hooks of a WEBHOOKS setting value (malformed entries skipped)."""
    items = (value or {}).get("webhooks")
    return [h for h in items if isinstance(h, dict)] if isinstance(items, list) else []


async def user_webhooks(store: Store, user_id: int) -> list[dict[str, Any]]:
    """The user's hooks as stored, ``[{"id", "title", "url"}]``, for delivery (no access check)."""
    return [h for h in entries(await settings_store.get_user_setting(store, user_id, KEY)) if h.get("url")]


def new_id() -> str:
    return secrets.token_hex(8)


async def _user(ctx: Context, viewer: Principal | None, username: str, what: str) -> User:
    """The path user, managed by themself or an admin. An unknown user is a 400, as upstream answers
    (its name fails to resolve); then anonymous callers get 401 and other users 403."""
    user = await users_store.get_user(ctx.store, username=username) if username else None
    if user is None or user.username != username:
        raise invalid(f"invalid {what}: user not found: users/{username}")
    access.check_self_or_admin(viewer, user)
    return user


def _string(body: dict[str, Any], camel: str, snake_name: str) -> str:
    value = body.get(camel, body.get(snake_name))
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(f"{camel} must be a string")
    return value


async def check_url(ctx: Context, url: str) -> None:
    """an absolute http(s) URL whose host resolves, only to public addresses unless
    private webhooks are allowed. Raises INVALID_ARGUMENT."""
    allow_private = ctx.config.allow_private_webhooks
    try:
        netguard.check_url(url, allow_private=allow_private)
    except netguard.BadURL as e:
        raise invalid(f"invalid webhook URL: {e}") from None
    except netguard.DestinationRefused:
        raise invalid("webhook URL must not resolve to a reserved or private IP address") from None
    host = urlsplit(url).hostname or ""
    try:
        answers = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT
        )
    except (OSError, UnicodeError, TimeoutError) as e:
        raise invalid(f"webhook URL hostname could not be resolved: {e}") from None
    if not answers:
        raise invalid("webhook URL hostname could not be resolved")
    if not allow_private and not all(netguard.is_public_address(str(a[4][0])) for a in answers):
        raise invalid("webhook URL must not resolve to a reserved or private IP address")


async def list_webhooks(ctx: Context, viewer: Principal | None, username: str) -> list[dict[str, Any]]:
    user = await _user(ctx, viewer, username, "parent")
    return [webhook_json(user, e) for e in entries(await settings_store.get_user_setting(ctx.store, user.id, KEY))]


async def create_webhook(ctx: Context, viewer: Principal | None, username: str, body: dict[str, Any]) -> dict:
    user = await _user(ctx, viewer, username, "parent")
    url = _string(body, "url", "url").strip()
    if not url:
        raise invalid("webhook URL is required")
    await check_url(ctx, url)
    entry = {"id": new_id(), "title": _string(body, "displayName", "display_name"), "url": url}
    async with ctx.store.transaction():
        stored = await settings_store.get_user_setting_for_update(ctx.store, user.id, KEY)
        hooks = entries(stored)
        hooks.append(entry)
        await settings_store.set_user_setting(ctx.store, user.id, KEY, {**(stored or {}), "webhooks": hooks})
    return webhook_json(user, entry)


def _derived_mask(body: dict[str, Any]) -> list[str]:
    """No ``updateMask``: the gateway names the body's fields; a field UserWebhook lacks is a 400."""
    paths = [snake(k) for k in body if k not in ("updateMask", "update_mask")]
    for path in paths:
        if path not in _FIELDS:
            raise invalid(f'could not find field "{path}" in "memos.api.v1.UserWebhook"')
    return paths


async def update_webhook(
    ctx: Context,
    viewer: Principal | None,
    username: str,
    webhook_id: str,
    body: dict[str, Any],
    mask: list[str] | None,
) -> dict[str, Any]:
    """UpdateUserWebhook: paths ``url`` (an empty URL leaves it as it is) and ``display_name``; other
    paths are ignored. An omitted mask is derived from the body, as the REST gateway does."""
    user = await _user(ctx, viewer, username, "webhook name")
    paths = [p for p in (mask if mask is not None else _derived_mask(body)) if p in UPDATE_PATHS]
    changes: dict[str, str] = {}
    if "display_name" in paths:
        changes["title"] = _string(body, "displayName", "display_name")
    if "url" in paths:
        url = _string(body, "url", "url").strip()
        if url:
            changes["url"] = url
    # Look the hook up first: a missing hook is a 404 even when the new URL would be refused.
    stored_hooks = entries(await settings_store.get_user_setting(ctx.store, user.id, KEY))
    if not any(e.get("id") == webhook_id for e in stored_hooks):
        raise not_found("webhook not found")
    if "url" in changes:
        await check_url(ctx, changes["url"])
    async with ctx.store.transaction():
        stored = await settings_store.get_user_setting_for_update(ctx.store, user.id, KEY)
        hooks = entries(stored)
        entry = next((e for e in hooks if e.get("id") == webhook_id), None)
        if entry is None:
            raise not_found("webhook not found")
        entry.update(changes)
        await settings_store.set_user_setting(ctx.store, user.id, KEY, {**(stored or {}), "webhooks": hooks})
    return webhook_json(user, entry)


async def delete_webhook(ctx: Context, viewer: Principal | None, username: str, webhook_id: str) -> None:
    user = await _user(ctx, viewer, username, "webhook name")
    async with ctx.store.transaction():
        stored = await settings_store.get_user_setting_for_update(ctx.store, user.id, KEY)
        hooks = entries(stored)
        kept = [e for e in hooks if e.get("id") != webhook_id]
        if len(kept) == len(hooks):
            raise not_found("webhook not found")
        await settings_store.set_user_setting(ctx.store, user.id, KEY, {**(stored or {}), "webhooks": kept})
