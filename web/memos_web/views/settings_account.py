"""The account owner's settings sections: My account, Preferences and Webhooks.

Each form posts to its own route, which calls the same ``memos_core`` service as the REST API and
answers with a redirect back to its section (saved) or the page again with the service's message
beside the form that was sent and what was typed kept (never a password or a token).

A new personal access token is the one secret drawn into a page: the answer to the form that
created it, once (pages are ``no-store``); the list shows descriptions and dates only.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from typing import Any

from aiohttp import web

from memos_core import ApiError, Code, Principal, User, context_of
from memos_core.auth.cookies import clear_cookie_headers
from memos_core.services import auth as auth_service
from memos_core.services import idp as idp_service
from memos_core.services import instance
from memos_core.services import users as users_service
from memos_core.services import webhooks as webhooks_service

from .. import i18n, themes
from ..i18n import N_, gettext
from ..security import signed_in
from ..settings import form_error, require_section, saved, section, settings_page
from .preferences import remember_theme

routes = web.RouteTableDef()

#: Choices as ``(value, label)``; the labels are translated where they are drawn.
VISIBILITIES = (("PRIVATE", N_("Private")), ("PROTECTED", N_("Protected (signed-in users)")), ("PUBLIC", N_("Public")))
THEME_CHOICES = (("system", N_("System")), ("light", N_("Light")), ("dark", N_("Dark")))
#: Token lifetimes offered (days; 0 never expires).
TOKEN_EXPIRY = (("30", N_("30 days")), ("90", N_("90 days")), ("0", N_("Never")))
#: The largest avatar accepted (it is stored in the user row, as upstream stores it).
AVATAR_MAX_BYTES = 2 * 1024 * 1024
#: What an avatar's first bytes must be, and the image type it is then stored as.
_IMAGE_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"), (b"GIF87a", "gif"), (b"GIF89a", "gif"))
#: After a change in "My account": what it says, beside which form (``?what=`` of the redirect).
DONE = {
    "avatar": ("avatar", N_("Your avatar was changed.")),
    "avatar-removed": ("avatar", N_("Your avatar was removed.")),
    "password": ("password", N_("Your password was changed. Your other sessions were signed out.")),
    "linked": ("identities", N_("The account was linked: you can sign in with it now.")),
    "unlinked": ("identities", N_("The account was unlinked.")),
    "token-deleted": ("tokens", N_("The token was deleted. Programs using it can no longer sign in.")),
}
_NEW_TOKEN = web.RequestKey("memos_web_new_token", dict)


def _saved(section_id: str, what: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/setting?saved={section_id}&what={what}#{section_id}")


def _refused(message: str) -> ApiError:
    return ApiError(Code.INVALID_ARGUMENT, message)


def _text(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def avatar_src(user: User) -> str:
    """Where the page loads a user's avatar: the avatar route for one stored here (versioned, as the
    route may be cached for an hour), a provider's URL as it is, else nothing."""
    url = user.avatar_url or ""
    if url.startswith("data:"):
        return f"/file/users/{user.username}/avatar?v={user.updated_ts}"
    return url if url.startswith(("https://", "http://")) else ""


def _expired(value: str | None, now: dt.datetime) -> bool:
    try:
        return bool(value) and dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")) <= now
    except ValueError:
        return False


def _viewer(request: web.Request, section_id: str) -> Principal:
    """The signed-in owner sending a form of ``section_id`` (anonymous callers go to sign in)."""
    require_section(request, section_id)
    return signed_in(request)


# -- My account ------------------------------------------------------------------------------------
@section("account", N_("My account"))
async def account_section(request: web.Request) -> dict[str, Any]:
    ctx = context_of(request)
    viewer = signed_in(request)
    user = viewer.user
    general = await instance.general(ctx.store)
    providers = await idp_service.list_identity_providers(ctx)
    linked = {
        i["idpName"]: i["externUid"] for i in await idp_service.list_linked_identities(ctx, viewer, user.username)
    }
    identities = [
        {"uid": p["name"].removeprefix(idp_service.PREFIX), "title": p["title"], "linked": linked.pop(p["name"], None)}
        for p in providers
    ]
    # Links to a provider since deleted still name an account: shown so they can be removed.
    identities += [
        {"uid": name.removeprefix(idp_service.PREFIX), "title": name.removeprefix(idp_service.PREFIX), "linked": uid}
        for name, uid in linked.items()
    ]
    now = dt.datetime.now(dt.UTC)
    tokens = [
        {
            "id": e.get("tokenId", ""),
            "description": e.get("description", ""),
            "created": e.get("createdAt", ""),
            "expires": e.get("expiresAt", ""),
            "last_used": e.get("lastUsedAt", ""),
            "expired": _expired(e.get("expiresAt"), now),
        }
        for e in reversed(await auth_service.list_personal_access_tokens(ctx, viewer, user))
    ]
    done = DONE.get(request.query.get("what", "")) if request.query.get("saved") == "account" else None
    return {
        "user": user,
        "avatar": avatar_src(user),
        "username_locked": bool(general["disallowChangeUsername"]),
        "nickname_locked": bool(general["disallowChangeNickname"]),
        "identities": identities,
        "tokens": tokens,
        "token_expiry": TOKEN_EXPIRY,
        "new_token": request.get(_NEW_TOKEN),
        "done": {"form": done[0], "text": done[1]} if done else None,
    }


