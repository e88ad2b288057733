"""InstanceService over HTTP: the profile, the GENERAL / MEMO_RELATED settings and the shared rules.

TAGS, NOTIFICATION and AI are covered in ``test_instance_settings_more.py``.
"""

import pytest

from memos_core import CONTEXT

GENERAL_DEFAULT = {
    "disallowUserRegistration": False,
    "disallowPasswordAuth": False,
    "additionalScript": "",
    "additionalStyle": "",
    "customProfile": None,
    "weekStartDayOffset": 0,
    "disallowChangeUsername": False,
    "disallowChangeNickname": False,
}
REACTIONS = ["👍", "👎", "❤️", "🎉", "😄", "😕", "😢", "😡"]


@pytest.fixture
def memos_config(tmp_path):
    from memos_core import Config

    return Config(data=str(tmp_path), instance_url="https://notes.example.com")


async def stored(client, key):
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        from memos_core.store import settings

        return await settings.get_instance_setting(ctx.store, key)


# -- profile -------------------------------------------------------------------------------------
async def test_profile_without_admin_needs_setup(memos_client):
    r = await memos_client.get("/api/v1/instance/profile")
    assert r.status == 200
    body = await r.json()
    assert body == {
        "version": "0.28.0",
        "demo": False,
        "instanceUrl": "https://notes.example.com",
        "admin": None,
        "commit": body["commit"],
    }
    assert isinstance(body["commit"], str) and body["commit"]


async def test_profile_names_latest_admin_and_hides_email_from_others(memos_client, memos_users):
    await memos_users("first", role="ADMIN", created_ts=1_700_000_000)
    latest = await memos_users("second", role="ADMIN", created_ts=1_700_000_100)
    user = await memos_users("plain", created_ts=1_700_000_200)
    r = await memos_client.get("/api/v1/instance/profile")
    body = await r.json()
    assert body["admin"]["name"] == "users/second"
    assert body["admin"]["role"] == "ADMIN"
    assert body["admin"]["email"] == ""
    r = await memos_client.get("/api/v1/instance/profile", headers=user.headers)
    assert (await r.json())["admin"]["email"] == ""
    r = await memos_client.get("/api/v1/instance/profile", headers=latest.headers)
    assert (await r.json())["admin"]["email"] == "second@example.com"


# -- reading settings ----------------------------------------------------------------------------
async def test_general_and_memo_related_defaults_are_public(memos_client):
    r = await memos_client.get("/api/v1/instance/settings/GENERAL")
    assert r.status == 200
    assert await r.json() == {"name": "instance/settings/GENERAL", "generalSetting": GENERAL_DEFAULT}
    r = await memos_client.get("/api/v1/instance/settings/MEMO_RELATED")
    assert await r.json() == {
        "name": "instance/settings/MEMO_RELATED",
        "memoRelatedSetting": {"contentLengthLimit": 8192, "enableDoubleClickEdit": False, "reactions": REACTIONS},
    }


async def test_stored_values_merge_with_defaults_and_low_limit_is_raised(memos_client):
    ctx = memos_client.app[CONTEXT]
    from memos_core.store import settings

    async with ctx.store.connection():
        await settings.set_instance_setting(ctx.store, "GENERAL", {"disallowPasswordAuth": True})
        await settings.set_instance_setting(ctx.store, "MEMO_RELATED", {"contentLengthLimit": 100})
    r = await memos_client.get("/api/v1/instance/settings/GENERAL")
    assert (await r.json())["generalSetting"] == {**GENERAL_DEFAULT, "disallowPasswordAuth": True}
    r = await memos_client.get("/api/v1/instance/settings/MEMO_RELATED")
    assert (await r.json())["memoRelatedSetting"]["contentLengthLimit"] == 8192


async def test_basic_is_never_exposed(memos_client, memos_users):
    admin = await memos_users("root", role="ADMIN")
    for headers in ({}, admin.headers):
        r = await memos_client.get("/api/v1/instance/settings/BASIC", headers=headers)
        assert r.status == 200
        assert await r.json() == {"name": "instance/settings/BASIC"}
    basic = await stored(memos_client, "BASIC")
    text = await (await memos_client.get("/api/v1/instance/settings/BASIC", headers=admin.headers)).text()
    assert basic["secretKey"] not in text and "0.28.1" not in text


async def test_unknown_key_is_400_on_read_and_write(memos_client, memos_users):
    admin = await memos_users("root", role="ADMIN")
    r = await memos_client.get("/api/v1/instance/settings/NOPE")
    assert r.status == 400
    assert (await r.json())["code"] == 3
    r = await memos_client.patch("/api/v1/instance/settings/NOPE", json={"generalSetting": {}}, headers=admin.headers)
    assert r.status == 400
    assert await stored(memos_client, "NOPE") is None


async def test_storage_keeps_its_access_rule(memos_client, memos_users):
    """STORAGE is admin-only; its behaviour is tested in test_storage_local.py."""
    admin = await memos_users("root", role="ADMIN")
    user = await memos_users("plain")
    r = await memos_client.get("/api/v1/instance/settings/STORAGE")
    assert r.status == 401
    r = await memos_client.get("/api/v1/instance/settings/STORAGE", headers=user.headers)
    assert r.status == 403
    r = await memos_client.get("/api/v1/instance/settings/STORAGE", headers=admin.headers)
    assert r.status == 200
    assert (await r.json())["storageSetting"]["storageType"] == "LOCAL"
    r = await memos_client.patch("/api/v1/instance/settings/STORAGE", json={"storageSetting": {}}, headers=user.headers)
    assert r.status == 403
    assert await stored(memos_client, "STORAGE") is None


