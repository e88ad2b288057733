"""The compiled-statement cache (``memos_core.StatementCache``) on every driver: SELECTs reuse one
compiled form per shape, and cached rows are exactly the rows of the uncached path (``databases``'
own compile step) for filters with ``IN`` lists, ``LIKE`` escapes, JSON, epoch timestamps, NULLs,
aggregates, subqueries, odd bind names and LIMIT/OFFSET."""

from __future__ import annotations

import contextlib
import datetime
import json
import re
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite

from memos_core import CONTEXT, StatementCache
from memos_core.store import tables
from memos_core.store.memos import select_memos

m = tables.memo
att = tables.attachment
rx = tables.reaction

CONTENTS = [
    "plain memo #tag",
    "50% off_sale, not 50 off",  # LIKE wildcards as data
    "back\\slash and 'quotes'",
    "ünïcødé 😀 #tag",
    "[a link](https://example.com)",
    "",
]


@pytest.fixture
async def store(memos_client, memos_users):
    """The app's store with memos, an attachment without memo and reactions in it."""
    user = await memos_users("cacher")
    for i, content in enumerate(CONTENTS):
        r = await memos_client.post(
            "/api/v1/memos",
            json={"content": content, "visibility": "PUBLIC" if i % 2 else "PRIVATE"},
            headers=user.headers,
        )
        assert r.status == 200, await r.text()
        name = (await r.json())["name"]
        if i % 2 == 0:
            r = await memos_client.post(
                f"/api/v1/{name}/reactions",
                json={"reaction": {"contentId": name, "reactionType": "👍"}},
                headers=user.headers,
            )
            assert r.status == 200, await r.text()
    store = memos_client.app[CONTEXT].store
    async with store.connection(), store.transaction():
        await store.execute(m.update().where(m.c.content == CONTENTS[1]).values(pinned=True))
        values = dict(uid="loose", creator_id=user.id, created_ts=0, updated_ts=1_700_000_000, filename="f.txt")
        values |= dict(type="text/plain", size=3, memo_id=None, storage_type="LOCAL", reference="f.txt", payload="{}")
        await store.execute(att.insert().values(**values))
    return store


def backend_connection(store) -> Any:
    """The driver's ``databases`` connection backend of the current task."""
    return store.db.connection()._connection


def cache_of(store) -> StatementCache:
    """The statement cache the driver's connections share."""
    return store.db._backend.connection().statement_cache


@contextlib.contextmanager
def uncached(store):
    conn = backend_connection(store)
    cache, conn.statement_cache = conn.statement_cache, None
    try:
        yield
    finally:
        conn.statement_cache = cache


def snapshot(records: list[Any], query: sa.Select) -> list[tuple]:
    """Each record read by position, by result name and by Column, with the Python types."""
    keys = list(query.selected_columns.keys())
    columns = [c for c in query.selected_columns if isinstance(c, sa.Column)]
    out = []
    for r in records:
        by_index = tuple((type(r[i]).__name__, r[i]) for i in range(len(keys)))
        by_name = tuple((k, type(r[k]).__name__, r[k]) for k in keys)
        by_column = tuple((str(c), r[c]) for c in columns)
        out.append((by_index, by_name, by_column))
    return out


async def compare(store, query: sa.Select) -> list[tuple]:
    """Run ``query`` cached (twice: a compile, then a hit) and uncached; all must agree."""
    cache = cache_of(store)
    hits = cache.hits
    first = snapshot(await store.fetch_all(query), query)
    second = snapshot(await store.fetch_all(query), query)
    assert cache.hits >= hits + 1, "the second run must reuse the compiled statement"
    with uncached(store):
        plain = snapshot(await store.fetch_all(query), query)
    assert first == plain
    assert second == plain
    one = await store.fetch_one(query)
    with uncached(store):
        plain_one = await store.fetch_one(query)
    assert (snapshot([one], query) if one is not None else None) == (
        snapshot([plain_one], query) if plain_one is not None else None
    )
    return plain


