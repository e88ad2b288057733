"""Copy every table of a database AS IT IS into a SQLite file: ``memos backup`` of a schema version
other than the one memos-py reads (an older Memos, 0.22 to 0.27, before its upgrade).

Such a database's tables differ from memos-py's (``resource`` instead of ``attachment``,
``activity``, ``memo_organizer``, older columns), so nothing here knows them: the tables and their
columns are read from the database's catalogue (``information_schema``, SQLite's ``PRAGMA``), and
the rows are copied column by column, values as the database gives them, except:

* timestamps (MySQL's ``TIMESTAMP``/``DATETIME``, PostgreSQL's ``timestamp``) become epoch seconds
  (an INTEGER), as Memos keeps ``created_ts`` everywhere else and as the upgrade converts them;
* JSON becomes its text; booleans become 0/1; types SQLite has no counterpart for (numeric, enum,
  date, uuid, arrays) become their text as the database prints it;
* integers, text, binary and floating point values are copied unchanged.

Each target table has the source's columns in order and its primary key; a SQLite source's
declared column types are kept as they are. memos-py's own ``memos_py_*`` tables are left out, as
in every backup. Rows are read in the primary key's order (SQLite: ``rowid`` order when there is
none; elsewhere every column of a comparable type), and each table's rows are verified: the SHA-256
of the rows read from the source must equal that of the rows read back from the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa

from .copydb import BATCH, CopyError, Progress, report_progress
from .store import Store

_INTEGER = {"smallint", "integer", "int", "bigint", "tinyint", "mediumint", "serial", "bigserial"}
_REAL = {"real", "double precision", "double", "float"}
_TEXT = {"text", "character varying", "character", "varchar", "char", "tinytext", "mediumtext", "longtext"}
_BLOB = {"bytea", "blob", "tinyblob", "mediumblob", "longblob", "binary", "varbinary"}
_TIME = {"timestamp", "timestamp without time zone", "timestamp with time zone", "datetime"}
_JSON = {"json", "jsonb"}


class RawCopyError(CopyError):
    """The tables could not be read, or the file does not hold what the source held."""


@dataclasses.dataclass
class Column:
    name: str
    #: The database's own type name (``data_type``; SQLite: the declared type).
    type: str


@dataclasses.dataclass
class SourceTable:
    name: str
    columns: list[Column]
    primary_key: list[str]


def _preparer(store: Store) -> Any:
    """Quotes identifiers as ``store``'s database does."""
    name = {"postgres": "postgresql"}.get(store.dialect, store.dialect)
    return importlib.import_module(f"sqlalchemy.dialects.{name}").dialect().identifier_preparer


def _catalogue_scope(store: Store) -> str:
    if store.dialect == "postgresql":
        return "current_schema()"
    if store.dialect == "mysql":
        return "DATABASE()"
    raise RawCopyError(f"the {store.dialect} driver's tables cannot be listed by memos backup")


async def describe(store: Store) -> list[SourceTable]:
    """Every table of the (connected) database but memos-py's own, with its columns and primary key."""
    if store.dialect == "sqlite":
        return await _describe_sqlite(store)
    scope = _catalogue_scope(store)
    columns = await store.fetch_all(
        sa.text(
            "SELECT c.table_name AS t, c.column_name AS c, c.data_type AS d FROM information_schema.columns c "
            "JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
            f"WHERE c.table_schema = {scope} AND t.table_type = 'BASE TABLE' "
            "ORDER BY c.table_name, c.ordinal_position"
        )
    )
    keys = await store.fetch_all(
        sa.text(
            "SELECT k.table_name AS t, k.column_name AS c FROM information_schema.table_constraints tc "
            "JOIN information_schema.key_column_usage k ON k.constraint_schema = tc.constraint_schema "
            "AND k.constraint_name = tc.constraint_name AND k.table_name = tc.table_name "
            f"WHERE tc.table_schema = {scope} AND tc.constraint_type = 'PRIMARY KEY' "
            "ORDER BY k.table_name, k.ordinal_position"
        )
    )
    out: dict[str, SourceTable] = {}
    for r in columns:
        name = str(r["t"])
        out.setdefault(name, SourceTable(name, [], [])).columns.append(Column(str(r["c"]), str(r["d"]).lower()))
    for r in keys:
        if str(r["t"]) in out:
            out[str(r["t"])].primary_key.append(str(r["c"]))
    return [t for name, t in sorted(out.items()) if not _own(name)]


