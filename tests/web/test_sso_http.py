"""Web SSO: the sign-in page's "Sign in with <provider>" runs the OAuth2 code flow with state and PKCE
against a local fake provider, and signs the browser in with the same refresh cookie as the form."""

import base64
import hashlib
import json
from urllib.parse import parse_qs, urlsplit

from fixtures import oauth_provider as oauth

from memos_core.context import CONTEXT
from memos_core.store import settings as settings_store
from memos_core.store import users as users_store

provider = oauth.provider  # the fake OAuth2 provider fixture
make_idp = oauth.make_idp

OCTOCAT = {"login": "octocat", "name": "The Octocat", "email": "octo@example.com"}


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


async def setup_idp(client, memos_users, provider):
    admin = await memos_users("admin", role="ADMIN")
    await make_idp(client, admin, provider)
    provider.next_claims = dict(OCTOCAT)
    return admin


async def start(client, redirect="/explore"):
    """GET /auth/sso/fake: the redirect to the provider (not followed) and its query."""
    r = await client.get("/auth/sso/fake", params={"redirect": redirect}, allow_redirects=False)
    assert r.status == 302, await r.text()
    location = r.headers["Location"]
    return r, location, {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def follow(client, url):
    """Follow redirects the way a browser does, across the app and the provider (one cookie jar)."""
    return await client.session.get(url if url.startswith("http") else str(client.make_url(url)))


def cookie(client, name):
    for c in client.session.cookie_jar:
        if c.key == name:
            return c.value
    return None


async def users_named(client, nickname):
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        return [u for u in await users_store.list_users(ctx.store) if u.nickname == nickname]


async def test_sign_in_button_runs_the_code_flow_with_state_and_pkce(memos_client, memos_users, provider):
    await setup_idp(memos_client, memos_users, provider)
    page = await memos_client.get("/auth", params={"redirect": "/explore?tag=x"})
    assert 'href="/auth/sso/fake?redirect=/explore%3Ftag%3Dx"' in await page.text()

    r, location, query = await start(memos_client, "/explore?tag=x")
    assert location.startswith(provider.url("/authorize") + "?")
    callback = str(memos_client.make_url("/auth/callback"))
    assert query == {
        "client_id": "memos-client",
        "redirect_uri": callback,
        "response_type": "code",
        "scope": "user",
        "state": query["state"],
        "code_challenge": query["code_challenge"],
        "code_challenge_method": "S256",
    }
    assert len(query["state"]) >= 32
    [flow_cookie] = [h for h in r.headers.getall("Set-Cookie") if h.startswith("memos_sso=")]
    attrs = {a.strip().split("=")[0].lower() for a in flow_cookie.split(";")[1:]}
    assert {"httponly", "samesite", "max-age", "path"} <= attrs and "SameSite=Lax" in flow_cookie

    # The browser goes to the provider, which sends it back; the callback signs it in and returns.
    done = await follow(memos_client, location)
    assert done.status == 200, await done.text()
    assert done.url.path == "/explore" and done.url.query == {"tag": "x"}
    assert "Sign out" in await done.text()

    # The provider got the code with the verifier whose S256 challenge went to /authorize.
    [auth_query] = provider.authorize_requests
    [form] = provider.token_requests
    assert form["code_verifier"] and s256(form["code_verifier"]) == auth_query["code_challenge"]
    assert 43 <= len(form["code_verifier"]) <= 128
    assert form["redirect_uri"] == callback and form["client_id"] == "memos-client"

    # The session is the API's refresh cookie; the flow cookie is gone.
    assert cookie(memos_client, "memos_refresh")
    assert not cookie(memos_client, "memos_sso")
    home = await memos_client.get("/home", allow_redirects=False)
    assert home.status == 200 and '<p class="whoami">The Octocat</p>' in await home.text()
    [user] = await users_named(memos_client, "The Octocat")
    assert user.role == "USER"

    # Signing in again through the provider finds the same linked user.
    out = await memos_client.post("/auth/signout", data={"csrf_token": _csrf(await home.text())})
    assert out.status == 200 and out.url.path == "/auth" and not cookie(memos_client, "memos_refresh")
    provider.next_claims = dict(OCTOCAT, name="Renamed")
    _, location, _ = await start(memos_client, "/home")
    again = await follow(memos_client, location)
    assert again.status == 200 and again.url.path == "/home"
    assert len(await users_named(memos_client, "The Octocat")) == 1


def _csrf(html: str) -> str:
    marker = '<meta name="csrf-token" content="'
    return html.split(marker, 1)[1].split('"', 1)[0]


async def test_state_mismatch_is_refused(memos_client, memos_users, provider):
    await setup_idp(memos_client, memos_users, provider)
    _, _, query = await start(memos_client)
    code = provider.code_for(OCTOCAT)
    r = await memos_client.get("/auth/callback", params={"code": code, "state": "forged-" + query["state"]})
    assert r.status == 400
    assert "expired or was not started here" in await r.text()
    assert provider.token_requests == []  # the code was never redeemed
    assert not cookie(memos_client, "memos_refresh")
    assert await users_named(memos_client, "The Octocat") == []

    # No flow cookie at all (another browser, or the cookie expired): refused too.
    _, _, query = await start(memos_client)
    memos_client.session.cookie_jar.clear()
    r = await memos_client.get("/auth/callback", params={"code": code, "state": query["state"]})
    assert r.status == 400 and provider.token_requests == []

    # A flow cookie altered by the browser (its own state written in) fails the signature.
    _, _, query = await start(memos_client)
    sealed = cookie(memos_client, "memos_sso")
    payload, mac = sealed.split(".")
    flow = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    flow["state"] = "chosen"
    forged = base64.urlsafe_b64encode(json.dumps(flow).encode()).rstrip(b"=").decode() + "." + mac
    memos_client.session.cookie_jar.update_cookies({"memos_sso": forged})
    r = await memos_client.get("/auth/callback", params={"code": code, "state": "chosen"})
    assert r.status == 400 and provider.token_requests == []


async def test_a_flow_is_used_once(memos_client, memos_users, provider):
    await setup_idp(memos_client, memos_users, provider)
    _, _, query = await start(memos_client)
    code = provider.code_for(OCTOCAT)
    params = {"code": code, "state": query["state"]}
    first = await memos_client.get("/auth/callback", params=params, allow_redirects=False)
    assert first.status == 303 and first.headers["Location"] == "/explore"
    replay = await memos_client.get("/auth/callback", params=params, allow_redirects=False)
    assert replay.status == 400
    assert len(provider.token_requests) == 1


async def test_redirect_is_validated(memos_client, memos_users, provider):
    await setup_idp(memos_client, memos_users, provider)
    for hostile in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        memos_client.session.cookie_jar.clear()
        _, location, _ = await start(memos_client, hostile)
        done = await follow(memos_client, location)
        assert done.status == 200
        assert str(done.url) == str(memos_client.make_url("/home")), hostile


async def test_denied_consent_lands_on_the_sign_in_page(memos_client, memos_users, provider):
    await setup_idp(memos_client, memos_users, provider)
    provider.deny = True
    _, location, _ = await start(memos_client, "/explore")
    r = await follow(memos_client, location)
    assert r.status == 403 and r.url.path == "/auth/callback"
    text = await r.text()
    assert "Sign-in with Fake was cancelled." in text and 'action="/auth"' in text
    assert provider.token_requests == [] and not cookie(memos_client, "memos_refresh")
    assert not cookie(memos_client, "memos_sso")


async def test_closed_registration_is_explained(memos_client, memos_users, provider):
    await setup_idp(memos_client, memos_users, provider)
    ctx = memos_client.app[CONTEXT]
    async with ctx.store.connection():
        await settings_store.set_instance_setting(ctx.store, "GENERAL", {"disallowUserRegistration": True})
    _, location, _ = await start(memos_client)
    r = await follow(memos_client, location)
    assert r.status == 403
    assert "registration is closed" in await r.text()
    assert await users_named(memos_client, "The Octocat") == []
    assert not cookie(memos_client, "memos_refresh")


async def test_unknown_provider(memos_client, memos_users, provider):
    await setup_idp(memos_client, memos_users, provider)
    r = await memos_client.get("/auth/sso/nope", allow_redirects=False)
    assert r.status == 404 and "does not exist" in await r.text()
    assert provider.authorize_requests == []
