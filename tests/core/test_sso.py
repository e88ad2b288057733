"""SSO sign-in and linked identities over HTTP against a local fake OAuth2 provider."""

import asyncio
import uuid

from fixtures import oauth_provider as oauth

from memos_core.context import CONTEXT
from memos_core.store import settings as settings_store
from memos_core.store import users as users_store

SIGNIN = "/api/v1/auth/signin"
REDIRECT = "https://memos.example.com/auth/callback"


provider = oauth.provider  # the fake OAuth2 provider fixture
make_idp = oauth.make_idp


async def sso(client, idp_name, code, **extra):
    credentials = {"idpName": idp_name, "code": code, "redirectUri": REDIRECT, **extra}
    r = await client.post(SIGNIN, json={"ssoCredentials": credentials})
    client.session.cookie_jar.clear()
    return r


async def set_general(client, **values):
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        await settings_store.set_instance_setting(ctx.store, "GENERAL", values)


async def user_count(client):
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        return await users_store.count_users(ctx.store)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


async def test_first_sso_signin_creates_a_linked_uuid_user(memos_client, memos_users, provider):
    admin = await memos_users("admin", role="ADMIN")
    idp = await make_idp(memos_client, admin, provider)
    claims = {"login": "octocat", "name": "The Octocat", "email": "octo@example.com", "avatar": "https://a/x.png"}
    r = await sso(memos_client, idp, provider.code_for(claims), codeVerifier="verifier-123")
    assert r.status == 200, await r.text()
    body = await r.json()
    assert set(body) == {"user", "accessToken", "accessTokenExpiresAt"}
    user = body["user"]
    assert str(uuid.UUID(user["username"], version=4)) == user["username"]
    assert user["role"] == "USER" and user["displayName"] == "The Octocat"
    assert user["email"] == "octo@example.com" and user["avatarUrl"] == "https://a/x.png"
    assert r.headers["Set-Cookie"].startswith("memos_refresh=")
    # The provider got the client credentials, the code, the redirect URI and the PKCE verifier in the body.
    [form] = provider.token_requests
    assert form == {
        "grant_type": "authorization_code",
        "code": form["code"],
        "redirect_uri": REDIRECT,
        "client_id": "memos-client",
        "client_secret": "s3cret",
        "code_verifier": "verifier-123",
    }
    assert provider.userinfo_auth == ["Bearer at-" + form["code"]]
    # The access token works, and the account is linked.
    me = await memos_client.get("/api/v1/auth/me", headers=bearer(body["accessToken"]))
    assert me.status == 200 and (await me.json())["user"]["username"] == user["username"]
    links = await memos_client.get(f"/api/v1/{user['name']}/linkedIdentities", headers=bearer(body["accessToken"]))
    assert await links.json() == {
        "linkedIdentities": [
            {
                "name": f"{user['name']}/linkedIdentities/fake",
                "idpName": "identity-providers/fake",
                "externUid": "octocat",
            }
        ]
    }


async def test_second_signin_finds_the_same_user(memos_client, memos_users, provider):
    admin = await memos_users("admin", role="ADMIN")
    idp = await make_idp(memos_client, admin, provider)
    first = await (await sso(memos_client, idp, provider.code_for({"login": "octocat"}))).json()
    assert first["user"]["displayName"] == "octocat"  # defaults to the identifier
    count = await user_count(memos_client)
    r = await sso(memos_client, idp, provider.code_for({"login": "octocat", "name": "Renamed"}))
    assert r.status == 200
    assert (await r.json())["user"]["username"] == first["user"]["username"]
    assert await user_count(memos_client) == count
    # No code verifier: none is sent.
    assert "code_verifier" not in provider.token_requests[-1]


async def test_identifier_filter(memos_client, memos_users, provider):
    admin = await memos_users("admin", role="ADMIN")
    idp = await make_idp(memos_client, admin, provider, identifier_filter="@example\\.com")
    count = await user_count(memos_client)
    r = await sso(memos_client, idp, provider.code_for({"login": "eve@evil.test"}))
    assert r.status == 403 and (await r.json())["code"] == 7
    assert await user_count(memos_client) == count
    # Unanchored: a match anywhere is enough.
    r = await sso(memos_client, idp, provider.code_for({"login": "bob@example.com.au"}))
    assert r.status == 200


