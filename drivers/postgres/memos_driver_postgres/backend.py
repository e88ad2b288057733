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
"""

from __future__ import annotations

import asyncio
import logging

from databases.backends.postgres import PostgresBackend
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine.interfaces import Dialect

log = logging.getLogger(__name__)

#: Seconds ``disconnect()`` waits for connections still in use before closing them by force.
CLOSE_TIMEOUT = 10.0


class MemosPGDialect(PGDialect_asyncpg):
    colspecs = {**PGDialect_asyncpg.colspecs, sqltypes.String: sqltypes.String}  # noqa: RUF012


class MemosPostgresBackend(PostgresBackend):
    def _get_dialect(self) -> Dialect:
        dialect = MemosPGDialect(paramstyle="pyformat")  # databases maps the pyformat names to $n
        dialect.implicit_returning = True  # INSERT … RETURNING id: execute() yields the new row's id
        dialect._backslash_escapes = False
        return dialect

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