# -- updating settings ---------------------------------------------------------------------------
async def test_update_general_replaces_whole_value(memos_client, memos_users):
    admin = await memos_users("root", role="ADMIN")
    url = "/api/v1/instance/settings/GENERAL"
    body = {
        "name": "instance/settings/GENERAL",
        "generalSetting": {
            "disallowUserRegistration": True,
            "additionalStyle": "body{}",
            "weekStartDayOffset": 1,
            "customProfile": {"title": "Notes", "logoUrl": "/logo.png"},
        },
    }
    r = await memos_client.patch(url + "?updateMask=disallow_user_registration", json=body, headers=admin.headers)
    assert r.status == 200
    expect = {
        **GENERAL_DEFAULT,
        "disallowUserRegistration": True,
        "additionalStyle": "body{}",
        "weekStartDayOffset": 1,
        "customProfile": {"title": "Notes", "description": "", "logoUrl": "/logo.png"},
    }
    assert await r.json() == {"name": "instance/settings/GENERAL", "generalSetting": expect}
    assert (await (await memos_client.get(url)).json())["generalSetting"] == expect
    # Stored as protojson: camelCase, defaults omitted.
    assert await stored(memos_client, "GENERAL") == {
        "disallowUserRegistration": True,
        "additionalStyle": "body{}",
        "weekStartDayOffset": 1,
        "customProfile": {"title": "Notes", "logoUrl": "/logo.png"},
    }
    # A second PATCH replaces the value whole (fields left out go back to defaults); snake_case works.
    r = await memos_client.patch(url, json={"general_setting": {"disallow_password_auth": True}}, headers=admin.headers)
    assert r.status == 200
    assert (await r.json())["generalSetting"] == {**GENERAL_DEFAULT, "disallowPasswordAuth": True}


async def test_update_memo_related_keeps_minimum_limit(memos_client, memos_users):
    admin = await memos_users("root", role="ADMIN")
    url = "/api/v1/instance/settings/MEMO_RELATED"
    r = await memos_client.patch(
        url,
        json={"memoRelatedSetting": {"contentLengthLimit": 100, "enableDoubleClickEdit": True, "reactions": ["🔥"]}},
        headers=admin.headers,
    )
    assert r.status == 200
    assert (await r.json())["memoRelatedSetting"] == {
        "contentLengthLimit": 8192,
        "enableDoubleClickEdit": True,
        "reactions": ["🔥"],
    }
    r = await memos_client.patch(
        url, json={"memoRelatedSetting": {"contentLengthLimit": "65536"}}, headers=admin.headers
    )
    assert r.status == 200
    assert (await r.json())["memoRelatedSetting"] == {
        "contentLengthLimit": 65536,
        "enableDoubleClickEdit": False,
        "reactions": REACTIONS,
    }


async def test_update_needs_admin(memos_client, memos_users):
    user = await memos_users("plain")
    body = {"generalSetting": {"disallowUserRegistration": True}}
    r = await memos_client.patch("/api/v1/instance/settings/GENERAL", json=body)
    assert r.status == 401
    r = await memos_client.patch("/api/v1/instance/settings/GENERAL", json=body, headers=user.headers)
    assert r.status == 403
    assert (await r.json())["code"] == 7
    assert await stored(memos_client, "GENERAL") is None


@pytest.mark.parametrize(
    ("key", "body"),
    [
        ("GENERAL", {"generalSetting": {"disallowUserRegistration": "yes"}}),
        ("GENERAL", {"generalSetting": {"additionalScript": 5}}),
        ("GENERAL", {"generalSetting": {"weekStartDayOffset": 1.5}}),
        ("GENERAL", {"generalSetting": {"weekStartDayOffset": 7}}),
        ("GENERAL", {"generalSetting": {"customProfile": "x"}}),
        ("GENERAL", {"generalSetting": {"customProfile": {"title": 1}}}),
        ("GENERAL", {"generalSetting": "on"}),
        ("GENERAL", {}),
        ("GENERAL", {"memoRelatedSetting": {"contentLengthLimit": 9000}}),
        ("MEMO_RELATED", {"memoRelatedSetting": {"contentLengthLimit": "big"}}),
        ("MEMO_RELATED", {"memoRelatedSetting": {"contentLengthLimit": 2**40}}),
        ("MEMO_RELATED", {"memoRelatedSetting": {"reactions": "👍"}}),
        ("MEMO_RELATED", {"memoRelatedSetting": {"reactions": [1]}}),
        ("MEMO_RELATED", {"memoRelatedSetting": {"enableDoubleClickEdit": 1}}),
    ],
)
async def test_bad_input_is_400_and_writes_nothing(memos_client, memos_users, key, body):
    admin = await memos_users("root", role="ADMIN")
    r = await memos_client.patch(f"/api/v1/instance/settings/{key}", json=body, headers=admin.headers)
    assert r.status == 400, await r.text()
    assert (await r.json())["code"] == 3
    assert await stored(memos_client, key) is None


async def test_malformed_json_is_400(memos_client, memos_users):
    admin = await memos_users("root", role="ADMIN")
    r = await memos_client.patch(
        "/api/v1/instance/settings/GENERAL",
        data=b"{not json",
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    assert r.status == 400
    assert await stored(memos_client, "GENERAL") is None


async def test_patch_basic_is_rejected_and_keeps_secret(memos_client, memos_users):
    admin = await memos_users("root", role="ADMIN")
    before = await stored(memos_client, "BASIC")
    r = await memos_client.patch("/api/v1/instance/settings/BASIC", json={}, headers=admin.headers)
    assert r.status == 400
    assert await stored(memos_client, "BASIC") == before
    assert before["schemaVersion"] == "0.28.1" and before["secretKey"]
    # The existing session still works: the secret was not touched.
    r = await memos_client.get("/api/v1/plugins", headers=admin.headers)
    assert r.status == 200
