"""User settings over HTTP: GENERAL with an update mask, WEBHOOKS read-only, owner-only access."""

import pytest

from memos_core.context import CONTEXT
from memos_core.store import settings as settings_store

GENERAL_URL = "/api/v1/users/alice/settings/GENERAL"


async def stored(client, user_id, key):
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        return await settings_store.get_user_setting(ctx.store, user_id, key)


async def test_general_defaults(memos_client, memos_users):
    alice = await memos_users("alice")
    r = await memos_client.get(GENERAL_URL, headers=alice.headers)
    assert r.status == 200
    assert await r.json() == {
        "name": "users/alice/settings/GENERAL",
        "generalSetting": {"locale": "en", "memoVisibility": "PRIVATE", "theme": ""},
    }


async def test_update_general_with_mask(memos_client, memos_users):
    alice = await memos_users("alice")
    body = {
        "name": "users/alice/settings/GENERAL",
        "generalSetting": {"locale": "fr", "theme": "dark", "memoVisibility": "PUBLIC"},
    }
    r = await memos_client.patch(GENERAL_URL + "?updateMask=locale,theme,bogus", json=body, headers=alice.headers)
    assert r.status == 200
    assert (await r.json())["generalSetting"] == {"locale": "fr", "memoVisibility": "PRIVATE", "theme": "dark"}
    assert await stored(memos_client, alice.id, "GENERAL") == {
        "locale": "fr",
        "memoVisibility": "PRIVATE",
        "theme": "dark",
    }
    # camelCase and general_setting.-prefixed paths, and a mask derived from the body.
    r = await memos_client.patch(
        GENERAL_URL + "?updateMask=memoVisibility",
        json={"generalSetting": {"memoVisibility": "PROTECTED"}},
        headers=alice.headers,
    )
    assert (await r.json())["generalSetting"]["memoVisibility"] == "PROTECTED"
    r = await memos_client.patch(
        GENERAL_URL + "?updateMask=general_setting.theme", json={"generalSetting": {"theme": ""}}, headers=alice.headers
    )
    assert (await r.json())["generalSetting"] == {"locale": "fr", "memoVisibility": "PROTECTED", "theme": ""}
    r = await memos_client.patch(GENERAL_URL, json={"general_setting": {"locale": "de"}}, headers=alice.headers)
    assert (await r.json())["generalSetting"]["locale"] == "de"
    r = await memos_client.get(GENERAL_URL, headers=alice.headers)
    assert (await r.json())["generalSetting"] == {"locale": "de", "memoVisibility": "PROTECTED", "theme": ""}


@pytest.mark.parametrize(
    ("url", "body"),
    [
        (GENERAL_URL + "?updateMask=", {"generalSetting": {"locale": "fr"}}),  # empty mask
        (GENERAL_URL, {}),  # no mask, nothing to derive one from
        (GENERAL_URL + "?updateMask=locale", {"generalSetting": {"locale": 5}}),
        (GENERAL_URL + "?updateMask=locale", {"generalSetting": "fr"}),
        ("/api/v1/users/alice/settings/WEBHOOKS?updateMask=webhooks", {"webhooksSetting": {"webhooks": []}}),
        ("/api/v1/users/alice/settings/SHORTCUTS?updateMask=locale", {}),
        ("/api/v1/users/alice/settings/general?updateMask=locale", {"generalSetting": {"locale": "fr"}}),
    ],
)
async def test_bad_updates_change_nothing(memos_client, memos_users, url, body):
    alice = await memos_users("alice")
    r = await memos_client.patch(url, json=body, headers=alice.headers)
    assert r.status == 400 and (await r.json())["code"] == 3
    assert await stored(memos_client, alice.id, "GENERAL") is None


async def test_invalid_json(memos_client, memos_users):
    alice = await memos_users("alice")
    r = await memos_client.patch(
        GENERAL_URL + "?updateMask=locale", data=b"{oops", headers={**alice.headers, "Content-Type": "application/json"}
    )
    assert r.status == 400


async def test_unknown_keys_are_rejected(memos_client, memos_users):
    alice = await memos_users("alice")
    for key in ("REFRESH_TOKENS", "PERSONAL_ACCESS_TOKENS", "SHORTCUTS", "FOO"):
        r = await memos_client.get(f"/api/v1/users/alice/settings/{key}", headers=alice.headers)
        assert r.status == 400, key


async def test_webhooks_setting(memos_client, memos_users):
    alice = await memos_users("alice")
    r = await memos_client.get("/api/v1/users/alice/settings/WEBHOOKS", headers=alice.headers)
    assert await r.json() == {"name": "users/alice/settings/WEBHOOKS", "webhooksSetting": {"webhooks": []}}
    ctx = memos_client.app[CONTEXT]
    async with ctx.store.connection():
        await settings_store.set_user_setting(
            ctx.store,
            alice.id,
            "WEBHOOKS",
            {"webhooks": [{"id": "0123456789abcdef", "title": "T", "url": "https://x.example/h"}]},
        )
    r = await memos_client.get("/api/v1/users/alice/settings/WEBHOOKS", headers=alice.headers)
    assert (await r.json())["webhooksSetting"]["webhooks"] == [
        {
            "name": "users/alice/webhooks/0123456789abcdef",
            "url": "https://x.example/h",
            "displayName": "T",
            "createTime": None,  # never populated: an unset Timestamp is null
            "updateTime": None,
        }
    ]


