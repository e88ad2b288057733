"""Identity providers, linked identities and the OAuth2 sign-in exchange.

CRUD of ``identity-providers/{uid}``: anyone signed in may read (List is public), only admins write.
``clientSecret`` is write-only: never returned, and kept when an update sends it empty. Every write
leaves a provider of type ``OAUTH2`` whose config has what the sign-in exchange needs
(:func:`check_oauth2_config`); upstream stores anything and fails at sign-in instead.

The OAuth2 exchange (:func:`resolve_sso_identity`) posts the code to ``tokenUrl`` with the client
credentials in the form body (plus the PKCE ``code_verifier``), then reads ``userInfoUrl`` with the
access token as a Bearer (10 s timeout) and maps top-level string claims through ``fieldMapping``.

Outbound policy: the endpoints are configured by an admin and are routinely private in self-hosted
setups (Keycloak, Authelia, Authentik on the same host or LAN), and upstream v0.28 calls them with a
plain HTTP client. So they go through :func:`memos_core.netguard.guarded_session` with
``allow_private=True``: http(s) only, no cookies, no environment proxies, bounded time and body size,
but private addresses allowed. Users cannot choose these URLs; they only send the code.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import aiohttp

from .. import events, netguard
from ..auth.passwords import hash_password
from ..context import Event
from ..errors import ApiError, Code, already_exists, denied, invalid, not_found, unauthenticated
from ..store import idp as idp_store
from ..store import users as users_store
from ..store.idp import IdentityProvider, UserIdentity
from ..store.users import NORMAL, ROLE_USER, User
from ..wire import UID_RE, snake
from . import instance

if TYPE_CHECKING:
    from ..auth import Principal
    from ..context import Context

PREFIX = "identity-providers/"
OAUTH2 = "OAUTH2"
TYPES = {1: OAUTH2}
UPDATE_PATHS = ("title", "identifier_filter", "config")
#: Where a request body carries the OAuth2 config, for messages naming the field.
BODY_CONFIG = "config.oauth2Config"
#: OAuth2Config fields (protojson names) and their snake_case spellings.
_CONFIG_FIELDS = ("clientId", "clientSecret", "authUrl", "tokenUrl", "userInfoUrl")
_MAPPING_FIELDS = ("identifier", "displayName", "email", "avatarUrl")
#: The provider's endpoints: absolute http(s) URLs.
_URL_FIELDS = ("authUrl", "tokenUrl", "userInfoUrl")
#: Time limit of each call to the provider (upstream: 10 s for userinfo).
HTTP_TIMEOUT = 10.0
#: Largest token or userinfo response read from a provider.
MAX_RESPONSE_BYTES = 1 << 20
_PASSWORD_ALPHABET = string.ascii_letters + string.digits


def _internal(message: str) -> ApiError:
    return ApiError(Code.INTERNAL, message)


# -- JSON shapes ----------------------------------------------------------------------------------
def _string(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(f"{field} must be a string")
    return value


def _field(obj: dict[str, Any], name: str) -> Any:
    """A message field given in camelCase or snake_case (protojson accepts both)."""
    if name in obj:
        return obj[name]
    return obj.get(snake(name))


def _object(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"{field} must be an object")
    return value


def parse_oauth2_config(value: Any, *, field: str = "oauth2Config") -> dict[str, Any]:
    """An ``OAuth2Config`` (API JSON or stored protojson) as a complete dict in protojson names."""
    obj = _object(value, field)
    config: dict[str, Any] = {name: _string(_field(obj, name), f"{field}.{name}") for name in _CONFIG_FIELDS}
    scopes = _field(obj, "scopes")
    if scopes is None:
        scopes = []
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise invalid(f"{field}.scopes must be a list of strings")
    config["scopes"] = list(scopes)
    mapping = _object(_field(obj, "fieldMapping"), f"{field}.fieldMapping")
    config["fieldMapping"] = {
        name: _string(_field(mapping, name), f"{field}.fieldMapping.{name}") for name in _MAPPING_FIELDS
    }
    return config


def _stored_config(config: dict[str, Any]) -> dict[str, Any]:
    """protojson as upstream writes it: empty scalars and lists omitted, the field mapping always present."""
    out: dict[str, Any] = {k: v for k, v in config.items() if k not in ("scopes", "fieldMapping") and v}
    if config["scopes"]:
        out["scopes"] = config["scopes"]
    out["fieldMapping"] = {k: v for k, v in config["fieldMapping"].items() if v}
    return out


def _stored(idp: IdentityProvider) -> dict[str, Any]:
    """The stored config, read leniently (rows written by upstream or by hand)."""
    try:
        return parse_oauth2_config(idp.config, field="config")
    except ApiError:
        return parse_oauth2_config({}, field="config")


def idp_json(idp: IdentityProvider) -> dict[str, Any]:
    """An ``IdentityProvider`` as the API shows it: ``clientSecret`` always empty."""
    is_oauth2 = idp.type == OAUTH2
    config = None
    if is_oauth2:
        oauth2 = dict(_stored(idp))
        oauth2["clientSecret"] = ""
        config = {"oauth2Config": oauth2}
    return {
        "name": PREFIX + idp.uid,
        "type": OAUTH2 if is_oauth2 else "TYPE_UNSPECIFIED",
        "title": idp.title,
        "identifierFilter": idp.identifier_filter,
        "config": config,
    }


def _type(value: Any) -> str:
    """``OAUTH2`` (name or 1); 400 for anything else, unspecified and missing included (the only
    type there is: a provider of no type could never sign anyone in)."""
    if value == OAUTH2 or (isinstance(value, int) and not isinstance(value, bool) and TYPES.get(value) == OAUTH2):
        return OAUTH2
    if value is None:
        raise invalid("type is required: OAUTH2")
    raise invalid(f"type {value!r} is not supported: only OAUTH2 is")


def _body_config(body: dict[str, Any]) -> dict[str, Any]:
    """The body's ``config.oauth2Config``, complete in protojson names; 400 when either is missing."""
    config = body.get("config")
    if config is None:
        raise invalid("config is required")
    oauth2 = _field(_object(config, "config"), "oauth2Config")
    if oauth2 is None:
        raise invalid(f"{BODY_CONFIG} is required")
    return parse_oauth2_config(_object(oauth2, BODY_CONFIG), field=BODY_CONFIG)


