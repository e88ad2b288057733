"""Settings sections for administrators (the menu hides them; their routes refuse others with 403).

Members, System, Memo, Tags, Storage, SSO, AI, Notifications and Plugins, in that order. Each form
posts to its own route, which checks the section (:func:`require_section`: 403 for non-admins
before anything is read or written), builds the API's JSON shape from the form and calls the same
``memos_core`` service the REST handler calls, so validation and access rules are the API's own.
A refused value comes back beside its form with what was typed (never a password, key or secret);
write-only secrets are never read into a page: a section only says whether one is set.

Also here: what those settings serve to every page, ``/web/custom.css``, ``/web/custom.js`` (the
admin's additional style and script, as separate same-origin resources the CSP allows, never
inlined), ``/web/tags.css`` (tag colours) and ``/web/logo`` (an uploaded logo).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import re
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from memos_core import ApiError, Code, context_of, viewer_of
from memos_core.services import idp as idp_service
from memos_core.services import instance as instance_service
from memos_core.services import plugins as plugin_service
from memos_core.services import storage_setting
from memos_core.services import users as users_service

from .. import i18n, instance_style
from ..i18n import N_, gettext
from ..settings import form_error, require_section, saved, section
from ..urls import site_url

routes = web.RouteTableDef()

MIB = 1024 * 1024
#: An uploaded logo is kept in the GENERAL setting as a data URI (as upstream's settings page does).
LOGO_MAX_BYTES = 2 * MIB
_LOGO_TYPES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_GENERAL_SWITCHES = (
    "disallowUserRegistration",
    "disallowPasswordAuth",
    "disallowChangeUsername",
    "disallowChangeNickname",
)
_EMAIL_TEXT = ("smtpHost", "smtpUsername", "fromEmail", "fromName", "replyTo")
_EMAIL_SWITCHES = ("enabled", "useTls", "useSsl")
_S3_TEXT = ("endpoint", "region", "bucket", "accessKeyId")
_OAUTH2_URLS = ("authUrl", "tokenUrl", "userInfoUrl")
_MAPPING = ("identifier", "displayName", "email", "avatarUrl")
#: Prefilled identity providers (the providers' documented OAuth2 endpoints and user claims).
SSO_TEMPLATES: dict[str, dict[str, Any]] = {
    "github": {
        "title": "GitHub",
        "authUrl": "https://github.com/login/oauth/authorize",
        "tokenUrl": "https://github.com/login/oauth/access_token",
        "userInfoUrl": "https://api.github.com/user",
        "scopes": ["read:user", "user:email"],
        "fieldMapping": {"identifier": "login", "displayName": "name", "email": "email", "avatarUrl": "avatar_url"},
    },
    "gitlab": {
        "title": "GitLab",
        "authUrl": "https://gitlab.com/oauth/authorize",
        "tokenUrl": "https://gitlab.com/oauth/token",
        "userInfoUrl": "https://gitlab.com/api/v4/user",
        "scopes": ["read_user"],
        "fieldMapping": {"identifier": "username", "displayName": "name", "email": "email", "avatarUrl": "avatar_url"},
    },
    "google": {
        "title": "Google",
        "authUrl": "https://accounts.google.com/o/oauth2/v2/auth",
        "tokenUrl": "https://oauth2.googleapis.com/token",
        "userInfoUrl": "https://openidconnect.googleapis.com/v1/userinfo",
        "scopes": ["openid", "email", "profile"],
        "fieldMapping": {"identifier": "email", "displayName": "name", "email": "email", "avatarUrl": "picture"},
    },
    "custom": {
        "title": "",
        "authUrl": "",
        "tokenUrl": "",
        "userInfoUrl": "",
        "scopes": [],
        "fieldMapping": {"identifier": "", "displayName": "", "email": "", "avatarUrl": ""},
    },
}
SSO_TEMPLATE_TITLES = {"github": "GitHub", "gitlab": "GitLab", "google": "Google", "custom": N_("Custom")}


# -- form helpers ----------------------------------------------------------------------------------
def _text(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def _checked(form: Any, name: str) -> bool:
    return _text(form, name) in ("on", "1", "true")


def _integer(raw: str, label: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        message = gettext("%(label)s must be a whole number, got %(raw)s", label=gettext(label), raw=repr(raw))
        raise ApiError(Code.INVALID_ARGUMENT, message) from None


async def _submit(
    request: web.Request, section_id: str, typed: dict[str, Any], action: Awaitable[Any]
) -> web.StreamResponse:
    """Run the service call; on success back to the section ("Saved."), else the page again with
    the service's message and ``typed`` kept."""
    try:
        await action
    except ApiError as e:
        return await form_error(request, section_id, e, typed)
    raise saved(section_id)