async def test_list_settings(memos_client, memos_users):
    alice = await memos_users("alice")
    ctx = memos_client.app[CONTEXT]
    async with ctx.store.connection():
        await settings_store.set_user_setting(ctx.store, alice.id, "GENERAL", {"locale": "ja"})
        await settings_store.set_user_setting(ctx.store, alice.id, "REFRESH_TOKENS", {"refreshTokens": []})
    r = await memos_client.get("/api/v1/users/alice/settings", headers=alice.headers)
    assert r.status == 200
    body = await r.json()
    assert body["totalSize"] == 2 and body["nextPageToken"] == ""
    assert [s["name"] for s in body["settings"]] == ["users/alice/settings/GENERAL", "users/alice/settings/WEBHOOKS"]
    assert body["settings"][0]["generalSetting"] == {"locale": "ja", "memoVisibility": "", "theme": ""}


async def test_settings_are_owner_only(memos_client, memos_users, memos_unchanged):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    admin = await memos_users("root", role="ADMIN")
    for method, url in (
        ("GET", GENERAL_URL),
        ("GET", "/api/v1/users/alice/settings"),
        ("PATCH", GENERAL_URL + "?updateMask=locale"),
    ):
        async with memos_unchanged(alice.headers, GENERAL_URL, "/api/v1/users/alice/settings"):
            r = await memos_client.request(method, url, json={"generalSetting": {"locale": "x"}})
            assert r.status == 401
            for viewer in (bob, admin):
                r = await memos_client.request(
                    method, url, json={"generalSetting": {"locale": "x"}}, headers=viewer.headers
                )
                assert r.status == 403, (method, url)
    r = await memos_client.get("/api/v1/users/ghost/settings/GENERAL", headers=bob.headers)
    assert r.status == 404


# -- memos-py's NOTIFICATION setting -------------------------------------------------------------------------
NOTIFICATION_URL = "/api/v1/users/alice/settings/NOTIFICATION"


async def test_notification_setting_defaults_on_and_turns_mail_off(memos_client, memos_users):
    alice = await memos_users("alice")
    r = await memos_client.get(NOTIFICATION_URL, headers=alice.headers)
    assert await r.json() == {
        "name": "users/alice/settings/NOTIFICATION",
        "notificationSetting": {"emailNotifications": True},
    }
    body = {"notificationSetting": {"emailNotifications": False}}
    r = await memos_client.patch(NOTIFICATION_URL + "?updateMask=email_notifications", json=body, headers=alice.headers)
    assert r.status == 200 and (await r.json())["notificationSetting"] == {"emailNotifications": False}
    assert await stored(memos_client, alice.id, "MEMOS_PY_NOTIFICATION") == {"emailNotifications": False}
    r = await memos_client.get(NOTIFICATION_URL, headers=alice.headers)
    assert (await r.json())["notificationSetting"] == {"emailNotifications": False}
    # Without a mask the body's fields are the mask; back on, nothing but the default is left.
    r = await memos_client.patch(
        NOTIFICATION_URL, json={"notificationSetting": {"emailNotifications": True}}, headers=alice.headers
    )
    assert (await r.json())["notificationSetting"] == {"emailNotifications": True}
    assert await stored(memos_client, alice.id, "MEMOS_PY_NOTIFICATION") == {}
    # ListUserSettings stays exactly upstream's two keys: strict clients decode it.
    r = await memos_client.get("/api/v1/users/alice/settings", headers=alice.headers)
    assert [s["name"].rsplit("/", 1)[1] for s in (await r.json())["settings"]] == ["GENERAL", "WEBHOOKS"]


@pytest.mark.parametrize(
    "query, body",
    [
        ("?updateMask=email_notifications", {"notificationSetting": {"emailNotifications": "no"}}),
        ("?updateMask=locale", {"notificationSetting": {"emailNotifications": False}}),
        ("", {"notificationSetting": []}),
        ("", {}),
    ],
)
async def test_notification_setting_refuses_bad_updates(memos_client, memos_users, query, body):
    alice = await memos_users("alice")
    bob = await memos_users("bob", role="ADMIN")
    r = await memos_client.patch(NOTIFICATION_URL + query, json=body, headers=alice.headers)
    assert r.status == 400
    assert await stored(memos_client, alice.id, "MEMOS_PY_NOTIFICATION") is None
    r = await memos_client.get(NOTIFICATION_URL, headers=bob.headers)  # owner only, admins included
    assert r.status == 403
