"""``memos copy-db``: move an instance from one database to another, verified row for row.

The source is read in one consistent read transaction (the driver's ``consistent_read``): copy and
verification see the same snapshot, so a copy taken while a server writes is a state the source was
in. ``memos backup`` and ``memos restore`` (:mod:`memos_core.backup`) use the same machinery.

Every Memos table is copied with its ids, so names, tokens, relations and the instance secret keep
working. memos-py's own bookkeeping tables (failed sign-ins, plugins' tables such as the scheduler's
run claims) are not copied: they hold nothing worth keeping and are recreated empty on the target.
The target must be empty (a new database, or one with the schema and no rows); it gets the schema
first. Afterwards both sides
are read back and compared row by row; any difference fails the command.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import sqlalchemy as sa

from .config import Config
from .plugins import load_plugins
from .store import Store, tables

log = logging.getLogger(__name__)

BATCH = 500

#: Copy order: referenced tables before the tables that point at them (memo_share -> memo).
TABLE_ORDER = [
    "system_setting",
    "user",
    "user_setting",
    "idp",
    "user_identity",
    "memo",
    "memo_relation",
    "attachment",
    "reaction",
    "inbox",
    "memo_share",
]

#: Columns holding JSON text: compared as parsed JSON (databases may re-serialise JSON columns).
JSON_COLUMNS = {
    ("system_setting", "value"),
    ("user_setting", "value"),
    ("memo", "payload"),
    ("attachment", "payload"),
    ("idp", "config"),
    ("inbox", "message"),
}


#: ``progress(table, rows_done, rows_total)``, called as each table's rows are written (may be async).
Progress = Callable[[str, int, int], Awaitable[None] | None]


class CopyError(RuntimeError):
    """The copy could not start or did not verify."""


@dataclasses.dataclass
class TableReport:
    name: str
    rows: int


def _order_by(table: sa.Table) -> list[Any]:
    pk = list(table.primary_key.columns)
    if pk:
        return pk
    # Tables without a primary key are ordered by all their columns.
    return list(table.columns)


def _row_key(table: sa.Table, row: dict[str, Any]) -> str:
    """``id=3`` (the primary key, or every column of a table without one), values shortened."""
    parts = []
    for c in _order_by(table):
        value = row[c.name]
        parts.append(f"{c.name}={value if isinstance(value, int) else repr(str(value)[:40])}")
    return ", ".join(parts)


def normalise(table: str, column: str, value: Any) -> Any:
    """A column value in a form that compares equal across drivers (JSON parsed, types unified);
    what the copy is verified with, and what backups digest."""
    if value is None:
        return None
    if (table, column) in JSON_COLUMNS:
        if isinstance(value, str | bytes):
            try:
                value = json.loads(value)
            except ValueError:
                return value
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


async def table_rows(store: Store, table: sa.Table) -> AsyncIterator[list[dict[str, Any]]]:
    """``table``'s rows in batches, in a stable order (its key)."""
    offset = 0
    columns = list(table.columns)
    while True:
        q = sa.select(*columns).order_by(*_order_by(table)).limit(BATCH).offset(offset)
        batch = await store.fetch_all(q)
        if not batch:
            return
        yield [{c.name: r[c.name] for c in columns} for r in batch]
        offset += len(batch)


async def _count(store: Store, table: sa.Table) -> int:
    return int(await store.fetch_val(sa.select(sa.func.count()).select_from(table)) or 0)


def open_store(config: Config) -> Store:
    return Store(load_plugins(config).driver)


async def report_progress(progress: Progress | None, table: str, done: int, total: int) -> None:
    """Tell ``progress`` (sync or async, or ``None``) how far ``table`` has come."""
    if progress is not None:
        result = progress(table, done, total)
        if inspect.isawaitable(result):
            await result


async def copy_database(source: Store, target: Store, *, progress: Progress | None = None) -> list[TableReport]:
    """Copy every table of ``source`` into the empty ``target`` and verify it. Both are connected.

    The source is read in one snapshot (counts, rows and the verification alike)."""
    known = [tables.metadata.tables[name] for name in TABLE_ORDER]
    async with source.connection():
        if not await source.driver.table_exists(source, "memo"):
            raise CopyError("the source database has no Memos schema")
    async with target.connection():
        await target.migrate()
        # migrate() wrote BASIC (version and a fresh secret) into a new target; the copy replaces it.
        for t in known:
            if t.name == "system_setting":
                continue
            if await _count(target, t):
                raise CopyError(f"the target database is not empty: table {t.name} has rows")

    reports = []
    async with source.connection(), target.connection(), source.driver.consistent_read(source):
        totals = {t.name: await _count(source, t) for t in known}  # the first read: the snapshot starts here
        async with target.transaction():
            await target.execute(tables.system_setting.delete())
            for t in known:
                n = 0
                await report_progress(progress, t.name, 0, totals[t.name])
                async for batch in table_rows(source, t):
                    for row in batch:
                        try:
                            await target.execute(t.insert().values(**row))
                        except Exception as e:  # any driver's error: say which row, roll everything back
                            raise CopyError(
                                f"table {t.name}: writing the row {_row_key(t, row)} to the target failed: {e}; "
                                "nothing was copied (the target is as empty as before)"
                            ) from e
                    n += len(batch)
                    await report_progress(progress, t.name, n, totals[t.name])
                reports.append(TableReport(t.name, n))
            await target.driver.reset_sequences(target, [t for t in known if "id" in t.c])
        try:
            await verify(source, target, known)
        except CopyError as e:
            raise CopyError(f"{e}; the target holds a copy that differs from the source: do not use it") from e
    return reports


async def verify(source: Store, target: Store, known: list[sa.Table]) -> None:
    """Compare both databases row by row; raise :class:`CopyError` on the first difference."""
    for t in known:
        a_rows = [r async for batch in table_rows(source, t) for r in batch]
        b_rows = [r async for batch in table_rows(target, t) for r in batch]
        if len(a_rows) != len(b_rows):
            raise CopyError(f"table {t.name}: {len(a_rows)} rows in the source, {len(b_rows)} in the target")
        for a, b in zip(a_rows, b_rows, strict=True):
            for column in a:
                va, vb = normalise(t.name, column, a[column]), normalise(t.name, column, b[column])
                if va != vb:
                    raise CopyError(f"table {t.name}, column {column}: {va!r} != {vb!r}")


async def run(source_config: Config, target_config: Config, *, progress: Progress | None = None) -> list[TableReport]:
    source, target = open_store(source_config), open_store(target_config)
    await source.connect()
    await target.connect()
    try:
        return await copy_database(source, target, progress=progress)
    finally:
        await source.disconnect()
        await target.disconnect()