# -- Members -----------------------------------------------------------------------------------------
@section("members", N_("Members"), admin=True)
async def members_section(request: web.Request) -> dict[str, Any]:
    users = await users_service.list_users(context_of(request), viewer_of(request), None)
    return {"users": users, "me": viewer_of(request).user.username}


@routes.post("/web/setting/members", name="web.setting.members.create")
async def member_create(request: web.Request) -> web.StreamResponse:
    require_section(request, "members")
    form = await request.post()
    typed = {"form": "create", "username": _text(form, "username").strip(), "role": _text(form, "role")}
    body = {"username": typed["username"], "password": _text(form, "password"), "role": typed["role"] or "USER"}
    return await _submit(
        request, "members", typed, users_service.create_user(context_of(request), viewer_of(request), body)
    )


@routes.post("/web/setting/members/{username}", name="web.setting.members.update")
async def member_update(request: web.Request) -> web.StreamResponse:
    """Role and/or a new password (left empty: unchanged)."""
    require_section(request, "members")
    username = request.match_info["username"]
    form = await request.post()
    role, password = _text(form, "role"), _text(form, "password")
    typed = {"form": f"edit:{username}", "role": role}
    body: dict[str, Any] = {}
    if role:
        body["role"] = role
    if password:
        body["password"] = password

    async def update() -> None:
        ctx, viewer = context_of(request), viewer_of(request)
        user = await users_service.get_user(ctx, username)
        if body.get("role") == user.role:
            del body["role"]  # unchanged (and an admin's own row shows its role without changing it)
        if not body:
            raise ApiError(
                Code.INVALID_ARGUMENT, gettext("nothing to change: choose another role or type a new password")
            )
        await users_service.update_user(ctx, viewer, username, body, list(body))

    return await _submit(request, "members", typed, update())


@routes.post("/web/setting/members/{username}/state", name="web.setting.members.state")
async def member_state(request: web.Request) -> web.StreamResponse:
    """Archive (signs the user out everywhere) or restore."""
    require_section(request, "members")
    username = request.match_info["username"]
    form = await request.post()
    state = "NORMAL" if _checked(form, "restore") else "ARCHIVED"
    update = users_service.update_user(context_of(request), viewer_of(request), username, {"state": state}, ["state"])
    return await _submit(request, "members", {"form": f"edit:{username}"}, update)


@routes.post("/web/setting/members/{username}/delete", name="web.setting.members.delete")
async def member_delete(request: web.Request) -> web.StreamResponse:
    """Delete a user and everything they wrote; only once archived, so it is never one click away."""
    require_section(request, "members")
    username = request.match_info["username"]

    async def delete() -> None:
        ctx = context_of(request)
        user = await users_service.get_user(ctx, username)
        if not user.is_archived:
            raise ApiError(
                Code.FAILED_PRECONDITION, gettext("archive %(username)s before deleting the account", username=username)
            )
        await users_service.delete_user(ctx, viewer_of(request), username)

    return await _submit(request, "members", {"form": f"edit:{username}"}, delete())


# -- System ------------------------------------------------------------------------------------------
@section("system", N_("System"), admin=True)
async def system_section(request: web.Request) -> dict[str, Any]:
    general = await instance_service.read_setting(context_of(request).store, viewer_of(request), "GENERAL")
    profile = general.get("customProfile") or {}
    logo = profile.get("logoUrl", "")
    return {
        "general": general,
        "title": profile.get("title", ""),
        "description": profile.get("description", ""),
        "logo_url": "" if logo.startswith("data:") else logo,
        "logo_uploaded": logo.startswith("data:"),
        "logo_src": instance_style.logo_src(logo),
        "weekdays": list(enumerate(day["wide"] for day in i18n.weekday_names(6))),  # Sunday first
    }


