"""Sign-in, sessions (refresh tokens), personal access tokens and the failed sign-in throttle.

Sign-in methods are pluggable: a provider registered through ``memos_register_auth_providers``
under the key of the sign-in body it handles (``passwordCredentials``, ``ssoCredentials``...)
turns credentials into a user; everything after that (archived check, refresh token, access
token) is common and lives here, so an SSO plugin gets sessions by calling :func:`start_session`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from .. import ratelimit
from ..auth import Principal, tokens
from ..auth.passwords import burn_verification, verify_password
from ..context import CONTEXT, Context
from ..errors import ApiError, Code, denied, invalid, unauthenticated
from ..store import settings as settings_store
from ..store import signin_failures as failures_store
from ..store import users as users_store
from ..store.users import User
from ..wire import format_time, parse_time
from . import instance

log = logging.getLogger(__name__)

REFRESH_SETTING = "REFRESH_TOKENS"
PAT_SETTING = "PERSONAL_ACCESS_TOKENS"
#: Live sessions kept per user; signing in once more drops the oldest (upstream keeps them all).
MAX_SESSIONS = 100
#: ``lastUsedAt`` of a PAT is written at most this often (seconds): one cheap write, not one per call.
PAT_TOUCH_INTERVAL = 60
#: Largest accepted ``expiresInDays`` (100 years).
MAX_PAT_DAYS = 36500
UNMATCHED = "unmatched username and password"

Provider = Callable[[Any, dict[str, Any]], Awaitable[User]]


# -- client info ----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ClientInfo:
    """Who signed in from where, stored with each refresh token as upstream stores it."""

    user_agent: str = ""
    ip_address: str = ""
    device_type: str = ""
    os: str = ""
    browser: str = ""

    @classmethod
    def from_headers(cls, headers: Any, ip: str = "") -> ClientInfo:
        """From the request headers and the client address (:func:`memos_core.clientip.client_ip`:
        upstream took the first X-Forwarded-For entry, which any client can write)."""
        ua = headers.get("User-Agent", "")
        device, os_name, browser = parse_user_agent(ua)
        return cls(user_agent=ua, ip_address=ip, device_type=device, os=os_name, browser=browser)

    def to_json(self) -> dict[str, str]:
        """protojson of ``ClientInfo`` (empty fields omitted, as stored upstream)."""
        values = {
            "userAgent": self.user_agent,
            "ipAddress": self.ip_address,
            "deviceType": self.device_type,
            "os": self.os,
            "browser": self.browser,
        }
        return {k: v for k, v in values.items() if v}


_OS_RULES = (
    (re.compile(r"iPhone|iPad|iPod"), "iOS"),
    (re.compile(r"Android"), "Android"),
    (re.compile(r"CrOS"), "ChromeOS"),
    (re.compile(r"Windows"), "Windows"),
    (re.compile(r"Mac OS X|Macintosh"), "macOS"),
    (re.compile(r"Linux|X11"), "Linux"),
)
_BROWSER_RULES = (  # order matters: Edge and Opera also claim Chrome, Chrome claims Safari
    (re.compile(r"Edg(?:e|A|iOS)?/([\d.]+)"), "Edge"),
    (re.compile(r"(?:OPR|Opera)/([\d.]+)"), "Opera"),
    (re.compile(r"Firefox/([\d.]+)|FxiOS/([\d.]+)"), "Firefox"),
    (re.compile(r"Chrome/([\d.]+)|CriOS/([\d.]+)"), "Chrome"),
    (re.compile(r"Version/([\d.]+).*Safari/"), "Safari"),
)


def parse_user_agent(ua: str) -> tuple[str, str, str]:
    """A heuristic ``(deviceType, os, browser)`` for a User-Agent; ``""`` where unknown."""
    if not ua:
        return "", "", ""
    if re.search(r"iPad|Tablet", ua) or ("Android" in ua and "Mobile" not in ua):
        device = "tablet"
    elif re.search(r"Mobi|iPhone|iPod|Android", ua):
        device = "mobile"
    else:
        device = "desktop"
    os_name = next((name for rx, name in _OS_RULES if rx.search(ua)), "")
    browser = ""
    for rx, name in _BROWSER_RULES:
        m = rx.search(ua)
        if m:
            version = next((g for g in m.groups() if g), "")
            browser = f"{name} {version}".strip()
            break
    return device, os_name, browser


# -- failed sign-in throttle ----------------------------------------------------------------------
class SignInThrottle:
    """Counts failed sign-ins per username and per client IP in a sliding window.

    The failures live in the database (:mod:`memos_core.store.signin_failures`), so every app process
    serving it throttles against one shared budget. A check is one indexed statement; a recorded
    failure is one INSERT plus a bounded prune of expired rows; nothing is kept in memory here but
    the limits and the clock. The clock is wall time (epoch seconds), comparable across processes;
    tests replace it. Nothing stored is authoritative data: emptying the table only lifts the throttle.
    """

    def __init__(
        self,
        *,
        window: float = 15 * 60,
        per_username: int = 5,
        per_ip: int = 20,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.window = window
        self.limits = {"user": per_username, "ip": per_ip}
        self.clock = clock

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _subjects(self, username: str | None, ip: str | None) -> list[tuple[str, str]]:
        """``(kind, stored key)`` of what a sign-in counts against."""
        return [(kind, failures_store.subject(kind, key)) for kind, key in (("user", username), ("ip", ip)) if key]

    async def retry_after(self, store: Any, username: str | None, ip: str | None) -> int:
        """Seconds until a sign-in for ``username`` from ``ip`` may be tried again (0: now)."""
        subjects = self._subjects(username, ip)
        if not subjects:
            return 0
        now = self._now_ms()
        window = int(self.window * 1000)
        nth = await failures_store.nth_latest(store, [(key, self.limits[kind]) for kind, key in subjects], now - window)
        # The limit-th latest failure in the window leaves it at (its time + window): the wait ends then.
        wait = max((at + window - now for at in nth if at is not None), default=0)
        return math.ceil(wait / 1000) if wait > 0 else 0

    async def record_failure(self, store: Any, username: str | None, ip: str | None) -> None:
        now = self._now_ms()
        keys = [key for _, key in self._subjects(username, ip)]
        # Prune only past the longest window any limit on this table uses (memos_core.ratelimit).
        horizon = max(self.window, ratelimit.HORIZON)
        await failures_store.record(store, keys, now, prune_before_ms=now - int(horizon * 1000))

    async def reset_username(self, store: Any, username: str | None) -> None:
        if username:
            await failures_store.forget(store, failures_store.subject("user", username))


_throttles: weakref.WeakKeyDictionary[Any, SignInThrottle] = weakref.WeakKeyDictionary()


def throttle_of(ctx: Context) -> SignInThrottle:
    """The throttle settings of this application instance (created on first use; the counts are in
    the database, shared with every other instance)."""
    throttle = _throttles.get(ctx.app)
    if throttle is None:
        throttle = _throttles[ctx.app] = SignInThrottle()
    return throttle


# -- sign-in --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Session:
    """What a successful sign-in or refresh hands out."""

    user: User
    access_token: str
    access_expires_at: int
    refresh_token: str
    refresh_expires_at: int


async def auth_providers(ctx: Context) -> dict[str, Provider]:
    """Sign-in providers by credential key, collected once at start-up. A plugin's provider for a key
    the core registers (``passwordCredentials``) replaces the core's; two plugins registering one key
    stop start-up (see :mod:`memos_core.registries`)."""
    await ctx.collect_registries()  # done at start-up; here for an app used without starting it
    return ctx.auth_providers.values_by_name()


_SNAKE_KEY = re.compile(r"_([a-z])")


def _pick_credentials(body: dict[str, Any], providers: dict[str, Provider]) -> tuple[str, dict[str, Any]]:
    present = {}
    for key, value in body.items():
        if value is None:
            continue
        name = _SNAKE_KEY.sub(lambda m: m.group(1).upper(), key)  # password_credentials -> passwordCredentials
        if name.endswith("Credentials"):
            present[name] = value
    if not present:
        raise invalid("credentials required: send passwordCredentials or ssoCredentials")
    if len(present) > 1:
        raise invalid("send exactly one kind of credentials")
    name, value = next(iter(present.items()))
    if name not in providers:
        raise ApiError(Code.UNIMPLEMENTED, f"sign-in with {name} is not available on this server")
    if not isinstance(value, dict):
        raise invalid(f"{name} must be an object")
    return name, value


async def sign_in(ctx: Context, body: dict[str, Any], client: ClientInfo) -> Session:
    """Authenticate with the provider for the credential in ``body`` and open a session.

    Failed attempts (wrong credentials) count against the username and the client IP, in the
    database, so in every process serving it; over the limit the answer is RESOURCE_EXHAUSTED
    before any credential is checked. A success clears the username's count.
    """
    providers = await auth_providers(ctx)
    name, credentials = _pick_credentials(body, providers)
    username = credentials.get("username") if isinstance(credentials.get("username"), str) else None
    throttle = throttle_of(ctx)
    wait = await throttle.retry_after(ctx.store, username, client.ip_address)
    if wait:
        raise ApiError(
            Code.RESOURCE_EXHAUSTED,
            "too many failed sign-in attempts, try again later",
            headers={"Retry-After": str(wait)},
        )
    try:
        user = await providers[name](ctx.app, credentials)
        if user is None:
            raise invalid("sign-in failed")
    except ApiError as e:
        if e.code in (Code.INVALID_ARGUMENT, Code.UNAUTHENTICATED):
            await throttle.record_failure(ctx.store, username, client.ip_address)
        raise
    if user.is_archived:
        raise denied("user has been archived")
    await throttle.reset_username(ctx.store, username)
    return await start_session(ctx, user, client)


async def password_provider(app: Any, credentials: dict[str, Any]) -> User:
    """The core's ``passwordCredentials`` provider: exact username, bcrypt password."""
    ctx = app[CONTEXT]
    username, password = credentials.get("username"), credentials.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise invalid("username and password must be strings")
    user = await users_store.get_user(ctx.store, username=username) if username and password else None
    # The equality re-check keeps lookups case-sensitive on databases with case-insensitive collations.
    if user is None or user.username != username:
        await burn_verification()
        raise invalid(UNMATCHED)
    if not await verify_password(password, user.password_hash):
        raise invalid(UNMATCHED)
    if not user.is_admin and (await instance.general(ctx.store))["disallowPasswordAuth"]:
        raise denied("password sign-in is not allowed")
    return user


