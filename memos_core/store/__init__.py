"""The store: one ``databases.Database`` behind a small façade that counts statements, holds the
write lock where the driver needs one, and creates or checks the schema at start-up.

Queries live in the modules of this package, one per resource, as functions taking the
:class:`Store`; they use the Core tables of :mod:`memos_core.store.tables`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import importlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from time import perf_counter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.schema import CreateTable

from ..metrics import SQL_SECONDS
from . import search, tables
from .compiled import StatementCache
from .driver import Driver

log = logging.getLogger(__name__)

#: The Memos schema this code reads and writes (upstream v0.28.0's latest migration).
SCHEMA_VERSION = "0.28.1"
#: Oldest schema that can be upgraded (upstream v0.28 refuses older ones too).
OLDEST_UPGRADABLE = "0.22.0"

#: Every statement's time goes to ``memos_sql_statement_duration_seconds`` (about a microsecond each).
_observe_sql = SQL_SECONDS.observe

_in_write_tx: contextvars.ContextVar[bool] = contextvars.ContextVar("memos_in_write_tx", default=False)


class SchemaError(RuntimeError):
    """The database's schema version cannot be served by this build."""


def parse_version(v: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in v.strip().split("."))
    except ValueError:
        return ()


_background: contextvars.ContextVar[bool] = contextvars.ContextVar("memos_store_background", default=False)


@contextlib.contextmanager
def _background_scope() -> Iterator[None]:
    token = _background.set(True)
    try:
        yield
    finally:
        _background.reset(token)


