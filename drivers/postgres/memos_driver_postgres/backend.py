"""A ``databases`` PostgreSQL backend that compiles with SQLAlchemy's asyncpg dialect.

``databases`` compiles statements with the psycopg2 dialect and then runs them on asyncpg. psycopg2
interpolates parameters as literals, so that dialect never marks their types, but asyncpg sends
them as typed prepared-statement parameters whose types PostgreSQL must infer from context. Where
the context says nothing it picks ``text``: ``sum(CASE WHEN … THEN $1 ELSE $2 END)`` then fails
with "function sum(text) does not exist". The asyncpg dialect renders typed binds as ``$n::TYPE``,
as SQLAlchemy's own asyncpg engine does, so the store's dialect-neutral statements run unchanged.

String binds stay uncast, like the quoted literals psycopg2 sends: PostgreSQL types them from
their context, so JSON text written to a JSONB column (``memo.payload``) becomes JSONB, where a
``::VARCHAR`` cast would be refused.

SELECTs go through a :class:`~memos_core.StatementCache` (compiled once per statement shape), with a
second instance of the same dialect in asyncpg's own ``numeric_dollar`` paramstyle: the cached text
already holds the ``$n`` placeholders, numbered after ``IN`` lists are expanded, so nothing is
rewritten per execution. Rows become the same ``databases`` records either way. Anything else (DML,
``text()``, uncacheable constructs) takes ``databases``' own path with the ``pyformat`` dialect.
"""

from __future__ import annotations

import asyncio
import logging
import typing

import asyncpg
from databases.backends.common.records import Record, create_column_maps
from databases.backends.postgres import PostgresBackend, PostgresConnection
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql import ClauseElement

from memos_core import StatementCache

log = logging.getLogger(__name__)

#: Seconds ``disconnect()`` waits for connections still in use before closing them by force.
CLOSE_TIMEOUT = 10.0


#: Column maps of compiled-once statements, by ``id()`` of their result columns (kept alive here).
_COLUMN_MAPS: dict[int, tuple[typing.Any, typing.Any]] = {}
_COLUMN_MAPS_SIZE = 2048


class MemosPGDialect(PGDialect_asyncpg):
    colspecs = {**PGDialect_asyncpg.colspecs, sqltypes.String: sqltypes.String}  # noqa: RUF012


def make_dialect(paramstyle: str) -> MemosPGDialect:
    """The store's PostgreSQL dialect in ``paramstyle``."""
    dialect = MemosPGDialect(paramstyle=paramstyle)
    dialect.implicit_returning = True  # INSERT … RETURNING id: execute() yields the new row's id
    dialect._backslash_escapes = False
    return dialect


class MemosPostgresConnection(PostgresConnection):
    statement_cache: StatementCache | None = None
    _prepared_columns: typing.Any = None  # result columns of the statement _compile last prepared

    def _compile(self, query: ClauseElement) -> tuple[str, list, typing.Any]:
        """A cached SELECT's ``$n`` text, positional arguments (bind processors applied) and result
        columns; anything else compiled by ``databases``."""
        cache = self.statement_cache
        prepared = cache.prepare(query) if cache is not None else None
        if prepared is None:
            self._prepared_columns = None
            return super()._compile(query)
        self._prepared_columns = prepared.result_columns
        return prepared.statement, prepared.args, prepared.result_columns

    def _column_maps(self, result_columns: typing.Any) -> typing.Any:
        """``databases``' column maps (they render every column to text) once per compiled-once
        statement, whose result columns are the same list object on every run."""
        if result_columns is not self._prepared_columns:
            return create_column_maps(result_columns)
        entry = _COLUMN_MAPS.get(id(result_columns))
        if entry is not None and entry[0] is result_columns:
            return entry[1]
        maps = create_column_maps(result_columns)
        if len(_COLUMN_MAPS) >= _COLUMN_MAPS_SIZE:
            _COLUMN_MAPS.clear()
        _COLUMN_MAPS[id(result_columns)] = (result_columns, maps)
        return maps

    async def fetch_all(self, query: ClauseElement) -> list[Record]:
        assert self._connection is not None, "Connection is not acquired"
        query_str, args, result_columns = self._compile(query)
        rows = await self._connection.fetch(query_str, *args)
        maps = self._column_maps(result_columns)
        return [Record(row, result_columns, self._dialect, maps) for row in rows]

    async def fetch_one(self, query: ClauseElement) -> Record | None:
        assert self._connection is not None, "Connection is not acquired"
        query_str, args, result_columns = self._compile(query)
        row = await self._connection.fetchrow(query_str, *args)
        if row is None:
            return None
        return Record(row, result_columns, self._dialect, self._column_maps(result_columns))


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Nothing to undo on a connection given back to the pool (see ``_get_connection_kwargs``)."""


class MemosPostgresBackend(PostgresBackend):
    def __init__(self, database_url: typing.Any, **options: typing.Any) -> None:
        super().__init__(database_url, **options)
        self.statement_cache = StatementCache(make_dialect("numeric_dollar"))

    def _get_dialect(self) -> Dialect:
        return make_dialect("pyformat")  # databases maps the pyformat names to $n

    def _get_connection_kwargs(self) -> dict:
        # asyncpg resets a connection given back to its pool with a round trip of its own
        # (advisory locks, cursors, LISTEN, session settings): one more per request, since every
        # request holds a connection. memos-py leaves none of these on a pooled connection (its
        # locks are transaction-scoped), and asyncpg still rolls back a transaction left open.
        return {"reset": _keep_session, **super()._get_connection_kwargs()}

    def connection(self) -> MemosPostgresConnection:
        conn = MemosPostgresConnection(self, self._dialect)
        conn.statement_cache = self.statement_cache
        return conn

    async def disconnect(self) -> None:
        """Close the pool, but never wait forever: asyncpg's ``close()`` waits for every acquired
        connection to be released, so one task that never lets go would hang shutdown."""
        assert self._pool is not None, "DatabaseBackend is not running"
        pool, self._pool = self._pool, None
        try:
            await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT)
        except TimeoutError:
            log.warning("connections still in use after %.0f s at shutdown: closing them", CLOSE_TIMEOUT)
            pool.terminate()
