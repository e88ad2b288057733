"""``memos backup`` / ``memos restore``, and the backup the server takes before a schema migration.

A backup is one SQLite file: the Memos schema and every Memos row of the source, read in one
consistent snapshot while the server may go on writing (copy-db's machinery, verified row for row),
plus two tables of its own. A database at another schema version (an older Memos, before its
upgrade) is copied table by table as it is instead (:mod:`.rawcopy`): such a file is for
safekeeping and manual recovery, ``memos restore`` takes only the current schema. The two tables:

* ``memos_backup_manifest``: one JSON document (source driver, schema version, time, and for every
  table its row count and a SHA-256 digest of its rows), so a damaged or altered file is refused
  before anything is restored;
* ``memos_backup_file``: with ``--attachments``, the files of LOCAL attachments, each with its size
  and SHA-256, keyed by the attachment's ``reference`` (the file travels inside the backup, one file
  to keep).

memos-py's own ``memos_py_*`` tables are not part of a backup (as with copy-db): they hold nothing
a restored instance needs, and start-up recreates them.

Before a migration: on SQLite the database file is copied with SQLite's online backup API to
``{data}/backups/`` (the last :data:`KEEP_AUTOMATIC` are kept). PostgreSQL and MySQL databases
cannot be copied from the server's side, so the server refuses to migrate until ``memos backup``
was run against the database at its current schema version: the command records each backup in the
database itself (``memos_py_backup``), so any server process on any host sees it, and a migration
(which changes the version) calls for a new one before the next. ``--skip-backup`` /
``MEMOS_SKIP_BACKUP=1`` migrates without (for operators with backups of their own).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import importlib
import json
import logging
import os
import re
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.schema import CreateTable

from . import __version__
from .config import Config
from .copydb import TABLE_ORDER, Progress, copy_database, normalise, open_store, report_progress, table_rows
from .rawcopy import copy_tables
from .store import SCHEMA_VERSION, SchemaError, Store, parse_version, tables

log = logging.getLogger(__name__)

#: Automatic backups kept in ``{data}/backups/`` per database file; older ones are deleted.
KEEP_AUTOMATIC = 5
#: Bumped when the layout of a backup file changes; restore refuses formats it does not know.
FORMAT = 1

_backup_md = sa.MetaData()
#: In the backup file.
manifest_table = sa.Table(
    "memos_backup_manifest",
    _backup_md,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
file_table = sa.Table(
    "memos_backup_file",
    _backup_md,
    sa.Column("reference", sa.Text, primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
#: In the backed-up database: which schema versions were backed up, when and where to.
_record_md = sa.MetaData()
backup_record = sa.Table(
    "memos_py_backup",
    _record_md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("schema_version", sa.String(32), nullable=False),
    sa.Column("created_ts", sa.BigInteger, nullable=False),
    sa.Column("file", sa.Text, nullable=False),
)


class BackupError(RuntimeError):
    """The backup or restore could not be made, or did not verify."""


@dataclasses.dataclass
class Manifest:
    driver: str
    schema_version: str
    created_at: str
    rows: dict[str, int]
    digests: dict[str, str]
    files: int = 0
    format: int = FORMAT
    memos_py: str = __version__

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        try:
            data = json.loads(text)
            return cls(**data)
        except (ValueError, TypeError) as e:
            raise BackupError(f"the backup's manifest is unreadable: {e}") from e


def _dialect(store: Store) -> sa.engine.Dialect:
    name = {"postgres": "postgresql"}.get(store.driver.name, store.driver.name)
    return importlib.import_module(f"sqlalchemy.dialects.{name}").dialect()


async def _create(store: Store, table: sa.Table) -> None:
    ddl = str(CreateTable(table, if_not_exists=True).compile(dialect=_dialect(store))).strip()
    await store.driver.execute_ddl(store, [ddl])


async def _digest(store: Store, table: sa.Table) -> tuple[int, str]:
    """Row count and SHA-256 of a table's rows in key order, values normalised as copy-db compares them."""
    h, n = hashlib.sha256(), 0
    async for batch in table_rows(store, table):
        for row in batch:
            h.update(repr([normalise(table.name, c, v) for c, v in row.items()]).encode() + b"\n")
            n += 1
    return n, h.hexdigest()