def _image_data_uri(field: web.FileField) -> str:
    """An uploaded logo as a data URI; its type comes from its bytes (PNG, JPEG, GIF or WebP)."""
    field.file.seek(0, 2)
    size = field.file.tell()
    if size > LOGO_MAX_BYTES:
        raise ApiError(
            Code.INVALID_ARGUMENT,
            gettext(
                "the logo must be at most 2 MiB (%(name)s is %(size)s MiB)",
                name=field.filename,
                size=round(size / MIB, 1),
            ),
        )
    field.file.seek(0)
    data = field.file.read()
    kind = next((t for magic, t in _LOGO_TYPES if data.startswith(magic)), "")
    if not kind and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind = "image/webp"
    if not kind:
        raise ApiError(Code.INVALID_ARGUMENT, gettext("the logo must be a PNG, JPEG, GIF or WebP image"))
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


def _logo_url(raw: str) -> str:
    """A typed logo address: an http(s) URL or a path on this site (empty: no logo)."""
    url = raw.strip()
    parts = urlsplit(url)
    if not url or (parts.scheme in ("http", "https") and parts.netloc):
        return url
    if url.startswith("/") and not url.startswith(("//", "/\\")):
        return url
    message = gettext("the logo URL must be an http(s) URL or a path on this site: %(url)s", url=repr(url))
    raise ApiError(Code.INVALID_ARGUMENT, message)


@routes.post("/web/setting/system", name="web.setting.system")
async def system_save(request: web.Request) -> web.StreamResponse:
    require_section(request, "system")
    form = await request.post()
    typed: dict[str, Any] = {
        "title": _text(form, "title"),
        "description": _text(form, "description"),
        "logo_url": _text(form, "logo_url"),
        "logo_remove": _checked(form, "logo_remove"),
        "additionalStyle": _text(form, "additionalStyle"),
        "additionalScript": _text(form, "additionalScript"),
        "weekStartDayOffset": _text(form, "weekStartDayOffset"),
        **{name: _checked(form, name) for name in _GENERAL_SWITCHES},
    }

    async def update() -> None:
        ctx, viewer = context_of(request), viewer_of(request)
        current = await instance_service.read_setting(ctx.store, viewer, "GENERAL")
        logo = ((current.get("customProfile") or {}).get("logoUrl")) or ""
        upload = form.get("logo_file")
        if isinstance(upload, web.FileField) and upload.filename:
            logo = await asyncio.to_thread(_image_data_uri, upload)
        elif typed["logo_remove"]:
            logo = ""
        elif typed["logo_url"].strip() or not logo.startswith("data:"):
            logo = _logo_url(typed["logo_url"])
        value = {
            **{name: typed[name] for name in _GENERAL_SWITCHES},
            "additionalStyle": typed["additionalStyle"],
            "additionalScript": typed["additionalScript"],
            "weekStartDayOffset": _integer(typed["weekStartDayOffset"] or "0", N_("The week start day")),
            "customProfile": {"title": typed["title"], "description": typed["description"], "logoUrl": logo},
        }
        await instance_service.update_setting(ctx.store, viewer, "GENERAL", {"generalSetting": value})

    return await _submit(request, "system", typed, update())


# -- Memo --------------------------------------------------------------------------------------------
@section("memo", N_("Memo"), admin=True)
async def memo_section(request: web.Request) -> dict[str, Any]:
    value = await instance_service.read_setting(context_of(request).store, viewer_of(request), "MEMO_RELATED")
    return {"setting": value, "minimum": instance_service.MIN_CONTENT_LENGTH_LIMIT}


@routes.post("/web/setting/memo", name="web.setting.memo")
async def memo_save(request: web.Request) -> web.StreamResponse:
    require_section(request, "memo")
    form = await request.post()
    typed = {
        "contentLengthLimit": _text(form, "contentLengthLimit"),
        "reactions": _text(form, "reactions"),
        "enableDoubleClickEdit": _checked(form, "enableDoubleClickEdit"),
    }

    async def update() -> None:
        reactions = [line.strip() for line in typed["reactions"].splitlines() if line.strip()]
        value = {
            "contentLengthLimit": _integer(typed["contentLengthLimit"], N_("The content length limit")),
            "reactions": list(dict.fromkeys(reactions)),
            "enableDoubleClickEdit": typed["enableDoubleClickEdit"],
        }
        await instance_service.update_setting(
            context_of(request).store, viewer_of(request), "MEMO_RELATED", {"memoRelatedSetting": value}
        )

    return await _submit(request, "memo", typed, update())


