"""InstanceService over HTTP: the TAGS, NOTIFICATION and AI settings.

Each key: defaults on an empty instance, a round trip, who may read and write, every validation
400 with nothing written, and write-only secrets never echoed and kept when sent empty.
"""

import json

import pytest

from memos_core import CONTEXT

URL = "/api/v1/instance/settings/"
EMAIL_DEFAULT = {
    "enabled": False,
    "smtpHost": "",
    "smtpPort": 0,
    "smtpUsername": "",
    "smtpPassword": "",
    "fromEmail": "",
    "fromName": "",
    "replyTo": "",
    "useTls": False,
    "useSsl": False,
}
OPENAI_KEY = "sk-test-0123456789abcdef"
GEMINI_KEY = "AIzaSyExampleKey987654"


async def stored(client, key):
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        from memos_core.store import settings

        return await settings.get_instance_setting(ctx.store, key)


async def put(client, key, value, headers):
    return await client.patch(URL + key, json=value, headers=headers)


@pytest.fixture
async def admin(memos_users):
    return await memos_users("root", role="ADMIN")


@pytest.fixture
async def user(memos_users):
    return await memos_users("plain")


# -- defaults and read access ----------------------------------------------------------------------
async def test_defaults_on_an_empty_instance(memos_client, admin):
    r = await memos_client.get(URL + "TAGS")
    assert r.status == 200
    assert await r.json() == {"name": "instance/settings/TAGS", "tagsSetting": {"tags": {}}}
    r = await memos_client.get(URL + "NOTIFICATION", headers=admin.headers)
    assert r.status == 200
    assert await r.json() == {"name": "instance/settings/NOTIFICATION", "notificationSetting": {"email": EMAIL_DEFAULT}}
    r = await memos_client.get(URL + "AI", headers=admin.headers)
    assert r.status == 200
    assert await r.json() == {"name": "instance/settings/AI", "aiSetting": {"providers": []}}


@pytest.mark.parametrize(
    ("key", "anonymous", "signed_in", "as_admin"),
    [("TAGS", 200, 200, 200), ("NOTIFICATION", 401, 403, 200), ("AI", 401, 200, 200)],
)
async def test_read_access(memos_client, admin, user, key, anonymous, signed_in, as_admin):
    r = await memos_client.get(URL + key)
    assert r.status == anonymous
    if anonymous == 401:
        assert (await r.json())["code"] == 16
    r = await memos_client.get(URL + key, headers=user.headers)
    assert r.status == signed_in
    if signed_in == 403:
        assert (await r.json())["code"] == 7
    r = await memos_client.get(URL + key, headers=admin.headers)
    assert r.status == as_admin


@pytest.mark.parametrize(
    ("key", "body"),
    [
        ("TAGS", {"tagsSetting": {"tags": {"work": {"blurContent": True}}}}),
        ("NOTIFICATION", {"notificationSetting": {"email": {"enabled": True}}}),
        ("AI", {"aiSetting": {"providers": [{"title": "x", "type": "OPENAI", "apiKey": OPENAI_KEY}]}}),
    ],
)
async def test_only_admins_write(memos_client, user, key, body):
    r = await put(memos_client, key, body, {})
    assert r.status == 401
    r = await put(memos_client, key, body, user.headers)
    assert r.status == 403
    assert (await r.json())["code"] == 7
    assert await stored(memos_client, key) is None


