"""The plugin's tables and the similarity search over them.

``memos_py_semantic_vector`` (created through ``memos_core.ensure_plugin_schema``) holds one row per
memo: the model that embedded it, the SHA-256 of the content it embedded, the memo's ``updated_ts``
then, and the unit vector as little-endian float32 bytes (``NULL`` for content with nothing to
embed). The hash says exactly whether a row is current; ``updated_ts`` lets the worker find memos
that changed with one indexed comparison instead of hashing every memo each round.

Nearest memos are found exactly (no approximate index: at tens of thousands of memos a scan of
256-dimension vectors takes milliseconds), always in the statement that applies the caller's access
rules, by the best means the database has:

* SQLite with the ``sqlite-vec`` extension loaded on every connection (Python's ``sqlite3`` must be
  built to load extensions): ``vec_distance_cosine`` over the stored bytes, in SQL;
* PostgreSQL with ``pgvector`` (when ``CREATE EXTENSION vector`` succeeds, or it exists already):
  a mirror table ``memos_py_semantic_pgvector`` of ``vector(256)`` values and the ``<=>`` operator;
* elsewhere (MySQL/MariaDB, PostgreSQL without pgvector, SQLite without extension loading): the
  eligible memos' vectors are selected in SQL and their cosine computed with NumPy off the event loop.

Nothing here is authoritative: the tables may be emptied at any time and rebuilt from ``memo``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.types import UserDefinedType

from memos_core import ensure_plugin_schema, tables

from . import model

if TYPE_CHECKING:  # NumPy is imported by the first embedding or search, not at start-up
    import numpy as np

log = logging.getLogger("memos_semantic")

PLUGIN = "semantic"
SCHEMA_VERSION = 1
PGVECTOR_TABLE = "memos_py_semantic_pgvector"

SQLITE_VEC, PGVECTOR, NUMPY = "sqlite-vec", "pgvector", "numpy"

metadata = sa.MetaData()
vector = sa.Table(
    "memos_py_semantic_vector",
    metadata,
    sa.Column("memo_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("model", sa.String(64), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("memo_updated_ts", sa.BigInteger, nullable=False),
    sa.Column("vector", sa.LargeBinary, nullable=True),
    sa.Column("embedded_ms", sa.BigInteger, nullable=False),
)


class PgVector(UserDefinedType):
    """pgvector's ``vector`` type, for casts and the mirror table's column."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return f"vector({model.DIM})"