async def sso_provider(app: Any, credentials: dict[str, Any]) -> User:
    """The core's ``ssoCredentials`` provider ``{idpName, code, redirectUri, codeVerifier}``:
    the OAuth2 exchange with the identity provider, then the linked user, or a new one."""
    from . import idp

    return await idp.sign_in_user(app[CONTEXT], credentials)


def _access_token(ctx: Context, user: User, session_id: str) -> tuple[str, int]:
    role = "ADMIN" if user.is_admin else "USER"
    return tokens.issue_access_token(
        ctx.secret, user_id=user.id, username=user.username, role=role, status=user.row_status, session_id=session_id
    )


def _live_sessions(entries: Any, now: int) -> list[dict[str, Any]]:
    """Stored refresh-token entries that have not expired (expired ones are pruned on write)."""
    live = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        expires = _epoch(entry.get("expiresAt"))
        if expires and expires <= now:
            continue
        live.append(entry)
    return live


async def start_session(ctx: Context, user: User, client: ClientInfo, *, replaces: str | None = None) -> Session:
    """Issue and record a refresh token (dropping ``replaces``), and issue an access token."""
    now = int(time.time())
    refresh, tid, refresh_exp = tokens.issue_refresh_token(ctx.secret, user_id=user.id)
    entry: dict[str, Any] = {"tokenId": tid, "expiresAt": format_time(refresh_exp), "createdAt": format_time(now)}
    if client.to_json():
        entry["clientInfo"] = client.to_json()
    store = ctx.store
    async with store.transaction():
        value = await settings_store.get_user_setting_for_update(store, user.id, REFRESH_SETTING) or {}
        entries = _live_sessions(value.get("refreshTokens"), now)
        if replaces is not None:
            before = len(entries)
            entries = [e for e in entries if e.get("tokenId") != replaces]
            if len(entries) == before:  # rotated concurrently by another request
                raise unauthenticated("refresh token revoked")
        entries = [*entries, entry][-MAX_SESSIONS:]
        await settings_store.set_user_setting(store, user.id, REFRESH_SETTING, {"refreshTokens": entries})
    access, access_exp = _access_token(ctx, user, tid)
    return Session(user, access, access_exp, refresh, refresh_exp)


