"""memos-driver-postgres: the PostgreSQL store driver of memos-py (``MEMOS_DRIVER=postgres``).

``MEMOS_DSN`` names the database (``postgres://user:password@host:port/db`` or ``postgresql://…``).
Connections come from an asyncpg pool through ``databases``; the pool is sized by the DSN's
``min_size``/``max_size`` query options (defaults below), and ``sslmode`` is passed to asyncpg as
its ``ssl`` option. The schema is upstream Memos v0.28's PostgreSQL schema, so a database created
by either opens in the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import databases
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from memos_core import Config
from memos_core.store import SCHEMA_VERSION, Driver

from .schema import LATEST

#: pg_advisory_xact_lock key held while the schema is checked or created ("memos" in ASCII).
SCHEMA_LOCK_KEY = 0x6D656D6F73

__version__ = "0.1.0"

#: Pool bounds unless the DSN says otherwise: one idle connection kept, up to ten in use.
DEFAULT_MIN_SIZE = 1
DEFAULT_MAX_SIZE = 10


def normalize_dsn(dsn: str) -> str:
    """``postgres://``/``postgresql://``/``postgresql+asyncpg://`` DSNs as ``databases`` expects them.

    ``sslmode`` (libpq's spelling) becomes ``ssl``, which ``databases`` hands to asyncpg (asyncpg
    accepts the libpq mode names there).
    """
    parts = urlsplit(dsn.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("postgres", "postgresql", "postgresql+asyncpg"):
        raise ValueError(f"not a PostgreSQL DSN (expected postgres:// or postgresql://): {dsn!r}")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if "sslmode" in query:
        query.setdefault("ssl", query.pop("sslmode"))
        query.pop("sslmode", None)
    query.setdefault("min_size", str(DEFAULT_MIN_SIZE))
    query.setdefault("max_size", str(DEFAULT_MAX_SIZE))
    return urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(query), ""))


def with_database(dsn: str, name: str) -> str:
    """``dsn`` pointing at database ``name`` on the same server (query options kept)."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _connect_args(dsn: str) -> dict[str, Any]:
    """asyncpg.connect() arguments for ``dsn``, without the pool options asyncpg would reject."""
    parts = urlsplit(normalize_dsn(dsn))
    query = {k: v for k, v in parse_qsl(parts.query) if k not in ("min_size", "max_size", "ssl")}
    args: dict[str, Any] = {"dsn": urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(query), ""))}
    ssl = dict(parse_qsl(parts.query)).get("ssl")
    if ssl:
        args["ssl"] = {"true": True, "false": False}.get(ssl.lower(), ssl)
    return args


class _Database(databases.Database):
    SUPPORTED_BACKENDS = {  # noqa: RUF012 - extends the class-level registry of databases
        **databases.Database.SUPPORTED_BACKENDS,
        "postgresql+memos": "memos_driver_postgres.backend:MemosPostgresBackend",
    }


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _SnapshotReader:
    """Reads ``pg_current_snapshot()`` on a connection of its own, one query for every request
    waiting when it is sent.

    A request may use a snapshot only if it was taken after the request arrived: then whatever was
    committed before the request (a token deleted, a memo written, on any instance) is in it. So a
    request joins the next query, never one already sent; under load the requests that arrive while
    a query is out share the one that follows, instead of one round trip each.
    """

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._connection: asyncpg.Connection | None = None
        self._next: asyncio.Future[str] | None = None  # the query requests arriving now will share
        self._task: asyncio.Task[None] | None = None

    async def read(self) -> str:
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            if self._task is None:
                self._task = asyncio.create_task(self._run())
        return await asyncio.shield(self._next)

    async def _run(self) -> None:
        try:
            while self._next is not None:
                waiting, self._next = self._next, None  # later arrivals wait for the next query
                try:
                    if self._connection is None or self._connection.is_closed():
                        self._connection = await asyncpg.connect(**_connect_args(self._dsn))
                    snapshot = await self._connection.fetchval("SELECT pg_current_snapshot()::text")
                except Exception as e:
                    waiting.set_exception(e)
                    waiting.exception()  # retrieved here too: the requests that waited may be gone
                    continue
                except BaseException:  # cancelled: the store is closing
                    waiting.cancel()
                    raise
                waiting.set_result(snapshot)
        finally:
            self._task = None

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close(timeout=5)


