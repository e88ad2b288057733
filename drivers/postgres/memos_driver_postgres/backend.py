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

from databases.backends.postgres import PostgresBackend, PostgresConnection
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql import ClauseElement

from memos_core import StatementCache

log = logging.getLogger(__name__)

#: Seconds ``disconnect()`` waits for connections still in use before closing them by force.
CLOSE_TIMEOUT = 10.0


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

    def _compile(self, query: ClauseElement) -> tuple[str, list, typing.Any]:
        """A cached SELECT's ``$n`` text, positional arguments (bind processors applied) and result
        columns; anything else compiled by ``databases``."""
        cache = self.statement_cache
        prepared = cache.prepare(query) if cache is not None else None
        if prepared is None:
            return super()._compile(query)
        return prepared.statement, prepared.args, prepared.result_columns


class MemosPostgresBackend(PostgresBackend):
    def __init__(self, database_url: typing.Any, **options: typing.Any) -> None:
        super().__init__(database_url, **options)
        self.statement_cache = StatementCache(make_dialect("numeric_dollar"))

    def _get_dialect(self) -> Dialect:
        return make_dialect("pyformat")  # databases maps the pyformat names to $n

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
