"""A database file as Memos v0.28 leaves it, served unchanged through the API."""

import sqlite3
from pathlib import Path

import pytest
from fixtures import upstream_db as upstream

from memos_core import Config

Memo = upstream.Memo
ADMIN = {"Authorization": f"Bearer {upstream.ADMIN_PAT}"}
ALICE = {"Authorization": f"Bearer {upstream.USER_PAT}"}


#: Plugins keep their own tables beside the Memos ones; the Memos schema is what must not change.
NOT_PLUGIN = "name NOT LIKE 'memos!_py!_%' ESCAPE '!' AND tbl_name NOT LIKE 'memos!_py!_%' ESCAPE '!'"


def sqlite_master(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return sorted(
            conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE " + NOT_PLUGIN).fetchall(), key=str
        )
    finally:
        conn.close()


@pytest.fixture
def upstream_db(tmp_path) -> tuple[Path, list[tuple]]:
    path = upstream.build(tmp_path / "memos_prod.db")
    return path, sqlite_master(path)


@pytest.fixture
def memos_config(upstream_db) -> Config:
    return Config(dsn=str(upstream_db[0]))


async def test_schema_is_unchanged_by_start_up_and_use(memos_client, upstream_db):
    path, before = upstream_db
    assert (await memos_client.get("/api/v1/memos", headers=ADMIN)).status == 200
    assert (await memos_client.get(f"/api/v1/memos/{Memo.PUBLIC}")).status == 200
    assert sqlite_master(path) == before


async def test_get_user_and_profile(memos_client):
    r = await memos_client.get("/api/v1/users/steven")
    assert r.status == 200
    user = await r.json()
    assert user == {
        "name": "users/steven",
        "role": "ADMIN",
        "username": "steven",
        "email": "",
        "displayName": "Steven",
        "avatarUrl": "",
        "description": "hi",
        "password": "",
        "state": "NORMAL",
        "createTime": "2024-05-01T08:00:00Z",
        "updateTime": "2024-05-01T08:00:00Z",
    }
    r = await memos_client.get("/api/v1/users/steven", headers=ADMIN)
    assert (await r.json())["email"] == "steven@example.com"
    r = await memos_client.get("/api/v1/instance/profile")
    assert (await r.json())["admin"]["name"] == "users/steven"


@pytest.mark.parametrize("who", [upstream.ADMIN, upstream.USER])
async def test_sign_in_with_upstream_bcrypt_cost_10_hash(memos_client, upstream_db, who):
    conn = sqlite3.connect(upstream_db[0])
    (hashed,) = conn.execute("SELECT password_hash FROM user WHERE username = ?", (who["username"],)).fetchone()
    conn.close()
    assert hashed.startswith("$2a$10$")  # Go's bcrypt, default cost
    body = {"passwordCredentials": {"username": who["username"], "password": who["password"]}}
    r = await memos_client.post("/api/v1/auth/signin", json=body)
    assert r.status == 200, await r.text()
    session = await r.json()
    assert session["user"]["name"] == f"users/{who['username']}"
    assert session["user"]["email"] == who["email"]
    r = await memos_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {session['accessToken']}"})
    assert r.status == 200 and (await r.json())["user"]["username"] == who["username"]
    body["passwordCredentials"]["password"] = "wrong"
    r = await memos_client.post("/api/v1/auth/signin", json=body)
    assert r.status == 400


async def test_personal_access_tokens_authenticate(memos_client):
    for headers, username in ((ADMIN, "steven"), (ALICE, "alice")):
        r = await memos_client.get("/api/v1/auth/me", headers=headers)
        assert r.status == 200, await r.text()
        assert (await r.json())["user"]["username"] == username
    r = await memos_client.get("/api/v1/auth/me", headers={"Authorization": "Bearer memos_pat_" + "x" * 32})
    assert r.status == 401


async def test_user_general_setting_reads_back(memos_client):
    r = await memos_client.get("/api/v1/users/steven/settings/GENERAL", headers=ADMIN)
    assert r.status == 200
    assert (await r.json())["generalSetting"] == {"locale": "de", "memoVisibility": "PROTECTED", "theme": "paper"}


async def test_list_memos_by_visibility(memos_client):
    async def names(**kw):
        r = await memos_client.get("/api/v1/memos", **kw)
        assert r.status == 200
        return [m["name"] for m in (await r.json())["memos"]]

    # Newest first; the comment (memo 5) and the archived memo never appear.
    assert await names() == [f"memos/{Memo.REFERENCING}", f"memos/{Memo.PUBLIC}"]
    assert await names(headers=ALICE) == [
        f"memos/{Memo.REFERENCING}",
        f"memos/{Memo.PRIVATE}",
        f"memos/{Memo.PROTECTED}",
        f"memos/{Memo.PUBLIC}",
    ]
    # Admins get no visibility bypass: alice's PRIVATE memo stays hidden.
    assert await names(headers=ADMIN) == [
        f"memos/{Memo.REFERENCING}",
        f"memos/{Memo.PROTECTED}",
        f"memos/{Memo.PUBLIC}",
    ]


async def test_get_memo_serves_payload_relations_and_reactions(memos_client):
    r = await memos_client.get(f"/api/v1/memos/{Memo.PUBLIC}")
    assert r.status == 200
    memo = await r.json()
    assert memo["creator"] == "users/steven"
    assert memo["content"] == upstream.PUBLIC_CONTENT
    assert memo["pinned"] is True and memo["visibility"] == "PUBLIC" and memo["state"] == "NORMAL"
    assert memo["createTime"] == "2024-05-01T08:01:40Z" and memo["updateTime"] == "2024-05-01T08:01:45Z"
    assert memo["tags"] == ["work/project", "work"]
    assert memo["property"] == {
        "hasLink": True,
        "hasTaskList": True,
        "hasCode": False,
        "hasIncompleteTasks": True,
        "title": "Plan",
    }
    assert memo["location"] == {"placeholder": "Berlin, Germany", "latitude": 52.52, "longitude": 13.405}
    assert "parent" not in memo
    relations = {(r["memo"]["name"], r["relatedMemo"]["name"], r["type"]) for r in memo["relations"]}
    assert relations == {
        (f"memos/{Memo.COMMENT}", f"memos/{Memo.PUBLIC}", "COMMENT"),
        (f"memos/{Memo.REFERENCING}", f"memos/{Memo.PUBLIC}", "REFERENCE"),
    }
    reactions = [(x["creator"], x["reactionType"], x["contentId"]) for x in memo["reactions"]]
    assert reactions == [
        ("users/alice", "👍", f"memos/{Memo.PUBLIC}"),
        ("users/steven", "🎉", f"memos/{Memo.PUBLIC}"),
    ]


async def test_comment_and_private_memo_rules(memos_client):
    r = await memos_client.get(f"/api/v1/memos/{Memo.COMMENT}")
    assert (await r.json())["parent"] == f"memos/{Memo.PUBLIC}"
    r = await memos_client.get(f"/api/v1/memos/{Memo.PUBLIC}/comments")
    assert [m["name"] for m in (await r.json())["memos"]] == [f"memos/{Memo.COMMENT}"]
    assert (await memos_client.get(f"/api/v1/memos/{Memo.PRIVATE}")).status == 401
    assert (await memos_client.get(f"/api/v1/memos/{Memo.PRIVATE}", headers=ADMIN)).status == 403
    r = await memos_client.get(f"/api/v1/memos/{Memo.PRIVATE}", headers=ALICE)
    assert r.status == 200 and (await r.json())["property"]["hasCode"] is True
    assert (await memos_client.get(f"/api/v1/memos/{Memo.ARCHIVED}", headers=ALICE)).status == 404
    r = await memos_client.get(f"/api/v1/memos/{Memo.ARCHIVED}", headers=ADMIN)
    assert r.status == 200 and (await r.json())["state"] == "ARCHIVED"


async def test_stored_instance_settings_are_served(memos_client):
    r = await memos_client.get("/api/v1/instance/settings/MEMO_RELATED")
    assert (await r.json())["memoRelatedSetting"]["reactions"] == ["👍", "🔥", "🎉"]
