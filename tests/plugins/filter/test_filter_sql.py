"""Filters compiled by memos-filter and run against a real SQLite database with the Memos schema."""

from __future__ import annotations

import json
import sqlite3

import pytest
import sqlalchemy as sa
from memos_driver_sqlite.backend import MemosConnection
from memos_driver_sqlite.schema import LATEST
from memos_filter import compile_filter
from sqlalchemy.dialects import mysql, postgresql, sqlite

from memos_core import tables

NOW = 1_750_000_000
DAY = 86400
OLD = NOW - 30 * DAY
JAN_2024, FEB_2024 = 1704067200, 1706745600

ALICE, BOB, CAROL = 1, 2, 3
TL, IT, LINK, CODE = "hasTaskList", "hasIncompleteTasks", "hasLink", "hasCode"
NO_TAGS = object()  # payload without a tags key, as protojson writes it


def memo(id_, creator, vis, content, tags=NO_TAGS, props=(), pinned=False, created=OLD, updated=None):
    payload: dict = {}
    if props:
        payload["property"] = dict.fromkeys(props, True)
    if tags is not NO_TAGS:
        payload["tags"] = tags
    return {
        "id": id_,
        "uid": f"memo{id_}",
        "creator_id": creator,
        "created_ts": created,
        "updated_ts": created if updated is None else updated,
        "content": content,
        "visibility": vis,
        "pinned": int(pinned),
        "payload": json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
    }


MEMOS = [
    memo(1, ALICE, "PUBLIC", "Meeting notes for Monday", ["work", "meeting"], (TL, IT), pinned=True, created=NOW - 100),
    memo(2, ALICE, "PRIVATE", "draft: grocery list", ["personal"], (TL,), created=NOW - 2 * DAY),
    memo(3, BOB, "PUBLIC", "Read [docs](https://example.com)", ["work/project"], (LINK,)),
    memo(4, BOB, "PROTECTED", "```py\ncode\n```", ["work/project/alpha", "code"], (CODE,), pinned=True),
    memo(5, CAROL, "PUBLIC", "ÜBER straße", ["日本語"]),
    memo(6, CAROL, "PRIVATE", "apple 🍎", ["🍎", "fruit"]),
    memo(7, ALICE, "PUBLIC", "100% done", ["100%"]),
    memo(8, ALICE, "PUBLIC", "snake_case", ["a_b"]),
    memo(9, BOB, "PUBLIC", "abc", ["axb"]),
    memo(10, BOB, "PRIVATE", "thousand", ["1000x"]),
    memo(11, CAROL, "PUBLIC", "old stuff", ["archive", "archived/2024"]),
    memo(12, CAROL, "PROTECTED", "tag words", ["tagging"]),
    memo(13, ALICE, "PUBLIC", "empty tags", []),
    memo(14, ALICE, "PRIVATE", "MEETING room booked"),
    memo(15, BOB, "PUBLIC", "quote", ['say "hi"']),
    memo(16, BOB, "PUBLIC", "Book review", ["book"]),
    memo(17, CAROL, "PUBLIC", "fixes", ["bugfix", "bug"]),
    memo(18, CAROL, "PRIVATE", "debugging [link](http://x) `code`", ["debug"], (CODE, LINK)),
    memo(19, ALICE, "PUBLIC", "- [ ] todo", ["todo-list"], (TL, IT)),
    memo(20, ALICE, "PUBLIC", "important thing", ["important"]),
    memo(21, BOB, "PRIVATE", "urgent", ["important/urgent"], pinned=True),
    memo(22, BOB, "PUBLIC", "importantly", ["importantly"]),
    memo(23, CAROL, "PUBLIC", "january", created=JAN_2024 + 10),
    memo(24, CAROL, "PUBLIC", "february", created=FEB_2024),
    memo(25, ALICE, "PROTECTED", "touched", updated=NOW - 30),
    memo(26, ALICE, "PUBLIC", "exact"),
    memo(27, BOB, "PUBLIC", "Ünïcödé ÄPFEL"),
    memo(28, CAROL, "PROTECTED", "nested", ["a/b/c"]),
    memo(29, CAROL, "PUBLIC", "emoji only", ["🍎/green"]),
    memo(30, ALICE, "PRIVATE", "%wild_card%"),
]

ALL = frozenset(m["id"] for m in MEMOS)
BY = {c: frozenset(m["id"] for m in MEMOS if m["creator_id"] == c) for c in (ALICE, BOB, CAROL)}
VIS = {v: frozenset(m["id"] for m in MEMOS if m["visibility"] == v) for v in ("PUBLIC", "PROTECTED", "PRIVATE")}
PINNED = frozenset({1, 4, 21})
UNTAGGED = frozenset({13, 14, 23, 24, 25, 26, 27, 30})
TWO_TAGS = frozenset({1, 4, 6, 11, 17})


