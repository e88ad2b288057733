"""Sign in, sign up, sign out: plain forms that set or clear the same refresh cookie as the API."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from memos_core import ApiError, Principal, context_of, viewer_of
from memos_core.auth.cookies import clear_cookie_headers, cookie_headers, refresh_cookie_of
from memos_core.clientip import client_ip
from memos_core.services import auth as auth_service
from memos_core.services import idp as idp_service
from memos_core.services import instance, password_reset
from memos_core.services import users as users_service

from .. import i18n
from ..i18n import gettext as _
from ..render import render
from ..urls import safe_redirect

routes = web.RouteTableDef()


def client_info(request: web.Request) -> auth_service.ClientInfo:
    return auth_service.ClientInfo.from_headers(request.headers, client_ip(request))


async def _auth_page(request: web.Request, template: str, **extra: Any) -> web.Response:
    ctx = context_of(request)
    general = await instance.general(ctx.store)
    needs_admin = await instance.latest_admin(ctx.store) is None
    providers = [] if needs_admin else await idp_service.list_identity_providers(ctx)
    data = {
        "redirect": safe_redirect(request.query.get("redirect") or extra.pop("redirect", None)),
        "needs_admin": needs_admin,
        "allow_signup": needs_admin or not (general["disallowUserRegistration"] or general["disallowPasswordAuth"]),
        "allow_password": needs_admin or not general["disallowPasswordAuth"],
        "providers": providers,
        "error": "",
        "username": "",
        "notice": request.query.get("notice", ""),
        # "Forgot password?" only while a reset link could actually be sent.
        "can_recover": template == "signin.html" and not needs_admin and await password_reset.available(ctx),
    }
    data.update(extra)
    return await render(request, template, data, status=400 if data["error"] else 200)


def _signed_in_response(request: web.Request, session: auth_service.Session, target: str) -> web.Response:
    response = web.HTTPSeeOther(target)
    response.headers.update(cookie_headers(request, session.refresh_token, session.refresh_expires_at))
    response.headers.pop("Grpc-Metadata-Set-Cookie", None)
    return response


@routes.get("/auth", name="web.signin")
async def signin_page(request: web.Request) -> web.StreamResponse:
    if viewer_of(request) is not None:
        raise web.HTTPFound(safe_redirect(request.query.get("redirect")))
    ctx = context_of(request)
    if await instance.latest_admin(ctx.store) is None:
        raise web.HTTPFound("/auth/signup")
    return await _auth_page(request, "signin.html")


@routes.post("/auth", name="web.signin.submit")
async def signin_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = str(form.get("username", "")).strip()
    target = safe_redirect(str(form.get("redirect", "")))
    body = {"passwordCredentials": {"username": username, "password": str(form.get("password", ""))}}
    try:
        session = await auth_service.sign_in(context_of(request), body, client_info(request))
    except ApiError as e:
        message = _("Incorrect username or password.") if e.code.http_status in (400, 401) else e.message
        return await _auth_page(request, "signin.html", error=message, username=username, redirect=target)
    raise _signed_in_response(request, session, target)


@routes.get("/auth/signup", name="web.signup")
async def signup_page(request: web.Request) -> web.StreamResponse:
    if viewer_of(request) is not None:
        raise web.HTTPFound("/home")
    return await _auth_page(request, "signup.html")


@routes.post("/auth/signup", name="web.signup.submit")
async def signup_submit(request: web.Request) -> web.StreamResponse:
    ctx = context_of(request)
    form = await request.post()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    if password != str(form.get("password_confirm", password)):
        return await _auth_page(request, "signup.html", error=_("The passwords do not match."), username=username)
    try:
        await users_service.create_user(ctx, None, {"username": username, "password": password})
        session = await auth_service.sign_in(
            ctx, {"passwordCredentials": {"username": username, "password": password}}, client_info(request)
        )
    except ApiError as e:
        return await _auth_page(request, "signup.html", error=e.message, username=username)
    await _keep_language(request, session)
    raise _signed_in_response(request, session, "/home")


async def _keep_language(request: web.Request, session: auth_service.Session) -> None:
    """A new account keeps the language its sign-up page was shown in (the browser's), so the pages
    do not turn English once signed in: the GENERAL setting's locale otherwise defaults to English."""
    lang = await i18n.language_of(request)
    if lang.code == i18n.DEFAULT:
        return
    owner = Principal(user=session.user, method="web-signup")
    body = {"generalSetting": {"locale": lang.code}}
    await users_service.update_user_setting(
        context_of(request), owner, session.user.username, "GENERAL", body, ["locale"]
    )


@routes.post("/auth/signout", name="web.signout")
async def signout(request: web.Request) -> web.StreamResponse:
    await auth_service.sign_out(context_of(request), refresh_cookie_of(request))
    response = web.HTTPSeeOther("/auth")
    response.headers.update(clear_cookie_headers(request))
    response.headers.pop("Grpc-Metadata-Set-Cookie", None)
    raise response
