"""A pooled SQLite backend for ``databases``.

``databases``' own SQLite backend opens a new aiosqlite connection (a new thread and a new file
handle) for every acquire, has no hook to set pragmas, and starts transactions with a deferred
``BEGIN`` (which fails at once with "database is locked" when two read-then-write transactions
race). This backend keeps idle connections for reuse, sets the pragmas on every new connection,
registers the SQL functions Memos' SQLite dialect uses, and begins root transactions with
``BEGIN IMMEDIATE`` so a writer waits for the lock (busy timeout) instead of failing.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
import time
import typing
import uuid

import aiosqlite
from databases.backends import sqlite as base
from databases.backends.common.records import Record, Row, create_column_maps
from databases.core import DatabaseURL
from sqlalchemy.engine.cursor import CursorResultMetaData
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.ddl import DDLElement

from memos_core import StatementCache

BUSY_TIMEOUT_MS = 10_000
PRAGMAS = (
    f"busy_timeout={BUSY_TIMEOUT_MS}",
    "synchronous=FULL",
    "foreign_keys=OFF",  # as upstream Memos: foreign keys are not enforced on SQLite
)
#: Idle connections kept for reuse. Each is a thread and an open file, opened only when that many
#: requests ran at once; with fewer kept than a busy server's concurrency, connections were opened
#: and closed (a thread started each time) under load: 7% of S3's creates/s at 16 connections.
MAX_IDLE = 32
#: SQLite virtual-machine steps a read may take on the event loop's thread (well under a millisecond)
#: before it is stopped and run again on its connection's thread instead.
INLINE_READ_STEPS = 20_000
#: Statements (SQL text) that took longer than that once: they go straight to the thread after.
_LONG_READS: set[str] = set()
_LONG_READS_SIZE = 1024
#: Result metadata of compiled-once statements, by ``id()`` of their result columns (kept alive here).
_RESULT_META: dict[int, tuple[typing.Any, typing.Any, typing.Any]] = {}
_RESULT_META_SIZE = 2048


def _unicode_lower(value: typing.Any) -> typing.Any:
    return value.lower() if isinstance(value, str) else value


def _use_wal(connection: sqlite3.Connection) -> None:
    """Switch the file to WAL (a persistent setting) unless it already is.

    Changing the journal mode needs the file to itself and SQLite answers "database is locked" at
    once, without its busy handler, while another process is converting or writing: so several
    processes opening a new database together retry here, within the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() == "wal":
                return
            mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() == "wal" or str(mode).lower() == "memory":  # ":memory:" databases
                return
            if time.monotonic() >= deadline:
                raise sqlite3.OperationalError(f"cannot switch the database to WAL (it stays {mode})")
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() >= deadline:
                raise
        time.sleep(0.02)  # on aiosqlite's connection thread, not the event loop


class MemosConnection(sqlite3.Connection):
    """A sqlite3 connection configured for Memos on open."""

    #: Run on every new connection after Memos' own set-up (``SQLiteDriver.add_connection_setup``).
    setups: typing.ClassVar[typing.Sequence[typing.Callable[[sqlite3.Connection], None]]] = ()

    def __init__(self, *args: typing.Any, **kwargs: typing.Any) -> None:
        kwargs.setdefault("timeout", BUSY_TIMEOUT_MS / 1000)
        super().__init__(*args, **kwargs)
        for pragma in PRAGMAS:
            self.execute("PRAGMA " + pragma)
        _use_wal(self)
        # Upstream registers this for case-insensitive content matching.
        self.create_function("memos_unicode_lower", 1, _unicode_lower, deterministic=True)
        for setup in self.setups:
            setup(self)


class TrackedConnection(aiosqlite.Connection):
    """aiosqlite's connection, counting the calls handed to its thread that have not finished there.

    A call whose caller was cancelled keeps running on the thread, and the connection may already
    be back in the pool: a read may run on the event loop's thread only while this one is idle, or
    two threads would use one sqlite3 connection at once.
    """

    def __init__(self, connector: typing.Callable[[], sqlite3.Connection], iter_chunk_size: int) -> None:
        super().__init__(connector, iter_chunk_size)
        self._unfinished = 0
        self._counting = threading.Lock()

    @property
    def thread_idle(self) -> bool:
        return self._unfinished == 0

    async def _execute(
        self, fn: typing.Callable[..., typing.Any], *args: typing.Any, **kwargs: typing.Any
    ) -> typing.Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        future = asyncio.get_running_loop().create_future()
        with self._counting:
            self._unfinished += 1
        self._tx.put_nowait((future, functools.partial(self._counted, fn, args, kwargs)))
        return await future

    def _counted(self, fn: typing.Callable[..., typing.Any], args: tuple, kwargs: dict) -> typing.Any:
        try:
            return fn(*args, **kwargs)
        finally:
            with self._counting:
                self._unfinished -= 1