# -- TAGS ------------------------------------------------------------------------------------------
async def test_tags_round_trip(memos_client, admin, user):
    body = {
        "name": "instance/settings/TAGS",
        "tagsSetting": {
            "tags": {
                "project/.*": {"backgroundColor": {"red": 1, "green": 0.5, "blue": 0.25}, "blurContent": False},
                "secret": {"blurContent": True},
                "faded": {"background_color": {"red": 0.1, "green": 0, "blue": 0, "alpha": 0}},
            }
        },
    }
    r = await put(memos_client, "TAGS", body, admin.headers)
    assert r.status == 200, await r.text()
    expect = {
        "faded": {"backgroundColor": {"red": 0.1, "green": 0, "blue": 0, "alpha": 0}, "blurContent": False},
        "project/.*": {"backgroundColor": {"red": 1, "green": 0.5, "blue": 0.25, "alpha": None}, "blurContent": False},
        "secret": {"backgroundColor": None, "blurContent": True},
    }
    assert await r.json() == {"name": "instance/settings/TAGS", "tagsSetting": {"tags": expect}}
    # Public read, map keys in sorted order as protojson writes them.
    r = await memos_client.get(URL + "TAGS")
    got = await r.json()
    assert got["tagsSetting"]["tags"] == expect
    assert list(got["tagsSetting"]["tags"]) == ["faded", "project/.*", "secret"]
    r = await memos_client.get(URL + "TAGS", headers=user.headers)
    assert (await r.json())["tagsSetting"]["tags"] == expect
    # Stored as protojson, defaults omitted; a set alpha of 0 stays (it is a wrapper).
    assert await stored(memos_client, "TAGS") == {
        "tags": {
            "faded": {"backgroundColor": {"red": 0.1, "alpha": 0}},
            "project/.*": {"backgroundColor": {"red": 1, "green": 0.5, "blue": 0.25}},
            "secret": {"blurContent": True},
        }
    }
    # Replaced whole: an empty map clears every entry.
    r = await put(memos_client, "TAGS", {"tagsSetting": {}}, admin.headers)
    assert (await r.json())["tagsSetting"] == {"tags": {}}
    assert await stored(memos_client, "TAGS") == {}


async def test_tag_colors_are_float32_and_numeric_strings_accepted(memos_client, admin):
    body = {"tagsSetting": {"tags": {"a": {"backgroundColor": {"red": "0.3", "green": 0.123456789, "blue": 1.0}}}}}
    r = await put(memos_client, "TAGS", body, admin.headers)
    assert r.status == 200, await r.text()
    color = (await r.json())["tagsSetting"]["tags"]["a"]["backgroundColor"]
    assert color == {"red": 0.3, "green": 0.12345679, "blue": 1, "alpha": None}


async def test_re2_style_tag_patterns_are_accepted(memos_client, admin):
    patterns = ["book", "project/.*", "(?i)todo|done", "[a-z]+/[0-9]{1,3}", r"\p{Han}+", r"\pL\d", "a\\+\\+", "[+]+"]
    body = {"tagsSetting": {"tags": {p: {} for p in patterns}}}
    r = await put(memos_client, "TAGS", body, admin.headers)
    assert r.status == 200, await r.text()
    assert sorted((await r.json())["tagsSetting"]["tags"]) == sorted(patterns)


@pytest.mark.parametrize(
    "tags",
    [
        "work",
        ["work"],
        {"": {}},
        {"  ": {}},
        {"work": None},
        {"work": "red"},
        {"(": {}},
        {"[a-": {}},
        {"a**": {}},
        {r"(a)\1": {}},
        {"(?P<x>a)(?P=x)": {}},
        {"foo(?=bar)": {}},
        {"(?<!x)y": {}},
        {"(?>ab)": {}},
        {"a++": {}},
        {"a{2}+": {}},
        {"a{1001}": {}},
        {"(?x) a": {}},
        {r"\p{Han": {}},
        {"work": {"blurContent": "yes"}},
        {"work": {"backgroundColor": "#ff0000"}},
        {"work": {"backgroundColor": {"red": 1.5}}},
        {"work": {"backgroundColor": {"green": -0.1}}},
        {"work": {"backgroundColor": {"blue": "NaN"}}},
        {"work": {"backgroundColor": {"blue": "Infinity"}}},
        {"work": {"backgroundColor": {"red": "lots"}}},
        {"work": {"backgroundColor": {"red": True}}},
        {"work": {"backgroundColor": {"red": 0.5, "alpha": 2}}},
        {"work": {"backgroundColor": {"alpha": [1]}}},
    ],
)
async def test_bad_tags_are_400_and_write_nothing(memos_client, admin, tags):
    r = await put(memos_client, "TAGS", {"tagsSetting": {"tags": tags}}, admin.headers)
    assert r.status == 400, await r.text()
    assert (await r.json())["code"] == 3
    assert await stored(memos_client, "TAGS") is None


async def test_non_finite_json_numbers_are_400(memos_client, admin):
    raw = '{"tagsSetting": {"tags": {"work": {"backgroundColor": {"red": NaN}}}}}'
    r = await memos_client.patch(
        URL + "TAGS", data=raw.encode(), headers={**admin.headers, "Content-Type": "application/json"}
    )
    assert r.status == 400
    assert await stored(memos_client, "TAGS") is None


