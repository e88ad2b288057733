"""The MySQL/MariaDB driver: the schema it creates (upstream's MySQL column types), schema versions,
TIMESTAMP columns seen as exact epoch seconds, DSN forms and pooled concurrent writers. Runs when
MySQL is under test (``MEMOS_TEST_DRIVERS=mysql`` plus ``MEMOS_TEST_MYSQL_DSN``, see
``scripts/db-servers.sh``)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiomysql
import pytest
import sqlalchemy as sa
from aiohttp import web
from memos_driver_mysql import MySQLDriver
from memos_driver_mysql.dsn import parse_dsn

from memos_core import CONTEXT, Config
from memos_core.app import create_app
from memos_core.store import SCHEMA_VERSION, SchemaError, tables

pytestmark = pytest.mark.drivers("mysql")

TABLES = {
    "system_setting",
    "user",
    "user_setting",
    "memo",
    "memo_relation",
    "attachment",
    "idp",
    "inbox",
    "reaction",
    "memo_share",
    "user_identity",
}


async def query(dsn: str, sql: str, *args: Any, time_zone: str = "+00:00") -> list[tuple]:
    """Run ``sql`` on a connection of its own (session time zone ``time_zone``)."""
    parsed = parse_dsn(dsn)
    conn = await aiomysql.connect(**parsed.connect_kwargs(), db=parsed.database, autocommit=True)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute("SET time_zone = %s", (time_zone,))
            await cursor.execute(sql, args or None)
            return list(await cursor.fetchall())
    finally:
        conn.close()


async def columns(dsn: str) -> dict[str, dict[str, tuple]]:
    rows = await query(
        dsn,
        """SELECT table_name, column_name, column_type, is_nullable, column_default, column_key
           FROM information_schema.columns WHERE table_schema = DATABASE()""",
    )
    out: dict[str, dict[str, tuple]] = {}
    for table, column, type_, nullable, default, key in rows:
        out.setdefault(table, {})[column] = (type_.lower(), nullable, default, key)
    return out


async def basic(dsn: str) -> dict:
    rows = await query(dsn, "SELECT value FROM system_setting WHERE name = 'BASIC'")
    return json.loads(rows[0][0])


async def start(aiohttp_client, dsn: str):
    return await aiohttp_client(create_app(Config(driver="mysql", dsn=dsn)))


# -- a new database --------------------------------------------------------------------------------
async def test_new_database_gets_the_mysql_schema(aiohttp_client, memos_config):
    await start(aiohttp_client, memos_config.dsn)
    cols = await columns(memos_config.dsn)
    assert set(cols) >= TABLES
    for table in tables.metadata.sorted_tables:  # column names match the Core tables, table for table
        if table.name in TABLES:
            assert set(cols[table.name]) == set(table.c.keys()), table.name

    # The times upstream keeps as TIMESTAMP on MySQL, and those it keeps as epoch BIGINT.
    for table in ("user", "memo", "attachment", "inbox", "reaction"):
        for name in ("created_ts", "updated_ts"):
            if name in cols[table]:
                type_, nullable, default, _ = cols[table][name]
                assert (type_, nullable) == ("timestamp", "NO"), (table, name)
                assert default.lower() in ("current_timestamp()", "current_timestamp"), (table, name)
    for table in ("memo_share", "user_identity"):
        assert cols[table]["created_ts"][0].startswith("bigint")
        assert "unix_timestamp()" in cols[table]["created_ts"][2].lower()
    assert cols["memo_share"]["expires_ts"][0].startswith("bigint") and cols["memo_share"]["expires_ts"][1] == "YES"

    memo = cols["memo"]
    assert memo["pinned"][0] == "tinyint(1)"  # BOOLEAN
    assert memo["content"][0] == "text"
    assert memo["payload"][0] in ("json", "longtext")  # MariaDB's JSON is LONGTEXT with a json_valid check
    assert memo["uid"][0] == "varchar(256)" and memo["uid"][3] == "UNI"
    assert cols["idp"]["config"][0] == "text"
    assert cols["attachment"]["blob"][:2] == ("mediumblob", "YES")
    for table, name in (("system_setting", "value"), ("user_setting", "value"), ("user", "avatar_url")):
        assert cols[table][name][0] == "longtext", (table, name)
    assert cols["system_setting"]["name"][0] == "varchar(256)" and cols["system_setting"]["name"][3] == "PRI"
    assert cols["user"]["id"][0].startswith("int")
    extra = await query(
        memos_config.dsn,
        "SELECT extra FROM information_schema.columns WHERE table_schema = DATABASE() "
        "AND table_name = 'memo' AND column_name = 'id'",
    )
    assert extra[0][0].lower() == "auto_increment"

    charset = await query(
        memos_config.dsn,
        "SELECT default_character_set_name FROM information_schema.schemata WHERE schema_name = DATABASE()",
    )
    assert charset[0][0] == "utf8mb4"

    # memo_share cascades with its memo (InnoDB enforces the foreign key).
    fks = await query(
        memos_config.dsn,
        """SELECT table_name, referenced_table_name, delete_rule FROM information_schema.referential_constraints
           WHERE constraint_schema = DATABASE()""",
    )
    assert [tuple(r) for r in fks] == [("memo_share", "memo", "CASCADE")]

    assert (await basic(memos_config.dsn))["schemaVersion"] == SCHEMA_VERSION == "0.28.1"
    assert (await basic(memos_config.dsn))["secretKey"]


async def test_a_second_start_keeps_the_schema_and_secret(aiohttp_client, memos_config):
    await start(aiohttp_client, memos_config.dsn)
    first = await basic(memos_config.dsn)
    await start(aiohttp_client, memos_config.dsn)
    assert await basic(memos_config.dsn) == first


@pytest.mark.parametrize(("version", "expect"), [("0.29.0", "newer than 0.28.1"), ("0.21.0", "too old")])
async def test_unservable_schema_version_is_refused(aiohttp_client, memos_config, version, expect):
    await start(aiohttp_client, memos_config.dsn)
    value = {**await basic(memos_config.dsn), "schemaVersion": version}
    await query(memos_config.dsn, "UPDATE system_setting SET value = %s WHERE name = 'BASIC'", json.dumps(value))
    runner = web.AppRunner(create_app(Config(driver="mysql", dsn=memos_config.dsn)))
    with pytest.raises(SchemaError, match=re.escape(expect)):
        await runner.setup()
    assert (await basic(memos_config.dsn))["schemaVersion"] == version  # left untouched


# -- TIMESTAMP columns ----------------------------------------------------------------------------
async def test_timestamp_columns_round_trip_epoch_seconds(memos_client, memos_users, memos_config):
    alice = await memos_users("alice", created_ts=1_600_000_001, updated_ts=1_700_000_002)
    r = await memos_client.post(
        "/api/v1/memos",
        json={"content": "dated", "createTime": "2021-03-04T05:06:07Z", "updateTime": "2022-01-02T03:04:05Z"},
        headers=alice.headers,
    )
    assert r.status == 200, await r.text()
    memo = await r.json()
    assert memo["createTime"] == "2021-03-04T05:06:07Z" and memo["updateTime"] == "2022-01-02T03:04:05Z"
    uid = memo["name"].removeprefix("memos/")

    r = await memos_client.get(f"/api/v1/{memo['name']}", headers=alice.headers)
    again = await r.json()
    assert (again["createTime"], again["updateTime"]) == ("2021-03-04T05:06:07Z", "2022-01-02T03:04:05Z")
    r = await memos_client.get("/api/v1/users/alice", headers=alice.headers)
    user = await r.json()
    assert (user["createTime"], user["updateTime"]) == ("2020-09-13T12:26:41Z", "2023-11-14T22:13:22Z")

    # Stored as real TIMESTAMPs: UTC wall time in a UTC session, shifted in another zone, same epoch.
    rows = await query(memos_config.dsn, "SELECT created_ts, UNIX_TIMESTAMP(created_ts) FROM memo WHERE uid = %s", uid)
    assert str(rows[0][0]) == "2021-03-04 05:06:07" and rows[0][1] == 1614834367
    rows = await query(memos_config.dsn, "SELECT created_ts FROM memo WHERE uid = %s", uid, time_zone="+05:30")
    assert str(rows[0][0]) == "2021-03-04 10:36:07"

    # Comparisons and filters on those columns see epoch seconds too.
    for expr, found in (
        ("created_ts == 1614834367", True),
        ("created_ts > 1614834367", False),
        ("created_ts >= 1614834367 && created_ts < 1614834368", True),
        ("updated_ts > 1641092644 && updated_ts <= 1641092645", True),
    ):
        r = await memos_client.get("/api/v1/memos", params={"filter": expr}, headers=alice.headers)
        assert r.status == 200, (expr, await r.text())
        names = [m["name"] for m in (await r.json()).get("memos", [])]
        assert (memo["name"] in names) is found, expr

    # An update keeps the creation time and writes the new update time exactly.
    r = await memos_client.patch(
        f"/api/v1/{memo['name']}?updateMask=update_time",
        json={"updateTime": "2024-02-29T23:59:59Z"},
        headers=alice.headers,
    )
    assert r.status == 200, await r.text()
    rows = await query(
        memos_config.dsn, "SELECT UNIX_TIMESTAMP(created_ts), UNIX_TIMESTAMP(updated_ts) FROM memo WHERE uid = %s", uid
    )
    assert tuple(rows[0]) == (1614834367, 1709251199)


async def test_rows_inserted_without_times_get_the_current_time(memos_client, memos_config):
    ctx = memos_client.app[CONTEXT]
    await query(
        memos_config.dsn,
        "INSERT INTO memo (uid, creator_id, content, payload) VALUES ('raw', 1, 'x', '{}')",
    )
    async with ctx.store.connection():
        row = await ctx.store.fetch_one(tables.memo.select().where(tables.memo.c.uid == "raw"))
    now = (await query(memos_config.dsn, "SELECT UNIX_TIMESTAMP()"))[0][0]
    assert isinstance(row["created_ts"], int) and abs(row["created_ts"] - now) <= 5
    assert row["pinned"] is False and json.loads(row["payload"]) == {}


async def test_epoch_zero_is_the_zero_timestamp(memos_client, memos_config):
    """0 (an unset time) is below TIMESTAMP's range as 1970-01-01 00:00:00 UTC: it is kept as MySQL's
    zero value, which reads back as 0 and sorts before every real time."""
    ctx = memos_client.app[CONTEXT]
    m = tables.memo
    async with ctx.store.connection():
        for uid, ts in (("zero", 0), ("one", 1), ("late", 2_000_000_000)):
            row = {"row_status": "NORMAL", "content": "", "visibility": "PRIVATE", "pinned": False, "payload": "{}"}
            await ctx.store.execute(m.insert().values(uid=uid, creator_id=1, created_ts=ts, updated_ts=ts, **row))
        rows = await ctx.store.fetch_all(sa.select(m.c.uid, m.c.created_ts).order_by(m.c.created_ts))
        assert [(r["uid"], r["created_ts"]) for r in rows] == [("zero", 0), ("one", 1), ("late", 2_000_000_000)]
        assert await ctx.store.fetch_val(sa.select(sa.func.count()).where(m.c.created_ts > 0)) == 2
        assert await ctx.store.fetch_val(sa.select(m.c.uid).where(m.c.updated_ts == 0)) == "zero"
    raw = await query(memos_config.dsn, "SELECT CAST(created_ts AS CHAR) FROM memo WHERE uid = 'zero'")
    assert raw[0][0] == "0000-00-00 00:00:00"


# -- DSNs ------------------------------------------------------------------------------------------
def test_go_style_dsn_parses():
    d = parse_dsn("memos:p%40ss:w@rd@tcp(db.example:3307)/memos_prod?parseTime=true&loc=UTC&max_size=4")
    assert (d.user, d.password, d.host, d.port, d.database) == (
        "memos",
        "p%40ss:w@rd",
        "db.example",
        3307,
        "memos_prod",
    )
    assert d.options == (("max_size", "4"),)  # Go driver flags are dropped, pool options kept
    assert d.url().startswith("mysql+aiomysql://memos:p%2540ss%3Aw%40rd@db.example:3307/memos_prod?max_size=4")

    d = parse_dsn("root@unix(/run/mysqld/mysqld.sock)/memos")
    assert (d.user, d.password, d.unix_socket, d.database) == ("root", "", "/run/mysqld/mysqld.sock", "memos")
    d = parse_dsn("user:pw@/memos")
    assert (d.host, d.port, d.database) == ("127.0.0.1", 3306, "memos")
    d = parse_dsn("user:pw@tcp([::1]:3308)/memos")
    assert (d.host, d.port) == ("::1", 3308)

    d = parse_dsn("mysql://u:p%40w@h:3310/db?ssl=false&charset=utf8")
    assert (d.user, d.password, d.host, d.port, d.database, d.options) == (
        "u",
        "p@w",
        "h",
        3310,
        "db",
        (("ssl", "false"),),
    )
    with pytest.raises(ValueError, match="MEMOS_DSN"):
        parse_dsn("not a dsn")
    with pytest.raises(ValueError, match="postgres"):
        parse_dsn("postgres://u@h/db")
    with pytest.raises(ValueError, match="MEMOS_DSN"):
        MySQLDriver(Config(driver="mysql"))


async def test_go_style_dsn_serves(aiohttp_client, memos_config):
    d = parse_dsn(memos_config.dsn)
    go_dsn = f"{d.user}:{d.password}@tcp({d.host}:{d.port})/{d.database}?parseTime=true&loc=Local"
    client = await aiohttp_client(create_app(Config(driver="mysql", dsn=go_dsn)))
    r = await client.post("/api/v1/users", json={"username": "alice", "password": "pw"})
    assert r.status == 200, await r.text()
    rows = await query(memos_config.dsn, "SELECT username, role FROM `user`")
    assert [tuple(r) for r in rows] == [("alice", "ADMIN")]


# -- concurrency -----------------------------------------------------------------------------------
async def test_fifty_concurrent_creates(memos_client, memos_users, memos_config):
    alice = await memos_users("alice")

    async def create(i: int) -> dict:
        r = await memos_client.post(
            "/api/v1/memos", json={"content": f"note {i} #batch", "visibility": "PUBLIC"}, headers=alice.headers
        )
        assert r.status == 200, await r.text()
        return await r.json()

    made = await asyncio.gather(*(create(i) for i in range(50)))
    assert len({m["name"] for m in made}) == 50
    rows = await query(memos_config.dsn, "SELECT COUNT(*), COUNT(DISTINCT id) FROM memo")
    assert tuple(rows[0]) == (50, 50)
    r = await memos_client.get("/api/v1/memos?pageSize=100", headers=alice.headers)
    assert len((await r.json())["memos"]) == 50