async def revoke_sessions(ctx: Context, user_id: int, *, keep: Collection[str] = ()) -> None:
    """End every sign-in session of a user but those whose refresh-token id is in ``keep``.

    A write to the user's stored refresh tokens, which every instance on the database reads on each
    refresh, so the sessions end everywhere at once. Access tokens already issued are stateless and
    run out within their 15 minutes; personal access tokens are not sessions and are left alone.
    Joins the caller's transaction when there is one.
    """
    store = ctx.store
    async with store.transaction():
        value = await settings_store.get_user_setting_for_update(store, user_id, REFRESH_SETTING)
        if not value:
            return
        entries = _live_sessions(value.get("refreshTokens"), int(time.time()))
        kept = [e for e in entries if e.get("tokenId") in keep]
        if kept != value.get("refreshTokens"):
            await settings_store.set_user_setting(store, user_id, REFRESH_SETTING, {"refreshTokens": kept})


async def _session_user(ctx: Context, refresh_token: str | None) -> tuple[User, str]:
    """The live user and token id of a refresh token, or UNAUTHENTICATED."""
    if not refresh_token:
        raise unauthenticated("refresh token not found")
    claims = tokens.verify(ctx.secret, refresh_token, kind="refresh")
    tid = claims.get("tid")
    user = await users_store.get_user(ctx.store, id=claims["user_id"])
    if user is None or user.is_archived:
        raise unauthenticated("user not found")
    value = await settings_store.get_user_setting(ctx.store, user.id, REFRESH_SETTING) or {}
    entries = _live_sessions(value.get("refreshTokens"), int(time.time()))
    if not tid or not any(e.get("tokenId") == tid for e in entries):
        raise unauthenticated("refresh token revoked or expired")
    return user, tid


