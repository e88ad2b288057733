"""The contract a database driver package implements (entry point group ``memos.drivers``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable
from typing import Any

import databases
import sqlalchemy as sa

from ..config import Config


class Driver:
    """Base class for drivers: what differs per database.

    A driver is also registered with the plugin manager, so it may implement hooks.
    """

    #: ``MEMOS_DRIVER`` value and SQLAlchemy dialect name.
    name: str = ""
    #: Serialise write transactions in-process (SQLite has one writer).
    serialize_writes: bool = False

    def __init__(self, config: Config) -> None:
        self.config = config

    def database(self) -> databases.Database:  # pragma: no cover - abstract
        """A ``databases.Database`` for this instance's DSN (not yet connected)."""
        raise NotImplementedError

    async def table_exists(self, store, name: str) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def schema_statements(self) -> list[str]:  # pragma: no cover - abstract
        """DDL that creates the latest Memos schema on an empty database, in order."""
        raise NotImplementedError

    async def execute_ddl(self, store, statements: list[str]) -> None:
        """Run DDL on the current task's connection (inside the caller's transaction).

        Raw statements bypass SQLAlchemy compilation, whose ``%`` handling breaks DDL such as
        ``strftime('%s', 'now')``.
        """
        raw = store.db.connection().raw_connection
        for stmt in statements:
            store.statements += 1
            await raw.execute(stmt)

    def schema_lock(self, store) -> Any:
        """An async context manager held (inside the migration transaction) while the schema is
        checked or created, so concurrent start-ups serialise. SQLite's ``BEGIN IMMEDIATE`` already
        does that; server databases take an advisory or named lock."""
        return contextlib.nullcontext()

    async def ensure_indexes(self, store, indexes: list[sa.Index]) -> None:
        """Create memos-py's own indexes (named ``memos_py_*``) beside the Memos schema if absent."""
        statements = []
        for index in indexes:
            columns = ", ".join(c.name for c in index.columns)
            statements.append(f"CREATE INDEX IF NOT EXISTS {index.name} ON {index.table.name} ({columns})")
        await self.execute_ddl(store, statements)

    #: Statements opening a read-only transaction that sees every table as of one moment, while
    #: writers go on (SQLite in WAL mode: a deferred transaction's snapshot starts at its first read).
    snapshot_statements: tuple[str, ...] = ("BEGIN",)

    @contextlib.asynccontextmanager
    async def consistent_read(self, store) -> Any:
        """Hold a consistent read transaction on the current task's connection (``memos backup``,
        ``memos copy-db``): every statement inside reads one snapshot of the whole database, so a
        copy taken while the server writes is still a state the database was in."""
        await self.execute_ddl(store, list(self.snapshot_statements))
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # a broken connection has no transaction left to end
                await self.execute_ddl(store, ["ROLLBACK"])

    async def change_mark(self, store) -> Hashable | None:
        """An opaque value read from the database, different from every value read before once
        anything was committed since, by any connection or process. Equal marks mean the committed
        data has not changed in between, which is what lets :mod:`memos_core.response_cache` serve
        an answer again. ``None`` when the database has no cheap such value (nothing is cached)."""
        return None

    async def close(self) -> None:
        """Release what the driver holds beside the ``databases`` pool (the store disconnects)."""

    @classmethod
    async def create_test_database(cls, server_dsn: str, name: str) -> str:
        """Create a new database ``name`` on the server of ``server_dsn``; return its DSN.

        Used by the test fixtures (``memos_core.testing``) to give every test a fresh database. It is
        either empty or holds exactly what start-up creates on an empty one minus the secret key (a
        driver may copy a template database to save running the DDL for every test).
        """
        raise NotImplementedError(f"{cls.__name__} cannot create test databases")

    @classmethod
    async def drop_test_database(cls, server_dsn: str, name: str) -> None:
        """Drop a database made by :meth:`create_test_database`."""
        raise NotImplementedError(f"{cls.__name__} cannot drop test databases")

    async def reset_sequences(self, store, tables: list[sa.Table]) -> None:
        """After rows were inserted with explicit ids, move id generators past the largest id.

        SQLite and MySQL do this by themselves; PostgreSQL's sequences need it.
        """

    def is_unique_violation(self, exc: BaseException) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def is_unreachable(self, exc: BaseException) -> bool:
        """Whether an exception from connecting means the server is not reachable *yet* (not
        listening, starting up, its name not resolvable): start-up then tries again for a while
        (``MEMOS_DB_CONNECT_TIMEOUT``). False by default: a file database has no such state."""
        return False

    def add_connection_setup(self, setup: Callable[[Any], None]) -> bool:
        """Run ``setup(connection)`` on each database connection this driver opens from now on (a
        plugin loading a SQLite extension, say): register it while the app is built, before the
        store connects. ``False`` when this driver has no such step (server databases load their
        extensions in the server), and ``setup`` is never called."""
        return False

    def insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT construct (with ``on_conflict_do_update`` or similar)."""
        raise NotImplementedError

    def upsert(self, table: sa.Table, values: dict, keys: list[str], update: list[str]) -> Any:
        """``INSERT … ON CONFLICT(keys) DO UPDATE SET update…``, in this dialect."""
        raise NotImplementedError

    def json_text(self, column: Any, *path: str) -> Any:
        """SQL expression for the JSON value at ``path`` inside a JSON text column."""
        raise NotImplementedError

    def json_object(self, *pairs: Any) -> Any:
        """SQL expression for a JSON object as text from alternating keys and values (keys are SQL
        string literals such as ``sa.literal_column("'id'")``): numbers stay numbers, NULL stays null."""
        raise NotImplementedError