@routes.post("/web/setting/profile", name="web.setting.profile")
async def update_profile(request: web.Request) -> web.StreamResponse:
    """Username, display name, email and description: only what changed goes into the update mask,
    so a field the instance locks is refused only when someone tries to change it."""
    viewer = _viewer(request, "account")
    user = viewer.user
    form = await request.post()
    typed = {
        "username": _text(form, "username").strip(),
        "display_name": _text(form, "display_name").strip(),
        "email": _text(form, "email").strip(),
        "description": _text(form, "description"),
    }
    current = {
        "username": user.username,
        "display_name": user.nickname,
        "email": user.email,
        "description": user.description,
    }
    mask = [name for name, value in typed.items() if name in form and value != current[name]]
    if mask:
        body = {
            "username": typed["username"],
            "displayName": typed["display_name"],
            "email": typed["email"],
            "description": typed["description"],
        }
        try:
            await users_service.update_user(context_of(request), viewer, user.username, body, mask)
        except ApiError as e:
            return await form_error(request, "account", e, {"form": "profile", **typed})
    raise saved("account")


def _image_type(head: bytes) -> str | None:
    """The avatar's image type from its first bytes (what the browser says is not trusted)."""
    for magic, kind in _IMAGE_MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


@routes.post("/web/setting/avatar", name="web.setting.avatar")
async def update_avatar(request: web.Request) -> web.StreamResponse:
    """Upload (PNG, JPEG, GIF or WebP, at most 2 MiB) or remove the avatar. It is stored as the API
    stores one, a ``data:image/...;base64`` URL in the user row, served by ``/file/users/{u}/avatar``."""
    viewer = _viewer(request, "account")
    form = await request.post()
    if form.get("remove"):
        avatar, what = "", "avatar-removed"
    else:
        field = form.get("avatar")
        if not isinstance(field, web.FileField) or not field.filename:
            return await form_error(
                request, "account", _refused(gettext("Choose an image to upload.")), {"form": "avatar"}
            )
        data = await asyncio.to_thread(field.file.read, AVATAR_MAX_BYTES + 1)
        if len(data) > AVATAR_MAX_BYTES:
            message = gettext(
                "%(name)s is too large: an avatar may be at most %(limit)s MiB.",
                name=field.filename,
                limit=AVATAR_MAX_BYTES // 1024 // 1024,
            )
            return await form_error(request, "account", _refused(message), {"form": "avatar"})
        kind = _image_type(data[:16])
        if kind is None:
            message = gettext("%(name)s is not a PNG, JPEG, GIF or WebP image.", name=field.filename)
            return await form_error(request, "account", _refused(message), {"form": "avatar"})
        avatar, what = f"data:image/{kind};base64,{base64.b64encode(data).decode()}", "avatar"
    try:
        await users_service.update_user(
            context_of(request), viewer, viewer.user.username, {"avatarUrl": avatar}, ["avatar_url"]
        )
    except ApiError as e:
        return await form_error(request, "account", e, {"form": "avatar"})
    raise _saved("account", what)


@routes.post("/web/setting/password", name="web.setting.password")
async def change_password(request: web.Request) -> web.StreamResponse:
    """A new password, typed twice. As upstream, the current one is not asked for. The users
    service ends every other session of the account; this one, named by the request's session
    cookie, goes on."""
    viewer = _viewer(request, "account")
    form = await request.post()
    password = _text(form, "password")
    if password != _text(form, "password_confirm"):
        return await form_error(
            request, "account", _refused(gettext("The passwords do not match.")), {"form": "password"}
        )
    try:
        await users_service.update_user(
            context_of(request), viewer, viewer.user.username, {"password": password}, ["password"]
        )
    except ApiError as e:
        return await form_error(request, "account", e, {"form": "password"})
    raise _saved("account", "password")


