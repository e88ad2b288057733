"""IdentityProviderService over HTTP: shapes, access, the write-only secret, masks, and the checks
that keep every stored provider usable (type OAUTH2, a config with a client id, absolute http(s)
endpoints and the identifier claim)."""

import json

import pytest
import sqlalchemy as sa

from memos_core.context import CONTEXT
from memos_core.store import tables
from memos_core.wire import UID_RE

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
            "oauth2_config": {
                "client_id": "c",
                "auth_url": "https://a",
                "token_url": "https://t",
                "user_info_url": "https://u",
                "field_mapping": {"identifier": "sub"},
            }
        },
    }
    r = await memos_client.post(BASE, json=body, params={"identityProviderId": "snake"}, headers=admin.headers)
    assert r.status == 200
    data = await r.json()
    assert data["identifierFilter"] == "^a"
    assert data["config"]["oauth2Config"] == {
        "clientId": "c",
        "clientSecret": "",
        "authUrl": "https://a",
        "tokenUrl": "https://t",
        "userInfoUrl": "https://u",
        "scopes": [],
        "fieldMapping": {"identifier": "sub", "displayName": "", "email": "", "avatarUrl": ""},
    }
    # Defaults are omitted in the stored protojson.
    assert stored_config(await stored_row(memos_client, "snake")) == {
        "clientId": "c",
        "authUrl": "https://a",
        "tokenUrl": "https://t",
        "userInfoUrl": "https://u",
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


# -- validation ----------------------------------------------------------------------------------------
def oauth2(**changes):
    """``OAUTH2`` with some fields changed; a value of ``None`` removes the field."""
    config = {**OAUTH2, "fieldMapping": dict(OAUTH2["fieldMapping"])}
    for key, value in changes.items():
        if key.startswith("fieldMapping."):
            config["fieldMapping"][key.split(".", 1)[1]] = value
        elif value is None:
            config.pop(key)
        else:
            config[key] = value
    return {"oauth2Config": config}


CFG = "config.oauth2Config"
#: (case, config or a whole-body change, the field the 400 names)
BAD_CONFIGS = [
    ("no config", {"config": None}, "config"),
    ("config not an object", {"config": "oauth2"}, "config"),
    ("empty config", {"config": {}}, CFG),
    ("null oauth2Config", {"config": {"oauth2Config": None}}, CFG),
    ("oauth2Config not an object", {"config": {"oauth2Config": ["x"]}}, CFG),
    ("no clientId", {"config": oauth2(clientId=None)}, f"{CFG}.clientId"),
    ("blank clientId", {"config": oauth2(clientId="  ")}, f"{CFG}.clientId"),
    ("no authUrl", {"config": oauth2(authUrl=None)}, f"{CFG}.authUrl"),
    ("relative authUrl", {"config": oauth2(authUrl="/authorize")}, f"{CFG}.authUrl"),
    ("javascript authUrl", {"config": oauth2(authUrl="javascript:alert(1)")}, f"{CFG}.authUrl"),
    ("ftp tokenUrl", {"config": oauth2(tokenUrl="ftp://idp.example.com/token")}, f"{CFG}.tokenUrl"),
    ("tokenUrl without host", {"config": oauth2(tokenUrl="https:///token")}, f"{CFG}.tokenUrl"),
    ("tokenUrl with a space", {"config": oauth2(tokenUrl=" https://idp.example.com/token")}, f"{CFG}.tokenUrl"),
    ("tokenUrl not a string", {"config": oauth2(tokenUrl=42)}, f"{CFG}.tokenUrl"),
    ("no scheme userInfoUrl", {"config": oauth2(userInfoUrl="idp.example.com/userinfo")}, f"{CFG}.userInfoUrl"),
    ("empty userInfoUrl", {"config": oauth2(userInfoUrl="")}, f"{CFG}.userInfoUrl"),
    ("bad port userInfoUrl", {"config": oauth2(userInfoUrl="https://idp:99999/u")}, f"{CFG}.userInfoUrl"),
    ("no fieldMapping", {"config": oauth2(fieldMapping=None)}, f"{CFG}.fieldMapping.identifier"),
    ("empty identifier", {"config": oauth2(**{"fieldMapping.identifier": ""})}, f"{CFG}.fieldMapping.identifier"),
    (
        "snake_case, no client id",
        {
            "config": {
                "oauth2_config": {"auth_url": "https://a", "token_url": "https://t", "user_info_url": "https://u"}
            }
        },
        f"{CFG}.clientId",
    ),
]
BAD_CREATES = [
    ("TYPE_UNSPECIFIED", {"type": "TYPE_UNSPECIFIED"}, "type"),
    ("type 0", {"type": 0}, "type"),
    ("no type", {"type": None}, "type"),
    ("unknown type", {"type": "SAML"}, "type"),
    ("unknown type number", {"type": 2}, "type"),
    *BAD_CONFIGS,
]


async def listed(client, admin):
    r = await client.get(BASE, headers=admin.headers)
    assert r.status == 200
    return await r.json()


async def assert_refused(r, field):
    assert r.status == 400, await r.text()
    error = await r.json()
    assert error["code"] == 3 and error["details"] == []
    assert error["message"].split(" ")[0] == field, error["message"]  # the message names the field


@pytest.mark.parametrize(("case", "change", "field"), BAD_CREATES, ids=[c[0] for c in BAD_CREATES])
async def test_create_refuses_unusable_providers(memos_client, memos_users, case, change, field):
    admin = await memos_users("admin", role="ADMIN")
    await create(memos_client, admin, "gh")
    before = await listed(memos_client, admin)
    body = {key: value for key, value in idp_body(**change).items() if value is not None or key == "config"}
    if change.get("config", ...) is None:
        body.pop("config")  # missing altogether
    r = await memos_client.post(BASE, json=body, params={"identityProviderId": "bad"}, headers=admin.headers)
    await assert_refused(r, field)
    assert await listed(memos_client, admin) == before
    assert await stored_row(memos_client, "bad") is None


async def test_create_refuses_explicit_null_config(memos_client, memos_users):
    admin = await memos_users("admin", role="ADMIN")
    r = await memos_client.post(BASE, json=idp_body(config=None), headers=admin.headers)
    await assert_refused(r, "config")
    assert await listed(memos_client, admin) == {"identityProviders": []}


BAD_UPDATES = [
    ("TYPE_UNSPECIFIED with a config", {"type": "TYPE_UNSPECIFIED"}, "config", "type"),
    ("TYPE_UNSPECIFIED with a title", {"type": "TYPE_UNSPECIFIED", "title": "T"}, "title", "type"),
    ("unknown type", {"type": "SAML"}, "config", "type"),
    *[(case, change, "config", field) for case, change, field in BAD_CONFIGS],
    ("a good title, a bad config", {"title": "T", "config": oauth2(authUrl="/a")}, "title,config", f"{CFG}.authUrl"),
    ("a derived mask, a null config", {"config": None}, None, "config"),
]


@pytest.mark.parametrize(("case", "change", "mask", "field"), BAD_UPDATES, ids=[c[0] for c in BAD_UPDATES])
async def test_update_refuses_unusable_providers(memos_client, memos_users, case, change, mask, field):
    admin = await memos_users("admin", role="ADMIN")
    await create(memos_client, admin, "gh")
    await create(memos_client, admin, "other", title="Other")
    before, row = await listed(memos_client, admin), await stored_row(memos_client, "gh")
    body = {"type": "OAUTH2", "title": "Example", "config": oauth2(), **change}
    if mask is not None and body.get("config", ...) is None:
        body.pop("config")  # missing altogether
    elif mask is None:
        body = change
    params = {"updateMask": mask} if mask else None
    r = await memos_client.patch(f"{BASE}/gh", json=body, params=params, headers=admin.headers)
    await assert_refused(r, field)
    assert await listed(memos_client, admin) == before
    assert dict((await stored_row(memos_client, "gh"))._mapping) == dict(row._mapping)  # the secret too


async def test_update_never_leaves_a_provider_without_config(memos_client, memos_users):
    """A row of no type (written by hand, or by an old version) is shown without a config; any update
    that would keep it that way is refused, and giving it an OAuth2 config repairs it."""
    admin = await memos_users("admin", role="ADMIN")
    ctx = memos_client.app[CONTEXT]
    legacy = {"uid": "legacy", "name": "Old", "type": "TYPE_UNSPECIFIED", "identifier_filter": "", "config": "{}"}
    async with ctx.store.connection(), ctx.store.transaction():
        await ctx.store.execute(tables.idp.insert().values(**legacy))
    before = await listed(memos_client, admin)
    assert before["identityProviders"][0]["config"] is None
    url = f"{BASE}/legacy"
    for body, mask, field in (
        ({"title": "New"}, "title", "config"),
        ({"config": oauth2()}, "config", "type"),  # the stored type cannot read it
        ({"type": "TYPE_UNSPECIFIED", "config": oauth2()}, "config", "type"),
        ({"type": "OAUTH2", "title": "New"}, "title", "config"),
        ({"type": "OAUTH2", "config": {}}, "config", CFG),
    ):
        r = await memos_client.patch(url, json=body, params={"updateMask": mask}, headers=admin.headers)
        await assert_refused(r, field)
        assert await listed(memos_client, admin) == before
    r = await memos_client.patch(
        url, json={"type": "OAUTH2", "config": oauth2()}, params={"updateMask": "config"}, headers=admin.headers
    )
    assert r.status == 200, await r.text()
    data = await r.json()
    assert data["type"] == "OAUTH2" and data["config"] == {"oauth2Config": {**OAUTH2, "clientSecret": ""}}
    row = await stored_row(memos_client, "legacy")
    assert row["type"] == "OAUTH2" and stored_config(row) == OAUTH2
    assert (await listed(memos_client, admin))["identityProviders"] == [data]


async def test_valid_providers_still_work(memos_client, memos_users):
    """Private, plain-http endpoints (a Keycloak on the LAN) and the optional fields left out are fine."""
    admin = await memos_users("admin", role="ADMIN")
    config = {
        "oauth2Config": {
            "clientId": "memos",
            "authUrl": "http://keycloak:8080/realms/home/protocol/openid-connect/auth",
            "tokenUrl": "http://192.168.1.10:8080/realms/home/protocol/openid-connect/token",
            "userInfoUrl": "http://[::1]:8080/userinfo?x=1",
            "fieldMapping": {"identifier": "preferred_username"},
        }
    }
    r = await memos_client.post(BASE, json=idp_body(type=1, config=config), headers=admin.headers)
    assert r.status == 200, await r.text()
    name = (await r.json())["name"]
    r = await memos_client.patch(
        f"/api/v1/{name}",
        json={"type": "OAUTH2", "title": "Keycloak", "config": oauth2(clientSecret="")},
        params={"updateMask": "title,config"},
        headers=admin.headers,
    )
    assert r.status == 200, await r.text()
    data = await r.json()
    assert data["title"] == "Keycloak" and data["config"] == {"oauth2Config": {**OAUTH2, "clientSecret": ""}}
    assert (await listed(memos_client, admin))["identityProviders"] == [data]