def ids(*values: int) -> frozenset[int]:
    return frozenset(values)


CASES: list[tuple[str, frozenset[int]]] = [
    # visibility
    ('visibility == "PUBLIC"', VIS["PUBLIC"]),
    ('visibility in ["PUBLIC", "PROTECTED"]', VIS["PUBLIC"] | VIS["PROTECTED"]),
    ('visibility != "PRIVATE"', VIS["PUBLIC"] | VIS["PROTECTED"]),
    ("visibility in []", ids()),
    ('(((visibility == "PROTECTED")))', VIS["PROTECTED"]),
    # creator and creator_id
    ('creator == "users/alice"', BY[ALICE]),
    ('creator != "users/alice"', BY[BOB] | BY[CAROL]),
    ('creator in ["users/bob", "users/carol"]', BY[BOB] | BY[CAROL]),
    ('creator == "users/nobody"', ids()),
    ('creator == "alice"', ids()),
    ("creator_id == 1", BY[ALICE]),
    ("creator_id == 0x1", BY[ALICE]),
    ("creator_id != 1 && pinned", ids(4, 21)),
    ("creator_id in [2, 3]", BY[BOB] | BY[CAROL]),
    # pinned
    ("pinned", PINNED),
    ("pinned == true", PINNED),
    ("pinned == false", ALL - PINNED),
    ("pinned != true", ALL - PINNED),
    ("!pinned", ALL - PINNED),
    ("!!pinned", PINNED),
    # content
    ('content.contains("meeting")', ids(1, 14)),
    ('!content.contains("meeting")', ALL - ids(1, 14)),
    ('content.contains("äpfel")', ids(27)),
    ('content.contains("\\u00c4pfel")', ids(27)),
    ('content.contains("über")', ids(5)),
    ('content.contains("%")', ids(7, 30)),
    ('content.contains("_")', ids(8, 30)),
    ('content.contains(r"%wild")', ids(30)),
    ('content.contains("")', ALL),
    ('content == "exact"', ids(26)),
    ("content == '''exact'''", ids(26)),
    ('content != "exact"', ALL - ids(26)),
    ('content in ["abc", "exact"]', ids(9, 26)),
    ('content < "B"', ids(7, 19, 30)),
    # tags: membership, tag in [...], exists
    ('"work" in tags', ids(1)),
    ('!("work" in tags)', ALL - ids(1)),
    ('"work/project" in tags', ids(3)),
    ('tag in ["work"]', ids(1, 3, 4)),
    ('tag in ["work", "personal"]', ids(1, 2, 3, 4)),
    ('tag in ["work/project"]', ids(3, 4)),
    ('tag in ["important"]', ids(20, 21)),
    ('tag in ["a/b"]', ids(28)),
    ('tag in ["a"]', ids(28)),
    ('"a/b" in tags', ids()),
    ("tag in []", ids()),
    ('tags.exists(t, t == "book")', ids(16)),
    ('tags.exists(t, t.startsWith("archive"))', ids(11)),
    ('!tags.exists(t, t.startsWith("archive"))', ALL - ids(11)),
    ('tags.exists(t, t.startsWith("tag"))', ids(12)),
    ('tags.exists(t, t.endsWith("bug"))', ids(17, 18)),
    ('tags.exists(t, t.contains("todo"))', ids(19)),
    ('tags.exists(tag, tag.contains("rchiv"))', ids(11)),
    ('tags.exists(t, t.contains(""))', ALL - UNTAGGED),
    ("size(tags) == 0", UNTAGGED),
    ("size(tags) >= 2", TWO_TAGS),
    ("size(tags) > 0 && size(tags) < 2", ALL - UNTAGGED - TWO_TAGS),
    # unicode, emoji and LIKE wildcards inside tags
    ('"日本語" in tags', ids(5)),
    ('tags.exists(t, t == "日本語") || tags.exists(t, t.endsWith("🍎"))', ids(5, 6)),
    ('"🍎" in tags', ids(6)),
    ('tag in ["🍎"]', ids(6, 29)),
    ('tags.exists(t, t.startsWith("🍎"))', ids(6, 29)),
    ('"📅" in tags', ids()),
    ('"100%" in tags', ids(7)),
    ('tags.exists(t, t.startsWith("100%"))', ids(7)),
    ('tags.exists(t, t.startsWith("a_"))', ids(8)),
    ('tag in ["a_b"]', ids(8)),
    ('tags.exists(t, t.contains("_"))', ids(8)),
    ("'say \"hi\"' in tags", ids(15)),
    ('tags.exists(t, t.contains("\\""))', ids(15)),
    # payload properties
    ("has_task_list", ids(1, 2, 19)),
    ("has_task_list && has_incomplete_tasks", ids(1, 19)),
    ("has_task_list && !has_incomplete_tasks", ids(2)),
    ("has_link || has_code", ids(3, 4, 18)),
    ("!has_link", ALL - ids(3, 18)),
    ("has_code == true", ids(4, 18)),
    ("has_task_list == false", ALL - ids(1, 2, 19)),
    ("has_link != true", ALL - ids(3, 18)),
    ("has_incomplete_tasks != false", ids(1, 19)),
    # time, with now() and integer arithmetic
    ("created_ts > now() - 86400", ids(1)),
    ("created_ts >= now() - 3 * 86400", ids(1, 2)),
    (f"created_ts >= {JAN_2024} && created_ts < {FEB_2024}", ids(23)),
    (f"created_ts <= {FEB_2024}", ids(23, 24)),
    ("updated_ts > now() - 60*60", ids(1, 25)),
    ("updated_ts == now() - 30", ids(25)),
    ("updated_ts == now() + -30", ids(25)),
    ("updated_ts == now() - (10 + 20)", ids(25)),
    (f"created_ts != {FEB_2024} && created_ts < now() - 365 * 24 * 60 * 60", ids(23)),
    ("created_ts > -1", ALL),
    ("created_ts < -(-1)", ids()),
    # boolean structure and precedence
    ('(pinned || tag in ["important"]) && visibility == "PUBLIC"', ids(1, 20)),
    ('pinned || tag in ["important"] && visibility == "PUBLIC"', ids(1, 4, 20, 21)),
    ("!(pinned || has_link)", ALL - ids(1, 3, 4, 18, 21)),
    ("!pinned && !has_link && !has_code && !has_task_list", ALL - ids(1, 2, 3, 4, 18, 19, 21)),
    ('content.contains("MEETING") && creator == "users/alice" && visibility == "PRIVATE"', ids(14)),
    ('pinned &&\n  visibility == "PUBLIC"', ids(1)),
    ("true", ALL),
    ("false", ids()),
    ("!false", ALL),
    ("pinned && true", PINNED),
    ("pinned || true", ALL),
    ("pinned && false", ids()),
]