async def test_disallow_user_registration(memos_client, memos_users, provider):
    admin = await memos_users("admin", role="ADMIN")
    idp = await make_idp(memos_client, admin, provider)
    assert (await sso(memos_client, idp, provider.code_for({"login": "known"}))).status == 200
    await set_general(memos_client, disallowUserRegistration=True, disallowPasswordAuth=True)
    count = await user_count(memos_client)
    r = await sso(memos_client, idp, provider.code_for({"login": "newcomer"}))
    assert r.status == 403 and "registration" in (await r.json())["message"]
    assert await user_count(memos_client) == count
    # A linked account still signs in (disallowPasswordAuth does not apply to SSO).
    assert (await sso(memos_client, idp, provider.code_for({"login": "known"}))).status == 200


async def test_identifier_must_be_a_string_claim(memos_client, memos_users, provider):
    admin = await memos_users("admin", role="ADMIN")
    idp = await make_idp(memos_client, admin, provider, identifier="id")
    count = await user_count(memos_client)
    r = await sso(memos_client, idp, provider.code_for({"id": 583231, "login": "octocat"}))
    assert r.status == 500 and (await r.json())["code"] == 13
    # Nested claims are not looked into either.
    idp2 = await make_idp(memos_client, admin, provider, "nested", identifier="login")
    r = await sso(memos_client, idp2, provider.code_for({"user": {"login": "octocat"}}))
    assert r.status == 500
    assert await user_count(memos_client) == count


async def test_exchange_failures(memos_client, memos_users, provider):
    admin = await memos_users("admin", role="ADMIN")
    idp = await make_idp(memos_client, admin, provider)
    # Unknown provider or a malformed name: 400.
    assert (await sso(memos_client, "identity-providers/none", "c")).status == 400
    assert (await sso(memos_client, "idp/fake", "c")).status == 400
    # A code the provider refuses, a failing userinfo endpoint: 500.
    assert (await sso(memos_client, idp, "unknown-code")).status == 500
    provider.userinfo_status = 503
    assert (await sso(memos_client, idp, provider.code_for({"login": "x"}))).status == 500
    provider.userinfo_status = 200
    # A provider missing what the exchange needs: 500, before any request.
    before = len(provider.token_requests)
    bad = await make_idp(memos_client, admin, provider, "nosecret", clientSecret="")
    assert (await sso(memos_client, bad, provider.code_for({"login": "x"}))).status == 500
    assert len(provider.token_requests) == before
    # Both credential kinds at once: 400.
    r = await memos_client.post(
        SIGNIN,
        json={"ssoCredentials": {"idpName": idp}, "passwordCredentials": {"username": "a", "password": "b"}},
    )
    assert r.status == 400


async def test_archived_linked_user_is_refused(memos_client, memos_users, provider):
    admin = await memos_users("admin", role="ADMIN")
    idp = await make_idp(memos_client, admin, provider)
    user = (await (await sso(memos_client, idp, provider.code_for({"login": "gone"}))).json())["user"]
    r = await memos_client.patch(
        f"/api/v1/{user['name']}", json={"state": "ARCHIVED"}, params={"updateMask": "state"}, headers=admin.headers
    )
    assert r.status == 200
    assert (await sso(memos_client, idp, provider.code_for({"login": "gone"}))).status == 403