def representative_queries(store) -> dict[str, sa.Select]:
    json_text = store.driver.json_text
    reactions = sa.select(sa.func.count()).select_from(rx).where(rx.c.content_id == "memos/" + m.c.uid)
    has_link = sa.cast(json_text(m.c.payload, "property", "hasLink"), sa.Text)
    return {
        "memo rows, paged": select_memos().order_by(m.c.id.desc()).limit(3).offset(1),
        "IN list": select_memos().where(m.c.id.in_([1, 3, 5, 999])).order_by(m.c.id),
        "empty IN list": select_memos().where(m.c.id.in_([])),
        "NOT IN strings": sa.select(m.c.uid, m.c.visibility).where(m.c.visibility.not_in(["PRIVATE"])).order_by(m.c.id),
        "LIKE autoescape": sa.select(m.c.id, m.c.content).where(m.c.content.contains("50% off_", autoescape=True)),
        "LIKE escape char": sa.select(m.c.id).where(m.c.content.like("%50!%%", escape="!")).order_by(m.c.id),
        "LIKE wildcard data": sa.select(m.c.id).where(m.c.content.like("%50_off%")).order_by(m.c.id),
        "backslash and quotes": sa.select(m.c.id, m.c.content).where(m.c.content == "back\\slash and 'quotes'"),
        "unicode": sa.select(m.c.id, m.c.content).where(m.c.content.contains("😀")),
        "JSON text path": sa.select(m.c.id, has_link.label("has_link"))
        .where(has_link.in_(["true", "1"]))  # SQLite's json_extract reads JSON true as 1
        .order_by(m.c.id),
        "JSON result processing": sa.select(m.c.id, sa.type_coerce(m.c.payload, sa.JSON).label("doc")).order_by(m.c.id),
        "epoch timestamps": sa.select(m.c.id, m.c.created_ts, m.c.updated_ts)
        .where(m.c.created_ts >= 1_000_000_000, m.c.updated_ts < 4_000_000_000)
        .order_by(m.c.created_ts.desc(), m.c.id),
        "epoch zero and NULLs": sa.select(att.c.id, att.c.created_ts, att.c.memo_id, att.c.blob, sa.null().label("n"))
        .where(att.c.memo_id.is_(None), att.c.created_ts == 0)
        .limit(5),
        "boolean": sa.select(m.c.id, m.c.pinned).where(m.c.pinned.is_(True)),
        "aggregates with typed binds": sa.select(
            sa.func.count().label("n"),
            sa.func.sum(sa.case((m.c.visibility == "PUBLIC", 1), else_=0)).label("public"),
            sa.func.max(m.c.created_ts).label("newest"),
        ),
        "group by": sa.select(m.c.visibility, sa.func.count().label("n")).group_by(m.c.visibility).order_by("n"),
        "scalar subquery": sa.select(m.c.id, reactions.scalar_subquery().label("reactions")).order_by(m.c.id),
        "IN subquery": sa.select(m.c.uid).where(m.c.id.in_(sa.select(rx.c.creator_id))).order_by(m.c.uid),
        "no rows": sa.select(m.c.id).where(m.c.id < 0),
        "literal_execute with %": sa.select(m.c.id).where(
            m.c.content == sa.bindparam("text", CONTENTS[1], literal_execute=True)
        ),
        "tuple IN": sa.select(m.c.id, m.c.uid)
        .where(sa.tuple_(m.c.id, m.c.visibility).in_([(1, "PRIVATE"), (2, "PUBLIC"), (3, "PUBLIC")]))
        .order_by(m.c.id),
        "literals": sa.select(
            sa.literal("x%y").label("s"), sa.literal(7).label("i"), sa.literal(None, sa.Integer).label("no_value")
        ),
    }


