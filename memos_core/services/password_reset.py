"""Password recovery: "forgot password" links delivered by a plugin's channel.

A plugin offers a channel through ``memos_password_reset_sender`` (the email plugin sends mail);
everything else is the core's, so every channel gets the same guarantees:

* A request names a username or an email address and always gets the same answer, whether or not
  an account matches (no account discovery). Requests are rate limited per client address (an
  error, which says nothing about accounts) and per account (silently: no more links are sent).
* A link carries a random single-use token; only its SHA-256 digest is stored
  (:data:`memos_core.store.tables.password_reset`), it runs out after :data:`TOKEN_TTL` seconds, and
  using it voids the account's other links, sets the new password and ends every sign-in session.
* Links point at the configured instance URL (``MEMOS_INSTANCE_URL``), never at a host taken from
  the request: a forged ``Host`` header must not send someone's token to another site. Without an
  instance URL there is no recovery.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa

from ..auth.passwords import check_password, hash_password
from ..context import Context
from ..errors import ApiError, Code, invalid
from ..ratelimit import RateLimit
from ..store import tables
from ..store import users as users_store
from ..store.users import User
from . import auth, instance

log = logging.getLogger(__name__)

#: How long a reset link works (seconds).
TOKEN_TTL = 30 * 60
#: The page a link opens (the web UI serves it).
RESET_PATH = "/auth/reset-password"
#: Requests per client address, and links per account, per hour.
REQUESTS_PER_ADDRESS = RateLimit("password-reset-request-ip", limit=10, window=3600)
LINKS_PER_ACCOUNT = RateLimit("password-reset-request-user", limit=3, window=3600)
#: Failed uses of a link (unknown, used or expired tokens) per client address per hour.
FAILED_RESETS_PER_ADDRESS = RateLimit("password-reset-use-ip", limit=20, window=3600)
MAX_IDENTIFIER = 320  # the longest email address SMTP carries

t = tables.password_reset
INVALID_LINK = "this password reset link is invalid, used or expired: ask for a new one"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _channel(ctx: Context) -> Any:
    """The first installed channel that is ready, else ``None``."""
    for channel in await ctx.all("memos_password_reset_sender", app=ctx.app):
        try:
            if await channel.ready():
                return channel
        except Exception:
            log.exception("a password reset channel failed to say whether it is ready")
    return None


async def available(ctx: Context) -> bool:
    """Whether "forgot password" is offered: an instance URL is set, password sign-in is allowed
    and a delivery channel is ready."""
    if not ctx.config.instance_url:
        return False
    if (await instance.general(ctx.store))["disallowPasswordAuth"]:
        return False
    return await _channel(ctx) is not None


async def _require_channel(ctx: Context) -> Any:
    if not ctx.config.instance_url:
        raise ApiError(Code.FAILED_PRECONDITION, "password recovery needs the instance URL (MEMOS_INSTANCE_URL)")
    if (await instance.general(ctx.store))["disallowPasswordAuth"]:
        raise ApiError(Code.FAILED_PRECONDITION, "password sign-in is not allowed on this instance")
    channel = await _channel(ctx)
    if channel is None:
        raise ApiError(Code.FAILED_PRECONDITION, "password recovery is not available: email is not enabled")
    return channel


def _too_many(wait: int) -> ApiError:
    return ApiError(
        Code.RESOURCE_EXHAUSTED,
        f"too many password reset attempts; try again in {wait} seconds",
        headers={"Retry-After": str(wait)},
    )


def reset_link(ctx: Context, token: str) -> str:
    return f"{ctx.config.instance_url.rstrip('/')}{RESET_PATH}?token={quote(token, safe='')}"


async def request_reset(ctx: Context, identifier: Any, client_ip: str) -> None:
    """Send a reset link to the account(s) ``identifier`` names (a username or an email address).

    Answers the same whether or not anything matched; raises only for a malformed request, an
    unavailable channel or a client address over its limit.
    """
    if not isinstance(identifier, str) or not identifier.strip():
        raise invalid("a username or an email address is required")
    identifier = identifier.strip()
    if len(identifier) > MAX_IDENTIFIER:
        raise invalid(f"a username or an email address is at most {MAX_IDENTIFIER} characters")
    channel = await _require_channel(ctx)
    store = ctx.store
    wait = await REQUESTS_PER_ADDRESS.take(store, client_ip)
    if wait:
        raise _too_many(wait)
    now_ms = int(time.time() * 1000)
    async with store.transaction():
        await store.execute(sa.delete(t).where(t.c.expires_ms < now_ms - 86_400_000))  # keep the table small
    for user in await users_store.get_users_by_identifier(store, identifier):
        if user.is_archived or not user.email:
            continue
        if await LINKS_PER_ACCOUNT.take(store, str(user.id)):
            log.info("password reset for %s not sent: the account is over its hourly limit", user.username)
            continue
        token = secrets.token_urlsafe(32)
        expires_ms = now_ms + TOKEN_TTL * 1000
        async with store.transaction():
            await store.execute(
                sa.insert(t).values(
                    token_hash=_digest(token), user_id=user.id, created_ms=now_ms, expires_ms=expires_ms
                )
            )
        try:
            await channel.send(user, reset_link(ctx, token), expires_ms // 1000)
        except Exception:
            log.exception("the password reset link for %s could not be sent", user.username)


async def _valid_row(store: Any, token: str, now_ms: int, *, for_update: bool = False) -> Any:
    q = sa.select(t).where(t.c.token_hash == _digest(token))
    if for_update:
        q = q.with_for_update()
    row = await store.fetch_one(q)
    if row is None or row["used_ms"] is not None or row["expires_ms"] <= now_ms:
        return None
    return row


async def check_token(ctx: Context, token: str) -> User | None:
    """The account a still-valid, unused reset token opens, or ``None`` (the web form asks first)."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    row = await _valid_row(ctx.store, token, int(time.time() * 1000))
    user = await users_store.get_user(ctx.store, id=row["user_id"]) if row else None
    return user if user is not None and not user.is_archived else None


async def reset_password(ctx: Context, token: Any, new_password: Any, client_ip: str) -> User:
    """Set a new password with a reset token: single use, voids the account's other links and ends
    every sign-in session of the account (personal access tokens stay), all in one transaction."""
    store = ctx.store
    wait = await FAILED_RESETS_PER_ADDRESS.retry_after(store, client_ip)
    if wait:
        raise _too_many(wait)
    if not isinstance(token, str) or not token or len(token) > 200:
        raise invalid("token is required")
    password_hash = await hash_password(check_password(new_password))
    now_ms = int(time.time() * 1000)
    async with store.transaction():
        row = await _valid_row(store, token, now_ms, for_update=True)
        user = await users_store.get_user(store, id=row["user_id"]) if row else None
        if user is not None and not user.is_archived:
            await store.execute(
                sa.update(t).where(t.c.user_id == user.id, t.c.used_ms.is_(None)).values(used_ms=now_ms)
            )
            await users_store.update_user(store, user.id, password_hash=password_hash, updated_ts=now_ms // 1000)
            await auth.revoke_sessions(ctx, user.id)
    if user is None or user.is_archived:
        await FAILED_RESETS_PER_ADDRESS.record(store, client_ip)
        raise invalid(INVALID_LINK)
    log.info("password of %s reset through a reset link", user.username)
    return user


__all__ = ["TOKEN_TTL", "available", "check_token", "request_reset", "reset_link", "reset_password"]