@routes.post("/web/setting/identities/{idp}/unlink", name="web.setting.identities.unlink")
async def unlink_identity(request: web.Request) -> web.StreamResponse:
    viewer = _viewer(request, "account")
    try:
        await idp_service.delete_linked_identity(
            context_of(request), viewer, viewer.user.username, request.match_info["idp"]
        )
    except ApiError as e:
        return await form_error(request, "account", e, {"form": "identities"})
    raise _saved("account", "unlinked")


@routes.post("/web/setting/tokens", name="web.setting.tokens.create")
async def create_token(request: web.Request) -> web.StreamResponse:
    """Create a personal access token and answer with the page showing it, this once."""
    viewer = _viewer(request, "account")
    form = await request.post()
    description = _text(form, "description").strip()
    days = _text(form, "expires")
    typed = {"form": "tokens", "description": description, "expires": days}
    if days not in {value for value, _ in TOKEN_EXPIRY}:
        return await form_error(request, "account", _refused(gettext("Choose when the token expires.")), typed)
    try:
        entry, token = await auth_service.create_personal_access_token(
            context_of(request), viewer, viewer.user, description=description, expires_in_days=int(days)
        )
    except ApiError as e:
        return await form_error(request, "account", e, typed)
    request[_NEW_TOKEN] = {"id": entry["tokenId"], "description": description, "token": token}
    return await settings_page(request)


@routes.post("/web/setting/tokens/{token}/delete", name="web.setting.tokens.delete")
async def delete_token(request: web.Request) -> web.StreamResponse:
    viewer = _viewer(request, "account")
    try:
        await auth_service.delete_personal_access_token(
            context_of(request), viewer, viewer.user, request.match_info["token"]
        )
    except ApiError as e:
        return await form_error(request, "account", e, {"form": "tokens"})
    raise _saved("account", "token-deleted")


@routes.post("/web/setting/delete-account", name="web.setting.delete_account")
async def delete_account(request: web.Request) -> web.StreamResponse:
    """Delete the account and everything in it once its username is typed; then signed out."""
    viewer = _viewer(request, "account")
    username = viewer.user.username
    form = await request.post()
    if _text(form, "confirm").strip() != username:
        message = gettext("Type your username, %(username)s, to confirm. Nothing was deleted.", username=username)
        return await form_error(request, "account", _refused(message), {"form": "delete"})
    try:
        await users_service.delete_user(context_of(request), viewer, username)
    except ApiError as e:
        return await form_error(request, "account", e, {"form": "delete"})
    response = web.HTTPSeeOther("/auth")
    response.headers.update(clear_cookie_headers(request))
    response.headers.pop("Grpc-Metadata-Set-Cookie", None)
    raise response


# -- Preferences -----------------------------------------------------------------------------------
@section("preferences", N_("Preferences"))
async def preferences_section(request: web.Request) -> dict[str, Any]:
    viewer = signed_in(request)
    _, value = await users_service.get_user_setting(context_of(request), viewer, viewer.user.username, "GENERAL")
    locale = value.get("locale") or "en"
    languages = list(i18n.LANGUAGES.items())  # upstream's locale values, each named in itself
    if locale not in i18n.LANGUAGES:  # set by another client: kept, and shown, until changed
        languages.append((locale, locale))
    _, notification = await users_service.get_user_setting(
        context_of(request), viewer, viewer.user.username, users_service.NOTIFICATION_KEY
    )
    return {
        "locale": locale,
        "languages": languages,
        "theme": themes.from_setting(value.get("theme")),
        "themes": THEME_CHOICES,
        "memo_visibility": value.get("memoVisibility") or "PRIVATE",
        "visibilities": VISIBILITIES,
        "email_notifications": notification["emailNotifications"],
        "has_email": bool(viewer.user.email),
    }