async def test_create_linked_identity(memos_client, memos_users, provider):
    admin = await memos_users("admin", role="ADMIN")
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    idp = await make_idp(memos_client, admin, provider)
    url = "/api/v1/users/alice/linkedIdentities"

    def link_body(login, **extra):
        return {"idpName": idp, "code": provider.code_for({"login": login}), "redirectUri": REDIRECT, **extra}

    r = await memos_client.post(url, json=link_body("alice-gh", codeVerifier="v"), headers=alice.headers)
    assert r.status == 200, await r.text()
    expected = {
        "name": "users/alice/linkedIdentities/fake",
        "idpName": "identity-providers/fake",
        "externUid": "alice-gh",
    }
    assert await r.json() == expected
    assert provider.token_requests[-1]["code_verifier"] == "v"
    # Relinking the same account is idempotent.
    r = await memos_client.post(url, json=link_body("alice-gh"), headers=alice.headers)
    assert r.status == 200 and await r.json() == expected
    # Another account of the same provider: 409.
    r = await memos_client.post(url, json=link_body("alice-other"), headers=alice.headers)
    assert r.status == 409 and (await r.json())["code"] == 6
    # Someone else's account: 409.
    r = await memos_client.post("/api/v1/users/bob/linkedIdentities", json=link_body("alice-gh"), headers=bob.headers)
    assert r.status == 409
    # Self only: not for another user (admins included), not anonymously.
    assert (await memos_client.post(url, json=link_body("x"), headers=bob.headers)).status == 403
    assert (await memos_client.post(url, json=link_body("x"), headers=admin.headers)).status == 403
    assert (await memos_client.post(url, json=link_body("x"))).status == 401
    # SSO with the linked account signs in as alice; no user is created.
    count = await user_count(memos_client)
    r = await sso(memos_client, idp, provider.code_for({"login": "alice-gh"}))
    assert r.status == 200 and (await r.json())["user"]["username"] == "alice"
    assert await user_count(memos_client) == count
    # The filter applies to linking too.
    strict = await make_idp(memos_client, admin, provider, "strict", identifier_filter="^corp-")
    body = {"idpName": strict, "code": provider.code_for({"login": "alice"}), "redirectUri": REDIRECT}
    assert (await memos_client.post(url, json=body, headers=alice.headers)).status == 403


async def test_get_list_delete_linked_identities(memos_client, memos_users, provider):
    admin = await memos_users("admin", role="ADMIN")
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    idp = await make_idp(memos_client, admin, provider)
    body = {"idpName": idp, "code": provider.code_for({"login": "a1"}), "redirectUri": REDIRECT}
    assert (
        await memos_client.post("/api/v1/users/alice/linkedIdentities", json=body, headers=alice.headers)
    ).status == 200
    one = "/api/v1/users/alice/linkedIdentities/fake"
    # Self or admin; others 403; anonymous 401; unknown user 400.
    for headers in (alice.headers, admin.headers):
        assert (await memos_client.get(one, headers=headers)).status == 200
        assert (await memos_client.get("/api/v1/users/alice/linkedIdentities", headers=headers)).status == 200
    assert (await memos_client.get(one, headers=bob.headers)).status == 403
    assert (await memos_client.get("/api/v1/users/alice/linkedIdentities", headers=bob.headers)).status == 403
    assert (await memos_client.get(one)).status == 401
    assert (await memos_client.get("/api/v1/users/nobody/linkedIdentities", headers=admin.headers)).status == 400
    assert (await memos_client.get("/api/v1/users/alice/linkedIdentities/other", headers=alice.headers)).status == 404
    assert await (await memos_client.get("/api/v1/users/bob/linkedIdentities", headers=bob.headers)).json() == {
        "linkedIdentities": []
    }
    assert (await memos_client.delete(one, headers=bob.headers)).status == 403
    r = await memos_client.delete(one, headers=alice.headers)
    assert r.status == 200 and await r.json() == {}
    assert (await memos_client.get(one, headers=alice.headers)).status == 404
    assert (await memos_client.delete(one, headers=alice.headers)).status == 404


async def test_deleting_the_idp_keeps_links(memos_client, memos_users, provider):
    admin = await memos_users("admin", role="ADMIN")
    idp = await make_idp(memos_client, admin, provider)
    first = await (await sso(memos_client, idp, provider.code_for({"login": "keeper"}))).json()
    assert (await memos_client.delete(f"/api/v1/{idp}", headers=admin.headers)).status == 200
    assert (await sso(memos_client, idp, provider.code_for({"login": "keeper"}))).status == 400
    await make_idp(memos_client, admin, provider)  # the same uid again
    r = await sso(memos_client, idp, provider.code_for({"login": "keeper"}))
    assert (await r.json())["user"]["username"] == first["user"]["username"]


async def test_concurrent_first_signins_share_one_user(memos_client, memos_users, provider):
    admin = await memos_users("admin", role="ADMIN")
    idp = await make_idp(memos_client, admin, provider)
    count = await user_count(memos_client)
    codes = [provider.code_for({"login": "racer"}) for _ in range(3)]
    responses = await asyncio.gather(
        *(
            memos_client.post(SIGNIN, json={"ssoCredentials": {"idpName": idp, "code": c, "redirectUri": REDIRECT}})
            for c in codes
        )
    )
    assert [r.status for r in responses] == [200, 200, 200]
    names = {(await r.json())["user"]["username"] for r in responses}
    assert len(names) == 1
    assert await user_count(memos_client) == count + 1