def _known() -> list[sa.Table]:
    return [tables.metadata.tables[name] for name in TABLE_ORDER]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- memos backup ---------------------------------------------------------------------------------
async def backup(
    config: Config, path: str | Path, *, attachments: bool = False, progress: Progress | None = None
) -> Manifest:
    """Write a verified backup of ``config``'s database to the new file ``path``.

    The file appears only once complete (it is written as ``path.partial`` and renamed)."""
    path = Path(path).resolve()
    if path.exists():
        raise BackupError(f"{path} already exists: choose a new file name")
    partial = path.with_name(path.name + ".partial")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    source, target = open_store(config), open_store(Config(driver="sqlite", dsn=str(partial)))
    await source.connect()
    try:
        async with source.connection():
            if not await source.driver.table_exists(source, "memo"):
                raise BackupError("the database has no Memos schema")
            version = await source.schema_version()
        await target.connect()
        try:
            if version == SCHEMA_VERSION:
                reports = await copy_database(source, target, progress=progress)
                rows, digests = {r.name: r.rows for r in reports}, {}
            else:  # another Memos schema (one to upgrade): its tables as they are
                version, rows, digests = await _copy_as_is(source, target, progress)
            manifest = Manifest(
                driver=source.driver.name,
                schema_version=version,
                created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                rows=rows,
                digests=digests,
            )
            async with target.connection(), target.transaction():
                if version == SCHEMA_VERSION:
                    for t in _known():
                        _, manifest.digests[t.name] = await _digest(target, t)
                await _create(target, manifest_table)
                await _create(target, file_table)
                if attachments:
                    held = next((n for n in ("attachment", "resource") if n in rows), None)
                    if held is None:
                        raise BackupError("the database has no attachment (or resource) table to take files from")
                    manifest.files = await _copy_files_in(target, held, config.data_dir, progress)
                await target.execute(manifest_table.insert().values(name="manifest", value=manifest.to_json()))
        finally:
            await target.disconnect()
        await asyncio.to_thread(_seal, partial)
        partial.rename(path)
        await _record(source, version, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        await source.disconnect()
    return manifest


async def _copy_as_is(
    source: Store, target: Store, progress: Progress | None
) -> tuple[str, dict[str, int], dict[str, str]]:
    """Copy a database of another schema version table by table as it is (:mod:`.rawcopy`), in one
    snapshot; return the version that snapshot records and each table's row count and digest."""
    async with source.connection(), target.connection(), source.driver.consistent_read(source):
        async with target.transaction():
            copied = await copy_tables(source, target, progress=progress)
        version = await source.schema_version()  # read in the snapshot the copy is of
    return version, {n: rows for n, (rows, _) in copied.items()}, {n: d for n, (_, d) in copied.items()}


async def _copy_files_in(target: Store, table: str, data_dir: Path, progress: Progress | None) -> int:
    """Put the files of the LOCAL attachments the backup holds (in ``table``: ``resource`` before
    Memos 0.26) into it; a missing file fails the backup."""
    a = sa.table(table, sa.column("id"), sa.column("reference"), sa.column("storage_type"))
    rows = await target.fetch_all(
        sa.select(a.c.reference).where(a.c.storage_type == "LOCAL", a.c.reference != "").order_by(a.c.id)
    )
    references = list(dict.fromkeys(r["reference"] for r in rows))
    await report_progress(progress, "attachment files", 0, len(references))
    for i, reference in enumerate(references, 1):
        file = Path(reference) if Path(reference).is_absolute() else data_dir / reference
        try:
            data = await asyncio.to_thread(file.read_bytes)
        except OSError as e:
            raise BackupError(f"attachment file {reference}: {e.strerror or e}") from e
        values = {"reference": reference, "size": len(data), "sha256": _sha256(data), "data": data}
        await target.execute(file_table.insert().values(**values))
        await report_progress(progress, "attachment files", i, len(references))
    return len(references)


def _seal(path: Path) -> None:
    """Make the backup one self-contained file (no WAL beside it) and check it reads back whole."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=DELETE")
        if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError("the backup file does not read back whole")


async def _record(store: Store, version: str, path: Path) -> None:
    """Note in the backed-up database that its schema ``version`` was backed up (see the module doc)."""
    async with store.connection(), store.transaction():
        await _create(store, backup_record)
        await store.execute(
            backup_record.insert().values(schema_version=version, created_ts=int(time.time()), file=str(path))
        )


# -- memos restore --------------------------------------------------------------------------------
@dataclasses.dataclass
class RestoreResult:
    manifest: Manifest
    files_written: int = 0
    notes: list[str] = dataclasses.field(default_factory=list)


def _open_checked(path: Path) -> tuple[Manifest, list[tuple[str, int, str]]]:
    """The manifest and file list of a backup, after SQLite's own integrity check."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"{path} is damaged (SQLite's integrity check fails)")
            names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "memos_backup_manifest" not in names:
                raise BackupError(f"{path} is not a memos backup (no manifest)")
            row = db.execute("SELECT value FROM memos_backup_manifest WHERE name = 'manifest'").fetchone()
            files = db.execute("SELECT reference, size, sha256 FROM memos_backup_file ORDER BY reference").fetchall()
    except sqlite3.DatabaseError as e:
        raise BackupError(f"{path} is not a readable memos backup: {e}") from e
    if row is None:
        raise BackupError(f"{path} is not a memos backup (empty manifest)")
    return Manifest.from_json(row[0]), files