@pytest.fixture(scope="module")
def db_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("filter") / "memos.db"
    conn = sqlite3.connect(path, factory=MemosConnection)
    conn.executescript(LATEST)
    conn.executemany(
        "INSERT INTO user (id, username, password_hash) VALUES (?, ?, '')",
        [(ALICE, "alice"), (BOB, "bob"), (CAROL, "carol")],
    )
    conn.executemany(
        "INSERT INTO memo (id, uid, creator_id, created_ts, updated_ts, content, visibility, pinned, payload) "
        "VALUES (:id, :uid, :creator_id, :created_ts, :updated_ts, :content, :visibility, :pinned, :payload)",
        MEMOS,
    )
    conn.executemany(
        "INSERT INTO attachment (id, uid, creator_id, created_ts, updated_ts, filename, type, memo_id) "
        "VALUES (?, ?, 1, ?, ?, ?, ?, ?)",
        [(i, f"a{i}", ts, ts, name, mime, memo_id) for i, name, mime, ts, memo_id in ATTACHMENTS],
    )
    conn.commit()
    conn.close()
    return path


@pytest.fixture(scope="module")
def engine(db_path):
    engine = sa.create_engine("sqlite://", creator=lambda: sqlite3.connect(db_path, factory=MemosConnection))
    yield engine
    engine.dispose()


def run_bound(engine, table: sa.Table, clause) -> frozenset[int]:
    """Execute with bound parameters, the way the server's store runs queries."""
    with engine.connect() as conn:
        return frozenset(conn.execute(sa.select(table.c.id).where(clause)).scalars())


def run_literal(db_path, table: sa.Table, clause) -> frozenset[int]:
    """Execute the SQL text with every value rendered inline."""
    sql = sa.select(table.c.id).where(clause).compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    conn = sqlite3.connect(db_path, factory=MemosConnection)
    try:
        return frozenset(row[0] for row in conn.execute(str(sql)))
    finally:
        conn.close()


