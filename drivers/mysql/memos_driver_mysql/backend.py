"""``databases``' MySQL backend with Memos' session settings applied to every pooled connection.

aiomysql's pool has no on-connect hook beyond a single ``init_command``, so each raw connection is
set up once, the first time this backend hands it out:

* ``time_zone = '+00:00'``: ``FROM_UNIXTIME``/``UNIX_TIMESTAMP`` on ``TIMESTAMP`` columns are then
  exact inverses, whatever the server's zone (no DST gaps or folds).
* ``READ COMMITTED``: InnoDB's default REPEATABLE READ pins a transaction's reads to its first
  snapshot, so a transaction that lost an insert race to a unique key could not read the winner's
  row. The services are written for read-committed semantics (PostgreSQL's default).
* ``sql_mode`` without ``NO_ZERO_DATE``: epoch 0 is kept as the zero ``TIMESTAMP``.

Server warnings (such as the duplicate key an ``INSERT IGNORE`` skips) are logged at debug level
instead of being raised through :mod:`warnings`, as upstream's Go driver ignores them; strict SQL
mode still turns real data problems into errors.

SELECTs go through a :class:`~memos_core.StatementCache` (compiled once per statement shape) in the
backend's own ``pyformat`` dialect: aiomysql gets the same kind of text and named arguments as from
``databases``' compile step, and rows get the same result processing (the compiled statement's
result columns). Anything else (DML, ``text()``, uncacheable constructs) is compiled by ``databases``.
"""

from __future__ import annotations

import asyncio
import logging
import typing

from aiomysql.cursors import Cursor
from databases.backends import mysql as base
from sqlalchemy.sql import ClauseElement

from memos_core import StatementCache

log = logging.getLogger(__name__)

#: Seconds ``disconnect()`` waits for connections still in use before closing them by force.
CLOSE_TIMEOUT = 10.0

SESSION_SETUP = (
    "SET time_zone = '+00:00'",
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    # Epoch 0 is stored as the zero TIMESTAMP (see memos_core.store.tables); MySQL 8's default mode forbids it.
    "SET SESSION sql_mode = TRIM(BOTH ',' FROM REPLACE(REPLACE(CONCAT(',', @@SESSION.sql_mode, ','),"
    " ',NO_ZERO_DATE,', ','), ',NO_ZERO_IN_DATE,', ','))",
)


class QuietCursor(Cursor):
    async def _show_warnings(self, conn) -> None:
        if log.isEnabledFor(logging.DEBUG):
            for warning in await conn.show_warnings() or ():
                log.debug("MySQL warning: %s", warning[-1])


class MemosMySQLConnection(base.MySQLConnection):
    statement_cache: StatementCache | None = None

    async def acquire(self) -> None:
        await super().acquire()
        raw = self._connection
        if raw is not None and not getattr(raw, "_memos_session_ready", False):
            async with raw.cursor() as cursor:
                for stmt in SESSION_SETUP:
                    await cursor.execute(stmt)
            raw._memos_session_ready = True

    def _compile(self, query: ClauseElement) -> tuple[str, typing.Any, typing.Any, base.CompilationContext]:
        """A cached SELECT's text, named arguments (bind processors applied), result columns and the
        context its result metadata is built from; anything else compiled by ``databases``."""
        cache = self.statement_cache
        prepared = cache.prepare(query) if cache is not None else None
        if prepared is None:
            return super()._compile(query)
        context = self._dialect.execution_ctx_cls()
        context.dialect = self._dialect
        context.result_column_struct = prepared.result_column_struct
        return prepared.statement, prepared.params, prepared.result_columns, base.CompilationContext(context)


class MemosMySQLBackend(base.MySQLBackend):
    def __init__(self, database_url: typing.Any, **options: typing.Any) -> None:
        super().__init__(database_url, **options)
        self.statement_cache = StatementCache(self._dialect)

    async def disconnect(self) -> None:
        """Close the pool, but never wait forever: aiomysql's ``wait_closed()`` waits for every
        acquired connection to come back, so one task that never lets go would hang shutdown."""
        assert self._pool is not None, "DatabaseBackend is not running"
        pool, self._pool = self._pool, None
        pool.close()
        try:
            await asyncio.wait_for(pool.wait_closed(), CLOSE_TIMEOUT)
        except TimeoutError:
            log.warning("connections still in use after %.0f s at shutdown: closing them", CLOSE_TIMEOUT)
            pool.terminate()
            await pool.wait_closed()

    def connection(self) -> MemosMySQLConnection:
        conn = MemosMySQLConnection(self, self._dialect)
        conn.statement_cache = self.statement_cache
        return conn