async def test_cached_rows_are_the_uncached_rows(store):
    async with store.connection():
        results = {}
        for label, query in representative_queries(store).items():
            results[label] = await compare(store, query)
    # The comparisons are worth something only if the data reached the interesting cases.
    assert len(results["IN list"]) == 3 and results["empty IN list"] == [] and results["no rows"] == []
    assert len(results["LIKE autoescape"]) == 1 and len(results["LIKE escape char"]) == 1
    assert len(results["LIKE wildcard data"]) == 1 and len(results["literal_execute with %"]) == 1
    assert [row[0][0][1] for row in results["tuple IN"]] == [1, 2]
    assert len(results["backslash and quotes"]) == 1 and len(results["unicode"]) == 1
    assert len(results["JSON text path"]) == 1
    # JSON is decoded by the type's result processor, except on asyncpg, which hands JSONB over as text
    # (databases registers no JSON codec), cached or not.
    docs = [row[0][1][1] for row in results["JSON result processing"]]
    docs = [json.loads(doc) if store.dialect == "postgresql" else doc for doc in docs]
    assert all(isinstance(doc, dict) for doc in docs) and any(doc.get("tags") == ["tag"] for doc in docs)
    [[zero, _, _]] = results["epoch zero and NULLs"]
    assert zero[1:] == (("int", 0), ("NoneType", None), ("NoneType", None), ("NoneType", None))
    assert all(kind == "int" for row in results["epoch timestamps"] for kind, _ in row[0])
    assert [row[0][1] for row in results["boolean"]] == [("bool", True)]
    [[(n, public, newest), _, _]] = results["aggregates with typed binds"]
    assert n[1] == len(CONTENTS) and int(public[1]) == len(CONTENTS) // 2 and newest[0] == "int"


async def test_bound_values_change_but_the_compiled_form_is_reused(store):
    async with store.connection():
        cache = cache_of(store)
        ids = [r[0] for r in await store.fetch_all(sa.select(m.c.id).order_by(m.c.id))]
        misses = cache.misses
        for size in (1, 2, 5, 0, 3):
            q = select_memos().where(m.c.id.in_(ids[:size]), m.c.content != "nope").order_by(m.c.id).limit(size + 1)
            rows = await store.fetch_all(q)
            assert [r["id"] for r in rows] == ids[:size]
            with uncached(store):
                assert snapshot(await store.fetch_all(q), q) == snapshot(rows, q)
        for text in ("50%", "_", "😀", "'"):
            q = sa.select(sa.func.count()).select_from(m).where(m.c.content.contains(text, autoescape=True))
            assert await store.fetch_val(q) == sum(text in c for c in CONTENTS)
        assert cache.misses == misses + 2  # one per shape, whatever the IN list's length and the values


async def test_list_memos_runs_from_the_cache(store, memos_client):
    cache = cache_of(store)
    r = await memos_client.get("/api/v1/memos?pageSize=3")
    assert r.status == 200
    first = await r.json()
    hits, misses = cache.hits, cache.misses
    # Another Host, so the response cache does not answer it: the statements must run again.
    r = await memos_client.get("/api/v1/memos?pageSize=3", headers={"Host": "other.example"})
    assert await r.json() == first
    assert cache.hits > hits and cache.misses == misses  # every SELECT of the request was a hit


async def test_uncacheable_statements_take_the_plain_path(store):
    async with store.connection():
        cache = cache_of(store)
        uncached_before, size = cache.uncached, len(cache)
        assert await store.fetch_val(sa.text("SELECT count(*) FROM memo WHERE content LIKE :p").bindparams(p="%")) == 6
        union = sa.union_all(sa.select(m.c.id).where(m.c.id == 1), sa.select(m.c.id).where(m.c.id == 2))
        assert sorted(r[0] for r in await store.fetch_all(union)) == [1, 2]
        async with store.transaction():
            await store.execute(m.update().where(m.c.id == 1).values(content="changed 100%"))
        assert await store.fetch_val(sa.select(m.c.content).where(m.c.id == 1)) == "changed 100%"
        assert cache.uncached >= uncached_before + 3 and len(cache) == size + 1


async def test_a_cached_select_sees_a_new_bind_value_in_a_transaction(store):
    async with store.connection():
        q = sa.select(m.c.content).where(m.c.id == sa.bindparam("id"))
        async with store.transaction():
            for memo_id in (2, 3, 4):
                await store.execute(m.update().where(m.c.id == memo_id).values(content=f"memo {memo_id}"))
                assert await store.fetch_val(q.params(id=memo_id)) == f"memo {memo_id}"