class PooledSQLitePool(base.SQLitePool):
    """Keeps idle connections for reuse, and closes every connection it opened when it closes.

    Each aiosqlite connection runs its own non-daemon thread, and a thread left running keeps the
    process from exiting. A request or a start-up cancelled half-way (a SIGTERM while the server
    starts cancels whatever statement is running) can drop a connection without releasing it, so
    ``close`` does not rely on releases: it closes whatever is still open. Opening and releasing
    run shielded from cancellation, so a connection is never half-opened or half-returned.
    """

    def __init__(self, url: DatabaseURL, **options: typing.Any) -> None:
        options.setdefault("factory", MemosConnection)
        options.setdefault("check_same_thread", False)  # short reads run on the event loop's thread
        super().__init__(url, **options)
        self._idle: list[aiosqlite.Connection] = []
        self._open: set[aiosqlite.Connection] = set()  # opened and not yet closed, idle or in use
        self._opening: set[asyncio.Future[aiosqlite.Connection]] = set()
        #: One write transaction of this process at a time holds SQLite's write lock (see WriteTurn).
        self.write_turn = WriteTurn()
        self.group_commit = GroupCommit(self.write_turn, self._open_one, self._close_one)

    async def acquire(self) -> aiosqlite.Connection:
        while self._idle:
            conn = self._idle.pop()
            if conn._running and conn._connection is not None:
                return conn
            self._open.discard(conn)
        opening = asyncio.ensure_future(self._open_one())
        self._opening.add(opening)
        opening.add_done_callback(self._opening.discard)
        return await asyncio.shield(opening)

    async def _open_one(self) -> aiosqlite.Connection:
        database, options = self._database, self._options
        conn = TrackedConnection(lambda: sqlite3.connect(database, isolation_level=None, **options), 64)
        await conn.__aenter__()
        self._open.add(conn)
        return conn

    async def release(self, connection: aiosqlite.Connection) -> None:
        await asyncio.shield(self._release(connection))

    async def _release(self, connection: aiosqlite.Connection) -> None:
        if connection.in_transaction:  # a failed request left a transaction open: do not reuse it
            await connection.rollback()
        if len(self._idle) < MAX_IDLE:
            self._idle.append(connection)
        else:
            await self._close_one(connection)

    async def _close_one(self, connection: aiosqlite.Connection) -> None:
        self._open.discard(connection)
        await super().release(connection)

    async def close(self) -> None:
        if self._opening:
            await asyncio.gather(*self._opening, return_exceptions=True)
        await self.group_commit.close()
        self._idle = []
        for conn in list(self._open):
            await self._close_one(conn)


class ImmediateTransaction(base.SQLiteTransaction):
    """Root transactions begin with ``BEGIN IMMEDIATE``, so a writer waits for the lock (busy
    timeout) instead of failing; the BEGIN travels to the connection's thread with the
    transaction's first statement, after the process's :class:`WriteTurn`, and statements queued
    with ``execute_later`` travel with the next one or with the COMMIT (see
    :class:`PooledSQLiteConnection`). A transaction that ran nothing before its COMMIT is committed
    by the :class:`GroupCommit`."""

    _connection: PooledSQLiteConnection

    async def start(self, is_root: bool, extra_options: dict[typing.Any, typing.Any]) -> None:
        self._is_root = is_root
        if is_root:
            self._connection._begin = True
            self._connection._in_transaction = True
            return
        self._savepoint_name = f"MEMOS_SAVEPOINT_{uuid.uuid4().hex}"
        await self._connection._run(_statement, f"SAVEPOINT {self._savepoint_name}")

    async def commit(self) -> None:
        if not self._is_root:
            await self._connection._run(_statement, f"RELEASE SAVEPOINT {self._savepoint_name}")
            return
        conn = self._connection
        begin, later = conn._begin, conn._later or []
        conn._in_transaction, conn._begin, conn._later = False, False, None
        if begin and not later:  # nothing ran: there is nothing to commit
            return
        assert conn._connection is not None, "Connection is not acquired"
        if begin:  # the whole transaction is queued: commit it together with others queued now
            await conn._pool.group_commit.commit(later)
            return
        try:
            await conn._connection._execute(_commit, conn._connection._conn, later)
        finally:
            conn._end_turn()

    async def rollback(self) -> None:
        if not self._is_root:
            await self._connection._run(_statement, f"ROLLBACK TO SAVEPOINT {self._savepoint_name}")
            return
        conn = self._connection
        conn._in_transaction, conn._later = False, None
        if conn._begin:  # the BEGIN never ran
            conn._begin = False
            return
        try:
            await conn._run(_rollback)
        finally:
            conn._end_turn()


