"""The PostgreSQL driver: the schema it creates, schema versions, JSONB through the filter, pooled
concurrent writers. Runs when PostgreSQL is under test (``MEMOS_TEST_DRIVERS=postgres`` plus
``MEMOS_TEST_POSTGRES_DSN``, see ``scripts/db-servers.sh``)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid

import asyncpg
import pytest
import sqlalchemy as sa
from aiohttp import web
from memos_driver_postgres import PostgresDriver, normalize_dsn

from memos_core import CONTEXT, Config
from memos_core.app import create_app
from memos_core.store import SCHEMA_VERSION, SchemaError, Store, tables

pytestmark = pytest.mark.drivers("postgres")

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


@pytest.fixture
def empty_dsn(memos_driver, request) -> str:
    """A new, empty database (no template): start-up must create the schema itself."""
    server = os.environ["MEMOS_TEST_POSTGRES_DSN"]
    name = f"memos_test_{uuid.uuid4().hex[:12]}"
    dsn = asyncio.run(PostgresDriver.create_database(server, name))
    request.addfinalizer(lambda: asyncio.run(PostgresDriver.drop_test_database(server, name)))
    return dsn


async def query(dsn: str, sql: str, *args) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def columns(dsn: str) -> dict[str, dict[str, tuple]]:
    rows = await query(
        dsn,
        """SELECT table_name, column_name, data_type, is_nullable, column_default
           FROM information_schema.columns WHERE table_schema = current_schema()""",
    )
    out: dict[str, dict[str, tuple]] = {}
    for r in rows:
        out.setdefault(r["table_name"], {})[r["column_name"]] = (r["data_type"], r["is_nullable"], r["column_default"])
    return out


async def basic(dsn: str) -> dict:
    rows = await query(dsn, "SELECT value FROM system_setting WHERE name = 'BASIC'")
    return json.loads(rows[0]["value"])


async def start(aiohttp_client, dsn: str):
    return await aiohttp_client(create_app(Config(driver="postgres", dsn=dsn)))


# -- a new database --------------------------------------------------------------------------------
async def test_new_database_gets_the_postgres_schema(aiohttp_client, empty_dsn):
    await start(aiohttp_client, empty_dsn)
    cols = await columns(empty_dsn)
    assert {t for t in cols if not t.startswith("memos_py_")} == TABLES  # plugins' own tables aside
    # Column names match the Core tables the queries use, table for table.
    for table in tables.metadata.sorted_tables:
        if table.name in TABLES:
            assert set(cols[table.name]) == set(table.c.keys()), table.name
    memo = cols["memo"]
    assert memo["id"][0] == "integer" and memo["id"][2].startswith("nextval(")  # SERIAL
    assert memo["created_ts"][:2] == ("bigint", "NO") and "EXTRACT(epoch FROM now())" in memo["created_ts"][2]
    assert memo["pinned"] == ("boolean", "NO", "false")
    assert memo["payload"][0] == "jsonb"
    assert cols["idp"]["config"][0] == "jsonb"
    assert cols["attachment"]["blob"] == ("bytea", "YES", None)
    assert cols["attachment"]["payload"][0] == "text" and cols["inbox"]["message"][0] == "text"
    assert cols["memo_share"]["expires_ts"] == ("bigint", "YES", None)
    assert cols["user"]["username"][:2] == ("text", "NO")

    pk = await query(
        empty_dsn,
        """SELECT kcu.column_name FROM information_schema.table_constraints tc
           JOIN information_schema.key_column_usage kcu USING (constraint_schema, constraint_name)
           WHERE tc.table_name = 'system_setting' AND tc.constraint_type = 'PRIMARY KEY'""",
    )
    assert [r["column_name"] for r in pk] == ["name"]

    uniques = await query(
        empty_dsn,
        """SELECT tc.table_name, array_agg(kcu.column_name::text ORDER BY kcu.ordinal_position) AS cols
           FROM information_schema.table_constraints tc
           JOIN information_schema.key_column_usage kcu USING (constraint_schema, constraint_name)
           WHERE tc.constraint_type = 'UNIQUE' AND tc.table_schema = current_schema()
           GROUP BY tc.table_name, tc.constraint_name""",
    )
    # memos-py's own tables (memos_py_*) keep their own constraints beside the Memos schema
    memos_schema = [r for r in uniques if not r["table_name"].startswith("memos_py_")]
    assert sorted((r["table_name"], tuple(r["cols"])) for r in memos_schema) == sorted(
        [
            ("user", ("username",)),
            ("user_setting", ("user_id", "key")),
            ("memo", ("uid",)),
            ("memo_relation", ("memo_id", "related_memo_id", "type")),
            ("attachment", ("uid",)),
            ("idp", ("uid",)),
            ("reaction", ("creator_id", "content_id", "reaction_type")),
            ("memo_share", ("uid",)),
            ("user_identity", ("provider", "extern_uid")),
            ("user_identity", ("user_id", "provider")),
        ]
    )
    fk = await query(
        empty_dsn,
        """SELECT rc.delete_rule FROM information_schema.referential_constraints rc
           JOIN information_schema.table_constraints tc USING (constraint_schema, constraint_name)
           WHERE tc.table_name = 'memo_share'""",
    )
    assert [r["delete_rule"] for r in fk] == ["CASCADE"]
    indexes = await query(
        empty_dsn,
        "SELECT indexname, tablename FROM pg_indexes WHERE indexname LIKE 'idx_%' AND tablename NOT LIKE 'memos_py_%'",
    )
    assert sorted((r["indexname"], r["tablename"]) for r in indexes) == [
        ("idx_memo_share_memo_id", "memo_share"),
        ("idx_user_identity_user_id", "user_identity"),
    ]


async def test_new_database_records_the_schema_version_and_a_secret(aiohttp_client, empty_dsn):
    client = await start(aiohttp_client, empty_dsn)
    value = await basic(empty_dsn)
    assert value["schemaVersion"] == SCHEMA_VERSION == "0.28.1"
    assert len(value["secretKey"]) == 36
    assert client.app[CONTEXT].secret == value["secretKey"]
    await client.close()
    await start(aiohttp_client, empty_dsn)  # a restart keeps both
    assert await basic(empty_dsn) == value


async def test_test_databases_get_their_own_secret(memos_client, memos_new_config):
    """Test databases are copied from a template holding the schema but no secret key."""
    other = memos_new_config("postgres")
    runner = web.AppRunner(create_app(other))
    await runner.setup()
    try:
        assert runner.app[CONTEXT].secret != memos_client.app[CONTEXT].secret
    finally:
        await runner.cleanup()
    assert (await basic(other.dsn))["schemaVersion"] == SCHEMA_VERSION


@pytest.mark.parametrize(
    ("version", "expect"),
    [("0.29.0", "newer than 0.28.1"), ("0.21.0", "too old")],
)
async def test_unservable_schema_version_is_refused(aiohttp_client, empty_dsn, version, expect):
    client = await start(aiohttp_client, empty_dsn)
    await client.close()
    value = {**await basic(empty_dsn), "schemaVersion": version}
    await query(empty_dsn, "UPDATE system_setting SET value = $1 WHERE name = 'BASIC'", json.dumps(value))
    before = await columns(empty_dsn)
    runner = web.AppRunner(create_app(Config(driver="postgres", dsn=empty_dsn)))
    with pytest.raises(SchemaError, match=re.escape(expect)):
        await runner.setup()
    assert await columns(empty_dsn) == before and await basic(empty_dsn) == value


async def test_dropping_a_test_database_ends_its_sessions(memos_driver):
    server = os.environ["MEMOS_TEST_POSTGRES_DSN"]
    for drop in ("force", "own sessions first"):
        name = f"memos_test_{uuid.uuid4().hex[:12]}"
        left_open = await asyncpg.connect(await PostgresDriver.create_test_database(server, name))
        if drop == "force":
            await PostgresDriver.drop_test_database(server, name)
        else:  # the path taken when WITH (FORCE) is refused (an autovacuum worker in the database)
            admin = await asyncpg.connect(server)
            try:
                await PostgresDriver._drop_own_sessions_first(admin, name)
            finally:
                await admin.close()
        assert not await query(server, "SELECT 1 FROM pg_database WHERE datname = $1", name)
        assert left_open.is_closed() or not await _alive(left_open)


async def _alive(conn: asyncpg.Connection) -> bool:
    try:
        await conn.fetchval("SELECT 1")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError):
        return False
    finally:
        conn.terminate()
    return True


# -- configuration ---------------------------------------------------------------------------------
def test_dsn_forms():
    assert normalize_dsn("postgres://u:p@h:5432/db") == "postgresql://u:p@h:5432/db?min_size=1&max_size=10"
    assert normalize_dsn("postgresql://u:p@h/db?max_size=3&sslmode=require") == (
        "postgresql://u:p@h/db?max_size=3&ssl=require&min_size=1"
    )
    with pytest.raises(ValueError, match="not a PostgreSQL DSN"):
        normalize_dsn("mysql://u:p@h/db")


def test_the_driver_needs_a_dsn():
    with pytest.raises(ValueError, match="MEMOS_DSN"):
        PostgresDriver(Config(driver="postgres"))


async def test_memos_dsn_with_postgres_scheme_and_a_pool_bound(aiohttp_client, memos_config):
    dsn = memos_config.dsn.replace("postgresql://", "postgres://", 1) + "?max_size=2"
    config = Config.from_env({"MEMOS_DRIVER": "postgres", "MEMOS_DSN": dsn, "MEMOS_DATA": memos_config.data})
    client = await aiohttp_client(create_app(config))
    store = client.app[CONTEXT].store
    assert store.dialect == "postgresql" and not store.driver.serialize_writes

    async def backend_pid() -> int:
        async with store.connection():
            pid = await store.fetch_val(sa.text("SELECT pg_backend_pid()"))
            await asyncio.sleep(0.05)
            return pid

    pids = await asyncio.gather(*(backend_pid() for _ in range(8)))
    assert len(set(pids)) <= 2  # eight concurrent tasks shared the pool's two connections


# -- JSONB, booleans, unique violations ------------------------------------------------------------
async def test_filter_queries_the_jsonb_payload(memos_client, memos_users):
    alice = await memos_users("alice")
    contents = {
        "plain": "just text",
        "tagged": "about #work/project and #home",
        "todo": "- [ ] open task\n#work",
        "link": "see [the site](https://example.com)",
        "code": "```\nx = 1\n```",
    }
    for uid, content in contents.items():
        r = await memos_client.post(f"/api/v1/memos?memoId={uid}", json={"content": content}, headers=alice.headers)
        assert r.status == 200, await r.text()

    async def found(expr: str) -> set[str]:
        r = await memos_client.get("/api/v1/memos", params={"filter": expr}, headers=alice.headers)
        assert r.status == 200, await r.text()
        return {m["name"].removeprefix("memos/") for m in (await r.json())["memos"]}

    assert await found('tag in ["work"]') == {"tagged", "todo"}
    assert await found('tag in ["work/project"]') == {"tagged"}
    assert await found('tag in ["home"]') == {"tagged"}
    assert await found("size(tags) == 0") == {"plain", "link", "code"}
    assert await found("has_task_list") == {"todo"}
    assert await found("has_incomplete_tasks") == {"todo"}
    assert await found("has_link") == {"link"}
    assert await found("has_code") == {"code"}
    assert await found("!has_link && size(tags) == 0") == {"plain", "code"}
    assert await found('content.contains("JUST")') == {"plain"}
    assert await found("pinned") == set()

    store = memos_client.app[CONTEXT].store
    async with store.connection():
        kind = await store.fetch_val(sa.text("SELECT pg_typeof(payload)::text FROM memo WHERE uid = 'tagged'"))
    assert kind == "jsonb"


async def test_pinned_is_a_boolean_round_trip(memos_client, memos_users):
    alice = await memos_users("alice")
    r = await memos_client.post("/api/v1/memos", json={"content": "pin me"}, headers=alice.headers)
    name = (await r.json())["name"]
    r = await memos_client.patch(
        f"/api/v1/{name}?updateMask=pinned", json={"name": name, "pinned": True}, headers=alice.headers
    )
    assert r.status == 200 and (await r.json())["pinned"] is True
    store = memos_client.app[CONTEXT].store
    async with store.connection():
        assert await store.fetch_val(sa.select(tables.memo.c.pinned)) is True
    r = await memos_client.get("/api/v1/memos", params={"filter": "pinned"}, headers=alice.headers)
    assert [m["name"] for m in (await r.json())["memos"]] == [name]


async def test_unique_violations_are_recognised(memos_client):
    store = memos_client.app[CONTEXT].store
    row = {c.name: "" for c in tables.user.c if c.name != "id"} | {"username": "x", "created_ts": 1, "updated_ts": 1}
    row |= {"row_status": "NORMAL", "role": "USER"}
    async with store.connection():
        await store.execute(tables.user.insert().values(**row))
        with pytest.raises(Exception) as info:
            await store.execute(tables.user.insert().values(**row))
    assert store.is_unique_violation(info.value)
    assert not store.is_unique_violation(ValueError("UNIQUE"))


# -- concurrency -----------------------------------------------------------------------------------
async def test_fifty_concurrent_creates_use_the_pool(memos_client, memos_users):
    alice = await memos_users("alice")

    async def create(i: int) -> tuple[int, dict]:
        r = await memos_client.post(
            "/api/v1/memos", json={"content": f"memo {i} #tag{i % 5}", "visibility": "PUBLIC"}, headers=alice.headers
        )
        return r.status, await r.json()

    results = await asyncio.gather(*(create(i) for i in range(50)))
    assert [status for status, _ in results] == [200] * 50, [body for status, body in results if status != 200]
    assert len({body["name"] for _, body in results}) == 50
    r = await memos_client.get("/api/v1/memos?pageSize=100", headers=alice.headers)
    assert len((await r.json())["memos"]) == 50
    r = await memos_client.get(f"/api/v1/users/{alice.username}:getStats", headers=alice.headers)
    assert (await r.json())["tagCount"] == {f"tag{i}": 10 for i in range(5)}


async def test_shutdown_does_not_wait_forever_for_a_held_connection(memos_config, monkeypatch):
    from memos_driver_postgres import backend

    monkeypatch.setattr(backend, "CLOSE_TIMEOUT", 0.2)
    store = Store(PostgresDriver(memos_config))
    await store.connect()
    held = store.db.connection()
    await held.__aenter__()  # a task that never lets go of its connection
    await asyncio.wait_for(store.disconnect(), 5)  # closed by force after CLOSE_TIMEOUT, not a hang
    with pytest.raises(asyncpg.InterfaceError, match="released back to the pool"):
        await held.raw_connection.fetchval("SELECT 1")


async def test_change_marks_asked_at_once_share_a_query_but_never_one_sent_before_the_asking(
    memos_client, memos_config
):
    """The response cache's mark on PostgreSQL: requests of one moment share one snapshot query,
    and a request arriving while a query is out waits for the next one, so a commit that ended
    before the request is always in its mark."""
    store = memos_client.app[CONTEXT].store
    reader = store.driver._marks
    await store.change_mark()  # opens the reader's connection
    connection = reader._connection
    sent: list[str] = []
    returned, release = asyncio.Event(), asyncio.Event()

    class Held:
        """The reader's connection, counting its queries and holding back their answers."""

        is_closed = connection.is_closed
        close = connection.close

        async def fetchval(self, sql, *args):
            value = await connection.fetchval(sql, *args)
            sent.append(value)
            returned.set()
            await release.wait()
            return value

    reader._connection = Held()
    release.set()
    marks = await asyncio.gather(*(store.change_mark() for _ in range(20)))
    assert len(sent) == 1 and set(marks) == {sent[0]}

    release.clear()
    returned.clear()
    first = asyncio.create_task(store.change_mark())
    await returned.wait()  # its snapshot is taken; the answer is held back
    await query(memos_config.dsn, "UPDATE system_setting SET description = 'touched' WHERE name = 'BASIC'")
    second = asyncio.create_task(store.change_mark())  # asked after the commit
    await asyncio.sleep(0.05)
    release.set()
    before, after = await first, await second
    assert len(sent) == 3 and before == sent[1] and after == sent[2]
    assert before != after