# -- Tags --------------------------------------------------------------------------------------------
def _hex(color: dict[str, Any] | None) -> str:
    if not color:
        return ""
    return "#" + "".join(f"{instance_style.channel(color.get(c)):02x}" for c in ("red", "green", "blue"))


def _color(hex_value: str) -> dict[str, float]:
    m = re.fullmatch(r"#?([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})", hex_value.strip())
    if m is None:
        raise ApiError(
            Code.INVALID_ARGUMENT, gettext("a colour is written #rrggbb, got %(value)s", value=repr(hex_value))
        )
    return {c: int(v, 16) / 255 for c, v in zip(("red", "green", "blue"), m.groups(), strict=True)}


@section("tags", N_("Tags"), admin=True)
async def tags_section(request: web.Request) -> dict[str, Any]:
    value = await instance_service.read_setting(context_of(request).store, viewer_of(request), "TAGS")
    rows = []
    for index, (pattern, meta) in enumerate(sorted(value["tags"].items())):
        color = meta.get("backgroundColor")
        rows.append(
            {
                "index": index,
                "pattern": pattern,
                "color": _hex(color) or "#ffd966",
                "has_color": bool(color),
                "blur": meta.get("blurContent", False),
            }
        )
    return {"rows": rows}


def _api_tags(value: dict[str, Any]) -> dict[str, Any]:
    """The TAGS setting as read, back into its update shape (unset colours left out)."""
    out = {}
    for pattern, meta in value["tags"].items():
        entry: dict[str, Any] = {"blurContent": bool(meta.get("blurContent"))}
        color = meta.get("backgroundColor")
        if color:
            entry["backgroundColor"] = {k: v for k, v in color.items() if v is not None}
        out[pattern] = entry
    return out


@routes.post("/web/setting/tags", name="web.setting.tags.save")
async def tag_save(request: web.Request) -> web.StreamResponse:
    """Add a pattern (``original`` empty) or change one (its pattern, colour or blur)."""
    require_section(request, "tags")
    form = await request.post()
    original = _text(form, "original")
    typed = {
        "form": f"tag:{original}" if original else "new",
        "pattern": _text(form, "pattern"),
        "color": _text(form, "color"),
        "use_color": _checked(form, "use_color"),
        "blur": _checked(form, "blur"),
    }

    async def update() -> None:
        ctx, viewer = context_of(request), viewer_of(request)
        tags = _api_tags(await instance_service.read_setting(ctx.store, viewer, "TAGS"))
        pattern = typed["pattern"].strip()
        if not pattern:
            raise ApiError(Code.INVALID_ARGUMENT, gettext("a tag pattern is required"))
        if original and original not in tags:
            raise ApiError(
                Code.NOT_FOUND,
                gettext("the tag pattern %(pattern)s is no longer there: reload the page", pattern=repr(original)),
            )
        if pattern != original and pattern in tags:
            raise ApiError(
                Code.ALREADY_EXISTS, gettext("the tag pattern %(pattern)s is already there", pattern=repr(pattern))
            )
        tags.pop(original, None)
        entry: dict[str, Any] = {"blurContent": typed["blur"]}
        if typed["use_color"]:
            entry["backgroundColor"] = _color(typed["color"])
        tags[pattern] = entry
        await instance_service.update_setting(ctx.store, viewer, "TAGS", {"tagsSetting": {"tags": tags}})

    return await _submit(request, "tags", typed, update())


@routes.post("/web/setting/tags/remove", name="web.setting.tags.remove")
async def tag_remove(request: web.Request) -> web.StreamResponse:
    require_section(request, "tags")
    form = await request.post()
    pattern = _text(form, "pattern")

    async def update() -> None:
        ctx, viewer = context_of(request), viewer_of(request)
        tags = _api_tags(await instance_service.read_setting(ctx.store, viewer, "TAGS"))
        if tags.pop(pattern, None) is None:
            raise ApiError(
                Code.NOT_FOUND,
                gettext("the tag pattern %(pattern)s is no longer there: reload the page", pattern=repr(pattern)),
            )
        await instance_service.update_setting(ctx.store, viewer, "TAGS", {"tagsSetting": {"tags": tags}})

    return await _submit(request, "tags", {"form": f"tag:{pattern}"}, update())