class WriteTurn:
    """The process's turn at SQLite's write lock: an asyncio lock taken before a root transaction's
    ``BEGIN IMMEDIATE`` is sent and held until its COMMIT or ROLLBACK has run.

    SQLite lets one connection write at a time and makes the others poll for the lock, sleeping
    longer after each miss (1, 2, 5, 10 … ms): under load a writer can keep missing while others
    get in. Waiting here instead, writers of this process take the lock in arrival order the moment
    it is free; other processes on the same file still meet SQLite's own lock. The turn is taken
    when the BEGIN is sent, not when the transaction is opened, so a transaction whose statements
    are all queued holds nobody up while its caller builds them. Waiting longer than SQLite's busy
    timeout fails as SQLite would ("database is locked").
    """

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        try:
            async with asyncio.timeout(BUSY_TIMEOUT_MS / 1000):
                await self._lock.acquire()
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None

    def give_back(self) -> None:
        self._lock.release()


class GroupCommit:
    """Commits whole queued transactions together: one ``BEGIN IMMEDIATE`` … ``COMMIT`` for every
    transaction queued while the previous group was committing.

    A transaction whose statements were all queued with ``execute_later`` reaches its COMMIT without
    having run anything. Committed one by one, each pays for a WAL sync (``synchronous=FULL``), a
    full-text index segment, and SQLite's write lock held across a trip to a connection's thread;
    together they pay once. Each caller still returns only after the COMMIT that made its writes
    durable, and gets the outcome it would have had alone: a transaction whose statement fails is
    taken out of the group (which is rolled back and run again without it) and gets its own error.

    The groups run on a connection of their own, so no caller's connection is used after its
    caller is done with it; one task commits them in order, and a group forms from whatever was
    queued while the last one ran (no timer: a lone transaction commits at once).
    """

    def __init__(
        self,
        turn: WriteTurn,
        open_connection: typing.Callable[[], typing.Awaitable[aiosqlite.Connection]],
        close_connection: typing.Callable[[aiosqlite.Connection], typing.Awaitable[None]],
    ) -> None:
        self._turn = turn
        self._open_connection = open_connection
        self._close_connection = close_connection
        self._connection: aiosqlite.Connection | None = None
        self._queued: list[tuple[list[tuple[str, list]], asyncio.Future[None]]] = []
        self._committer: asyncio.Task[None] | None = None

    async def commit(self, statements: list[tuple[str, list]]) -> None:
        """Run ``statements`` as one transaction, committed with whatever else is queued."""
        done = asyncio.get_running_loop().create_future()
        done.add_done_callback(_retrieved)  # a cancelled caller no longer awaits it
        self._queued.append((statements, done))
        if self._committer is None:
            self._committer = asyncio.ensure_future(self._commit_queued())
        # A cancelled caller does not stop the group: once queued, its transaction commits or
        # fails with the others (as a COMMIT already sent to a connection's thread would).
        await asyncio.shield(done)

    async def _commit_queued(self) -> None:
        group: list[tuple[list[tuple[str, list]], asyncio.Future[None]]] = []
        try:
            while self._queued:
                group, self._queued = self._queued, []
                try:
                    if self._connection is None:
                        self._connection = await self._open_connection()
                    conn = self._connection
                    await self._turn.take()
                    try:
                        outcomes = await conn._execute(_commit_group, conn._conn, [s for s, _ in group])
                    finally:
                        self._turn.give_back()
                except Exception as e:  # the group as a whole failed (no connection, no turn in time)
                    outcomes = [e] * len(group)
                for (_, done), outcome in zip(group, outcomes, strict=True):
                    if done.done():
                        continue
                    if outcome is None:
                        done.set_result(None)
                    else:
                        done.set_exception(outcome)
        finally:  # cancelled (the loop is closing): nobody may wait for ever
            for _, done in group + self._queued:
                if not done.done():
                    done.set_exception(
                        sqlite3.OperationalError("interrupted before the outcome of its COMMIT was known")
                    )
            self._queued = []
            self._committer = None

    async def close(self) -> None:
        if self._committer is not None:
            await asyncio.gather(self._committer, return_exceptions=True)
        connection, self._connection = self._connection, None
        if connection is not None:
            await self._close_connection(connection)


