"""User statistics aggregated in SQL, as upstream's GetUserStats answers them.

The output lists one entry per memo (its time, and its id when pinned), and mapping 10,000 result
rows one by one costs far more than the query. So on SQLite and PostgreSQL a single statement
grouped by creator returns everything: counts, and the per-memo times, pins and tag arrays each
joined into one comma-separated string that Python splits. MySQL caps such strings
(``group_concat_max_len``), so it reads them as rows instead: counts grouped by creator, a row per
memo, tag counts grouped by creator and tag (:func:`tag_elements`). Either way the number of
statements does not grow with the number of memos. Pages that draw a calendar use
:func:`memo_day_counts` instead of the per-memo timestamps: one row per day.
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from . import tables
from .memos import not_comment

m = tables.memo
u = tables.user

#: ``memo.payload.property`` flags -> ``UserStats.memoTypeStats`` fields.
TYPE_FLAGS = {
    "linkCount": "hasLink",
    "codeCount": "hasCode",
    "todoCount": "hasTaskList",
    "undoCount": "hasIncompleteTasks",
}


@dataclasses.dataclass
class UserStats:
    username: str
    created: list[int] = dataclasses.field(default_factory=list)  # created_ts, newest first
    pinned_ids: list[int] = dataclasses.field(default_factory=list)
    total: int = 0
    types: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(TYPE_FLAGS, 0))
    tags: dict[str, int] = dataclasses.field(default_factory=dict)


class _MysqlJsonTags(FunctionElement):
    """``JSON_TABLE(payload, '$.tags[*]' …)``: MySQL 8 / MariaDB 10.6 have no json_each."""

    name = "json_tags"
    inherit_cache = True


@compiles(_MysqlJsonTags, "mysql")
def _compile_mysql_json_tags(element: _MysqlJsonTags, compiler: Any, **kw: Any) -> str:
    (column,) = element.clauses
    return f"JSON_TABLE({compiler.process(column, **kw)}, '$.tags[*]' COLUMNS (value VARCHAR(1024) PATH '$'))"


def tag_elements(dialect: str, payload: Any) -> Any:
    """A table-valued FROM item with one row (column ``value``) per element of ``payload.tags``.

    Joined to the memo table with ``ON true``; each dialect's function may refer to the memo row
    (SQLite table-valued functions, PostgreSQL set-returning functions and MySQL ``JSON_TABLE``
    are all implicitly lateral).
    """
    if dialect == "sqlite":
        fn = sa.func.json_each(payload, "$.tags")
    elif dialect == "postgresql":
        fn = sa.func.jsonb_array_elements_text(sa.cast(payload, postgresql.JSONB).op("->")("tags"))
    elif dialect == "mysql":
        fn = _MysqlJsonTags(payload)
    else:
        raise NotImplementedError(f"tag statistics are not implemented for the {dialect} dialect")
    return fn.table_valued("value").alias("tag")


def _flag(store, key: str) -> Any:
    """1 when ``payload.property.<key>`` is JSON true (SQLite yields 1, the others 'true')."""
    value = sa.cast(store.driver.json_text(m.c.payload, "property", key), sa.Text)
    return sa.case((value.in_(["1", "true"]), 1), else_=0)


def tag_arrays(dialect: str, payload: Any) -> Any:
    """``payload.tags`` as the text of a JSON array; NULL when missing or not an array."""
    if dialect == "sqlite":
        return sa.case((sa.func.json_type(payload, "$.tags") == "array", sa.func.json_extract(payload, "$.tags")))
    if dialect == "postgresql":
        tags = sa.cast(payload, postgresql.JSONB).op("->")("tags")
        return sa.case((sa.func.jsonb_typeof(tags) == "array", sa.cast(tags, sa.Text)))
    raise NotImplementedError(f"tag arrays are not implemented for the {dialect} dialect")


#: Dialects whose string aggregates have no length cap, so one statement reads every value.
JOINED_DIALECTS = frozenset({"sqlite", "postgresql"})


def _joined(text: Any) -> Any:
    """Every non-NULL ``text`` of the group as one comma-separated string (NULL for none), in no
    particular order: SQLite before 3.44 cannot order inside an aggregate, so callers sort."""
    return sa.func.aggregate_strings(text, ",")


def _split(joined: str | None) -> list[str]:
    return joined.split(",") if joined else []


def _tag_counts(joined: str | None) -> dict[str, int]:
    """Tag -> memos, from comma-joined :func:`tag_arrays`; by tag, as SQL's GROUP BY gives them.

    The garbage collector is paused while the arrays exist: a list per memo, 10,000 of them alive
    at once, would be promoted through the generations and trigger full collections of the heap
    (tens of milliseconds each); freed before it resumes, they are never collected at all.
    """
    if not joined:
        return {}
    enabled = gc.isenabled()
    gc.disable()
    try:
        arrays = json.loads(f"[{joined}]")
        try:
            counts = Counter(itertools.chain.from_iterable(arrays))
        except TypeError:  # an element that is an array or an object: not a tag
            counts = Counter(e for e in itertools.chain.from_iterable(arrays) if isinstance(e, str))
        del arrays
    finally:
        if enabled:
            gc.enable()
    return {tag: counts[tag] for tag in sorted(e for e in counts if isinstance(e, str))}


async def user_stats(store, where: Sequence[Any], *, timestamps: bool = True) -> dict[int, UserStats]:
    """Stats of NORMAL, non-comment memos matching ``where``, by creator id.

    Memos whose creator row is gone are left out (there is no user to name). ``timestamps=False``
    leaves out the per-memo values (``created``/``pinned_ids`` stay empty), for callers that need
    only the counts.
    """
    base = [m.c.row_status == "NORMAL", not_comment(), *where]
    source = m.join(u, u.c.id == m.c.creator_id)
    joined = store.dialect in JOINED_DIALECTS

    columns = [
        m.c.creator_id,
        u.c.username,
        sa.func.count().label("total"),
        *(sa.func.sum(_flag(store, flag)).label(field) for field, flag in TYPE_FLAGS.items()),
    ]
    if joined:
        columns.append(_joined(tag_arrays(store.dialect, m.c.payload)).label("tags"))
    if joined and timestamps:
        # Epoch seconds, and "seconds:id" of pinned memos so that they sort in the per-memo order.
        created = sa.cast(m.c.created_ts, sa.String)
        pin = sa.case((m.c.pinned, created + ":" + sa.cast(m.c.id, sa.String)))
        columns += [_joined(created).label("created"), _joined(pin).label("pinned")]
    counts = sa.select(*columns).select_from(source).where(*base).group_by(m.c.creator_id, u.c.username)
    out: dict[int, UserStats] = {}
    for row in await store.fetch_all(counts):
        stats = UserStats(username=row["username"], total=int(row["total"]))
        stats.types = {field: int(row[field] or 0) for field in TYPE_FLAGS}
        out[row["creator_id"]] = stats
        if joined:
            stats.tags = _tag_counts(row["tags"])
        if joined and timestamps:
            # Newest first, ties by id (descending): the order of the per-memo statement below.
            stats.created = sorted(map(int, _split(row["created"])), reverse=True)
            pinned = sorted((tuple(map(int, p.split(":"))) for p in _split(row["pinned"])), reverse=True)
            stats.pinned_ids = [memo_id for _, memo_id in pinned]
    if joined or not out:
        return out

    if timestamps:
        await _per_memo(store, source, base, out)

    tag = tag_elements(store.dialect, m.c.payload)
    tags = (
        sa.select(m.c.creator_id, tag.c.value.label("tag"), sa.func.count().label("n"))
        .select_from(source.join(tag, sa.true()))
        .where(*base)
        .group_by(m.c.creator_id, tag.c.value)
    )
    for row in await store.fetch_all(tags):
        stats = out.get(row["creator_id"])
        if stats is not None and row["tag"] is not None:
            stats.tags[str(row["tag"])] = int(row["n"])
    return out


async def _per_memo(store, source: Any, base: Sequence[Any], out: dict[int, UserStats]) -> None:
    """Fill ``created`` (newest first) and ``pinned_ids`` from a row per memo."""
    memos = (
        sa.select(m.c.creator_id, m.c.id, m.c.created_ts, m.c.pinned)
        .select_from(source)
        .where(*base)
        .order_by(m.c.created_ts.desc(), m.c.id.desc())
    )
    for row in await store.fetch_all(memos):
        stats = out.get(row["creator_id"])
        if stats is None:  # a memo created between the two reads
            continue
        stats.created.append(int(row["created_ts"] or 0))
        if row["pinned"]:
            stats.pinned_ids.append(row["id"])


# -- memos per calendar day -------------------------------------------------------------------------
class _LocalDay(FunctionElement):
    """The calendar day, as ``YYYY-MM-DD`` text, of epoch seconds plus an offset in seconds.

    Arguments: the memo's ``created_ts`` column and the offset (an integer SQL expression). Each
    dialect turns the shifted epoch into a UTC date, which is the local date at that offset.
    """

    name = "local_day"
    inherit_cache = True
    type = sa.Text()


@compiles(_LocalDay)  # SQLite, and the generic compiler that names result columns
def _compile_sqlite_day(element: _LocalDay, compiler: Any, **kw: Any) -> str:
    ts, offset = (compiler.process(c, **kw) for c in element.clauses)
    return f"date({ts} + ({offset}), 'unixepoch')"


@compiles(_LocalDay, "postgresql")
def _compile_postgres_day(element: _LocalDay, compiler: Any, **kw: Any) -> str:
    ts, offset = (compiler.process(c, **kw) for c in element.clauses)
    return f"to_char(to_timestamp({ts} + ({offset})) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


@compiles(_LocalDay, "mysql")
def _compile_mysql_day(element: _LocalDay, compiler: Any, **kw: Any) -> str:
    """The column is a ``TIMESTAMP`` there; the driver's sessions run at ``time_zone = '+00:00'``,
    so ``FROM_UNIXTIME`` of the shifted epoch is the local wall time."""
    ts, offset = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(DATE(FROM_UNIXTIME(UNIX_TIMESTAMP({ts}) + ({offset}))) AS CHAR)"


def _offset_expression(segments: Sequence[tuple[int | None, int]]) -> Any:
    """``[(until_ts, offset), …, (None, offset)]`` -> the offset in force at each memo's ``created_ts``.

    Offsets are integers rendered into the statement (they differ per zone and period, so they are
    part of the statement cache key); the bounds are ordinary parameters.
    """

    def literal(offset: int) -> Any:
        return sa.literal_column(str(int(offset)), sa.Integer)

    *changes, (_, last) = segments
    if not changes:
        return literal(last)
    return sa.case(*((m.c.created_ts < until, literal(offset)) for until, offset in changes), else_=literal(last))


async def memo_day_counts(
    store, where: Sequence[Any], start: int, end: int, segments: Sequence[tuple[int | None, int]]
) -> dict[str, int]:
    """NORMAL, non-comment memos matching ``where`` created in ``[start, end)``, counted per local
    day (``YYYY-MM-DD``) in one grouped statement. ``segments`` gives the zone's UTC offset over
    the period: ``(until, offset)`` pairs in time order, the last one's ``until`` is ``None``, so a
    period across a daylight-saving change still puts every memo on its own local day."""
    day = _LocalDay(m.c.created_ts, _offset_expression(segments)).label("local_day")
    q = (
        sa.select(day, sa.func.count().label("n"))
        .select_from(m.join(u, u.c.id == m.c.creator_id))
        .where(m.c.row_status == "NORMAL", not_comment(), m.c.created_ts >= start, m.c.created_ts < end, *where)
        .group_by(sa.literal_column("local_day"))
    )
    return {str(row["local_day"])[:10]: int(row["n"]) for row in await store.fetch_all(q) if row["local_day"]}


# -- instance totals (a memos-py extension; upstream has no instance-stats RPC) ---------------------
@dataclasses.dataclass
class InstanceStats:
    users: dict[str, int]  # role -> count of NORMAL users
    archived_users: int
    memos: dict[tuple[str, str], int]  # (row_status, visibility) -> count, comments excluded
    comments: int
    attachments: int
    attachment_bytes: int


async def instance_stats(store) -> InstanceStats:
    """Totals for the whole instance in three grouped statements, however many rows there are."""
    a = tables.attachment
    user_rows = await store.fetch_all(
        sa.select(u.c.row_status, u.c.role, sa.func.count().label("n")).group_by(u.c.row_status, u.c.role)
    )
    is_comment = sa.case((not_comment(), 0), else_=1).label("is_comment")
    memo_rows = await store.fetch_all(
        sa.select(m.c.row_status, m.c.visibility, is_comment, sa.func.count().label("n")).group_by(
            m.c.row_status, m.c.visibility, is_comment
        )
    )
    attachment_row = await store.fetch_one(
        sa.select(sa.func.count().label("n"), sa.func.coalesce(sa.func.sum(a.c.size), 0).label("bytes"))
    )
    users: dict[str, int] = {}
    archived_users = 0
    for row in user_rows:
        if row["row_status"] == "NORMAL":
            users[row["role"]] = users.get(row["role"], 0) + int(row["n"])
        else:
            archived_users += int(row["n"])
    memos: dict[tuple[str, str], int] = {}
    comments = 0
    for row in memo_rows:
        if int(row["is_comment"]):
            comments += int(row["n"])
        else:
            key = (row["row_status"], row["visibility"])
            memos[key] = memos.get(key, 0) + int(row["n"])
    return InstanceStats(
        users=users,
        archived_users=archived_users,
        memos=memos,
        comments=comments,
        attachments=int(attachment_row["n"]),
        attachment_bytes=int(attachment_row["bytes"]),
    )