def check_oauth2_config(config: dict[str, Any], field: str = BODY_CONFIG) -> None:
    """400 naming the field unless ``config`` (from :func:`parse_oauth2_config`) can be used: a
    ``clientId``, absolute http(s) ``authUrl``, ``tokenUrl`` and ``userInfoUrl``, and the claim the
    account is identified by (``fieldMapping.identifier``, without which no sign-in succeeds).
    ``clientSecret`` may stay empty here: an update keeps the stored one when it is sent empty."""
    if not config["clientId"].strip():
        raise invalid(f"{field}.clientId is required")
    for name in _URL_FIELDS:
        url = config[name]
        if not url:
            raise invalid(f"{field}.{name} is required")
        try:
            if url != url.strip() or any(c.isspace() or not c.isprintable() for c in url):
                raise netguard.BadURL("spaces or control characters")
            netguard.check_url(url, allow_private=True)  # self-hosted providers are often private
        except netguard.BadURL:
            raise invalid(f"{field}.{name} must be an absolute http or https URL: {url!r}") from None
    if not config["fieldMapping"]["identifier"].strip():
        raise invalid(f"{field}.fieldMapping.identifier is required")


# -- identity provider CRUD -----------------------------------------------------------------------
def _require_admin(viewer: Principal | None) -> None:
    if viewer is None:
        raise unauthenticated("user not authenticated")
    if not viewer.is_admin:
        raise denied("permission denied")


