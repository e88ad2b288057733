"""memos-driver-sqlite: the embedded default store driver of memos-py.

The database file is ``{MEMOS_DATA}/memos_prod.db`` (``memos_demo.db`` in demo mode) unless
``MEMOS_DSN`` names a file. The schema is exactly upstream Memos v0.28's SQLite schema, so a
Memos database file opens and serves unchanged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import databases
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect

from memos_core import Config
from memos_core.store import Driver

from .backend import MemosConnection
from .schema import LATEST

__version__ = "0.1.0"


class _Database(databases.Database):
    SUPPORTED_BACKENDS = {  # noqa: RUF012 - extends the class-level registry of databases
        **databases.Database.SUPPORTED_BACKENDS,
        "sqlite+memos": "memos_driver_sqlite.backend:PooledSQLiteBackend",
    }


class SQLiteDriver(Driver):
    name = "sqlite"
    # Writers are serialised by the backend's WriteTurn, taken with each BEGIN (not for the whole
    # transaction, as the store would), so whole-queued transactions can be committed in groups.
    serialize_writes = False

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.path = self.database_path(config)
        self._setups: list[Callable[[sqlite3.Connection], None]] = []
        self._marks: sqlite3.Connection | None = None

    @staticmethod
    def database_path(config: Config) -> Path:
        if config.dsn:
            dsn = config.dsn.removeprefix("file:").split("?", 1)[0]
            return Path(dsn).resolve()
        name = "memos_demo.db" if config.demo else "memos_prod.db"
        return config.data_dir / name

    def database(self) -> databases.Database:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A connection class of this driver's own: it runs the setups plugins add (see below).
        factory = type("MemosConnection", (MemosConnection,), {"setups": self._setups})
        return _Database(f"sqlite+memos:///{self.path}", factory=factory)

    async def change_mark(self, store) -> int:
        """``PRAGMA data_version`` of a connection of its own that never writes: it changes
        whenever any other connection, in this process or another, commits. A microsecond's read
        of the WAL index, so it runs on the event loop rather than hopping to a thread."""
        if self._marks is None:
            self._marks = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._marks.execute("PRAGMA query_only = 1")
        return self._marks.execute("PRAGMA data_version").fetchone()[0]

    async def close(self) -> None:
        marks, self._marks = self._marks, None
        if marks is not None:
            marks.close()

    def add_connection_setup(self, setup: Callable[[sqlite3.Connection], None]) -> bool:
        self._setups.append(setup)
        return True

    async def execute_ddl(self, store, statements: list[str]) -> None:
        """As the base class, but after what the transaction has pending (its BEGIN, with the write
        turn, and statements queued with ``execute_later``): straight on the aiosqlite connection,
        DDL opening a transaction would run, and commit, before the BEGIN."""
        connection = store.db.connection()._connection  # this driver's PooledSQLiteConnection
        for stmt in statements:
            store.statements += 1
            await connection.execute_raw(stmt)

    async def table_exists(self, store, name: str) -> bool:
        q = sa.text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name").bindparams(name=name)
        return await store.fetch_val(q) is not None

    def schema_statements(self) -> list[str]:
        return [s.strip() for s in LATEST.split(";") if s.strip()]

    def is_unique_violation(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)

    def insert(self, table: sa.Table) -> Any:
        return sqlite_dialect.insert(table)

    def upsert(self, table: sa.Table, values: dict, keys: list[str], update: list[str]) -> Any:
        stmt = sqlite_dialect.insert(table).values(**values)
        return stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in update})

    def json_text(self, column: Any, *path: str) -> Any:
        return sa.func.json_extract(column, "$." + ".".join(path))

    def json_object(self, *pairs: Any) -> Any:
        return sa.func.json_object(*pairs)