async def _describe_sqlite(store: Store) -> list[SourceTable]:
    names = await store.fetch_all(
        sa.text("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
    )
    out = []
    for (name,) in sorted((str(r[0]),) for r in names):
        if _own(name):
            continue
        info = await store.fetch_all(sa.text(f"PRAGMA table_info({_preparer(store).quote(name)})"))
        columns = [Column(str(r["name"]), str(r["type"] or "")) for r in info]
        key = [str(r["name"]) for r in sorted((r for r in info if r["pk"]), key=lambda r: r["pk"])]
        out.append(SourceTable(name, columns, key))
    return out


def _own(name: str) -> bool:
    return name.startswith("memos_py_")


def _kind(store: Store, column: Column) -> str:
    """How a column is read and stored: integer, real, text, blob, time, json, bool or other; a
    SQLite source's columns are copied as they are."""
    t = column.type.lower()
    if store.dialect == "sqlite":
        return "as-is"
    if t in _INTEGER:
        return "integer"
    if t in _REAL:
        return "real"
    if t in _TEXT:
        return "text"
    if t in _BLOB:
        return "blob"
    if t in _TIME:
        return "time"
    if t in _JSON:
        return "json"
    if t == "boolean":
        return "bool"
    return "other"


_SQLITE_QUOTE = importlib.import_module("sqlalchemy.dialects.sqlite").dialect().identifier_preparer.quote
_SQLITE_TYPE = {"integer": "INTEGER", "time": "INTEGER", "bool": "INTEGER", "real": "REAL", "blob": "BLOB"}


def _select_expression(store: Store, column: Column) -> str:
    """The column as read for the file (see the module doc for what is converted)."""
    q = _preparer(store).quote(column.name)
    kind = _kind(store, column)
    pg = store.dialect == "postgresql"
    if kind == "time":
        return f"CAST(EXTRACT(EPOCH FROM {q}) AS BIGINT)" if pg else f"CAST(UNIX_TIMESTAMP({q}) AS SIGNED)"
    if kind == "bool":
        return f"CAST({q} AS INTEGER)"
    if kind in ("json", "other"):
        return f"CAST({q} AS TEXT)" if pg else f"CAST({q} AS CHAR)"
    return q


def _order(store: Store, table: SourceTable) -> str:
    quote = _preparer(store).quote
    if table.primary_key:
        return ", ".join(quote(c) for c in table.primary_key)
    if store.dialect == "sqlite":
        return "rowid"
    # No key: every column a database can compare (a PostgreSQL json value cannot be).
    return ", ".join(quote(c.name) for c in table.columns if c.type != "json") or "1"


def create_statement(store: Store, table: SourceTable) -> str:
    """SQLite DDL for ``store``'s ``table`` in the file: its columns in order, their SQLite types
    (a SQLite source's declared ones), its primary key."""
    quote = _SQLITE_QUOTE
    columns = []
    for c in table.columns:
        kind = _kind(store, c)
        declared = c.type if kind == "as-is" else _SQLITE_TYPE.get(kind, "TEXT")
        columns.append(f"{quote(c.name)} {declared}".strip())
    if table.primary_key:
        columns.append(f"PRIMARY KEY ({', '.join(quote(c) for c in table.primary_key)})")
    return f"CREATE TABLE {quote(table.name)} ({', '.join(columns)})"


def _value(value: Any) -> Any:
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, bool):
        return int(value)
    return value


class _Digest:
    def __init__(self) -> None:
        self.sha, self.rows = hashlib.sha256(), 0

    def add(self, row: tuple[Any, ...]) -> None:
        self.sha.update(repr([_value(v) for v in row]).encode() + b"\n")
        self.rows += 1


async def _batches(store: Store, query: str) -> AsyncIterator[list[Any]]:
    offset = 0
    while True:
        batch = await store.fetch_all(
            sa.text(f"{query} LIMIT :limit OFFSET :offset").bindparams(limit=BATCH, offset=offset)
        )
        if not batch:
            return
        yield batch
        offset += len(batch)


async def copy_tables(source: Store, target: Store, *, progress: Progress | None = None) -> dict[str, tuple[int, str]]:
    """Copy every table of ``source`` as it is into the empty SQLite ``target`` and verify each;
    return each table's row count and SHA-256 digest.

    Both stores are connected and each inside its caller's connection: the caller holds ``source``'s
    consistent read (so every table is one snapshot) and a transaction on ``target``."""
    if target.dialect != "sqlite":
        raise RawCopyError("tables are copied as they are into SQLite files only")
    out: dict[str, tuple[int, str]] = {}
    sq, tq = _preparer(source).quote, _preparer(target).quote
    for table in await describe(source):
        width = len(table.columns)
        total = int(await source.fetch_val(sa.text(f"SELECT count(*) FROM {sq(table.name)}")) or 0)
        await target.driver.execute_ddl(target, [create_statement(source, table)])
        names = ", ".join(tq(c.name) for c in table.columns)
        marks = ", ".join(f":c{i}" for i in range(width))
        insert = sa.text(f"INSERT INTO {tq(table.name)} ({names}) VALUES ({marks})")
        select = ", ".join(_select_expression(source, c) for c in table.columns)
        read = _Digest()
        await report_progress(progress, table.name, 0, total)
        async for batch in _batches(source, f"SELECT {select} FROM {sq(table.name)} ORDER BY {_order(source, table)}"):
            for r in batch:
                row = tuple(_value(r[i]) for i in range(width))
                read.add(row)
                try:
                    await target.execute(insert.bindparams(**{f"c{i}": v for i, v in enumerate(row)}))
                except Exception as e:  # a value SQLite cannot hold: say where, nothing is kept
                    raise RawCopyError(f"table {table.name}: writing row {read.rows} to the file failed: {e}") from e
            await report_progress(progress, table.name, read.rows, total)
        # Read back in the order written (the source's: its collation may order text unlike SQLite).
        written = _Digest()
        async for batch in _batches(target, f"SELECT {names} FROM {tq(table.name)} ORDER BY rowid"):
            for r in batch:
                written.add(tuple(r[i] for i in range(width)))
        if not (read.rows == written.rows == total) or written.sha.digest() != read.sha.digest():
            raise RawCopyError(
                f"table {table.name}: {total} rows in the source, {read.rows} read, {written.rows} in the "
                "backup file, or their values differ"
            )
        out[table.name] = (total, written.sha.hexdigest())
    return out
