"""memos-driver-mysql: the MySQL / MariaDB store driver of memos-py (``MEMOS_DRIVER=mysql``).

``MEMOS_DSN`` names the database, as a URL (``mysql://user:pw@host:3306/memos``) or in upstream's
Go form (``user:pw@tcp(host:3306)/memos``). Connections are pooled (aiomysql), speak utf8mb4 and
run with the session time zone UTC, so ``TIMESTAMP`` columns convert to and from epoch seconds
exactly, and at READ COMMITTED (see :mod:`.backend`). The schema is upstream Memos v0.28's MySQL
schema (see :mod:`.schema`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiomysql
import databases
import pymysql
import sqlalchemy as sa
from sqlalchemy.dialects import mysql as mysql_dialect

from memos_core import Config
from memos_core.store import Driver

from .backend import QuietCursor
from .dsn import MySQLDSN, parse_dsn
from .schema import LATEST

__version__ = "0.1.0"

#: MySQL's error code for a duplicate key (ER_DUP_ENTRY).
ER_DUP_ENTRY = 1062
#: The client's error code for a server it cannot connect to (CR_CONN_HOST_ERROR).
CR_CONN_HOST_ERROR = 2003


class _Database(databases.Database):
    SUPPORTED_BACKENDS = {  # noqa: RUF012 - extends the class-level registry of databases
        **databases.Database.SUPPORTED_BACKENDS,
        "mysql+memos": "memos_driver_mysql.backend:MemosMySQLBackend",
    }


class MySQLDriver(Driver):
    name = "mysql"
    #: Sessions run READ COMMITTED, under which WITH CONSISTENT SNAPSHOT is ignored: the next
    #: transaction alone is made REPEATABLE READ, and its InnoDB snapshot is taken at once.
    snapshot_statements = (
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
    )

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        if not config.dsn:
            raise ValueError("MEMOS_DRIVER=mysql needs MEMOS_DSN, e.g. mysql://user:password@host:3306/memos")
        self.dsn = parse_dsn(config.dsn)

    def database(self) -> databases.Database:
        url = self.dsn.url().replace("mysql+aiomysql://", "mysql+memos://", 1)
        return _Database(url, charset="utf8mb4", cursorclass=QuietCursor)

    async def table_exists(self, store, name: str) -> bool:
        q = sa.text(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = :name"
        ).bindparams(name=name)
        return await store.fetch_val(q) is not None

    def schema_statements(self) -> list[str]:
        return list(LATEST)

    @contextlib.asynccontextmanager
    async def schema_lock(self, store) -> AsyncIterator[None]:
        """A named lock per database: MySQL commits DDL at once, so a transaction cannot serialise
        processes that start together; the lock does."""
        name = sa.text("SELECT GET_LOCK(CONCAT('memos_py_schema:', DATABASE()), 60)")
        if await store.fetch_val(name) != 1:
            raise RuntimeError("timed out waiting for another process to set up the database schema")
        try:
            yield
        finally:
            await store.fetch_val(sa.text("SELECT RELEASE_LOCK(CONCAT('memos_py_schema:', DATABASE()))"))

    async def ensure_indexes(self, store, indexes: list[sa.Index]) -> None:
        """MySQL 8 has no ``CREATE INDEX IF NOT EXISTS``: look the index up first."""
        for index in indexes:
            q = sa.text(
                "SELECT 1 FROM information_schema.statistics WHERE table_schema = DATABASE() "
                "AND table_name = :table AND index_name = :name LIMIT 1"
            ).bindparams(table=index.table.name, name=index.name)
            if await store.fetch_val(q) is None:
                columns = ", ".join(f"`{c.name}`" for c in index.columns)
                await self.execute_ddl(store, [f"CREATE INDEX `{index.name}` ON `{index.table.name}` ({columns})"])

    async def execute_ddl(self, store, statements: list[str]) -> None:
        """Run raw DDL through a cursor of the task's aiomysql connection (no ``%`` formatting).

        MySQL commits DDL implicitly, so the caller's transaction does not make it atomic (as upstream).
        """
        raw = store.db.connection().raw_connection
        async with raw.cursor() as cursor:
            for stmt in statements:
                store.statements += 1
                await cursor.execute(stmt)

    @staticmethod
    async def _server_statement(server_dsn: str, sql: str) -> None:
        dsn: MySQLDSN = parse_dsn(server_dsn)
        conn = await aiomysql.connect(**dsn.connect_kwargs(), charset="utf8mb4", autocommit=True)
        try:
            async with conn.cursor() as cursor:
                await cursor.execute(sql)
        finally:
            conn.close()

    @classmethod
    async def create_test_database(cls, server_dsn: str, name: str) -> str:
        await cls._server_statement(server_dsn, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        return parse_dsn(server_dsn).url(database=name).replace("mysql+aiomysql://", "mysql://", 1)

    @classmethod
    async def drop_test_database(cls, server_dsn: str, name: str) -> None:
        """Drop ``name``, first ending sessions still using it (a pool a failed test never closed
        would otherwise hold a metadata lock and block the DROP forever)."""
        dsn: MySQLDSN = parse_dsn(server_dsn)
        conn = await aiomysql.connect(**dsn.connect_kwargs(), charset="utf8mb4", autocommit=True)
        try:
            async with conn.cursor() as cursor:
                await cursor.execute(
                    "SELECT id FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()", (name,)
                )
                for (session,) in await cursor.fetchall():
                    with contextlib.suppress(pymysql.err.MySQLError):  # it may have ended meanwhile
                        await cursor.execute(f"KILL {int(session)}")
                await cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            conn.close()

    def is_unique_violation(self, exc: BaseException) -> bool:
        return isinstance(exc, pymysql.err.IntegrityError) and bool(exc.args) and exc.args[0] == ER_DUP_ENTRY

    def is_unreachable(self, exc: BaseException) -> bool:
        # aiomysql reports a socket that cannot connect (refused, unresolvable, timed out) as
        # OperationalError 2003 "Can't connect to MySQL server".
        if isinstance(exc, OSError):
            return True
        return isinstance(exc, pymysql.err.OperationalError) and bool(exc.args) and exc.args[0] == CR_CONN_HOST_ERROR

    def insert(self, table: sa.Table) -> Any:
        return mysql_dialect.insert(table)

    def upsert(self, table: sa.Table, values: dict, keys: list[str], update: list[str]) -> Any:
        """``ON DUPLICATE KEY UPDATE``: MySQL matches any unique key, which for Memos' tables is ``keys``."""
        stmt = mysql_dialect.insert(table).values(**values)
        return stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in update})

    def json_text(self, column: Any, *path: str) -> Any:
        return sa.func.JSON_UNQUOTE(sa.func.JSON_EXTRACT(column, "$." + ".".join(path)))

    def json_object(self, *pairs: Any) -> Any:
        return sa.cast(sa.func.JSON_OBJECT(*pairs), sa.Text)
