"""Single sign-on: the OAuth2 authorization-code flow with ``state`` and PKCE, done by the server.

``GET /auth/sso/{idp}`` draws a random ``state`` and PKCE ``code_verifier``, keeps them in a short-lived
HttpOnly cookie signed with an HMAC under the instance secret (so any instance serving the database
can check it, and the browser cannot forge it), and sends the browser to the provider's ``authUrl``
with the S256 ``code_challenge``. The provider comes back to ``GET /auth/callback``: the ``state``
must match the cookie's, then the code and verifier go to the core's ``ssoCredentials`` sign-in,
which sets the same refresh cookie as the password form. Every failure lands on the sign-in page
with a message saying what went wrong.

``GET /auth/sso/{idp}/link`` runs the same flow from the account settings in "link" mode: the
callback links the provider's account to the signed-in user who started it, and failures are
reported beside the linked accounts in the settings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from memos_core import CONTEXT, ApiError, Code, context_of, viewer_of
from memos_core.services import auth as auth_service
from memos_core.services import idp as idp_service

from ..i18n import gettext
from ..security import csrf_token, signed_in
from ..settings import form_error
from ..urls import safe_redirect, site_url
from .auth import _auth_page, _signed_in_response, client_info

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

SSO_COOKIE = "memos_sso"
#: How long a started sign-in may take at the provider (upstream's page allows 10 minutes too).
FLOW_SECONDS = 600
_COOKIE_PATH = "/auth"


# -- the signed flow cookie ------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(request: web.Request) -> bytes:
    return hashlib.sha256(("memos-web-sso:" + request.config_dict[CONTEXT].secret).encode()).digest()


def seal(request: web.Request, flow: dict[str, Any]) -> str:
    """``flow`` as ``payload.mac``: readable, but not forgeable without the instance secret."""
    payload = _b64(json.dumps(flow, separators=(",", ":")).encode())
    mac = _b64(hmac.new(_key(request), payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{mac}"


def unseal(request: web.Request, value: str) -> dict[str, Any] | None:
    """The flow in a cookie made by :func:`seal`, or ``None`` if it was altered or has expired."""
    payload, _, mac = value.partition(".")
    expected = _b64(hmac.new(_key(request), payload.encode(), hashlib.sha256).digest())
    if not payload or not hmac.compare_digest(mac, expected):
        return None
    try:
        flow = json.loads(_unb64(payload))
    except ValueError:
        return None
    if not isinstance(flow, dict) or not isinstance(flow.get("exp"), int) or flow["exp"] < time.time():
        return None
    return flow


def code_challenge(verifier: str) -> str:
    """PKCE S256: base64url(SHA-256(verifier)) without padding."""
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


def _clear_flow(response: web.StreamResponse) -> None:
    response.del_cookie(SSO_COOKIE, path=_COOKIE_PATH)


# -- the flow --------------------------------------------------------------------------------------
async def _failed(request: web.Request, message: str, status: int, redirect: str | None = None) -> web.Response:
    response = await _auth_page(request, "signin.html", error=message, redirect=redirect)
    response.set_status(status)
    _clear_flow(response)
    return response


@routes.get("/auth/sso/{idp}", name="web.sso.start")
async def start(request: web.Request) -> web.StreamResponse:
    """Send the browser to the provider, remembering (signed, in a cookie) how to check its answer."""
    ctx = context_of(request)
    uid = request.match_info["idp"]
    target = safe_redirect(request.query.get("redirect"))
    try:
        provider = await idp_service.get_identity_provider(ctx, uid)
    except ApiError:
        return await _failed(request, gettext("This sign-in provider does not exist (any more)."), 404, target)
    config = (provider.get("config") or {}).get("oauth2Config") or {}
    if not config.get("authUrl") or not config.get("clientId"):
        return await _failed(
            request, gettext("Sign-in with %(name)s is not set up completely.", name=provider["title"]), 400, target
        )
    raise _to_provider(request, uid, config, {"redirect": target})


@routes.get("/auth/sso/{idp}/link", name="web.sso.link")
async def start_link(request: web.Request) -> web.StreamResponse:
    """The same flow in "link" mode, from the account settings: the callback links the provider's
    account to the signed-in user it was started by, instead of signing in. A link (the CSP's
    ``form-action`` would stop a form's redirect to the provider), so it carries the page's CSRF
    token: another site cannot start linking for the viewer."""
    viewer = signed_in(request)
    if not hmac.compare_digest(request.query.get("csrf_token", ""), csrf_token(request)):
        raise ApiError(
            Code.PERMISSION_DENIED, gettext("The link expired or did not come from this site: reload and try again.")
        )
    uid = request.match_info["idp"]
    try:
        provider = await idp_service.get_identity_provider(context_of(request), uid)
    except ApiError:
        return await _link_failed(
            request, ApiError(Code.NOT_FOUND, gettext("This sign-in provider does not exist (any more)."))
        )
    config = (provider.get("config") or {}).get("oauth2Config") or {}
    if not config.get("authUrl") or not config.get("clientId"):
        message = gettext("Sign-in with %(name)s is not set up completely.", name=provider["title"])
        return await _link_failed(request, ApiError(Code.FAILED_PRECONDITION, message))
    raise _to_provider(request, uid, config, {"mode": "link", "user": viewer.id, "redirect": LINKED})


def _to_provider(request: web.Request, uid: str, config: dict[str, Any], extra: dict[str, Any]) -> web.HTTPFound:
    """The redirect to the provider's ``authUrl``, with the flow (``extra`` added) in its cookie."""
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(48)  # 64 characters of [A-Za-z0-9_-], within RFC 7636's 43..128
    redirect_uri = site_url(request) + "/auth/callback"
    flow = {
        "state": state,
        "verifier": verifier,
        "idp": uid,
        "redirectUri": redirect_uri,
        **extra,
        "exp": int(time.time()) + FLOW_SECONDS,
    }
    query = {
        "client_id": config["clientId"],
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(config.get("scopes") or []),
        "state": state,
        "code_challenge": code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    auth_url = config["authUrl"]
    response = web.HTTPFound(auth_url + ("&" if "?" in auth_url else "?") + urlencode(query))
    response.set_cookie(
        SSO_COOKIE,
        seal(request, flow),
        path=_COOKIE_PATH,
        max_age=FLOW_SECONDS,
        httponly=True,
        samesite="Lax",
        secure=site_url(request).startswith("https://"),
    )
    return response


def _message(error: ApiError, title: str) -> tuple[str, int]:
    """What the sign-in page says about a refused SSO sign-in, and its status."""
    text = error.message
    if error.code == Code.PERMISSION_DENIED:
        if "registration" in text:
            return (
                gettext(
                    "No account here is linked to this %(name)s account, and registration is closed. "
                    "Ask an administrator to create your account.",
                    name=title,
                ),
                403,
            )
        if "archived" in text:
            return gettext("This account has been archived."), 403
        if text.startswith("identifier "):
            return gettext("This %(name)s account may not sign in here.", name=title), 403
        return text, 403
    if error.code == Code.RESOURCE_EXHAUSTED:
        return text, 429
    log.warning("SSO sign-in with %s failed: %s", title, text)
    return (
        gettext(
            "Signing in with %(name)s failed. Try again, or ask an administrator to check the provider.", name=title
        ),
        502,
    )


@routes.get("/auth/callback", name="web.sso.callback")
async def callback(request: web.Request) -> web.StreamResponse:
    """Check the provider's answer against the flow cookie, then sign in with the code and verifier."""
    ctx = context_of(request)
    flow = unseal(request, request.cookies.get(SSO_COOKIE, ""))
    state = request.query.get("state", "")
    if flow is None or not state or not hmac.compare_digest(state.encode(), str(flow["state"]).encode()):
        return await _failed(
            request, gettext("This sign-in link has expired or was not started here. Please sign in again."), 400
        )
    target = safe_redirect(flow.get("redirect"))
    try:
        title = (await idp_service.get_identity_provider(ctx, str(flow["idp"])))["title"]
    except ApiError:
        return await _failed(request, gettext("This sign-in provider does not exist (any more)."), 400, target)
    if flow.get("mode") == "link":
        return await _link_callback(request, flow, title)
    if request.query.get("error"):
        denied = request.query["error"] == "access_denied"
        message = (
            gettext("Sign-in with %(name)s was cancelled.", name=title)
            if denied
            else gettext("%(name)s refused the sign-in.", name=title)
        )
        return await _failed(request, message, 403 if denied else 400, target)
    code = request.query.get("code", "")
    if not code:
        return await _failed(
            request, gettext("%(name)s sent no authorization code. Please sign in again.", name=title), 400, target
        )
    credentials = {
        "idpName": idp_service.PREFIX + str(flow["idp"]),
        "code": code,
        "redirectUri": str(flow["redirectUri"]),
        "codeVerifier": str(flow["verifier"]),
    }
    try:
        session = await auth_service.sign_in(ctx, {"ssoCredentials": credentials}, client_info(request))
    except ApiError as e:
        message, status = _message(e, title)
        return await _failed(request, message, status, target)
    response = _signed_in_response(request, session, target)
    _clear_flow(response)
    raise response


# -- linking an account (from the account settings) -------------------------------------------------
#: Where a linked account is reported: the account settings, which say what was linked.
LINKED = "/setting?saved=account&what=linked#account"


async def _link_failed(request: web.Request, error: ApiError) -> web.Response:
    """The settings page again, the message beside the linked accounts."""
    response = await form_error(request, "account", error, {"form": "identities"})
    _clear_flow(response)
    return response


def _link_error(error: ApiError, title: str) -> ApiError:
    """What the account settings say about a refused link (the status kept)."""
    if error.code == Code.ALREADY_EXISTS:
        if "another user" in error.message:
            return ApiError(
                error.code, gettext("This %(name)s account is already linked to another user here.", name=title)
            )
        return ApiError(
            error.code, gettext("Another %(name)s account is already linked to yours: unlink it first.", name=title)
        )
    if error.code == Code.PERMISSION_DENIED and error.message.startswith("identifier "):
        return ApiError(error.code, gettext("This %(name)s account may not sign in here.", name=title))
    if error.code in (Code.PERMISSION_DENIED, Code.RESOURCE_EXHAUSTED):
        return error
    log.warning("linking an account of %s failed: %s", title, error.message)
    message = gettext(
        "Linking with %(name)s failed. Try again, or ask an administrator to check the provider.", name=title
    )
    return ApiError(Code.UNAVAILABLE, message, status=502)


async def _link_callback(request: web.Request, flow: dict[str, Any], title: str) -> web.StreamResponse:
    """The provider's answer to a link started from the settings: linked to the account that started
    it, which must still be the one signed in here (else nothing is linked)."""
    viewer = viewer_of(request)
    if viewer is None or viewer.id != flow.get("user"):
        return await _failed(request, gettext("Sign in to the account you were linking, then link it again."), 403)
    if request.query.get("error"):
        denied = request.query["error"] == "access_denied"
        message = (
            gettext("Linking with %(name)s was cancelled.", name=title)
            if denied
            else gettext("%(name)s refused the link.", name=title)
        )
        return await _link_failed(
            request, ApiError(Code.PERMISSION_DENIED if denied else Code.INVALID_ARGUMENT, message)
        )
    code = request.query.get("code", "")
    if not code:
        return await _link_failed(
            request, ApiError(Code.INVALID_ARGUMENT, gettext("%(name)s sent no authorization code.", name=title))
        )
    credentials = {
        "idpName": idp_service.PREFIX + str(flow["idp"]),
        "code": code,
        "redirectUri": str(flow["redirectUri"]),
        "codeVerifier": str(flow["verifier"]),
    }
    try:
        await idp_service.create_linked_identity(context_of(request), viewer, viewer.user.username, credentials)
    except ApiError as e:
        return await _link_failed(request, _link_error(e, title))
    response = web.HTTPSeeOther(LINKED)
    _clear_flow(response)
    raise response