class Store:
    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.db = driver.database()
        self.dialect = driver.name
        self.statements = 0  # statements run for requests since start; benchmarks and tests read it
        self.background_statements = 0  # statements of background work (see background())
        self._write_lock = asyncio.Lock() if driver.serialize_writes else None
        #: Awaited once with the database's schema version before an upgrade changes anything (an
        #: automatic backup belongs here); ``None`` does nothing. Not called for a new database, nor
        #: for one already at :data:`SCHEMA_VERSION`.
        self.on_before_migration: Callable[[str], Awaitable[None]] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def connect(self) -> None:
        await self.db.connect()

    async def disconnect(self) -> None:
        try:
            await self.db.disconnect()
        finally:
            await self.driver.close()

    async def change_mark(self) -> Any:
        """The driver's mark of the committed state (see :meth:`Driver.change_mark`)."""
        self._count()
        return await self.driver.change_mark(self)

    def connection(self):
        """Hold one connection for the current task (the request middleware does this)."""
        return self.db.connection()

    # -- statements --------------------------------------------------------------------------
    @staticmethod
    def background() -> contextlib.AbstractContextManager[None]:
        """Count the current task's statements as background work (a plugin's worker loop, a job),
        apart from :attr:`statements`, which then counts only what requests run: a worker that
        wakes up in the middle of a request does not change what the request is seen to cost.
        Statements are timed in the metrics either way."""
        return _background_scope()

    def _count(self) -> None:
        if _background.get():
            self.background_statements += 1
        else:
            self.statements += 1

    async def fetch_all(self, query: Any, values: dict | None = None) -> list[Any]:
        self._count()
        start = perf_counter()
        try:
            return await self.db.fetch_all(query, values)
        finally:
            _observe_sql(perf_counter() - start)

    async def fetch_one(self, query: Any, values: dict | None = None) -> Any:
        self._count()
        start = perf_counter()
        try:
            return await self.db.fetch_one(query, values)
        finally:
            _observe_sql(perf_counter() - start)

    async def fetch_val(self, query: Any, values: dict | None = None) -> Any:
        self._count()
        start = perf_counter()
        try:
            return await self.db.fetch_val(query, values)
        finally:
            _observe_sql(perf_counter() - start)

    async def execute(self, query: Any, values: dict | None = None) -> Any:
        self._count()
        start = perf_counter()
        try:
            return await self.db.execute(query, values)
        finally:
            _observe_sql(perf_counter() - start)

    async def execute_later(self, query: Any) -> None:
        """Execute a write whose result the caller does not need, inside :meth:`transaction`, as
        soon as the driver can batch it: on SQLite it runs with the transaction's next statement or
        its COMMIT, in one trip to the connection's thread (a memo write's index and live rows go
        with its COMMIT); other drivers run it at once. Statements still run in the order issued,
        and a failure still rolls the transaction back, surfacing at that next statement."""
        later = getattr(self.db.connection()._connection, "execute_later", None)
        if later is None:
            await self.execute(query)
            return
        self._count()
        await later(query)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """A write transaction. Nested calls join the outer one (as a savepoint)."""
        if self._write_lock is None or _in_write_tx.get():
            async with self._db_transaction():
                yield
            return
        async with self._write_lock:
            token = _in_write_tx.set(True)
            try:
                async with self._db_transaction():
                    yield
            finally:
                _in_write_tx.reset(token)

    @contextlib.asynccontextmanager
    async def _db_transaction(self) -> AsyncIterator[None]:
        """``databases``' transaction, minus its leak: when COMMIT or ROLLBACK itself fails (the
        server restarted, the connection was killed), ``databases`` raises before handing the
        connection back, so the pool would lose one connection per such failure until it ran dry.
        Here the connection is handed back either way and the error still propagates."""
        tx = self.db.transaction()
        await tx.start()
        try:
            yield
        except BaseException:
            await self._finish(tx, tx.rollback)
            raise
        else:
            await self._finish(tx, tx.commit)

    @staticmethod
    async def _finish(tx: Any, end: Callable[[], Awaitable[None]]) -> None:
        try:
            await end()
        except BaseException:
            if tx._transaction is not None:  # the statement failed before the connection went back
                tx._transaction = None
                with contextlib.suppress(Exception):
                    await tx._connection.__aexit__()
            raise

    def is_unique_violation(self, exc: BaseException) -> bool:
        return self.driver.is_unique_violation(exc)

    # -- schema ------------------------------------------------------------------------------
    async def migrate(self, *, demo: bool = False) -> None:
        """Create the schema on a new database, upgrade an older Memos one, or check it.

        Every stage runs in a write transaction under the driver's schema lock, so several processes
        starting on one database at once create the schema and the instance secret, or upgrade it,
        exactly once. An upgrade (:mod:`.migrations`) runs one transaction per step, recording the
        version after each, so an interrupted upgrade resumes at the step it stopped in.
        memos-py's own indexes and tables (``memos_py_*``) are then created if absent.
        """
        async with self.connection():
            async with self.transaction(), self.driver.schema_lock(self):
                if not await self.driver.table_exists(self, "memo"):
                    await self.driver.execute_ddl(self, self.driver.schema_statements())
                    await self._write_basic({"schemaVersion": SCHEMA_VERSION, "secretKey": str(uuid.uuid4())})
                    log.info("created a new Memos %s schema", SCHEMA_VERSION)
                    current = SCHEMA_VERSION
                else:
                    current = await self._servable_version()
            if parse_version(current) < parse_version(SCHEMA_VERSION):
                await self._upgrade(current)
            async with self.transaction(), self.driver.schema_lock(self):
                basic = await self.get_basic()
                if not basic.get("secretKey"):
                    await self._write_basic({**basic, "secretKey": str(uuid.uuid4())})
                await self.driver.ensure_indexes(self, list(tables.PERFORMANCE_INDEXES))
                await self._ensure_own_tables()
                await search.ensure_schema(self)

    async def before_schema_change(self, current: str) -> None:
        """The single point run before the first upgrade step: calls :attr:`on_before_migration`."""
        if self.on_before_migration is not None:
            await self.on_before_migration(current)

    async def _upgrade(self, current: str) -> None:
        """Run the pending upgrade steps, each in its own transaction under the schema lock.

        Each step re-reads the version inside its transaction: another process may have run it
        meanwhile. SQLite and PostgreSQL roll a failed step back whole. MySQL commits each DDL
        statement implicitly, so a step that fails there halfway leaves what it did so far; the
        version still names the last complete step, and the error says which step to look at.
        """
        from . import migrations

        steps = migrations.pending(self.dialect, parse_version(current))
        log.info("upgrading the Memos schema from %s to %s (%d steps)", current, SCHEMA_VERSION, len(steps))
        await self.before_schema_change(current)
        for step in [*steps, None]:
            async with self.transaction(), self.driver.schema_lock(self):
                basic = await self.get_basic()
                version = await self._servable_version()
                target = step.version if step else SCHEMA_VERSION
                if parse_version(version) >= parse_version(target):
                    continue
                if step is not None:
                    try:
                        if step.run is not None:
                            await step.run(self)
                        await self.driver.execute_ddl(self, step.statements(self))
                    except Exception as e:
                        raise SchemaError(
                            f"upgrading to schema version {step.version} ({step.what}) failed: {e}"
                        ) from e
                    log.info("schema upgraded to %s: %s", step.version, step.what)
                await self._write_basic({**basic, "schemaVersion": target})

    async def _ensure_own_tables(self) -> None:
        """Create memos-py's own core tables (``memos_py_*``, :data:`tables.MEMOS_PY_TABLES`) and their
        indexes if absent. Idempotent; concurrent start-ups are serialised by the caller's schema lock."""
        name = {"postgres": "postgresql"}.get(self.driver.name, self.driver.name)
        dialect = importlib.import_module(f"sqlalchemy.dialects.{name}").dialect()
        for table in tables.MEMOS_PY_TABLES:
            ddl = str(CreateTable(table, if_not_exists=True).compile(dialect=dialect)).strip()
            await self.driver.execute_ddl(self, [ddl])
            # The driver's way, as MySQL has no CREATE INDEX IF NOT EXISTS.
            await self.driver.ensure_indexes(self, sorted(table.indexes, key=lambda i: i.name or ""))

    async def schema_version(self) -> str:
        """The version the database records: ``BASIC.schemaVersion``, or for a database Memos 0.22
        last opened, the newest entry of its ``migration_history`` table; ``""`` when neither."""
        current = (await self.get_basic()).get("schemaVersion", "")
        if not current and await self.driver.table_exists(self, "migration_history"):
            rows = await self.fetch_all(sa.text("SELECT version FROM migration_history"))
            versions = [str(r[0]) for r in rows if parse_version(str(r[0]))]
            current = max(versions, key=parse_version, default="")
        return current

    async def _servable_version(self) -> str:
        """:meth:`schema_version`, or :class:`SchemaError` when this build can neither serve nor upgrade it."""
        current = await self.schema_version()
        cur = parse_version(current)
        if not cur or cur < parse_version(OLDEST_UPGRADABLE):
            raise SchemaError(
                f"the database has schema version {current or '(none)'}, too old to upgrade: "
                "open it once with Memos v0.25.3, which upgrades it to 0.25, then start memos-py again"
            )
        if cur > parse_version(SCHEMA_VERSION):
            raise SchemaError(
                f"the database has schema version {current}, newer than {SCHEMA_VERSION} which "
                "this memos-py serves: cannot downgrade; run a newer memos-py"
            )
        return current

    async def get_basic(self) -> dict[str, Any]:
        t = tables.system_setting
        raw = await self.fetch_val(sa.select(t.c.value).where(t.c.name == "BASIC"))
        return json.loads(raw) if raw else {}

    async def _write_basic(self, value: dict[str, Any]) -> None:
        t = tables.system_setting
        stmt = self.driver.upsert(
            t, {"name": "BASIC", "value": json.dumps(value), "description": ""}, ["name"], ["value"]
        )
        await self.execute(stmt)


__all__ = ["SCHEMA_VERSION", "Driver", "SchemaError", "StatementCache", "Store", "tables"]