async def test_bind_names_sqlalchemy_escapes(store):
    """Bind names with ``.``, ``%`` or spaces are renamed in the statement text; the values must follow
    (``databases``' own compile step loses them on the named and ``pyformat``-mapped paramstyles)."""
    async with store.connection():
        rows = await store.fetch_all(sa.select(m.c.uid, m.c.id).order_by(m.c.id))
        uids = [r["uid"] for r in rows]
        q = (
            sa.select(m.c.id)
            .where(m.c.id > sa.bindparam("low.er bound%"), m.c.uid.in_(sa.bindparam("uid list", expanding=True)))
            .order_by(m.c.id)
        )
        for low, chosen in ((0, uids[:3]), (rows[1]["id"], uids), (0, [])):
            got = await store.fetch_all(q.params({"low.er bound%": low, "uid list": chosen}))
            assert [r[0] for r in got] == [r["id"] for r in rows if r["id"] > low and r["uid"] in chosen]


# -- without a database ------------------------------------------------------------------------


def test_positional_dialects_get_args_in_statement_order():
    cache = StatementCache(sqlite.dialect())
    q = sa.select(m.c.id).where(m.c.id.in_([4, 5]), m.c.uid == "u", m.c.created_ts > 10).limit(2)
    p = cache.prepare(q)
    assert p.statement.count("?") == len(p.args) == 6
    assert p.args == [4, 5, "u", 10, 2, 0]  # LIMIT ? OFFSET ?
    assert cache.prepare(q.where(m.c.pinned.is_(False))) is not None and cache.misses == 2


def test_numeric_dollar_numbers_match_the_args():
    from memos_driver_postgres.backend import make_dialect

    cache = StatementCache(make_dialect("numeric_dollar"))
    p = cache.prepare(sa.select(m.c.id).where(m.c.uid.in_(["a", "b", "c"]), m.c.id == 9).limit(1).offset(2))
    assert p.args == [p.params[name] for name in p.positiontup]
    assert sorted(p.args, key=str) == sorted([9, 1, 2, "a", "b", "c"], key=str)
    assert sorted(int(n) for n in re.findall(r"\$(\d+)", p.statement)) == list(range(1, 7))
    by_number = {f"${n}": value for n, value in enumerate(p.args, start=1)}
    [in_list] = re.findall(r"IN \(([^)]*)\)", p.statement)
    assert [by_number[n.strip()] for n in in_list.split(",")] == ["a", "b", "c"]
    assert by_number[re.search(r"memo\.id = (\$\d+)", p.statement)[1]] == 9
    assert by_number[re.search(r"LIMIT (\$\d+)", p.statement)[1]] == 1
    assert by_number[re.search(r"OFFSET (\$\d+)", p.statement)[1]] == 2


def test_named_dialects_get_params_by_the_names_in_the_text():
    dialect = mysql.pymysql.dialect(paramstyle="pyformat")
    cache = StatementCache(dialect)
    q = sa.select(m.c.id).where(
        m.c.id > sa.bindparam("a.b %c", 3), m.c.uid.in_(sa.bindparam("x y", ["p", "q"], expanding=True))
    )
    p = cache.prepare(q)
    assert p.args == []
    _ = p.statement % {k: repr(v) for k, v in p.params.items()}  # every name in the text has a value
    assert sorted(p.params.values(), key=str) == [3, "p", "q"]


def test_bind_processors_apply_and_timestamps_convert_on_mysql():
    cache = StatementCache(mysql.pymysql.dialect(paramstyle="pyformat"))
    q = sa.select(m.c.created_ts).where(m.c.created_ts == 5, sa.type_coerce(m.c.payload, sa.JSON) == {"a": 1})
    p = cache.prepare(q)
    assert "FROM_UNIXTIME" in p.statement and "UNIX_TIMESTAMP" in p.statement
    assert '{"a": 1}' in p.params.values() and 5 in p.params.values()


def test_only_selects_are_cached():
    cache = StatementCache(sqlite.dialect())
    assert cache.prepare(sa.text("SELECT 1")) is None
    assert cache.prepare(m.update().values(content="x")) is None
    assert cache.prepare(sa.union(sa.select(m.c.id), sa.select(m.c.id))) is None
    assert cache.uncached == 3 and len(cache) == 0


def test_dates_bind_through_processors():
    cache = StatementCache(sqlite.dialect())
    q = sa.select(sa.literal(datetime.date(2024, 5, 6), sa.Date).label("d"))
    assert cache.prepare(q).args == ["2024-05-06"]