@routes.post("/web/setting/preferences", name="web.setting.preferences")
async def update_preferences(request: web.Request) -> web.StreamResponse:
    """Language, theme and default memo visibility, in the GENERAL user setting (upstream's values;
    the theme as the rail's switcher stores it), and whether mail comes about comments and mentions
    (the NOTIFICATION setting). Only what changed is written, so a value another client stored (a
    theme this UI draws as light, say) stays until it is changed here."""
    viewer = _viewer(request, "preferences")
    ctx = context_of(request)
    form = await request.post()
    typed: dict[str, Any] = {name: _text(form, name) for name in ("locale", "theme", "memo_visibility")}
    # An unticked checkbox sends nothing: the hidden marker says the form had the checkbox at all.
    wants_mail = "email_notifications" in form if "email_notifications_shown" in form else None
    typed["email_notifications"] = wants_mail
    _, current = await users_service.get_user_setting(ctx, viewer, viewer.user.username, "GENERAL")
    current_locale = current.get("locale") or "en"
    if typed["locale"] not in i18n.LANGUAGES and typed["locale"] != current_locale:
        return await form_error(request, "preferences", _refused(gettext("Choose a language from the list.")), typed)
    if typed["theme"] not in themes.THEMES:
        return await form_error(request, "preferences", _refused(gettext("Choose a theme from the list.")), typed)
    if typed["memo_visibility"] not in dict(VISIBILITIES):
        return await form_error(request, "preferences", _refused(gettext("Choose a visibility from the list.")), typed)
    changes = {}
    if typed["locale"] != current_locale:
        changes["locale"] = typed["locale"]
    if typed["theme"] != themes.from_setting(current.get("theme")):
        changes["theme"] = themes.STORED[typed["theme"]]
    if typed["memo_visibility"] != (current.get("memoVisibility") or "PRIVATE"):
        changes["memo_visibility"] = typed["memo_visibility"]
    if changes:
        body = {"generalSetting": {"memoVisibility" if k == "memo_visibility" else k: v for k, v in changes.items()}}
        try:
            await users_service.update_user_setting(ctx, viewer, viewer.user.username, "GENERAL", body, list(changes))
        except ApiError as e:
            return await form_error(request, "preferences", e, typed)
    if wants_mail is not None:
        body = {"notificationSetting": {"emailNotifications": wants_mail}}
        key = users_service.NOTIFICATION_KEY
        try:
            await users_service.update_user_setting(ctx, viewer, viewer.user.username, key, body, None)
        except ApiError as e:
            return await form_error(request, "preferences", e, typed)
    response = saved("preferences")
    remember_theme(request, response, typed["theme"])
    raise response


# -- Webhooks --------------------------------------------------------------------------------------
@section("webhooks", N_("Webhooks"))
async def webhooks_section(request: web.Request) -> dict[str, Any]:
    viewer = signed_in(request)
    hooks = await webhooks_service.list_webhooks(context_of(request), viewer, viewer.user.username)
    return {"webhooks": [{**h, "id": h["name"].rsplit("/", 1)[-1]} for h in hooks]}


def _webhook_form(form: Any) -> dict[str, str]:
    return {"display_name": _text(form, "display_name").strip(), "url": _text(form, "url").strip()}


@routes.post("/web/setting/webhooks", name="web.setting.webhooks.create")
async def create_webhook(request: web.Request) -> web.StreamResponse:
    viewer = _viewer(request, "webhooks")
    typed = _webhook_form(await request.post())
    body = {"displayName": typed["display_name"], "url": typed["url"]}
    try:
        await webhooks_service.create_webhook(context_of(request), viewer, viewer.user.username, body)
    except ApiError as e:
        return await form_error(request, "webhooks", e, {"form": "webhook-new", **typed})
    raise saved("webhooks")


@routes.post("/web/setting/webhooks/{webhook}", name="web.setting.webhooks.update")
async def update_webhook(request: web.Request) -> web.StreamResponse:
    """A new name and URL. The API keeps the URL when it is sent empty; a form that sends an empty
    one is refused instead, as creating is."""
    viewer = _viewer(request, "webhooks")
    webhook_id = request.match_info["webhook"]
    typed = _webhook_form(await request.post())
    kept = {"form": f"webhook-{webhook_id}", **typed}
    if not typed["url"]:
        return await form_error(request, "webhooks", _refused(gettext("webhook URL is required")), kept)
    body = {"displayName": typed["display_name"], "url": typed["url"]}
    try:
        await webhooks_service.update_webhook(
            context_of(request), viewer, viewer.user.username, webhook_id, body, ["display_name", "url"]
        )
    except ApiError as e:
        return await form_error(request, "webhooks", e, kept)
    raise saved("webhooks")


@routes.post("/web/setting/webhooks/{webhook}/delete", name="web.setting.webhooks.delete")
async def delete_webhook(request: web.Request) -> web.StreamResponse:
    viewer = _viewer(request, "webhooks")
    try:
        await webhooks_service.delete_webhook(
            context_of(request), viewer, viewer.user.username, request.match_info["webhook"]
        )
    except ApiError as e:
        return await form_error(request, "webhooks", e, {"form": "webhook-list"})
    raise saved("webhooks")