def _retrieved(future: asyncio.Future[None]) -> None:
    future.exception()


def _commit_group(conn: sqlite3.Connection, transactions: list[list[tuple[str, list]]]) -> list[Exception | None]:
    """On the group connection's thread: run ``transactions`` in order in one transaction and
    commit it; return each one's outcome (``None`` for committed, else its error)."""
    outcomes: list[Exception | None] = [None] * len(transactions)
    pending = list(range(len(transactions)))
    while pending:
        try:
            conn.execute("BEGIN IMMEDIATE").close()
        except Exception as e:  # the write lock was not had in time: nothing ran
            for i in pending:
                outcomes[i] = e
            return outcomes
        failed: int | None = None
        try:
            for i in pending:
                failed = i
                for sql, values in transactions[i]:
                    conn.execute(sql, values).close()
            failed = None
            conn.execute("COMMIT").close()
            return outcomes
        except Exception as e:
            if conn.in_transaction:
                conn.execute("ROLLBACK").close()
            if failed is None:  # the COMMIT failed: so does every transaction of the group
                for i in pending:
                    outcomes[i] = e
                return outcomes
            # Its own failure, as it ran after the ones before it; the rest run again without it.
            outcomes[failed] = e
            pending.remove(failed)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK").close()
            raise
    return outcomes


def _statement(conn: sqlite3.Connection, sql: str) -> None:
    conn.execute(sql).close()


def _commit(conn: sqlite3.Connection, later: list[tuple[str, list]]) -> None:
    """On the connection's thread: the queued statements, then COMMIT; if any of it fails the
    transaction is rolled back here, so a connection the caller still holds is not left in it."""
    try:
        _prelude(conn, False, later)
        conn.execute("COMMIT").close()
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK").close()
        raise


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:  # a failed COMMIT may already have ended it
        conn.execute("ROLLBACK").close()


def _after_prelude(
    conn: sqlite3.Connection,
    begin: bool,
    later: list[tuple[str, list]],
    fn: typing.Callable[..., typing.Any],
    args: tuple,
) -> typing.Any:
    """On the connection's thread: the pending BEGIN and queued statements, then the statement due."""
    _prelude(conn, begin, later)
    return fn(conn, *args)


def _prelude(conn: sqlite3.Connection, begin: bool, later: list[tuple[str, list]]) -> None:
    if begin:
        conn.execute("BEGIN IMMEDIATE").close()
    for sql, values in later:
        conn.execute(sql, values).close()


def _nothing(raw: sqlite3.Connection) -> None:
    return None


def _query(raw: sqlite3.Connection, sql: str, args: list, one: bool) -> tuple[typing.Any, typing.Any]:
    """Run a statement and fetch its rows: on aiosqlite's thread, in one hop from the event loop."""
    cursor = raw.execute(sql, args)
    try:
        return (cursor.fetchone() if one else cursor.fetchall()), cursor.description
    finally:
        cursor.close()


class _TooLong(Exception):
    """A read stopped on the event loop after :data:`INLINE_READ_STEPS`."""


