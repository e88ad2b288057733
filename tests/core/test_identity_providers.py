"""IdentityProviderService over HTTP (SPEC §10, §3.3): shapes, access, the write-only secret, masks."""

import json

import sqlalchemy as sa

from memos_core.api.v1.jsonutil import UID_RE
from memos_core.context import CONTEXT
from memos_core.store import tables

BASE = "/api/v1/identity-providers"
OAUTH2 = {
    "clientId": "client-1",
    "clientSecret": "secret-1",
    "authUrl": "https://idp.example.com/authorize",
    "tokenUrl": "https://idp.example.com/token",
    "userInfoUrl": "https://idp.example.com/userinfo",
    "scopes": ["openid", "profile"],
    "fieldMapping": {"identifier": "login", "displayName": "name", "email": "email", "avatarUrl": "picture"},
}


def idp_body(**overrides):
    body = {"type": "OAUTH2", "title": "Example", "identifierFilter": "", "config": {"oauth2Config": dict(OAUTH2)}}
    body.update(overrides)
    return body


async def stored_row(client, uid):
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        row = await ctx.store.fetch_one(sa.select(*tables.idp.c).where(tables.idp.c.uid == uid))
    return row


def stored_config(row):
    config = row["config"]
    return config if isinstance(config, dict) else json.loads(config)


async def create(client, admin, uid=None, **overrides):
    params = {"identityProviderId": uid} if uid else None
    r = await client.post(BASE, json=idp_body(**overrides), params=params, headers=admin.headers)
    assert r.status == 200, await r.text()
    return await r.json()


async def test_create_shape_and_secret_never_returned(memos_client, memos_users):
    admin = await memos_users("admin", role="ADMIN")
    data = await create(memos_client, admin, "github")
    assert data == {
        "name": "identity-providers/github",
        "type": "OAUTH2",
        "title": "Example",
        "identifierFilter": "",
        "config": {"oauth2Config": {**OAUTH2, "clientSecret": ""}},
    }
    # Stored as protojson of OAuth2Config, secret included.
    row = await stored_row(memos_client, "github")
    assert row["name"] == "Example" and row["type"] == "OAUTH2" and row["identifier_filter"] == ""
    assert stored_config(row) == OAUTH2
    # Neither Get nor List echo the secret.
    for r in (
        await memos_client.get(f"{BASE}/github", headers=admin.headers),
        await memos_client.get(BASE),
    ):
        assert r.status == 200
        assert "secret-1" not in await r.text()
    listed = await (await memos_client.get(BASE)).json()
    assert listed == {"identityProviders": [data]}


async def test_generated_uid_and_id_validation(memos_client, memos_users):
    admin = await memos_users("admin", role="ADMIN")
    data = await create(memos_client, admin)
    uid = data["name"].removeprefix("identity-providers/")
    assert UID_RE.fullmatch(uid) and len(uid) == 22
    for bad in ("-bad", "bad_id", "a" * 37):
        r = await memos_client.post(BASE, json=idp_body(), params={"identityProviderId": bad}, headers=admin.headers)
        assert r.status == 400, bad
        assert (await r.json())["code"] == 3
    await create(memos_client, admin, "dup")
    r = await memos_client.post(BASE, json=idp_body(), params={"identityProviderId": "dup"}, headers=admin.headers)
    assert r.status == 409
    r = await memos_client.post(BASE, json=idp_body(type="SAML"), headers=admin.headers)
    assert r.status == 400


async def test_snake_case_input_and_defaults(memos_client, memos_users):
    admin = await memos_users("admin", role="ADMIN")
    body = {
        "type": 1,
        "title": "Snake",
        "identifier_filter": "^a",
        "config": {
            "oauth2_config": {"client_id": "c", "token_url": "https://t", "field_mapping": {"identifier": "sub"}}
        },
    }
    r = await memos_client.post(BASE, json=body, params={"identityProviderId": "snake"}, headers=admin.headers)
    assert r.status == 200
    data = await r.json()
    assert data["identifierFilter"] == "^a"
    assert data["config"]["oauth2Config"] == {
        "clientId": "c",
        "clientSecret": "",
        "authUrl": "",
        "tokenUrl": "https://t",
        "userInfoUrl": "",
        "scopes": [],
        "fieldMapping": {"identifier": "sub", "displayName": "", "email": "", "avatarUrl": ""},
    }
    # Defaults are omitted in the stored protojson.
    assert stored_config(await stored_row(memos_client, "snake")) == {
        "clientId": "c",
        "tokenUrl": "https://t",
        "fieldMapping": {"identifier": "sub"},
    }