# -- Storage -----------------------------------------------------------------------------------------
@section("storage", N_("Storage"), admin=True)
async def storage_section(request: web.Request) -> dict[str, Any]:
    ctx = context_of(request)
    value = await storage_setting.read_api(ctx, viewer_of(request))  # the secret blanked
    s3 = value.get("s3Config") or {}
    secret_set = bool(((await storage_setting.get(ctx.store)).get("s3Config") or {}).get("accessKeySecret"))
    return {
        "setting": value,
        "s3": {**{name: s3.get(name, "") for name in _S3_TEXT}, "usePathStyle": bool(s3.get("usePathStyle"))},
        "secret_set": secret_set,
        "types": ctx.storages.names(),
        "default_template": storage_setting.DEFAULTS["filepathTemplate"],
    }


@routes.post("/web/setting/storage", name="web.setting.storage")
async def storage_save(request: web.Request) -> web.StreamResponse:
    require_section(request, "storage")
    form = await request.post()
    typed = {
        "storageType": _text(form, "storageType"),
        "uploadSizeLimitMb": _text(form, "uploadSizeLimitMb"),
        "filepathTemplate": _text(form, "filepathTemplate"),
        **{name: _text(form, name) for name in _S3_TEXT},
        "usePathStyle": _checked(form, "usePathStyle"),
    }
    secret = _text(form, "accessKeySecret")  # never kept in ``typed``

    async def update() -> None:
        ctx = context_of(request)
        current = await storage_setting.get(ctx.store)
        s3 = {name: typed[name].strip() for name in _S3_TEXT}
        value: dict[str, Any] = {
            "storageType": typed["storageType"],
            "uploadSizeLimitMb": typed["uploadSizeLimitMb"].strip(),
            "filepathTemplate": typed["filepathTemplate"].strip(),
        }
        if any(s3.values()) or secret or typed["usePathStyle"] or current.get("s3Config"):
            value["s3Config"] = {**s3, "accessKeySecret": secret, "usePathStyle": typed["usePathStyle"]}
        await storage_setting.update_api(ctx, viewer_of(request), {"storageSetting": value})

    return await _submit(request, "storage", typed, update())


# -- SSO -------------------------------------------------------------------------------------------
def _idp_form(config: dict[str, Any], title: str, identifier_filter: str) -> dict[str, Any]:
    """What an identity provider's form shows (its client secret never)."""
    return {
        "title": title,
        "identifierFilter": identifier_filter,
        "clientId": config.get("clientId", ""),
        **{name: config.get(name, "") for name in _OAUTH2_URLS},
        "scopes": " ".join(config.get("scopes") or []),
        **{f"map_{name}": (config.get("fieldMapping") or {}).get(name, "") for name in _MAPPING},
    }


@section("sso", N_("SSO"), admin=True)
async def sso_section(request: web.Request) -> dict[str, Any]:
    providers = []
    for p in await idp_service.list_identity_providers(context_of(request)):
        config = (p.get("config") or {}).get("oauth2Config") or {}
        providers.append(
            {"uid": p["name"].removeprefix(idp_service.PREFIX), **_idp_form(config, p["title"], p["identifierFilter"])}
        )
    chosen = request.query.get("sso_template", "")
    template = SSO_TEMPLATES.get(chosen, SSO_TEMPLATES["custom"])
    new = _idp_form(template, template["title"], "")
    return {
        "providers": providers,
        "new": new,
        "template": chosen if chosen in SSO_TEMPLATES else "",
        "templates": SSO_TEMPLATE_TITLES,
        "redirect_url": site_url(request) + "/auth/callback",
    }


def _idp_typed(form: Any, which: str) -> dict[str, Any]:
    fields = ("title", "identifierFilter", "clientId", *_OAUTH2_URLS, "scopes", *(f"map_{n}" for n in _MAPPING))
    return {"form": which, **{name: _text(form, name) for name in fields}}