async def refresh(ctx: Context, refresh_token: str | None, client: ClientInfo) -> Session:
    """Exchange a valid refresh token for a new access token, rotating the refresh token."""
    user, tid = await _session_user(ctx, refresh_token)
    return await start_session(ctx, user, client, replaces=tid)


async def user_for_refresh_token(ctx: Context, refresh_token: str | None) -> User | None:
    """The user a refresh-token cookie belongs to, or ``None`` (the file server's cookie fallback)."""
    try:
        user, _ = await _session_user(ctx, refresh_token)
    except ApiError:
        return None
    return user


async def session_principal(ctx: Context, refresh_token: str | None) -> Principal | None:
    """The caller of a page request authenticated by the refresh cookie alone (the web UI's
    session), or ``None``. The token is checked against the database on every call, so a revoked
    session ends at once on every instance."""
    try:
        user, tid = await _session_user(ctx, refresh_token)
    except ApiError:
        return None
    return Principal(user=user, method="session", token_id=tid, session_ids=(tid,))


async def sign_out(ctx: Context, refresh_token: str | None) -> None:
    """Revoke the session of ``refresh_token`` if it is a valid one; anything else is a no-op."""
    if not refresh_token:
        return
    try:
        claims = tokens.verify(ctx.secret, refresh_token, kind="refresh")
    except ApiError:
        return
    tid = claims.get("tid")
    store = ctx.store
    async with store.transaction():
        value = await settings_store.get_user_setting_for_update(store, claims["user_id"], REFRESH_SETTING)
        if not value or not isinstance(value.get("refreshTokens"), list):
            return
        entries = [e for e in value["refreshTokens"] if not (isinstance(e, dict) and e.get("tokenId") == tid)]
        if len(entries) != len(value["refreshTokens"]):
            await settings_store.set_user_setting(store, claims["user_id"], REFRESH_SETTING, {"refreshTokens": entries})


