"""Tables that plugins own: created and versioned apart from the Memos schema.

A plugin declares its tables with SQLAlchemy Core on a ``MetaData`` of its own and calls
:func:`ensure_plugin_schema` at start-up (typically in its ``memos_cleanup_ctx``). The version of
each plugin's tables is kept in ``memos_py_plugin_schema``, never in the Memos ``BASIC`` setting,
so a database stays openable by upstream Memos and plugins evolve on their own.

Several processes may start at once against one database, so every step is safe to repeat:
tables are created with ``IF NOT EXISTS``, the version row is inserted only if absent, and the
upgrade itself runs in one transaction that first locks the plugin's version row (on SQLite the
``BEGIN IMMEDIATE`` write lock serialises it instead; on MySQL, where DDL commits at once, a named
``GET_LOCK`` does).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator

import sqlalchemy as sa
from sqlalchemy.schema import CreateIndex, CreateTable

log = logging.getLogger(__name__)

#: How long a MySQL process waits for another one's schema upgrade of the same plugin.
LOCK_TIMEOUT_S = 60
#: Where each plugin's schema version is recorded.
PLUGIN_SCHEMA_TABLE = "memos_py_plugin_schema"

_schema_metadata = sa.MetaData()
plugin_schema = sa.Table(
    PLUGIN_SCHEMA_TABLE,
    _schema_metadata,
    # VARCHAR, not TEXT: MySQL cannot index an unbounded TEXT key.
    sa.Column("plugin", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)


class PluginSchemaError(RuntimeError):
    """A plugin's recorded schema cannot be brought to the version its code expects."""


def _dialect(store) -> sa.engine.Dialect:
    """The SQLAlchemy dialect to compile DDL for (``store.driver.name``: sqlite, postgresql, mysql)."""
    name = {"postgres": "postgresql"}.get(store.driver.name, store.driver.name)
    return importlib.import_module(f"sqlalchemy.dialects.{name}").dialect()


def create_statements(metadata: sa.MetaData, dialect: sa.engine.Dialect) -> list[str]:
    """``CREATE TABLE/INDEX IF NOT EXISTS`` for every table of ``metadata``, in dependency order."""
    statements = []
    for table in metadata.sorted_tables:
        statements.append(str(CreateTable(table, if_not_exists=True).compile(dialect=dialect)).strip())
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            statements.append(str(CreateIndex(index, if_not_exists=True).compile(dialect=dialect)).strip())
    return statements


async def _run_ddl(store, statements: list[str]) -> None:
    if statements:
        await store.driver.execute_ddl(store, statements)


async def _ensure_version_table(store, dialect: sa.engine.Dialect) -> None:
    """Create ``memos_py_plugin_schema`` if absent.

    On PostgreSQL two concurrent ``CREATE TABLE IF NOT EXISTS`` may still collide in the catalog;
    the loser's error is harmless once the table exists.
    """
    try:
        async with store.transaction():
            await _run_ddl(store, create_statements(_schema_metadata, dialect))
    except Exception:
        if not await store.driver.table_exists(store, PLUGIN_SCHEMA_TABLE):
            raise


async def recorded_version(store, plugin: str) -> int | None:
    """The schema version recorded for ``plugin``, or ``None`` if it never created its tables."""
    if not await store.driver.table_exists(store, PLUGIN_SCHEMA_TABLE):
        return None
    version = await store.fetch_val(sa.select(plugin_schema.c.version).where(plugin_schema.c.plugin == plugin))
    return None if version is None or version == 0 else int(version)


async def ensure_plugin_schema(
    store,
    plugin: str,
    version: int,
    metadata: sa.MetaData,
    migrations: dict[int, list[str]] | None = None,
) -> int:
    """Create ``plugin``'s tables if absent and bring them to ``version``; return the version found before (0: new).

    * On a database without the plugin's tables, every table (and index) of ``metadata`` is created
      as declared, and ``version`` is recorded: ``metadata`` always describes the latest shape.
    * When an older version ``v`` is recorded, ``migrations[v + 1]``, …, ``migrations[version]`` run
      in order (raw SQL for the store's dialect; pick it by ``store.driver.name``), then tables new
      in ``metadata`` are created. A migration therefore touches only tables that existed at its
      starting version. A missing step is an error.
    * A recorded version newer than ``version`` is an error: this code cannot serve it.

    Runs on the current task's connection if one is held, else on a connection of its own.
    """
    if version < 1:
        raise ValueError("plugin schema versions start at 1")
    async with store.connection(), _mysql_named_lock(store, plugin):
        return await _ensure(store, plugin, version, metadata, migrations or {})


@contextlib.asynccontextmanager
async def _mysql_named_lock(store, plugin: str) -> AsyncIterator[None]:
    """On MySQL every DDL statement commits, releasing the version row's lock mid-upgrade, so a
    session-level named lock serialises concurrent upgrades there instead."""
    if store.driver.name != "mysql":
        yield
        return
    name = f"memos_py_plugin_schema:{plugin}"[:64]
    if not await store.fetch_val(sa.select(sa.func.get_lock(name, LOCK_TIMEOUT_S))):
        raise PluginSchemaError(f"plugin {plugin!r}: another process held the schema lock for {LOCK_TIMEOUT_S} s")
    try:
        yield
    finally:
        await store.fetch_val(sa.select(sa.func.release_lock(name)))


async def _ensure(store, plugin: str, version: int, metadata: sa.MetaData, migrations: dict[int, list[str]]) -> int:
    dialect = _dialect(store)
    await _ensure_version_table(store, dialect)
    # A placeholder row (version 0) that every process can lock; losing this insert race is fine.
    placeholder = store.driver.insert(plugin_schema).values(plugin=plugin, version=0)
    placeholder = (
        placeholder.prefix_with("IGNORE")
        if dialect.name == "mysql"
        else placeholder.on_conflict_do_nothing(index_elements=["plugin"])
    )
    async with store.transaction():
        await store.execute(placeholder)

    async with store.transaction():
        current_q = (
            sa.select(plugin_schema.c.version).where(plugin_schema.c.plugin == plugin).with_for_update()
        )  # FOR UPDATE serialises concurrent upgrades on PostgreSQL; SQLite's BEGIN IMMEDIATE already does
        current = int(await store.fetch_val(current_q) or 0)
        if current > version:
            raise PluginSchemaError(
                f"plugin {plugin!r} tables are at schema version {current}, newer than {version} which "
                "the installed plugin serves: cannot downgrade; install a newer version of the plugin"
            )
        if current == version:
            return current
        if current > 0:
            for step in range(current + 1, version + 1):
                if step not in migrations:
                    raise PluginSchemaError(
                        f"plugin {plugin!r} has no migration to schema version {step} (recorded: {current})"
                    )
                await _run_ddl(store, list(migrations[step]))
        await _run_ddl(store, create_statements(metadata, dialect))
        await store.execute(sa.update(plugin_schema).where(plugin_schema.c.plugin == plugin).values(version=version))
    if current:
        log.info("plugin %s: upgraded its tables from schema version %d to %d", plugin, current, version)
    else:
        log.info("plugin %s: created its tables at schema version %d", plugin, version)
    return current


__all__ = [
    "PLUGIN_SCHEMA_TABLE",
    "PluginSchemaError",
    "create_statements",
    "ensure_plugin_schema",
    "plugin_schema",
    "recorded_version",
]