def _idp_body(typed: dict[str, Any], secret: str) -> dict[str, Any]:
    oauth2 = {
        "clientId": typed["clientId"].strip(),
        "clientSecret": secret,
        **{name: typed[name].strip() for name in _OAUTH2_URLS},
        "scopes": typed["scopes"].split(),
        "fieldMapping": {name: typed[f"map_{name}"].strip() for name in _MAPPING},
    }
    return {
        "type": idp_service.OAUTH2,
        "title": typed["title"].strip(),
        "identifierFilter": typed["identifierFilter"],
        "config": {"oauth2Config": oauth2},
    }


@routes.post("/web/setting/sso", name="web.setting.sso.create")
async def sso_create(request: web.Request) -> web.StreamResponse:
    require_section(request, "sso")
    form = await request.post()
    typed = _idp_typed(form, "new")

    async def create() -> None:
        if not typed["title"].strip():
            raise ApiError(Code.INVALID_ARGUMENT, gettext("a name for the sign-in button is required"))
        body = _idp_body(typed, _text(form, "clientSecret"))
        await idp_service.create_identity_provider(context_of(request), viewer_of(request), body, None)

    return await _submit(request, "sso", typed, create())


@routes.post("/web/setting/sso/{uid}", name="web.setting.sso.update")
async def sso_update(request: web.Request) -> web.StreamResponse:
    """Everything but the secret, which an empty field keeps."""
    require_section(request, "sso")
    uid = request.match_info["uid"]
    form = await request.post()
    typed = _idp_typed(form, f"idp:{uid}")

    async def update() -> None:
        if not typed["title"].strip():
            raise ApiError(Code.INVALID_ARGUMENT, gettext("a name for the sign-in button is required"))
        body = _idp_body(typed, _text(form, "clientSecret"))
        mask = ["title", "identifier_filter", "config"]
        await idp_service.update_identity_provider(context_of(request), viewer_of(request), uid, body, mask)

    return await _submit(request, "sso", typed, update())


@routes.post("/web/setting/sso/{uid}/delete", name="web.setting.sso.delete")
async def sso_delete(request: web.Request) -> web.StreamResponse:
    require_section(request, "sso")
    uid = request.match_info["uid"]
    delete = idp_service.delete_identity_provider(context_of(request), viewer_of(request), uid)
    return await _submit(request, "sso", {"form": f"idp:{uid}"}, delete)


# -- AI ----------------------------------------------------------------------------------------------
@section("ai", N_("AI"), admin=True)
async def ai_section(request: web.Request) -> dict[str, Any]:
    value = await instance_service.read_setting(context_of(request).store, viewer_of(request), "AI")
    providers = [
        {"id": p["id"], "title": p["title"], "type": p["type"], "endpoint": p["endpoint"], "key_set": p["apiKeySet"]}
        for p in value["providers"]
    ]
    return {"providers": providers, "types": instance_service.AI_DEFAULT_ENDPOINTS}


async def _save_ai(request: web.Request, providers: list[dict[str, Any]]) -> None:
    await instance_service.update_setting(
        context_of(request).store, viewer_of(request), "AI", {"aiSetting": {"providers": providers}}
    )


async def _ai_providers(request: web.Request) -> list[dict[str, Any]]:
    """The stored providers in their update shape; an empty ``apiKey`` keeps each one's key."""
    value = await instance_service.read_setting(context_of(request).store, viewer_of(request), "AI")
    return [{**{k: p[k] for k in ("id", "title", "type", "endpoint")}, "apiKey": ""} for p in value["providers"]]


@routes.post("/web/setting/ai", name="web.setting.ai.save")
async def ai_save(request: web.Request) -> web.StreamResponse:
    """Add a provider (no ``id``) or change one; an empty key keeps the stored one."""
    require_section(request, "ai")
    form = await request.post()
    provider_id = _text(form, "id")
    typed = {
        "form": f"ai:{provider_id}" if provider_id else "new",
        **{name: _text(form, name) for name in ("title", "type", "endpoint")},
    }
    api_key = _text(form, "apiKey")

    async def update() -> None:
        providers = await _ai_providers(request)
        item = {
            "id": provider_id,
            "title": typed["title"],
            "type": typed["type"],
            "endpoint": typed["endpoint"],
            "apiKey": api_key,
        }
        if provider_id:
            if not any(p["id"] == provider_id for p in providers):
                raise ApiError(Code.NOT_FOUND, gettext("this provider is no longer there: reload the page"))
            providers = [item if p["id"] == provider_id else p for p in providers]
        else:
            providers.append(item)
        await _save_ai(request, providers)

    return await _submit(request, "ai", typed, update())