# -- personal access tokens -----------------------------------------------------------------------
def _epoch(value: Any) -> int:
    if not value:
        return 0
    try:
        return parse_time(value)
    except (ValueError, OverflowError):
        return 0


def _pat_entries(value: dict[str, Any] | None) -> list[dict[str, Any]]:
    entries = (value or {}).get("tokens")
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _check_owner(viewer: Any, user: User, *, admin_may: bool = False) -> None:
    if viewer is None:
        raise unauthenticated("user not authenticated")
    if viewer.id != user.id and not (admin_may and viewer.is_admin):
        raise denied("permission denied")


async def create_personal_access_token(
    ctx: Context, viewer: Any, user: User, *, description: str, expires_in_days: int
) -> tuple[dict[str, Any], str]:
    """Create a PAT for its owner; returns the stored entry and the plaintext (shown only now)."""
    _check_owner(viewer, user)
    if expires_in_days > MAX_PAT_DAYS:
        raise invalid(f"expiresInDays must be at most {MAX_PAT_DAYS}")
    now = int(time.time())
    token = tokens.new_personal_access_token()
    entry: dict[str, Any] = {
        "tokenId": str(uuid.uuid4()),
        "tokenHash": tokens.hash_personal_access_token(token),
        "createdAt": format_time(now),
    }
    if description:
        entry["description"] = description
    if expires_in_days > 0:
        entry["expiresAt"] = format_time(now + expires_in_days * 86400)
    store = ctx.store
    async with store.transaction():
        value = await settings_store.get_user_setting_for_update(store, user.id, PAT_SETTING)
        entries = [*_pat_entries(value), entry]
        await settings_store.set_user_setting(store, user.id, PAT_SETTING, {"tokens": entries})
    return entry, token


async def list_personal_access_tokens(ctx: Context, viewer: Any, user: User) -> list[dict[str, Any]]:
    """The owner's PAT entries (owner or admin)."""
    _check_owner(viewer, user, admin_may=True)
    return _pat_entries(await settings_store.get_user_setting(ctx.store, user.id, PAT_SETTING))


async def delete_personal_access_token(ctx: Context, viewer: Any, user: User, token_id: str) -> None:
    """Remove a PAT of the caller's own; an unknown id is not an error."""
    _check_owner(viewer, user)
    store = ctx.store
    async with store.transaction():
        value = await settings_store.get_user_setting_for_update(store, user.id, PAT_SETTING)
        entries = _pat_entries(value)
        kept = [e for e in entries if e.get("tokenId") != token_id]
        if len(kept) != len(entries):
            await settings_store.set_user_setting(store, user.id, PAT_SETTING, {"tokens": kept})


def pat_needs_touch(entry: dict[str, Any], now: int) -> bool:
    return now - _epoch(entry.get("lastUsedAt")) >= PAT_TOUCH_INTERVAL


async def touch_personal_access_token(store: Any, user_id: int, token_id: str, now: int) -> None:
    """Record ``lastUsedAt`` of a PAT (the caller rate-limits with :func:`pat_needs_touch`)."""
    async with store.transaction():
        value = await settings_store.get_user_setting_for_update(store, user_id, PAT_SETTING)
        entries = _pat_entries(value)
        for entry in entries:
            if entry.get("tokenId") == token_id:
                if not pat_needs_touch(entry, now):
                    return  # another request got here first
                entry["lastUsedAt"] = format_time(now)
                await settings_store.set_user_setting(store, user_id, PAT_SETTING, {"tokens": entries})
                return