async def test_bad_tags_keep_the_previous_value(memos_client, admin):
    good = {"tagsSetting": {"tags": {"keep": {"blurContent": True}}}}
    assert (await put(memos_client, "TAGS", good, admin.headers)).status == 200
    bad = {"tagsSetting": {"tags": {"ok": {}, "(?=x)": {}}}}
    assert (await put(memos_client, "TAGS", bad, admin.headers)).status == 400
    assert await stored(memos_client, "TAGS") == {"tags": {"keep": {"blurContent": True}}}


# -- NOTIFICATION ----------------------------------------------------------------------------------
EMAIL = {
    "enabled": True,
    "smtpHost": "smtp.example.com",
    "smtpPort": 587,
    "smtpUsername": "mailer",
    "smtpPassword": "hunter2-secret",
    "fromEmail": "memos@example.com",
    "fromName": "Memos",
    "replyTo": "admin@example.com",
    "useTls": True,
    "useSsl": False,
}


async def test_notification_round_trip_never_echoes_the_password(memos_client, admin):
    r = await put(memos_client, "NOTIFICATION", {"notificationSetting": {"email": EMAIL}}, admin.headers)
    assert r.status == 200, await r.text()
    text = await r.text()
    assert "hunter2-secret" not in text
    expect = {**EMAIL, "smtpPassword": ""}
    assert json.loads(text) == {"name": "instance/settings/NOTIFICATION", "notificationSetting": {"email": expect}}
    r = await memos_client.get(URL + "NOTIFICATION", headers=admin.headers)
    text = await r.text()
    assert "hunter2-secret" not in text
    assert json.loads(text)["notificationSetting"]["email"] == expect
    assert await stored(memos_client, "NOTIFICATION") == {"email": {k: v for k, v in EMAIL.items() if v is not False}}


async def test_notification_password_kept_when_sent_empty_and_replaced_when_sent(memos_client, admin):
    await put(memos_client, "NOTIFICATION", {"notificationSetting": {"email": EMAIL}}, admin.headers)
    # What a client read back (password "") is sent again with a change: the password stays.
    changed = {**EMAIL, "smtpPassword": "", "fromName": "Notes", "smtp_port": "2525"}
    del changed["smtpPort"]
    r = await put(memos_client, "NOTIFICATION", {"notificationSetting": {"email": changed}}, admin.headers)
    assert r.status == 200, await r.text()
    assert (await r.json())["notificationSetting"]["email"]["smtpPort"] == 2525
    value = await stored(memos_client, "NOTIFICATION")
    assert value["email"]["smtpPassword"] == "hunter2-secret"
    assert value["email"]["fromName"] == "Notes"
    # Left out entirely: kept as well.
    r = await put(memos_client, "NOTIFICATION", {"notificationSetting": {"email": {"enabled": False}}}, admin.headers)
    assert r.status == 200
    assert await stored(memos_client, "NOTIFICATION") == {"email": {"smtpPassword": "hunter2-secret"}}
    # A new password replaces the old one.
    email = {**EMAIL, "smtpPassword": "new-pass"}
    await put(memos_client, "NOTIFICATION", {"notificationSetting": {"email": email}}, admin.headers)
    assert (await stored(memos_client, "NOTIFICATION"))["email"]["smtpPassword"] == "new-pass"
    # No email message at all clears the configuration, password included.
    r = await put(memos_client, "NOTIFICATION", {"notificationSetting": {"email": None}}, admin.headers)
    assert r.status == 200
    assert (await r.json())["notificationSetting"] == {"email": EMAIL_DEFAULT}
    assert await stored(memos_client, "NOTIFICATION") == {}


@pytest.mark.parametrize(
    "setting",
    [
        {"email": "smtp://x"},
        {"email": [EMAIL]},
        {"email": {"enabled": "true"}},
        {"email": {"smtpHost": 25}},
        {"email": {"smtpPort": 70000}},
        {"email": {"smtpPort": -1}},
        {"email": {"smtpPort": "587a"}},
        {"email": {"smtpPort": 58.7}},
        {"email": {"smtpPassword": 1234}},
        {"email": {"useTls": 1}},
        {"email": {"useSsl": None, "replyTo": ["a@b"]}},
    ],
)
async def test_bad_notification_is_400_and_writes_nothing(memos_client, admin, setting):
    r = await put(memos_client, "NOTIFICATION", {"notificationSetting": setting}, admin.headers)
    assert r.status == 400, await r.text()
    assert (await r.json())["code"] == 3
    assert await stored(memos_client, "NOTIFICATION") is None