async def test_access_codes(memos_client, memos_users):
    admin = await memos_users("admin", role="ADMIN")
    user = await memos_users("alice")
    await create(memos_client, admin, "gh")
    # List is public.
    assert (await memos_client.get(BASE)).status == 200
    # Get needs a signed-in caller (memos-py enforces the ACL on REST, docs/deviations.md).
    assert (await memos_client.get(f"{BASE}/gh")).status == 401
    assert (await memos_client.get(f"{BASE}/gh", headers=user.headers)).status == 200
    assert (await memos_client.get(f"{BASE}/nope", headers=user.headers)).status == 404
    # Writes: anonymous 401, users 403.
    for headers, status in (({}, 401), (user.headers, 403)):
        assert (await memos_client.post(BASE, json=idp_body(), headers=headers)).status == status
        r = await memos_client.patch(f"{BASE}/gh", json={"title": "x"}, params={"updateMask": "title"}, headers=headers)
        assert r.status == status
        assert (await memos_client.delete(f"{BASE}/gh", headers=headers)).status == status
    assert (await memos_client.get(f"{BASE}/gh", headers=user.headers)).status == 200


async def test_update_mask_rules_and_secret_kept(memos_client, memos_users):
    admin = await memos_users("admin", role="ADMIN")
    await create(memos_client, admin, "gh")
    url = f"{BASE}/gh"
    # Empty mask: 400.
    r = await memos_client.patch(url, json={"title": "x"}, params={"updateMask": ""}, headers=admin.headers)
    assert r.status == 400
    r = await memos_client.patch(url, json={}, headers=admin.headers)
    assert r.status == 400
    # Unknown paths are ignored; only masked fields change.
    r = await memos_client.patch(
        url,
        json={"title": "New", "identifierFilter": "^x$"},
        params={"updateMask": "title,bogus"},
        headers=admin.headers,
    )
    assert r.status == 200
    data = await r.json()
    assert data["title"] == "New" and data["identifierFilter"] == ""
    # camelCase mask paths are accepted; a missing IdP is 404.
    r = await memos_client.patch(
        url, json={"identifierFilter": "^x$"}, params={"updateMask": "identifierFilter"}, headers=admin.headers
    )
    assert (await r.json())["identifierFilter"] == "^x$"
    r = await memos_client.patch(
        f"{BASE}/none", json={"title": "y"}, params={"updateMask": "title"}, headers=admin.headers
    )
    assert r.status == 404
    # Config with an empty secret keeps the stored secret.
    config = {**OAUTH2, "clientSecret": "", "clientId": "client-2", "scopes": ["email"]}
    r = await memos_client.patch(
        url,
        json={"type": "OAUTH2", "config": {"oauth2Config": config}},
        params={"updateMask": "config"},
        headers=admin.headers,
    )
    assert r.status == 200
    out = (await r.json())["config"]["oauth2Config"]
    assert out["clientId"] == "client-2" and out["scopes"] == ["email"] and out["clientSecret"] == ""
    stored = stored_config(await stored_row(memos_client, "gh"))
    assert stored["clientSecret"] == "secret-1" and stored["clientId"] == "client-2"
    # A new secret replaces it; the type may be omitted.
    config["clientSecret"] = "secret-2"
    r = await memos_client.patch(
        url, json={"config": {"oauth2Config": config}}, params={"updateMask": "config"}, headers=admin.headers
    )
    assert r.status == 200 and "secret-2" not in await r.text()
    assert stored_config(await stored_row(memos_client, "gh"))["clientSecret"] == "secret-2"
    # An omitted mask is derived from the body.
    r = await memos_client.patch(url, json={"name": "identity-providers/gh", "title": "Derived"}, headers=admin.headers)
    assert r.status == 200 and (await r.json())["title"] == "Derived"
    row = await stored_row(memos_client, "gh")
    assert row["name"] == "Derived" and stored_config(row)["clientSecret"] == "secret-2"


async def test_delete(memos_client, memos_users):
    admin = await memos_users("admin", role="ADMIN")
    await create(memos_client, admin, "gh")
    await create(memos_client, admin, "other")
    r = await memos_client.delete(f"{BASE}/gh", headers=admin.headers)
    assert r.status == 200 and await r.json() == {}
    assert (await memos_client.get(f"{BASE}/gh", headers=admin.headers)).status == 404
    assert (await memos_client.delete(f"{BASE}/gh", headers=admin.headers)).status == 404
    listed = await (await memos_client.get(BASE)).json()
    assert [i["name"] for i in listed["identityProviders"]] == ["identity-providers/other"]


async def test_list_order_is_creation_order(memos_client, memos_users):
    admin = await memos_users("admin", role="ADMIN")
    for uid in ("zeta", "alpha", "mid"):
        await create(memos_client, admin, uid, title=uid)
    listed = await (await memos_client.get(BASE)).json()
    assert [i["title"] for i in listed["identityProviders"]] == ["zeta", "alpha", "mid"]