class PostgresDriver(Driver):
    name = "postgresql"
    serialize_writes = False  # PostgreSQL handles concurrent writers itself (row locks, MVCC)
    #: One snapshot for the whole transaction, taken at its first statement.
    snapshot_statements = ("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",)

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        if not config.dsn:
            raise ValueError("MEMOS_DRIVER=postgres needs MEMOS_DSN (postgres://user:password@host:port/database)")
        self.dsn = normalize_dsn(config.dsn)
        self._marks = _SnapshotReader(self.dsn)

    def database(self) -> databases.Database:
        return _Database(self.dsn.replace("postgresql://", "postgresql+memos://", 1))

    async def change_mark(self, store) -> str:
        """The current snapshot (``xmin:xmax:in-progress ids``): it changes as soon as any
        transaction that wrote commits or aborts, in any database of the server, and two equal
        snapshots see the same data (read-only transactions take no transaction id). Read by
        :class:`_SnapshotReader`, which answers the requests of one moment with one query."""
        return await self._marks.read()

    async def close(self) -> None:
        await self._marks.close()

    async def table_exists(self, store, name: str) -> bool:
        q = sa.text(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = :name"
        ).bindparams(name=name)
        return await store.fetch_val(q) is not None

    def schema_statements(self) -> list[str]:
        return list(LATEST)

    async def execute_ddl(self, store, statements: list[str]) -> None:
        """Run each statement on asyncpg's connection (no bind parameters, so ``%`` stays literal)."""
        raw: asyncpg.Connection = store.db.connection().raw_connection
        for stmt in statements:
            store.statements += 1
            await raw.execute(stmt)

    @contextlib.asynccontextmanager
    async def schema_lock(self, store) -> AsyncIterator[None]:
        """A transaction-scoped advisory lock, so processes starting at once create the schema once."""
        await store.fetch_val(sa.text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=SCHEMA_LOCK_KEY))
        yield

    async def reset_sequences(self, store, tables: list[sa.Table]) -> None:
        """Move each SERIAL sequence past the table's largest id (rows copied with explicit ids leave
        it behind; the next INSERT would collide)."""
        for table in tables:
            seq = sa.func.pg_get_serial_sequence(sa.func.quote_ident(table.name), "id")  # "user" is quoted
            top = sa.select(sa.func.max(table.c.id)).scalar_subquery()
            # setval(seq, n, false): the next id is n; an empty table starts again at 1.
            q = sa.select(sa.func.setval(seq, sa.func.coalesce(top, 0) + 1, False)).where(seq.is_not(None))
            await store.fetch_val(q)

    def is_unique_violation(self, exc: BaseException) -> bool:
        return isinstance(exc, asyncpg.UniqueViolationError)

    def is_unreachable(self, exc: BaseException) -> bool:
        # OSError: refused, no route, a name that does not resolve (yet), a timeout. CannotConnectNow:
        # "the database system is starting up" (or shutting down, as a restart does).
        return isinstance(exc, (OSError, asyncpg.CannotConnectNowError))

    def insert(self, table: sa.Table) -> Any:
        return postgresql.insert(table)

    def upsert(self, table: sa.Table, values: dict, keys: list[str], update: list[str]) -> Any:
        stmt = postgresql.insert(table).values(**values)
        return stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in update})

    def json_text(self, column: Any, *path: str) -> Any:
        """The value at ``path`` as text (JSON ``true`` reads ``'true'``); TEXT and JSONB columns alike."""
        return sa.func.jsonb_extract_path_text(sa.cast(column, postgresql.JSONB), *path)

    def json_object(self, *pairs: Any) -> Any:
        return sa.cast(sa.func.json_build_object(*pairs), sa.Text)

    # -- test databases ----------------------------------------------------------------------------
    #: The template database test databases are copied from (CREATE DATABASE … TEMPLATE), once known.
    _template: str | None = None

    @classmethod
    async def _admin(cls, server_dsn: str) -> asyncpg.Connection:
        return await asyncpg.connect(**_connect_args(server_dsn))

    @classmethod
    async def create_database(cls, server_dsn: str, name: str, *, template: str | None = None) -> str:
        """``CREATE DATABASE name`` (empty, or a copy of ``template``); return its DSN."""
        conn = await cls._admin(server_dsn)
        try:
            sql = f"CREATE DATABASE {_quote(name)}"
            if template:
                sql += f" TEMPLATE {_quote(template)} STRATEGY FILE_COPY"
            await conn.execute(sql)
        finally:
            await conn.close()
        return with_database(server_dsn, name)

    @classmethod
    async def _ensure_template(cls, server_dsn: str) -> str:
        """The template: the latest schema, ``schemaVersion`` set and no secret key (start-up adds a
        fresh one, as on a new database).

        Its name carries a digest of what it holds, so test runs sharing a server (even at once)
        share it and a schema change gets a new one. It is built under a temporary name and renamed
        when complete, so nobody copies a half-built template; of two builders racing, the second
        drops its copy.
        """
        if cls._template is None:
            digest = hashlib.sha256(json.dumps([LATEST, SCHEMA_VERSION]).encode()).hexdigest()[:16]
            name = f"memos_tpl_{digest}"
            conn = await cls._admin(server_dsn)
            try:
                exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            finally:
                await conn.close()
            if not exists:
                build = f"memos_tplbuild_{uuid.uuid4().hex[:12]}"
                conn = await asyncpg.connect(**_connect_args(await cls.create_database(server_dsn, build)))
                try:
                    async with conn.transaction():
                        for stmt in LATEST:
                            await conn.execute(stmt)
                        await conn.execute(
                            "INSERT INTO system_setting (name, value, description) VALUES ('BASIC', $1, '')",
                            json.dumps({"schemaVersion": SCHEMA_VERSION}),
                        )
                finally:
                    await conn.close()
                conn = await cls._admin(server_dsn)
                try:
                    await conn.execute(f"ALTER DATABASE {_quote(build)} RENAME TO {_quote(name)}")
                except asyncpg.DuplicateDatabaseError:
                    await conn.execute(f"DROP DATABASE {_quote(build)}")
                finally:
                    await conn.close()
            cls._template = name
        return cls._template

    @classmethod
    async def create_test_database(cls, server_dsn: str, name: str) -> str:
        """A new database with the schema already in place (copied from the shared template, which
        costs far less than running the DDL for every test)."""
        return await cls.create_database(server_dsn, name, template=await cls._ensure_template(server_dsn))

    @classmethod
    async def drop_test_database(cls, server_dsn: str, name: str) -> None:
        """Drop the database, ending sessions a test left open.

        ``WITH (FORCE)`` is refused, for a non-superuser, while an autovacuum worker is in the
        database (it has no role to check against); :meth:`_drop_own_sessions_first` takes over then.
        """
        conn = await cls._admin(server_dsn)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")
        except asyncpg.InsufficientPrivilegeError:
            await cls._drop_own_sessions_first(conn, name)
        finally:
            await conn.close()

    @staticmethod
    async def _drop_own_sessions_first(conn: asyncpg.Connection, name: str, attempts: int = 50) -> None:
        """End this role's sessions in ``name``, then a plain DROP (which stops autovacuum workers
        itself), retried while sessions linger."""
        for attempt in range(attempts):
            await conn.execute(
                """SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                   WHERE datname = $1 AND usename = current_user AND pid <> pg_backend_pid()""",
                name,
            )
            try:
                await conn.execute(f"DROP DATABASE IF EXISTS {_quote(name)}")
                return
            except asyncpg.ObjectInUseError:
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.1)