def uid_of(name_or_uid: str) -> str:
    """``identity-providers/{uid}`` -> uid; a bare path segment passes through."""
    if name_or_uid.startswith(PREFIX):
        name_or_uid = name_or_uid[len(PREFIX) :]
    return name_or_uid


async def _get(ctx: Context, uid: str) -> IdentityProvider:
    idp = await idp_store.get_idp(ctx.store, uid) if uid else None
    if idp is None:
        raise not_found("identity provider not found")
    return idp


async def list_identity_providers(ctx: Context) -> list[dict[str, Any]]:
    return [idp_json(idp) for idp in await idp_store.list_idps(ctx.store)]


async def get_identity_provider(ctx: Context, uid: str) -> dict[str, Any]:
    return idp_json(await _get(ctx, uid))


async def create_identity_provider(
    ctx: Context, viewer: Principal | None, body: dict[str, Any], idp_id: str | None
) -> dict[str, Any]:
    """CreateIdentityProvider (admin). The uid is ``identityProviderId`` (UIDMatcher) or a short uuid.

    The type must be ``OAUTH2`` and the config pass :func:`check_oauth2_config` (400 otherwise)."""
    from .memos import new_uid

    _require_admin(viewer)
    uid = (idp_id or "").strip()
    if uid and not UID_RE.fullmatch(uid):
        raise invalid(f"invalid identity provider id: {uid!r}")
    uid = uid or new_uid()
    kind = _type(body.get("type"))
    title = _string(body.get("title"), "title")
    identifier_filter = _string(_field(body, "identifierFilter"), "identifierFilter")
    config = _body_config(body)
    check_oauth2_config(config)
    config = _stored_config(config)
    store = ctx.store
    if await idp_store.get_idp(store, uid) is not None:
        raise already_exists(f"identity provider {uid!r} already exists")
    try:
        async with store.transaction():
            idp = await idp_store.insert_idp(
                store,
                uid=uid,
                title=title,
                type=kind,
                identifier_filter=identifier_filter,
                config=config,
            )
    except Exception as e:
        if store.is_unique_violation(e):
            raise already_exists(f"identity provider {uid!r} already exists") from None
        raise
    return idp_json(idp)


async def update_identity_provider(
    ctx: Context, viewer: Principal | None, uid: str, body: dict[str, Any], mask: list[str]
) -> dict[str, Any]:
    """UpdateIdentityProvider (admin): the masked ``title``, ``identifier_filter`` and ``config``;
    other paths are ignored. An empty ``clientSecret`` keeps the stored one.

    A ``type`` in the body must be ``OAUTH2``; an omitted one means the stored type. A new config is
    checked as on create, and an update that would leave the provider without an OAuth2 config (a
    row of another type, written by hand or an old version, not given one) is a 400."""
    _require_admin(viewer)
    if not mask:
        raise invalid("update_mask is required")
    store = ctx.store
    idp = await _get(ctx, uid)
    if body.get("type") is not None:
        _type(body["type"])  # 400 unless OAUTH2
    if idp.type != OAUTH2:
        if "config" not in mask:
            raise invalid("config is required: the stored provider has no OAuth2 config")
        if body.get("type") is None:
            raise invalid("type is required: OAUTH2, with the config the stored provider lacks")
    values: dict[str, Any] = {}
    for path in mask:
        if path == "title":
            values["title"] = _string(body.get("title"), "title")
        elif path == "identifier_filter":
            values["identifier_filter"] = _string(_field(body, "identifierFilter"), "identifierFilter")
        elif path == "config":
            config = _body_config(body)
            if not config["clientSecret"]:
                config["clientSecret"] = _stored(idp)["clientSecret"] if idp.type == OAUTH2 else ""
            check_oauth2_config(config)
            values["config"] = _stored_config(config)
            values["type"] = OAUTH2
    if values:
        async with store.transaction():
            await idp_store.update_idp(store, idp.id, **values)
    return idp_json(await _get(ctx, uid))