# -- AI --------------------------------------------------------------------------------------------
async def test_ai_round_trip_with_defaults_and_hints(memos_client, admin, user):
    body = {
        "aiSetting": {
            "providers": [
                {"id": "main", "title": " OpenAI ", "type": "OPENAI", "apiKey": OPENAI_KEY},
                {"title": "Gemini", "type": 2, "endpoint": " https://gemini.example.com/v1 ", "api_key": "short"},
                {"id": "  ", "title": "Other", "type": "GEMINI", "apiKey": GEMINI_KEY, "apiKeySet": False},
            ]
        }
    }
    r = await put(memos_client, "AI", body, admin.headers)
    assert r.status == 200, await r.text()
    text = await r.text()
    for key in (OPENAI_KEY, "short", GEMINI_KEY):
        assert f'"{key}"' not in text
    providers = json.loads(text)["aiSetting"]["providers"]
    assert providers[0] == {
        "id": "main",
        "title": "OpenAI",
        "type": "OPENAI",
        "endpoint": "https://api.openai.com/v1",
        "apiKey": "",
        "apiKeySet": True,
        "apiKeyHint": "sk-t...cdef",
    }
    assert providers[1]["endpoint"] == "https://gemini.example.com/v1"
    assert providers[1]["type"] == "GEMINI"
    assert providers[1]["apiKeyHint"] == "..."
    assert providers[2]["endpoint"] == "https://generativelanguage.googleapis.com/v1beta"
    assert providers[2]["apiKeyHint"] == "AIza...7654"
    # Blank ids get distinct generated short uuids.
    generated = [providers[1]["id"], providers[2]["id"]]
    assert all(len(i) == 22 and i.isalnum() for i in generated) and generated[0] != generated[1]
    # Signed-in users read the same view; keys never appear.
    for headers in (user.headers, admin.headers):
        r = await memos_client.get(URL + "AI", headers=headers)
        text = await r.text()
        assert json.loads(text)["aiSetting"]["providers"] == providers
        assert OPENAI_KEY not in text and GEMINI_KEY not in text and '"short"' not in text
    value = await stored(memos_client, "AI")
    assert [p["apiKey"] for p in value["providers"]] == [OPENAI_KEY, "short", GEMINI_KEY]
    assert set(value["providers"][0]) == {"id", "title", "type", "endpoint", "apiKey"}


async def test_ai_key_kept_by_provider_id_when_sent_empty(memos_client, admin):
    first = {"aiSetting": {"providers": [{"id": "main", "title": "OpenAI", "type": "OPENAI", "apiKey": OPENAI_KEY}]}}
    assert (await put(memos_client, "AI", first, admin.headers)).status == 200
    # The client sends back what it read (apiKey "") with a new title and a second provider.
    r = await memos_client.get(URL + "AI", headers=admin.headers)
    providers = (await r.json())["aiSetting"]["providers"]
    providers[0]["title"] = "Renamed"
    providers.append({"id": "g", "title": "Gemini", "type": "GEMINI", "apiKey": GEMINI_KEY})
    r = await put(memos_client, "AI", {"aiSetting": {"providers": providers}}, admin.headers)
    assert r.status == 200, await r.text()
    assert [p["apiKeyHint"] for p in (await r.json())["aiSetting"]["providers"]] == ["sk-t...cdef", "AIza...7654"]
    value = await stored(memos_client, "AI")
    assert [(p["id"], p["title"], p["apiKey"]) for p in value["providers"]] == [
        ("main", "Renamed", OPENAI_KEY),
        ("g", "Gemini", GEMINI_KEY),
    ]
    # A new key replaces the stored one.
    change = {
        "aiSetting": {"providers": [{"id": "main", "title": "OpenAI", "type": "OPENAI", "apiKey": "sk-new-key-42"}]}
    }
    assert (await put(memos_client, "AI", change, admin.headers)).status == 200
    assert (await stored(memos_client, "AI"))["providers"][0]["apiKey"] == "sk-new-key-42"
    # Removing every provider clears the setting; a key is then needed again for the same id.
    assert (await put(memos_client, "AI", {"aiSetting": {"providers": []}}, admin.headers)).status == 200
    assert await stored(memos_client, "AI") == {}
    again = {"aiSetting": {"providers": [{"id": "main", "title": "OpenAI", "type": "OPENAI"}]}}
    assert (await put(memos_client, "AI", again, admin.headers)).status == 400