def _query_inline(raw: sqlite3.Connection, sql: str, args: list, one: bool) -> tuple[typing.Any, typing.Any]:
    """``_query`` on the calling (event loop's) thread, stopped by SQLite's progress handler if it
    takes more than :data:`INLINE_READ_STEPS`; raises :class:`_TooLong` then (nothing was changed:
    only SELECTs come here)."""
    stopped = False

    def stop() -> int:
        nonlocal stopped
        stopped = True
        return 1

    raw.set_progress_handler(stop, INLINE_READ_STEPS)
    try:
        return _query(raw, sql, args, one)
    except sqlite3.OperationalError:
        if stopped:
            raise _TooLong from None
        raise
    finally:
        raw.set_progress_handler(None, 0)


def _write(raw: sqlite3.Connection, sql: str, args: list) -> int:
    cursor = raw.execute(sql, args)
    try:
        return cursor.rowcount if cursor.lastrowid == 0 else cursor.lastrowid
    finally:
        cursor.close()


class PooledSQLiteConnection(base.SQLiteConnection):
    """``databases``' SQLite connection, each statement in one thread hop.

    The base class awaits aiosqlite once to open a cursor, once to execute, once to fetch and once
    to close it: four trips through aiosqlite's queue and the event loop per statement, which cost
    more than the statement itself on a small page. Here the whole exchange runs as one call on the
    connection's thread. Results are the base class's ``Record`` objects, built the same way.

    A SELECT with nothing pending before it runs on the event loop's own thread first: most reads
    (a token, a setting, a page of memos) take tens of microseconds there, while a trip to the
    connection's thread and back costs several context switches and two hand-overs of the
    interpreter's lock, and under load waits for the lock behind the loop. A read still running
    after :data:`INLINE_READ_STEPS` steps is stopped and run again on the connection's thread, so
    a long one never holds up the loop. In WAL mode, which every connection is in (``_use_wal``),
    a reader does not wait for writers; only the rare recovery of a crashed writer's log makes one
    wait, and on the loop that holds every request up until the recovery is done.
    """

    statement_cache: StatementCache | None = None
    _begin = False  # a root transaction started: BEGIN IMMEDIATE goes with the next statement
    _in_transaction = False
    _later: list[tuple[str, list]] | None = None  # queued by execute_later, run before the next statement
    _has_turn = False  # holds the pool's WriteTurn: a root transaction's BEGIN was sent

    def transaction(self) -> ImmediateTransaction:
        return ImmediateTransaction(self)

    def _end_turn(self) -> None:
        if self._has_turn:
            self._has_turn = False
            self._pool.write_turn.give_back()

    async def release(self) -> None:
        try:
            await super().release()  # rolls back a transaction a failed request left open
        finally:
            self._end_turn()

    async def execute_raw(self, sql: str) -> None:
        """Run ``sql`` as it is (DDL), after whatever the transaction has pending."""
        await self._run(_statement, sql)

    async def _run(self, fn: typing.Callable[..., typing.Any], *args: typing.Any) -> typing.Any:
        assert self._connection is not None, "Connection is not acquired"
        if self._begin or self._later:
            begin, later = self._begin, self._later or []
            if begin:
                await self._pool.write_turn.take()
                self._has_turn = True
            self._begin, self._later = False, None
            return await self._connection._execute(_after_prelude, self._connection._conn, begin, later, fn, args)
        return await self._connection._execute(fn, self._connection._conn, *args)

    async def execute_later(self, query: ClauseElement) -> None:
        """Run a write whose result nobody needs together with the transaction's next statement or
        its COMMIT: one trip to the connection's thread for several statements, and a shorter hold
        on SQLite's write lock. Outside a transaction it runs at once. A failure surfaces at that
        next statement or COMMIT, inside the same transaction, which then rolls back."""
        if not self._in_transaction:
            await self.execute(query)
            return
        sql, args, _result_columns, _context = self._compile(query)
        if self._later is None:
            self._later = []
        self._later.append((sql, args))

    async def iterate(self, query: ClauseElement) -> typing.AsyncGenerator[typing.Any, None]:
        if self._begin or self._later:
            await self._run(_nothing)  # what is pending runs first, in order
        async for record in super().iterate(query):
            yield record

    def _records(self, rows: list, description: typing.Any, result_columns: typing.Any, context: typing.Any) -> list:
        # A statement compiled once (cached, or a template) has the same columns on every run: its
        # result metadata is built once too (about a third of the cost of a small page's rows).
        cached = getattr(context, "memos_cached", False)
        entry = _RESULT_META.get(id(result_columns)) if cached else None
        if entry is not None and entry[0] is result_columns:
            column_maps, metadata = entry[1], entry[2]
        else:
            column_maps = create_column_maps(result_columns)
            metadata = CursorResultMetaData(context, description)
            if cached:
                if len(_RESULT_META) >= _RESULT_META_SIZE:
                    _RESULT_META.clear()
                _RESULT_META[id(result_columns)] = (result_columns, column_maps, metadata)
        processors, keymap, dialect = metadata._processors, metadata._keymap, self._dialect
        return [Record(Row(metadata, processors, keymap, row), result_columns, dialect, column_maps) for row in rows]

    async def _read(self, sql: str, args: list, one: bool) -> tuple[typing.Any, typing.Any]:
        assert self._connection is not None, "Connection is not acquired"
        if (
            not (self._begin or self._later)
            and getattr(self._connection, "thread_idle", False)
            and sql not in _LONG_READS
            and sql.lstrip()[:6].upper() == "SELECT"
        ):
            try:
                return _query_inline(self._connection._conn, sql, args, one)
            except _TooLong:
                if len(_LONG_READS) >= _LONG_READS_SIZE:
                    _LONG_READS.clear()
                _LONG_READS.add(sql)  # not tried here again: the steps it took were lost
        return await self._run(_query, sql, args, one)

    async def fetch_all(self, query: ClauseElement) -> list[Record]:
        query_str, args, result_columns, context = self._compile(query)
        rows, description = await self._read(query_str, args, False)
        return self._records(rows, description, result_columns, context)

    async def fetch_one(self, query: ClauseElement) -> Record | None:
        query_str, args, result_columns, context = self._compile(query)
        row, description = await self._read(query_str, args, True)
        return None if row is None else self._records([row], description, result_columns, context)[0]

    async def execute(self, query: ClauseElement) -> typing.Any:
        query_str, args, _result_columns, _context = self._compile(query)
        return await self._run(_write, query_str, args)

    def _compile(self, query: ClauseElement) -> tuple[str, list, typing.Any, base.CompilationContext]:
        """Compile as the base class does, minus its debug-log rendering.

        The base class formats the SQL text with ``%`` to log it, which raises on any literal ``%``
        in the statement (``LIKE '%' || ? || '%'`` from ``contains()``), although the text it runs
        is never formatted. The qmark SQL and its positional arguments are returned unchanged.
        """
        execution_context = self._dialect.execution_ctx_cls()
        execution_context.dialect = self._dialect
        prepared = self.statement_cache.prepare(query) if self.statement_cache is not None else None
        if prepared is not None:
            compiled = prepared.compiled
            execution_context.result_column_struct = (
                compiled._result_columns,
                compiled._ordered_columns,
                compiled._textual_ordered_columns,
                compiled._ad_hoc_textual,
                compiled._loose_column_name_matching,
            )
            args = [prepared.params[key] for key in prepared.positiontup or ()]
            context = base.CompilationContext(execution_context)
            context.memos_cached = True  # type: ignore[attr-defined]  # see _records
            return prepared.statement, args, compiled._result_columns, context
        compiled = query.compile(dialect=self._dialect, compile_kwargs={"render_postcompile": True})
        args = []
        result_map = None
        if not isinstance(query, DDLElement):
            params = compiled.construct_params()
            processors = compiled._bind_processors
            for key in compiled.positiontup or ():
                value = params[key]
                args.append(processors[key](value) if key in processors else value)
            execution_context.result_column_struct = (
                compiled._result_columns,
                compiled._ordered_columns,
                compiled._textual_ordered_columns,
                compiled._ad_hoc_textual,
                compiled._loose_column_name_matching,
            )
            result_map = compiled._result_columns
        return compiled.string, args, result_map, base.CompilationContext(execution_context)


class PooledSQLiteBackend(base.SQLiteBackend):
    def __init__(self, database_url: typing.Any, **options: typing.Any) -> None:
        super().__init__(database_url, **options)
        self._pool = PooledSQLitePool(self._database_url, **self._options)
        self._statement_cache = StatementCache(self._dialect)

    async def disconnect(self) -> None:
        await self._pool.close()
        await super().disconnect()

    def connection(self) -> PooledSQLiteConnection:
        conn = PooledSQLiteConnection(self._pool, self._dialect)
        conn.statement_cache = self._statement_cache
        return conn