async def delete_identity_provider(ctx: Context, viewer: Principal | None, uid: str) -> None:
    """DeleteIdentityProvider (admin). Linked identities are kept."""
    _require_admin(viewer)
    idp = await _get(ctx, uid)
    async with ctx.store.transaction():
        await idp_store.delete_idp(ctx.store, idp.id)


# -- the OAuth2 exchange --------------------------------------------------------------------------
def _credentials(credentials: dict[str, Any]) -> tuple[str, str, str, str]:
    """``(idpName, code, redirectUri, codeVerifier)`` of SSO credentials or a CreateLinkedIdentity body."""
    return (
        _string(_field(credentials, "idpName"), "idpName"),
        _string(credentials.get("code"), "code"),
        _string(_field(credentials, "redirectUri"), "redirectUri"),
        _string(_field(credentials, "codeVerifier"), "codeVerifier"),
    )


async def _read_limited(resp: aiohttp.ClientResponse) -> bytes:
    data = await resp.content.read(MAX_RESPONSE_BYTES + 1)
    if len(data) > MAX_RESPONSE_BYTES:
        raise ValueError("response too large")
    return data


async def exchange_token(
    session: aiohttp.ClientSession, config: dict[str, Any], code: str, redirect_uri: str, code_verifier: str
) -> str:
    """POST the authorization code to ``tokenUrl`` (client credentials in the body); the access token."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": config["clientId"],
        "client_secret": config["clientSecret"],
    }
    if code_verifier:
        form["code_verifier"] = code_verifier
    url = config["tokenUrl"]
    netguard.check_url(url, allow_private=True)
    headers = {"Accept": "application/json"}
    async with session.post(url, data=form, headers=headers) as resp:
        raw = await _read_limited(resp)
        if not 200 <= resp.status < 300:
            raise ValueError(f"token endpoint answered HTTP {resp.status}")
        media = (resp.content_type or "").lower()
    if media in ("application/x-www-form-urlencoded", "text/plain"):
        values: Any = dict(parse_qsl(raw.decode("utf-8", "replace")))
    else:
        values = json.loads(raw)
    if not isinstance(values, dict):
        raise ValueError("token response is not an object")
    if values.get("error"):
        raise ValueError(f"token endpoint error: {str(values['error'])[:100]}")
    token = values.get("access_token")
    if not isinstance(token, str) or not token:
        raise ValueError("missing access token from authorization response")
    return token


async def fetch_user_info(session: aiohttp.ClientSession, config: dict[str, Any], token: str) -> dict[str, str]:
    """GET ``userInfoUrl`` with the Bearer token and map the claims: ``identifier`` (required),
    ``displayName`` (default: the identifier), ``email``, ``avatarUrl``. Claims are top-level keys
    of a flat JSON object, and only string values count."""
    url = config["userInfoUrl"]
    netguard.check_url(url, allow_private=True)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"}
    async with session.get(url, headers=headers) as resp:
        raw = await _read_limited(resp)
        if not 200 <= resp.status < 300:
            raise ValueError(f"userinfo request failed with status {resp.status}")
    claims = json.loads(raw)
    if not isinstance(claims, dict):
        raise ValueError("userinfo response is not a JSON object")
    mapping = config["fieldMapping"]

    def claim(name: str) -> str:
        key = mapping.get(name) or ""
        value = claims.get(key) if key else None
        return value if isinstance(value, str) else ""

    identifier = claim("identifier")
    if not identifier:
        raise ValueError(f"the field {mapping['identifier']!r} is not found in claims or has empty value")
    return {
        "identifier": identifier,
        "displayName": claim("displayName") or identifier,
        "email": claim("email"),
        "avatarUrl": claim("avatarUrl"),
    }


async def resolve_sso_identity(ctx: Context, credentials: dict[str, Any]) -> tuple[IdentityProvider, dict[str, str]]:
    """Run the exchange for ``{idpName, code, redirectUri, codeVerifier}``: the provider and the mapped
    user info, once the identifier passed the provider's ``identifierFilter`` (else 403)."""
    idp_name, code, redirect_uri, code_verifier = _credentials(credentials)
    if not idp_name.startswith(PREFIX) or "/" in idp_name[len(PREFIX) :] or idp_name == PREFIX:
        raise invalid(f"invalid identity provider name: {idp_name!r}")
    idp = await idp_store.get_idp(ctx.store, uid_of(idp_name))
    if idp is None:
        raise invalid("identity provider not found")
    if idp.type != OAUTH2:
        raise _internal(f"unsupported identity provider type {idp.type!r}")
    config = _stored(idp)
    for value, field in (
        (config["clientId"], "clientId"),
        (config["clientSecret"], "clientSecret"),
        (config["tokenUrl"], "tokenUrl"),
        (config["userInfoUrl"], "userInfoUrl"),
        (config["fieldMapping"]["identifier"], "fieldMapping.identifier"),
    ):
        if not value:
            raise _internal(f'the field "{field}" of the identity provider is empty but required')
    async with netguard.guarded_session(allow_private=True, timeout=HTTP_TIMEOUT) as session:
        try:
            token = await exchange_token(session, config, code, redirect_uri, code_verifier)
        except (aiohttp.ClientError, TimeoutError, ValueError, UnicodeDecodeError) as e:
            raise _internal(f"failed to exchange token, error: {_reason(e)}") from None
        try:
            info = await fetch_user_info(session, config, token)
        except (aiohttp.ClientError, TimeoutError, ValueError, UnicodeDecodeError) as e:
            raise _internal(f"failed to get user info, error: {_reason(e)}") from None
    if idp.identifier_filter:
        try:
            pattern = re.compile(idp.identifier_filter)
        except re.error as e:
            raise _internal(f"failed to compile identifier filter regex, error: {e}") from None
        if not pattern.search(info["identifier"]):
            raise denied(f"identifier {info['identifier']} is not allowed")
    return idp, info


