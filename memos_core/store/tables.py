"""SQLAlchemy Core tables mirroring the Memos v0.28 schema column for column.

These describe the tables for queries; the DDL that creates them is each driver's own (it must match
what upstream Memos creates for that database, so an upstream database opens unchanged). Times are
unix-second integers; JSON columns hold protojson text (camelCase, defaults omitted).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

metadata = sa.MetaData()


class _FromEpoch(FunctionElement):
    """Epoch seconds as a time column's stored value: the value itself, ``FROM_UNIXTIME`` on MySQL."""

    name = "from_epoch"
    inherit_cache = True
    type = sa.BigInteger()


class _ToEpoch(FunctionElement):
    """A time column's stored value as epoch seconds: the column itself, ``UNIX_TIMESTAMP`` on MySQL."""

    name = "to_epoch"
    inherit_cache = True
    type = sa.BigInteger()


@compiles(_FromEpoch)
@compiles(_ToEpoch)
def _compile_epoch_identity(element: FunctionElement, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    return compiler.process(arg, **kw)


@compiles(_FromEpoch, "mysql")
def _compile_from_unixtime(element: _FromEpoch, compiler: Any, **kw: Any) -> str:
    """``FROM_UNIXTIME``, but epoch 0 (an unset time) as MySQL's zero TIMESTAMP: 1970-01-01 00:00:00
    UTC is below the TIMESTAMP range, and ``UNIX_TIMESTAMP`` reads the zero value back as 0."""
    (arg,) = element.clauses
    value = compiler.process(arg, **kw)
    return f"CAST(COALESCE(FROM_UNIXTIME(NULLIF({value}, 0)), '0000-00-00 00:00:00') AS DATETIME)"


@compiles(_ToEpoch, "mysql")
def _compile_unix_timestamp(element: _ToEpoch, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    return f"UNIX_TIMESTAMP({compiler.process(arg, **kw)})"


class EpochTimestamp(sa.TypeDecorator):
    """Epoch seconds, whatever the column's storage.

    Upstream Memos stores most times as epoch BIGINT, but as ``TIMESTAMP`` on MySQL. Binds and
    selected columns convert in SQL there, so inserts, updates, comparisons and ORDER BY work on
    epoch integers on every dialect; elsewhere the conversions render as nothing.
    """

    impl = sa.BigInteger
    cache_ok = True

    def bind_expression(self, bindvalue: Any) -> Any:
        return _FromEpoch(bindvalue)

    def column_expression(self, column: Any) -> Any:
        return _ToEpoch(column)


system_setting = sa.Table(
    "system_setting",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
)

user = sa.Table(
    "user",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_ts", EpochTimestamp, nullable=False),
    sa.Column("updated_ts", EpochTimestamp, nullable=False),
    sa.Column("row_status", sa.Text, nullable=False, default="NORMAL"),
    sa.Column("username", sa.Text, nullable=False, unique=True),
    sa.Column("role", sa.Text, nullable=False, default="USER"),
    sa.Column("email", sa.Text, nullable=False, default=""),
    sa.Column("nickname", sa.Text, nullable=False, default=""),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("avatar_url", sa.Text, nullable=False, default=""),
    sa.Column("description", sa.Text, nullable=False, default=""),
)

user_setting = sa.Table(
    "user_setting",
    metadata,
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.UniqueConstraint("user_id", "key"),
)

memo = sa.Table(
    "memo",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uid", sa.Text, nullable=False, unique=True),
    sa.Column("creator_id", sa.Integer, nullable=False),
    sa.Column("created_ts", EpochTimestamp, nullable=False),
    sa.Column("updated_ts", EpochTimestamp, nullable=False),
    sa.Column("row_status", sa.Text, nullable=False, default="NORMAL"),
    sa.Column("content", sa.Text, nullable=False, default=""),
    sa.Column("visibility", sa.Text, nullable=False, default="PRIVATE"),
    sa.Column("pinned", sa.Boolean, nullable=False, default=False),
    sa.Column("payload", sa.Text, nullable=False, default="{}"),
)

memo_relation = sa.Table(
    "memo_relation",
    metadata,
    sa.Column("memo_id", sa.Integer, nullable=False),
    sa.Column("related_memo_id", sa.Integer, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.UniqueConstraint("memo_id", "related_memo_id", "type"),
)

attachment = sa.Table(
    "attachment",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uid", sa.Text, nullable=False, unique=True),
    sa.Column("creator_id", sa.Integer, nullable=False),
    sa.Column("created_ts", EpochTimestamp, nullable=False),
    sa.Column("updated_ts", EpochTimestamp, nullable=False),
    sa.Column("filename", sa.Text, nullable=False, default=""),
    sa.Column("blob", sa.LargeBinary, nullable=True),
    sa.Column("type", sa.Text, nullable=False, default=""),
    sa.Column("size", sa.Integer, nullable=False, default=0),
    sa.Column("memo_id", sa.Integer, nullable=True),
    sa.Column("storage_type", sa.Text, nullable=False, default=""),
    sa.Column("reference", sa.Text, nullable=False, default=""),
    sa.Column("payload", sa.Text, nullable=False, default="{}"),
)

idp = sa.Table(
    "idp",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uid", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("identifier_filter", sa.Text, nullable=False, default=""),
    sa.Column("config", sa.Text, nullable=False, default="{}"),
)

inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_ts", EpochTimestamp, nullable=False),
    sa.Column("sender_id", sa.Integer, nullable=False),
    sa.Column("receiver_id", sa.Integer, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("message", sa.Text, nullable=False, default="{}"),
)

reaction = sa.Table(
    "reaction",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_ts", EpochTimestamp, nullable=False),
    sa.Column("creator_id", sa.Integer, nullable=False),
    sa.Column("content_id", sa.Text, nullable=False),
    sa.Column("reaction_type", sa.Text, nullable=False),
    sa.UniqueConstraint("creator_id", "content_id", "reaction_type"),
)

memo_share = sa.Table(
    "memo_share",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uid", sa.Text, nullable=False, unique=True),
    sa.Column("memo_id", sa.Integer, nullable=False),
    sa.Column("creator_id", sa.Integer, nullable=False),
    sa.Column("created_ts", sa.BigInteger, nullable=False),
    sa.Column("expires_ts", sa.BigInteger, nullable=True),
)

user_identity = sa.Table(
    "user_identity",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("extern_uid", sa.Text, nullable=False),
    sa.Column("created_ts", sa.BigInteger, nullable=False),
    sa.Column("updated_ts", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("provider", "extern_uid"),
    sa.UniqueConstraint("user_id", "provider"),
)


#: Indexes memos-py adds beside the Memos schema (named ``memos_py_*``; created if absent at start-up,
#: ignored by upstream Memos). They serve ListMemos' default order and the web UI's pinned-first order,
#: which upstream's schema answers with a full scan and sort (benchmarks/bench_filters.py: 115 ms -> 5 ms
#: for a first page at 100,000 memos), and the lookups of a page's reactions, attachments and
#: incoming relations, which upstream's schema answers with a scan of each table (a first page's
#: embeds at 100,000 memos: 14 ms -> well under 1 ms).
PERFORMANCE_INDEXES = (
    sa.Index("memos_py_idx_memo_created_ts", memo.c.created_ts),
    sa.Index("memos_py_idx_memo_pinned_created_ts", memo.c.pinned, memo.c.created_ts),
    sa.Index("memos_py_idx_reaction_content_id", reaction.c.content_id),
    sa.Index("memos_py_idx_attachment_memo_id", attachment.c.memo_id),
    sa.Index("memos_py_idx_memo_relation_related", memo_relation.c.related_memo_id, memo_relation.c.type),
)


#: memos-py's own core tables beside the Memos schema (named ``memos_py_*``; created if absent at start-up
#: by :meth:`memos_core.store.Store.migrate`, ignored by upstream Memos and not copied by ``memos copy-db``).
#: They are kept on a MetaData of their own so that :data:`metadata` describes exactly the Memos schema.
#: Nothing in them is authoritative: they may be emptied at any time.
memos_py_metadata = sa.MetaData()

#: Failed sign-ins, one row per counted key (username or client IP) and failure, shared by every process
#: on the database (the sign-in throttle, :mod:`memos_core.store.signin_failures`). ``subject`` is a
#: SHA-256 digest of ``kind:value``, so keys have a fixed, indexable length whatever a client sends.
signin_failure = sa.Table(
    "memos_py_signin_failure",
    memos_py_metadata,
    # BIGINT on the server databases; INTEGER on SQLite, where only that makes it the rowid.
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("subject", sa.String(64), nullable=False),
    sa.Column("failed_at_ms", sa.BigInteger, nullable=False),  # epoch milliseconds
    # The throttle's lookup: the latest failures of one subject.
    sa.Index("memos_py_idx_signin_failure_subject", "subject", "failed_at_ms"),
    # Pruning: the oldest failures first.
    sa.Index("memos_py_idx_signin_failure_failed_at", "failed_at_ms"),
)

#: Live events for ``GET /api/v1/sse`` (:mod:`memos_core.live`): each process appends what happened, and
#: every process with subscribers polls for new rows, so a change made on one instance reaches streams
#: held by any other. Rows older than a few minutes are pruned; there is no replay.
live_event = sa.Table(
    "memos_py_live_event",
    memos_py_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),  # epoch milliseconds
    sa.Column("type", sa.String(32), nullable=False),  # memo.created, reaction.upserted, ...
    sa.Column("name", sa.String(255), nullable=False),  # memos/{uid}
    sa.Column("parent", sa.String(255), nullable=True),  # memos/{uid} of the parent, for comments
    # Username that may see an event about a PRIVATE memo (besides admins); NULL: everyone may.
    sa.Column("owner", sa.String(255), nullable=True),
    sa.Index("memos_py_idx_live_event_created", "created_ms"),
)

#: Password-reset links (:mod:`memos_core.services.password_reset`): only a SHA-256 digest of each token
#: is kept, so a copy of the database opens no account. A link is used once (``used_ms``) and runs out at
#: ``expires_ms``; emptying the table only voids the links not yet used.
password_reset = sa.Table(
    "memos_py_password_reset",
    memos_py_metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("expires_ms", sa.BigInteger, nullable=False),
    sa.Column("used_ms", sa.BigInteger, nullable=True),
    sa.Index("memos_py_idx_password_reset_user", "user_id"),
    sa.Index("memos_py_idx_password_reset_expires", "expires_ms"),
)

#: What an import wrote (:mod:`memos_core.portability.apply`): one row per imported memo, keyed by the
#: importing user, the source kind and a SHA-256 digest of the memo's key in that source, so running
#: the same import again skips what is already there. Emptying it only makes a re-import duplicate.
import_record = sa.Table(
    "memos_py_import",
    memos_py_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("source", sa.String(32), nullable=False),  # memos-py, markdown, keep, memos
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("memo_id", sa.Integer, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("user_id", "source", "key_hash", name="memos_py_uq_import_key"),
)

#: The full-text index's state (:mod:`memos_core.store.search`): one row per index, naming the index
#: layout it was built with and when a catch-up last found it in step. A missing row or another
#: version makes the next catch-up rebuild the index from the memo table.
search_state = sa.Table(
    "memos_py_search_state",
    memos_py_metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("checked_ms", sa.BigInteger, nullable=False),  # epoch milliseconds
)

#: Created in this order at start-up, each with its indexes.
MEMOS_PY_TABLES = (signin_failure, live_event, password_reset, import_record, search_state)