@routes.post("/web/setting/ai/{id}/delete", name="web.setting.ai.delete")
async def ai_delete(request: web.Request) -> web.StreamResponse:
    require_section(request, "ai")
    provider_id = request.match_info["id"]

    async def update() -> None:
        providers = await _ai_providers(request)
        kept = [p for p in providers if p["id"] != provider_id]
        if len(kept) == len(providers):
            raise ApiError(Code.NOT_FOUND, gettext("this provider is no longer there: reload the page"))
        await _save_ai(request, kept)

    return await _submit(request, "ai", {"form": f"ai:{provider_id}"}, update())


# -- Notifications -----------------------------------------------------------------------------------
@section("notifications", N_("Notifications"), admin=True)
async def notifications_section(request: web.Request) -> dict[str, Any]:
    store = context_of(request).store
    value = await instance_service.read_setting(store, viewer_of(request), "NOTIFICATION")  # password blanked
    stored = await instance_service.get_setting(store, "NOTIFICATION")
    return {"email": value["email"], "password_set": bool(stored["email"]["smtpPassword"])}


@routes.post("/web/setting/notifications", name="web.setting.notifications")
async def notifications_save(request: web.Request) -> web.StreamResponse:
    require_section(request, "notifications")
    form = await request.post()
    typed: dict[str, Any] = {
        **{name: _text(form, name) for name in (*_EMAIL_TEXT, "smtpPort")},
        **{name: _checked(form, name) for name in _EMAIL_SWITCHES},
    }
    password = _text(form, "smtpPassword")  # never kept in ``typed``

    async def update() -> None:
        email = {
            **{name: typed[name].strip() for name in _EMAIL_TEXT},
            **{name: typed[name] for name in _EMAIL_SWITCHES},
            "smtpPort": _integer(typed["smtpPort"] or "0", N_("The SMTP port")),
            "smtpPassword": password,
        }
        await instance_service.update_setting(
            context_of(request).store, viewer_of(request), "NOTIFICATION", {"notificationSetting": {"email": email}}
        )

    return await _submit(request, "notifications", typed, update())


# -- Plugins (last in the menu) ----------------------------------------------------------------------
@section("plugins", N_("Plugins"), admin=True)
async def plugins_section(request: web.Request) -> dict[str, Any]:
    listing = plugin_service.list_plugins(context_of(request), viewer_of(request))
    return {"hookspec_version": listing["hookspecVersion"], "plugins": listing["plugins"]}


# -- what the settings serve to every page -----------------------------------------------------------
def _revalidated(request: web.Request, body: bytes, content_type: str, charset: str | None = "utf-8") -> web.Response:
    """``body`` with an ETag, to be revalidated on every use (``no-cache``): a change shows at once."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type=content_type, charset=charset, headers=headers)


@routes.get("/web/custom.css", name="web.custom.css")
async def custom_css(request: web.Request) -> web.Response:
    general = await instance_service.general(context_of(request).store)
    return _revalidated(request, general["additionalStyle"].encode(), "text/css")


@routes.get("/web/custom.js", name="web.custom.js")
async def custom_js(request: web.Request) -> web.Response:
    general = await instance_service.general(context_of(request).store)
    return _revalidated(request, general["additionalScript"].encode(), "text/javascript")


@routes.get("/web/tags.css", name="web.tags.css")
async def tags_css(request: web.Request) -> web.Response:
    setting = await instance_service.get_setting(context_of(request).store, "TAGS")
    return _revalidated(request, instance_style.stylesheet(instance_style.rules(setting)).encode(), "text/css")


@routes.get("/web/logo", name="web.logo")
async def logo(request: web.Request) -> web.Response:
    """An uploaded logo (kept as a data URI in the GENERAL setting), as an image."""
    general = await instance_service.general(context_of(request).store)
    m = instance_style.DATA_URI.match((general.get("customProfile") or {}).get("logoUrl") or "")
    if m is None or m.group(1) not in instance_style.LOGO_TYPES:
        raise web.HTTPNotFound()
    try:
        data = base64.b64decode(m.group(2), validate=True)
    except (binascii.Error, ValueError):
        raise web.HTTPNotFound() from None
    return _revalidated(request, data, m.group(1), charset=None)