async def restore(
    path: str | Path, config: Config, *, attachments: bool = False, progress: Progress | None = None
) -> RestoreResult:
    """Restore the backup ``path`` into the empty database of ``config``, verified row for row;
    with ``attachments``, write its files under ``config``'s data folder."""
    path = Path(path).resolve()
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    manifest, files = await asyncio.to_thread(_open_checked, path)
    if manifest.format != FORMAT:
        raise BackupError(f"{path} has backup format {manifest.format}; this memos-py reads format {FORMAT}")
    if parse_version(manifest.schema_version) < parse_version(SCHEMA_VERSION):
        raise BackupError(
            f"the backup holds the older Memos schema {manifest.schema_version}, its tables copied as they "
            f"were; memos restore restores only schema {SCHEMA_VERSION}. The file is for safekeeping: a "
            "plain SQLite database whose tables sqlite3 reads, to recover rows by hand"
        )
    if manifest.schema_version != SCHEMA_VERSION:
        raise BackupError(
            f"the backup holds schema {manifest.schema_version}; this memos-py restores schema {SCHEMA_VERSION}: "
            "restore it with the memos-py that made it"
        )
    result = RestoreResult(manifest)
    blobs: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="memos-restore-") as tmp:
        # A private copy: opening a SQLite file writes to it (WAL), and the backup stays untouched.
        work = Path(tmp) / "backup.db"
        await asyncio.to_thread(shutil.copyfile, path, work)
        source, target = open_store(Config(driver="sqlite", dsn=str(work))), open_store(config)
        await source.connect()
        try:
            async with source.connection():
                for t in _known():
                    n, digest = await _digest(source, t)
                    if n != manifest.rows.get(t.name) or digest != manifest.digests.get(t.name):
                        raise BackupError(
                            f"{path} is damaged: table {t.name} holds {n} rows that do not match its manifest "
                            f"({manifest.rows.get(t.name)} rows): nothing was restored"
                        )
                if attachments:
                    blobs = await _files_checked(source, path, files)
            await target.connect()
            try:
                await copy_database(source, target, progress=progress)
            finally:
                await target.disconnect()
        finally:
            await source.disconnect()
    if attachments:
        result.files_written = await asyncio.to_thread(_write_files, config.data_dir, blobs, result.notes)
    elif files:
        result.notes.append(f"the backup holds {len(files)} attachment files, not restored (pass --attachments)")
    return result


async def _files_checked(store: Store, path: Path, files: list[tuple[str, int, str]]) -> dict[str, bytes]:
    out = {}
    for reference, size, sha in files:
        data = await store.fetch_val(sa.select(file_table.c.data).where(file_table.c.reference == reference))
        data = bytes(data or b"")
        if len(data) != size or _sha256(data) != sha:
            raise BackupError(f"{path} is damaged: attachment file {reference} does not match its checksum")
        out[reference] = data
    return out