def test_enough_cases():
    assert len(CASES) >= 60
    assert len({expression for expression, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("expression", "expected"), CASES, ids=[c[0] for c in CASES])
def test_memo_filter(engine, db_path, expression, expected):
    clause = compile_filter(expression, "memo", "sqlite", now=NOW)
    assert run_bound(engine, tables.memo, clause) == expected
    assert run_literal(db_path, tables.memo, clause) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [('creator == "users/bob"', BY[BOB]), ('creator != "users/bob" && pinned', ids(1))],
)
def test_creator_inside_a_query_that_joins_user(engine, expression, expected):
    memo, user = tables.memo, tables.user
    query = (
        sa.select(memo.c.id, user.c.username)
        .select_from(memo.join(user, user.c.id == memo.c.creator_id))
        .where(compile_filter(expression, "memo", "sqlite"))
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    assert frozenset(row.id for row in rows) == expected


@pytest.mark.parametrize("dialect", [postgresql.dialect(), mysql.dialect()], ids=["postgresql", "mysql"])
@pytest.mark.parametrize("expression", [c[0] for c in CASES])
def test_other_dialects_compile(dialect, expression):
    clause = compile_filter(expression, "memo", dialect.name, now=NOW)
    query = sa.select(tables.memo.c.id).where(clause)
    assert "FROM memo" in str(query.compile(dialect=dialect))
    assert "FROM memo" in str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def render(expression: str, dialect, **kwargs) -> str:
    clause = compile_filter(expression, "memo", dialect.name, now=NOW, **kwargs)
    return str(clause.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def test_dialect_specific_renderings():
    pg, my = postgresql.dialect(), mysql.dialect()
    assert "ILIKE" in render('content.contains("x")', pg)
    assert "@>" in render('"x" in tags', pg)
    assert "jsonb_array_length" in render("size(tags) > 1", pg)
    assert "->>" in render("has_link", pg)
    assert "JSON_CONTAINS" in render('"x" in tags', my)
    assert "JSON_LENGTH" in render("size(tags) > 1", my)
    assert "UNIX_TIMESTAMP(memo.created_ts)" in render("created_ts > 5", my)
    assert "JSON_CONTAINS(memo.payload, 'true', '$.property.hasCode')" in render("has_code", my)
    assert "memos_unicode_lower" in render('content.contains("x")', sqlite.dialect())


# ---------------------------------------------------------------------------------------------------- now()


def test_now_is_evaluated_per_call(monkeypatch):
    import memos_filter.compiler as compiler

    monkeypatch.setattr(compiler.time, "time", lambda: 2_000_000_000.5)
    first = str(compile_filter("created_ts > now() - 60").compile(compile_kwargs={"literal_binds": True}))
    monkeypatch.setattr(compiler.time, "time", lambda: 2_000_000_100.5)
    second = str(compile_filter("created_ts > now() - 60").compile(compile_kwargs={"literal_binds": True}))
    assert first == "memo.created_ts > 1999999940"
    assert second == "memo.created_ts > 2000000040"


def test_clauses_without_now_are_cached():
    assert compile_filter('visibility == "PUBLIC" && pinned') is compile_filter('visibility == "PUBLIC" && pinned')
    assert compile_filter("created_ts > now()", now=1) is not compile_filter("created_ts > now()", now=1)


# ---------------------------------------------------------------------------------------------------- attachments

ATTACHMENTS = [
    # id, filename, mime type, created_ts, memo_id
    (1, "report-2024.pdf", "application/pdf", OLD, 3),
    (2, "Photo.PNG", "image/png", NOW - 60, None),
    (3, "diagram.png", "image/png", NOW - 2 * DAY, 4),
    (4, "notes_v2.txt", "text/plain", OLD, None),
    (5, "Annual Report.pdf", "application/pdf", NOW - 10, 3),
]

ATTACHMENT_CASES: list[tuple[str, frozenset[int]]] = [
    ('filename.contains("report")', ids(1, 5)),
    ('filename.contains("_v2")', ids(4)),
    ('filename == "diagram.png"', ids(3)),
    ('mime_type == "image/png"', ids(2, 3)),
    ('mime_type in ["application/pdf", "text/plain"]', ids(1, 4, 5)),
    ('mime_type != "image/png"', ids(1, 4, 5)),
    ("create_time > now() - 3600", ids(2, 5)),
    ("create_time <= now() - 86400", ids(1, 3, 4)),
    ("memo_id == null", ids(2, 4)),
    ("memo_id != null", ids(1, 3, 5)),
    ("memo_id == 3", ids(1, 5)),
    ("memo_id in [4, 99]", ids(3)),
    ('memo_id == null && mime_type == "image/png"', ids(2)),
]


@pytest.mark.parametrize(("expression", "expected"), ATTACHMENT_CASES, ids=[c[0] for c in ATTACHMENT_CASES])
def test_attachment_filter(engine, db_path, expression, expected):
    clause = compile_filter(expression, "attachment", "sqlite", now=NOW)
    assert run_bound(engine, tables.attachment, clause) == expected
    assert run_literal(db_path, tables.attachment, clause) == expected
    for dialect in (postgresql.dialect(), mysql.dialect()):
        other = compile_filter(expression, "attachment", dialect.name, now=NOW)
        assert "FROM attachment" in str(sa.select(tables.attachment.c.id).where(other).compile(dialect=dialect))
