"""The core's default auth plugin: bearer access JWTs and personal access tokens.

Registered through the ``memos.plugins`` entry point ``core-auth`` like any third-party plugin.
Password and SSO (OAuth2) sign-in are its auth providers (``passwordCredentials``, ``ssoCredentials``).
"""

from __future__ import annotations

import dataclasses
import logging
import time

from aiohttp import web

from ..context import CONTEXT
from ..errors import ApiError, unauthenticated
from ..hookspecs import hookimpl
from ..services import auth as auth_service
from ..store import settings as settings_store
from ..store import users as users_store
from . import Principal, tokens
from .cookies import refresh_cookie_of

log = logging.getLogger(__name__)

PAT_SETTING = auth_service.PAT_SETTING


def bearer_token(request: web.Request) -> str | None:
    """The token of ``Authorization: Bearer <token>`` (exactly two fields, scheme case-insensitive)."""
    header = request.headers.get("Authorization")
    if not header:
        return None
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise unauthenticated("invalid authorization header")
    return parts[1]


async def principal_for_token(ctx, token: str) -> Principal:
    """Resolve a bearer token (access JWT or PAT) to a principal, or raise UNAUTHENTICATED."""
    store = ctx.store
    if token.startswith(tokens.PAT_PREFIX):
        digest = tokens.hash_personal_access_token(token)
        now = int(time.time())
        for user, raw in await users_store.users_with_setting_containing(store, PAT_SETTING, digest):
            value = settings_store.loads(raw) or {}
            for entry in value.get("tokens", []):
                if not isinstance(entry, dict) or entry.get("tokenHash") != digest:
                    continue
                expires = _epoch(entry.get("expiresAt"))
                if expires and expires < now:
                    raise unauthenticated("personal access token expired")
                if user.is_archived:
                    raise unauthenticated("user not found")
                token_id = entry.get("tokenId", "")
                if auth_service.pat_needs_touch(entry, now):
                    await _touch(store, user.id, token_id, now)
                return Principal(user=user, method="pat", token_id=token_id, expires_at=expires)
        raise unauthenticated("invalid personal access token")
    claims = tokens.verify(ctx.secret, token, kind="access")
    user = await users_store.get_user(store, id=claims["user_id"])
    if user is None or user.is_archived:
        raise unauthenticated("user not found")
    sid = claims.get("sid")
    return Principal(
        user=user,
        method="access_token",
        session_ids=(sid,) if isinstance(sid, str) and sid else (),
        expires_at=float(claims.get("exp") or 0),
    )


def with_cookie_session(ctx, principal: Principal, refresh_token: str | None) -> Principal:
    """``principal`` plus the session of the refresh cookie sent with the request, when the cookie is a
    genuinely signed refresh token of the same user. Only the signature is checked (no database read):
    whether that session is still live matters only to what uses the id (a password change keeps it)."""
    if not refresh_token:
        return principal
    try:
        claims = tokens.verify(ctx.secret, refresh_token, kind="refresh")
    except ApiError:
        return principal
    tid = claims.get("tid")
    if claims["user_id"] != principal.id or not isinstance(tid, str) or not tid or tid in principal.session_ids:
        return principal
    return dataclasses.replace(principal, session_ids=(*principal.session_ids, tid))


async def _touch(store, user_id: int, token_id: str, now: int) -> None:
    """Record the PAT's ``lastUsedAt`` on the request's own connection: at most one small write per
    token per minute (the stored time is the rate limit, so several processes agree). A failure
    here must not fail the request."""
    try:
        await auth_service.touch_personal_access_token(store, user_id, token_id, now)
    except Exception:
        log.warning("could not record the last use of a personal access token", exc_info=True)


def _epoch(value) -> int:
    """PAT times are stored as protojson timestamps (RFC 3339 strings)."""
    from ..wire import parse_time

    if not value:
        return 0
    try:
        return parse_time(value)
    except ValueError:
        return 0


@hookimpl(trylast=True)
async def memos_authenticate(app: web.Application, request: web.Request):
    token = bearer_token(request)
    if token is None:
        return None
    ctx = app[CONTEXT]
    return with_cookie_session(ctx, await principal_for_token(ctx, token), refresh_cookie_of(request))


@hookimpl(trylast=True)
def memos_register_auth_providers(register) -> None:
    register("passwordCredentials", auth_service.password_provider)
    register("ssoCredentials", auth_service.sso_provider)