def _write_files(data_dir: Path, blobs: dict[str, bytes], notes: list[str]) -> int:
    """Write attachment files under ``data_dir`` at their references; never overwrite other content."""
    written = 0
    root = data_dir.resolve()
    for reference, data in blobs.items():
        ref = Path(reference)
        if ref.is_absolute() or ".." in ref.parts:
            notes.append(f"attachment file {reference}: not under the data folder, not restored")
            continue
        file = root / ref
        if file.exists():
            if file.read_bytes() != data:
                raise BackupError(f"attachment file {file} exists with other content: not overwritten")
            continue
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(file.name + ".restoring")
        tmp.write_bytes(data)
        os.replace(tmp, file)
        if _sha256(file.read_bytes()) != _sha256(data):
            raise BackupError(f"attachment file {file} does not read back as written")
        written += 1
    return written


# -- before a migration ---------------------------------------------------------------------------
_AUTOMATIC = re.compile(r"^(?P<stem>.+)-(?P<version>\d+(?:\.\d+)*)-(?P<stamp>\d{8}T\d{6}\.\d{6}Z)\.db$")


def guard_migrations(store: Store) -> Store:
    """Make ``store`` back up (or refuse) before it upgrades a schema: the server's stores get this,
    copy-db's and backup's own do not (they never upgrade a database)."""
    store.on_before_migration = functools.partial(before_migration, store)
    return store


async def before_migration(store: Store, current: str) -> None:
    """Run once at start-up before the first upgrade step of the schema ``current`` (the store's
    ``on_before_migration``): back the SQLite file up, or on a server database make sure a backup
    was made, raising :class:`SchemaError` (the server does not start) when none was."""
    config = store.driver.config
    if config.skip_backup:
        log.warning("migrating schema %s -> %s without a backup first (--skip-backup)", current, SCHEMA_VERSION)
        return
    path = getattr(store.driver, "path", None)
    if store.driver.name == "sqlite" and isinstance(path, Path):
        dest = await asyncio.to_thread(automatic_sqlite_backup, path, config.data_dir / "backups", current)
        log.warning("backed up the database (schema %s) to %s before migrating it to %s", current, dest, SCHEMA_VERSION)
        return
    made = None
    if await store.driver.table_exists(store, backup_record.name):
        r = backup_record
        made = await store.fetch_one(
            sa.select(r.c.created_ts, r.c.file).where(r.c.schema_version == current).order_by(r.c.id.desc()).limit(1)
        )
    if made is None:
        raise SchemaError(
            f"the database has schema version {current} and this memos-py migrates it to {SCHEMA_VERSION}, "
            "but no backup of it was made: run `memos backup FILE --driver ... --dsn ...` with this server's "
            "driver and DSN (MEMOS_DRIVER / MEMOS_DSN) first, or start with --skip-backup (MEMOS_SKIP_BACKUP=1) "
            "if you keep backups of your own"
        )
    when = dt.datetime.fromtimestamp(made["created_ts"], dt.UTC).isoformat(timespec="seconds")
    log.warning(
        "migrating schema %s -> %s; its backup was made at %s to %s", current, SCHEMA_VERSION, when, made["file"]
    )


def automatic_sqlite_backup(db: Path, folder: Path, version: str) -> Path:
    """Copy the SQLite file ``db`` with the online backup API into ``folder``, named with its schema
    ``version`` and the time; keep the last :data:`KEEP_AUTOMATIC` such copies of this file."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    dest = folder / f"{db.stem}-{version}-{stamp}.db"
    partial = dest.with_name(dest.name + ".partial")
    with (
        contextlib.closing(sqlite3.connect(db, timeout=10)) as src,
        contextlib.closing(sqlite3.connect(partial)) as dst,
    ):
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
    partial.rename(dest)
    prune_automatic(folder, db.stem)
    return dest


def prune_automatic(folder: Path, stem: str, keep: int = KEEP_AUTOMATIC) -> list[Path]:
    """Delete all but the newest ``keep`` automatic backups of the database file named ``stem``."""
    mine = []
    for p in folder.iterdir():
        m = _AUTOMATIC.match(p.name)
        if m and m["stem"] == stem:
            mine.append((m["stamp"], p))
    mine.sort()
    old = [p for _, p in mine[:-keep]] if keep else [p for _, p in mine]
    for p in old:
        p.unlink(missing_ok=True)
    return old


__all__ = ["KEEP_AUTOMATIC", "BackupError", "Manifest", "backup", "before_migration", "guard_migrations", "restore"]
