"""User statistics aggregated in SQL (SPEC §5.4).

Three statements whatever the number of memos: per-memo timestamps and pins (the output lists one
entry per memo), counts grouped by creator, and tag counts grouped by creator and tag. Only the
JSON-array expansion of ``payload.tags`` differs per dialect (:func:`tag_elements`).
"""

from __future__ import annotations

import dataclasses
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


async def user_stats(store, where: Sequence[Any]) -> dict[int, UserStats]:
    """Stats of NORMAL, non-comment memos matching ``where``, by creator id.

    Memos whose creator row is gone are left out (there is no user to name).
    """
    base = [m.c.row_status == "NORMAL", not_comment(), *where]
    source = m.join(u, u.c.id == m.c.creator_id)

    counts = (
        sa.select(
            m.c.creator_id,
            u.c.username,
            sa.func.count().label("total"),
            *(sa.func.sum(_flag(store, flag)).label(field) for field, flag in TYPE_FLAGS.items()),
        )
        .select_from(source)
        .where(*base)
        .group_by(m.c.creator_id, u.c.username)
    )
    out: dict[int, UserStats] = {}
    for row in await store.fetch_all(counts):
        stats = UserStats(username=row["username"], total=int(row["total"]))
        stats.types = {field: int(row[field] or 0) for field in TYPE_FLAGS}
        out[row["creator_id"]] = stats
    if not out:
        return out

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