async def test_ai_stored_key_is_not_borrowed_by_another_id(memos_client, admin):
    first = {"aiSetting": {"providers": [{"id": "main", "title": "OpenAI", "type": "OPENAI", "apiKey": OPENAI_KEY}]}}
    await put(memos_client, "AI", first, admin.headers)
    other = {"aiSetting": {"providers": [{"id": "other", "title": "OpenAI", "type": "OPENAI", "apiKey": ""}]}}
    r = await put(memos_client, "AI", other, admin.headers)
    assert r.status == 400
    assert "apiKey" in (await r.json())["message"]
    assert (await stored(memos_client, "AI"))["providers"][0]["id"] == "main"


def provider(**fields):
    return {"id": "p", "title": "T", "type": "OPENAI", "apiKey": OPENAI_KEY, **fields}


@pytest.mark.parametrize(
    "setting",
    [
        {"providers": "openai"},
        {"providers": [None]},
        {"providers": ["openai"]},
        {"providers": [provider(), provider()]},
        {"providers": [provider(id="a"), provider(id=" a ")]},
        {"providers": [provider(title="")]},
        {"providers": [provider(title="   ")]},
        {"providers": [provider(title=None)]},
        {"providers": [provider(title=5)]},
        {"providers": [provider(type=None)]},
        {"providers": [provider(type="AI_PROVIDER_TYPE_UNSPECIFIED")]},
        {"providers": [provider(type=0)]},
        {"providers": [provider(type="ANTHROPIC")]},
        {"providers": [provider(type=True)]},
        {"providers": [provider(apiKey="")]},
        {"providers": [provider(apiKey="   ")]},
        {"providers": [provider(apiKey=None)]},
        {"providers": [provider(apiKey=123)]},
        {"providers": [provider(endpoint=["https://x"])]},
        {"providers": [provider(id=7)]},
    ],
)
async def test_bad_ai_is_400_and_writes_nothing(memos_client, admin, setting):
    r = await put(memos_client, "AI", {"aiSetting": setting}, admin.headers)
    assert r.status == 400, await r.text()
    assert (await r.json())["code"] == 3
    assert await stored(memos_client, "AI") is None


# -- shared rules ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "body"),
    [
        ("TAGS", {}),
        ("TAGS", {"tagsSetting": "x"}),
        ("TAGS", {"tagsSetting": {}, "aiSetting": {}}),
        ("NOTIFICATION", {"notificationSetting": None}),
        ("NOTIFICATION", {"generalSetting": {}}),
        ("AI", {"aiSetting": []}),
        ("AI", {"tagsSetting": {"tags": {}}}),
    ],
)
async def test_value_must_be_the_keys_own_message(memos_client, admin, key, body):
    r = await put(memos_client, key, body, admin.headers)
    assert r.status == 400, await r.text()
    assert await stored(memos_client, key) is None


async def test_secrets_stored_by_upstream_are_hidden_too(memos_client, admin, user):
    """Values written by an upstream server (same protojson) read back with secrets masked."""
    ctx = memos_client.app[CONTEXT]
    from memos_core.store import settings

    async with ctx.store.connection():
        await settings.set_instance_setting(
            ctx.store, "NOTIFICATION", {"email": {"smtpHost": "mx", "smtpPassword": "from-upstream"}}
        )
        await settings.set_instance_setting(
            ctx.store,
            "AI",
            {"providers": [{"id": "u", "title": "U", "type": "OPENAI", "endpoint": "e", "apiKey": "upstream-key-1"}]},
        )
        await settings.set_instance_setting(
            ctx.store, "TAGS", {"tags": {"x": {"backgroundColor": {"green": 1}}, "y": {}}}
        )
    r = await memos_client.get(URL + "NOTIFICATION", headers=admin.headers)
    text = await r.text()
    assert "from-upstream" not in text
    assert json.loads(text)["notificationSetting"]["email"] == {**EMAIL_DEFAULT, "smtpHost": "mx"}
    r = await memos_client.get(URL + "AI", headers=user.headers)
    text = await r.text()
    assert "upstream-key-1" not in text
    assert json.loads(text)["aiSetting"]["providers"][0]["apiKeyHint"] == "upst...ey-1"
    r = await memos_client.get(URL + "TAGS")
    assert (await r.json())["tagsSetting"]["tags"] == {
        "x": {"backgroundColor": {"red": 0, "green": 1, "blue": 0, "alpha": None}, "blurContent": False},
        "y": {"backgroundColor": None, "blurContent": False},
    }