pgvector_table = sa.Table(
    PGVECTOR_TABLE,
    sa.MetaData(),
    sa.Column("memo_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("embedding", PgVector, nullable=False),
)

m = tables.memo


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()


def to_bytes(v: np.ndarray) -> bytes | None:
    """A unit vector as stored; ``None`` for the zero vector (nothing to embed)."""
    return v.astype("<f4").tobytes() if v.any() else None


def _pg_literal(v: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in v.tolist()) + "]"


def _pg_vector(v: np.ndarray) -> Any:
    return sa.cast(sa.literal(_pg_literal(v), sa.Text), PgVector)


# -- schema and the database's vector support --------------------------------------------------------
async def ensure_schema(store: Any, *, allow_native: bool = True) -> str:
    """Create the tables if absent; return which search this database gets (see the module)."""
    await ensure_plugin_schema(store, PLUGIN, SCHEMA_VERSION, metadata)
    if not allow_native:
        return NUMPY
    if store.dialect == "sqlite":
        try:
            await store.fetch_val(sa.select(sa.func.vec_version()))
            return SQLITE_VEC
        except Exception:
            return NUMPY
    if store.dialect == "postgresql" and await _ensure_pgvector(store):
        return PGVECTOR
    return NUMPY


async def _ensure_pgvector(store: Any) -> bool:
    """The pgvector mirror table, when the extension exists or this role may create it."""
    try:
        async with store.transaction():  # a savepoint: a refusal must leave the connection usable
            await store.driver.execute_ddl(
                store,
                [
                    "CREATE EXTENSION IF NOT EXISTS vector",
                    f"CREATE TABLE IF NOT EXISTS {PGVECTOR_TABLE} "
                    f"(memo_id INTEGER PRIMARY KEY, embedding vector({model.DIM}) NOT NULL)",
                ],
            )
        return True
    except Exception as e:  # an optional accelerator
        log.info("pgvector is not available (%s): similarity is computed with NumPy", e)
        return False


class _Pack:
    """SQLite aggregate ``memos_semantic_pack(id, vector)``: the rows' records as one blob (see
    :func:`_packed`), so the NumPy search reads one value instead of a row per memo."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def step(self, memo_id: int, value: bytes | None) -> None:
        if value is not None:
            self.parts.append(memo_id.to_bytes(8, "big") + value)

    def finalize(self) -> bytes:
        return b"".join(self.parts)


def sqlite_setup(*, load_vec: bool) -> Any:
    """The connection setup of SQLite databases: the packing aggregate, and sqlite-vec when
    ``load_vec`` and this Python's ``sqlite3`` can load extensions (builds without
    ``--enable-loadable-sqlite-extensions`` cannot)."""
    import sqlite3

    path = None
    if load_vec and hasattr(sqlite3.Connection, "enable_load_extension"):
        try:
            import sqlite_vec

            path = sqlite_vec.loadable_path()
        except ImportError:
            path = None

    def setup(connection: sqlite3.Connection) -> None:
        connection.create_aggregate("memos_semantic_pack", 2, _Pack)
        if path is None:
            return
        try:
            connection.enable_load_extension(True)
            connection.load_extension(path)
        except sqlite3.Error as e:  # the NumPy search still works without it
            log.warning("sqlite-vec could not be loaded (%s): similarity is computed with NumPy", e)
        finally:
            connection.enable_load_extension(False)

    return setup


def sqlite_vec_loadable() -> bool:
    """Whether this Python can load sqlite-vec into SQLite."""
    import sqlite3

    try:
        import sqlite_vec  # noqa: F401
    except ImportError:
        return False
    return hasattr(sqlite3.Connection, "enable_load_extension")


# -- writing -------------------------------------------------------------------------------------------
def _upsert(store: Any, table: sa.Table, rows: list[dict[str, Any]], key: str) -> Any:
    insert = store.driver.insert(table).values(rows)
    columns = [c for c in rows[0] if c != key]
    if store.dialect == "mysql":
        return insert.on_duplicate_key_update({c: insert.inserted[c] for c in columns})
    return insert.on_conflict_do_update(index_elements=[key], set_={c: insert.excluded[c] for c in columns})


async def write(store: Any, rows: list[dict[str, Any]], vectors: list[np.ndarray | None], backend: str) -> None:
    """Upsert vector rows (in the caller's transaction), the pgvector mirror with them."""
    if not rows:
        return
    await store.execute(_upsert(store, vector, rows, "memo_id"))
    if backend != PGVECTOR:
        return
    pairs = list(zip(rows, vectors, strict=True))
    present = [{"memo_id": r["memo_id"], "embedding": _pg_vector(v)} for r, v in pairs if v is not None]
    empty = [r["memo_id"] for r, v in pairs if v is None]
    if present:
        await store.execute(_upsert(store, pgvector_table, present, "memo_id"))
    if empty:
        await store.execute(pgvector_table.delete().where(pgvector_table.c.memo_id.in_(empty)))


async def touch(store: Any, stamps: dict[int, int]) -> None:
    """Record new ``updated_ts`` values for rows whose content did not change (archived, pinned …)."""
    for memo_id, updated_ts in stamps.items():
        await store.execute(sa.update(vector).where(vector.c.memo_id == memo_id).values(memo_updated_ts=updated_ts))


async def drop_orphans(store: Any, backend: str, limit: int) -> int:
    """Delete up to ``limit`` vector rows whose memo is gone; how many there were."""
    gone = sa.select(vector.c.memo_id).where(~sa.exists().where(m.c.id == vector.c.memo_id)).limit(limit)
    ids = [r[0] for r in await store.fetch_all(gone)]
    if backend == PGVECTOR:
        p = pgvector_table
        orphans = sa.select(p.c.memo_id).where(~sa.exists().where(vector.c.memo_id == p.c.memo_id)).limit(limit)
        ids += [r[0] for r in await store.fetch_all(orphans)]
    if ids:
        async with store.transaction():
            await store.execute(vector.delete().where(vector.c.memo_id.in_(ids)))
            if backend == PGVECTOR:
                await store.execute(pgvector_table.delete().where(pgvector_table.c.memo_id.in_(ids)))
    return len(ids)


async def drop_other_models(store: Any) -> None:
    """Vectors of another model cannot be compared with this one's: they go, to be embedded anew."""
    other = vector.c.model != model.MODEL
    if await store.fetch_val(sa.select(sa.exists().where(other))):  # a write only when there are some
        async with store.transaction():
            await store.execute(vector.delete().where(other))


async def unmirrored(store: Any, limit: int) -> list[Any]:
    """pgvector only: rows embedded while the extension was missing, not yet in the mirror."""
    p = pgvector_table
    q = (
        sa.select(vector.c.memo_id, vector.c.vector)
        .where(vector.c.vector.is_not(None), ~sa.exists().where(p.c.memo_id == vector.c.memo_id))
        .limit(limit)
    )
    return list(await store.fetch_all(q))


async def mirror(store: Any, rows: Sequence[Any]) -> None:
    import numpy as np

    values = [{"memo_id": r[0], "embedding": _pg_vector(np.frombuffer(r[1], dtype="<f4"))} for r in rows]
    if values:
        async with store.transaction():
            await store.execute(_upsert(store, pgvector_table, values, "memo_id"))


# -- finding work --------------------------------------------------------------------------------------
async def changed(store: Any, limit: int) -> list[int]:
    """Up to ``limit`` memo ids without a vector row or whose ``updated_ts`` moved since embedding."""
    q = (
        sa.select(m.c.id)
        .select_from(m.outerjoin(vector, vector.c.memo_id == m.c.id))
        .where(sa.or_(vector.c.memo_id.is_(None), vector.c.memo_updated_ts != m.c.updated_ts))
        .order_by(m.c.id)
        .limit(limit)
    )
    return [r[0] for r in await store.fetch_all(q)]


async def ids_after(store: Any, after: int, limit: int) -> list[int]:
    """Memo ids past ``after``, in order (the start-up check walks every memo with it)."""
    q = sa.select(m.c.id).where(m.c.id > after).order_by(m.c.id).limit(limit)
    return [r[0] for r in await store.fetch_all(q)]


async def ids_of_uids(store: Any, uids: Sequence[str]) -> list[int]:
    if not uids:
        return []
    return [r[0] for r in await store.fetch_all(sa.select(m.c.id).where(m.c.uid.in_(list(uids))))]


async def current(store: Any, ids: Sequence[int], *, lock: bool = False) -> dict[int, tuple[str, int]]:
    """``{id: (content, updated_ts)}`` of the memos ``ids`` that exist; ``lock`` holds their rows
    (server databases) until the caller's transaction ends, so none changes between a check and a write."""
    q = sa.select(m.c.id, m.c.content, m.c.updated_ts).where(m.c.id.in_(list(ids)))
    if lock and store.dialect != "sqlite":
        q = q.with_for_update()
    return {r[0]: (r[1] or "", int(r[2] or 0)) for r in await store.fetch_all(q)}


async def recorded(store: Any, ids: Sequence[int]) -> dict[int, tuple[str, str, int]]:
    """``{id: (model, content_hash, memo_updated_ts)}`` of the vector rows of ``ids``."""
    v = vector.c
    q = sa.select(v.memo_id, v.model, v.content_hash, v.memo_updated_ts).where(v.memo_id.in_(list(ids)))
    return {r[0]: (r[1], r[2], int(r[3])) for r in await store.fetch_all(q)}


# -- searching -----------------------------------------------------------------------------------------
#: Memos per packed value of the NumPy search on MySQL/MariaDB (about half a megabyte each).
PACK_CHUNK = 512
_RECORD = 8 + 4 * model.DIM  # a big-endian int64 id, then the float32 vector


def _packed(dialect: str) -> tuple[Any, Any]:
    """``(value, group)``: an aggregate packing each group's eligible memos into one binary value
    of records ``id (8 bytes, big-endian) + vector``, and the chunks of ids it groups by (``None``:
    one value for all, as SQLite and PostgreSQL would sort the wide rows to group them, and one value
    holds a million memos there; a MySQL value must fit ``max_allowed_packet``)."""
    v, memo_id = vector.c.vector, m.c.id
    if dialect == "sqlite":
        return sa.func.memos_semantic_pack(memo_id, v, type_=sa.LargeBinary), None
    if dialect == "postgresql":
        record = sa.func.int8send(sa.cast(memo_id, sa.BigInteger)).op("||", return_type=sa.LargeBinary)(v)
        return sa.func.string_agg(record, sa.literal_column("''::bytea"), type_=sa.LargeBinary), None
    record = sa.func.concat(sa.func.unhex(sa.func.lpad(sa.func.hex(memo_id), 16, "0")), v)
    packed = sa.func.group_concat(record.op("SEPARATOR")(sa.literal_column("''")), type_=sa.LargeBinary)
    return packed, memo_id // PACK_CHUNK


def _numpy_rank(packed: list[bytes], query: np.ndarray, min_similarity: float) -> list[int]:
    import numpy as np

    data = b"".join(packed)
    if not data:
        return []
    records = np.frombuffer(data, dtype=np.dtype([("id", ">i8"), ("v", "<f4", (model.DIM,))]))
    ids = records["id"].astype(np.int64)
    scores = records["v"] @ query.astype(np.float32)
    keep = scores > min_similarity
    ids, scores = ids[keep], scores[keep]
    order = np.lexsort((-ids, -scores))  # best first, then newest id first, as the SQL orders
    return [int(i) for i in ids[order]]


async def nearest(
    store: Any,
    backend: str,
    query: np.ndarray,
    eligible: Sequence[Any],
    *,
    limit: int,
    offset: int,
    min_similarity: float,
) -> list[int]:
    """Ids of the ``eligible`` memos closest to the unit vector ``query``, best first: those with
    a cosine similarity above ``min_similarity``, ``limit`` from ``offset``."""
    where = [vector.c.model == model.MODEL, vector.c.vector.is_not(None), *eligible]
    if backend == NUMPY:
        # The eligible memos' vectors, a few packed values rather than a row per memo (building
        # ten thousand rows would cost more than ranking them), scored with NumPy off the loop.
        packed, group = _packed(store.dialect)
        q = sa.select(packed).select_from(m.join(vector, vector.c.memo_id == m.c.id)).where(*where)
        if group is not None:
            q = q.group_by(group)
        if store.dialect == "mysql":  # a chunk is about half a megabyte; the default cap is 1 KB (MySQL)
            await store.execute(sa.text(f"SET SESSION group_concat_max_len = {4 * PACK_CHUNK * _RECORD}"))
        values = [r._mapping[0] for r in await store.fetch_all(q)]
        ranked = await model.run(_numpy_rank, [bytes(v) for v in values if v], query, min_similarity)
        return ranked[offset : offset + limit]
    # Each distance is computed once, in a subquery, and sorted as a number (PostgreSQL would
    # otherwise sort the vectors along with it, and compute it again for a floor in WHERE). The
    # floor is applied to the page instead: sorted by distance, the memos above it come first.
    if backend == SQLITE_VEC:
        v = vector
        distance = sa.func.vec_distance_cosine(v.c.vector, sa.literal(to_bytes(query), sa.LargeBinary))
    else:
        v = pgvector_table
        distance = v.c.embedding.op("<=>", return_type=sa.Float)(_pg_vector(query))
    scored = sa.select(v.c.memo_id, distance.label("distance")).subquery("scored")
    q = (
        sa.select(m.c.id, scored.c.distance)
        .select_from(m.join(vector, vector.c.memo_id == m.c.id).join(scored, scored.c.memo_id == m.c.id))
        .where(*where)
        .order_by(scored.c.distance, m.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    ceiling = 1.0 - min_similarity
    rows = [r._mapping for r in await store.fetch_all(q)]  # the driver's values, as the database sent them
    return [r[0] for r in rows if r[1] is not None and r[1] < ceiling]