def _reason(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return "timed out"
    if isinstance(e, json.JSONDecodeError):
        return "invalid JSON response"
    return str(e)[:200] or type(e).__name__


# -- resolving accounts ---------------------------------------------------------------------------
async def _linked_user(ctx: Context, provider: str, extern_uid: str) -> User | None:
    link = await idp_store.find_identity(ctx.store, provider=provider, extern_uid=extern_uid)
    if link is None:
        return None
    user = await users_store.get_user(ctx.store, id=link.user_id)
    if user is None:
        raise _internal(f"linked user {link.user_id} not found for identity {link.id}")
    return user


def _random_password(length: int = 20) -> str:
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))


async def sign_in_user(ctx: Context, credentials: dict[str, Any]) -> User:
    """The user an SSO sign-in resolves to: the linked one, else (registration allowed) a new USER
    named by a fresh UUIDv4 and linked in the same transaction."""
    idp, info = await resolve_sso_identity(ctx, credentials)
    provider, extern_uid = idp.uid, info["identifier"]
    user = await _linked_user(ctx, provider, extern_uid)
    if user is not None:
        return user
    store = ctx.store
    if (await instance.general(store))["disallowUserRegistration"]:
        raise denied("user registration is not allowed")
    password_hash = await hash_password(_random_password())
    now = int(time.time())
    values = {
        "username": str(uuid.uuid4()),
        "role": ROLE_USER,
        "row_status": NORMAL,
        "email": info["email"],
        "nickname": info["displayName"],
        "avatar_url": info["avatarUrl"],
        "description": "",
        "password_hash": password_hash,
        "created_ts": now,
        "updated_ts": now,
    }
    try:
        user = await idp_store.create_user_with_identity(
            store, values, provider=provider, extern_uid=extern_uid, now=now
        )
    except Exception as e:
        if not store.is_unique_violation(e):
            raise
        # A concurrent first sign-in of this account won: its transaction rolled ours back (the
        # provisional user included), and its link is committed, so use its user.
        winner = await _linked_user(ctx, provider, extern_uid)
        if winner is None:
            raise _internal("failed to create user: a unique constraint failed") from None
        return winner
    from .users import user_to_json

    await ctx.emit(Event(events.USER_CREATED, user_to_json(user, user), actor=user))
    return user


async def link_identity(
    ctx: Context, user: User, provider: str, extern_uid: str, *, retried: bool = False
) -> UserIdentity:
    """Link ``extern_uid`` at ``provider`` to ``user``: 409 if that account belongs to someone else or
    the user already links another account of this provider; relinking the same account is a no-op."""
    store = ctx.store
    owner = await _linked_user(ctx, provider, extern_uid)
    if owner is not None and owner.id != user.id:
        raise already_exists("identity provider account is already linked to another user")
    existing = await idp_store.find_identity(store, provider=provider, user_id=user.id)
    if existing is not None:
        if existing.extern_uid == extern_uid:
            return existing
        raise already_exists("identity provider is already linked to another external account for this user")
    try:
        async with store.transaction():
            await idp_store.insert_identity(
                store, user_id=user.id, provider=provider, extern_uid=extern_uid, now=int(time.time())
            )
    except Exception as e:
        if not store.is_unique_violation(e):
            raise
        if retried:
            raise already_exists("identity provider account is already linked") from None
        # A concurrent request linked first: decide once more, now seeing its row.
        return await link_identity(ctx, user, provider, extern_uid, retried=True)
    linked = await idp_store.find_identity(store, provider=provider, user_id=user.id)
    if linked is None:
        raise _internal("linked identity not found after creation")
    return linked


# -- linked identities API ------------------------------------------------------------------------
def linked_identity_json(user: User, identity: UserIdentity) -> dict[str, Any]:
    return {
        "name": f"{user.name}/linkedIdentities/{identity.provider}",
        "idpName": PREFIX + identity.provider,
        "externUid": identity.extern_uid,
    }


async def _parent(ctx: Context, viewer: Principal | None, username: str, *, self_only: bool = False) -> User:
    """The path user: self, or (unless ``self_only``) any user for an admin. An unknown user is a
    400 (``invalid parent``), as upstream answers."""
    if viewer is None:
        raise unauthenticated("user not authenticated")
    user = await users_store.get_user(ctx.store, username=username) if username else None
    if user is None or user.username != username:
        raise invalid(f"invalid parent: user not found: {username}")
    if viewer.id != user.id and (self_only or not viewer.is_admin):
        raise denied("permission denied")
    return user


async def list_linked_identities(ctx: Context, viewer: Principal | None, username: str) -> list[dict[str, Any]]:
    user = await _parent(ctx, viewer, username)
    return [linked_identity_json(user, i) for i in await idp_store.list_identities(ctx.store, user.id)]


async def get_linked_identity(ctx: Context, viewer: Principal | None, username: str, provider: str) -> dict[str, Any]:
    user = await _parent(ctx, viewer, username)
    identity = await idp_store.find_identity(ctx.store, provider=provider, user_id=user.id)
    if identity is None:
        raise not_found("linked identity not found")
    return linked_identity_json(user, identity)


async def create_linked_identity(
    ctx: Context, viewer: Principal | None, username: str, body: dict[str, Any]
) -> dict[str, Any]:
    """CreateLinkedIdentity (self only): run the OAuth exchange, then link the account."""
    user = await _parent(ctx, viewer, username, self_only=True)
    idp, info = await resolve_sso_identity(ctx, body)
    identity = await link_identity(ctx, user, idp.uid, info["identifier"])
    return linked_identity_json(user, identity)


async def delete_linked_identity(ctx: Context, viewer: Principal | None, username: str, provider: str) -> None:
    user = await _parent(ctx, viewer, username)
    store = ctx.store
    if await idp_store.find_identity(store, provider=provider, user_id=user.id) is None:
        raise not_found("linked identity not found")
    async with store.transaction():
        await idp_store.delete_identity(store, user_id=user.id, provider=provider)
