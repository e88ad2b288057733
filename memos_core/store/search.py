"""Full-text search over memo content: memos-py's own index tables beside the Memos schema.

One module holds what differs per database, so the index's design reads in one place:

* SQLite: two FTS5 tables keyed by ``rowid = memo.id``, one with the ``unicode61`` tokenizer (words,
  ranked by bm25) and one with the ``trigram`` tokenizer (substrings of 3 or more characters: CJK
  text, which has no spaces between words, emoji and symbols);
* PostgreSQL: ``memos_py_memo_search(memo_id, content, doc)`` where ``doc`` is a generated
  ``tsvector`` (configuration ``simple``: no stemming, so every language is treated alike) under a
  GIN index, ranked by ``ts_rank``; substrings through ``pg_trgm``'s GIN index when the extension
  can be created, else a scan of the matching rows;
* MySQL/MariaDB: the same table with an InnoDB ``FULLTEXT`` index, ranked by ``MATCH … AGAINST``;
  MariaDB has no ngram parser, so words shorter than the server's minimum token size and substrings
  (CJK, emoji) are matched with ``LIKE`` on the indexed copy.

Each index row holds a copy of the content it was built from, so the catch-up (:func:`catch_up`) can
tell a stale entry from a current one. Every store function writing memo content keeps the index in
step in the caller's transaction (:func:`index_memos`, :func:`unindex_memos`); rows written behind
its back (``copy-db``, ``restore``, upstream Memos on the same database) are found by the catch-up
run in the background at start-up and by ``memos reindex``. Nothing here is authoritative: the
tables may be emptied at any time and rebuilt from ``memo``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
import unicodedata
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from . import tables
from .compiled import Template

log = logging.getLogger(__name__)

m = tables.memo

#: Bumped when the index's layout or tokenisation changes: a database whose state row names another
#: version is rebuilt from scratch by the next catch-up.
INDEX_VERSION = 1
STATE_NAME = "memo_index"

FTS_WORDS = "memos_py_memo_fts"
FTS_TRIGRAM = "memos_py_memo_fts_trigram"
SEARCH_TABLE = "memos_py_memo_search"

#: SQLite's trigram tokenizer finds substrings of at least this many characters.
TRIGRAM_MIN = 3
#: InnoDB's default ``innodb_ft_min_token_size``: shorter words are not in a FULLTEXT index.
MYSQL_MIN_TOKEN = 3

# The server databases' index table, for queries (created by :func:`ensure_schema`).
search_table = sa.Table(
    SEARCH_TABLE,
    sa.MetaData(),
    sa.Column("memo_id", sa.Integer, primary_key=True),
    sa.Column("content", sa.Text, nullable=False),
)

_TOKEN = re.compile(r"[^\W_]+")
# Scripts written without spaces between words: a word index cannot find a word inside them.
_CJK = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\uff66-\uff9f\U00020000-\U0003134f]"
)


@dataclasses.dataclass(frozen=True)
class Term:
    """One whitespace-separated term of a search: a word phrase (``tokens``) or a substring."""

    text: str
    tokens: tuple[str, ...]  # empty for a substring term

    @property
    def is_word(self) -> bool:
        return bool(self.tokens)


def parse_terms(search: str) -> list[Term]:
    """Split a search into terms. A term of letters and digits (punctuation between them allowed, as
    in ``e-mail``) is a word phrase for the word index; a term with CJK text, emoji or other symbols
    is a substring, as a word index cannot find it."""
    terms = []
    for text in search.split():
        tokens = tuple(t.lower() for t in _TOKEN.findall(text))
        rest = _TOKEN.sub("", text)
        wordy = tokens and not _CJK.search(text) and all(unicodedata.category(c).startswith("P") for c in rest)
        terms.append(Term(text, tokens if wordy else ()))
    return terms


# -- schema ------------------------------------------------------------------------------------------
async def ensure_schema(store) -> None:
    """Create the index tables if absent (inside the caller's migration transaction and schema lock)."""
    dialect = store.dialect
    if dialect == "sqlite":
        await store.driver.execute_ddl(
            store,
            [
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_WORDS} USING fts5(content, tokenize='unicode61')",
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TRIGRAM} USING fts5(content, tokenize='trigram')",
            ],
        )
    elif dialect == "postgresql":
        await store.driver.execute_ddl(
            store,
            [
                f"CREATE TABLE IF NOT EXISTS {SEARCH_TABLE} (memo_id INTEGER PRIMARY KEY, content TEXT NOT NULL, "
                "doc tsvector GENERATED ALWAYS AS (to_tsvector('simple', "
                # ASCII punctuation as spaces: PostgreSQL's parser would otherwise keep e-mail
                # addresses, URLs, paths and <tags> as single tokens (or drop them), which a search
                # for one of their words would not find.
                "regexp_replace(content, '[[:punct:]]', ' ', 'g'))) STORED)",
                f"CREATE INDEX IF NOT EXISTS memos_py_idx_memo_search_doc ON {SEARCH_TABLE} USING gin (doc)",
            ],
        )
        await _ensure_pg_trigram(store)
    elif dialect == "mysql":
        await store.driver.execute_ddl(
            store,
            [
                f"CREATE TABLE IF NOT EXISTS {SEARCH_TABLE} (memo_id INT NOT NULL PRIMARY KEY, "
                "content LONGTEXT NOT NULL, FULLTEXT KEY memos_py_idx_memo_search_ft (content)) "
                "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
            ],
        )


async def _ensure_pg_trigram(store) -> None:
    """A ``pg_trgm`` index for substring terms, when the extension exists or may be created here
    (it is a trusted extension: a database owner may). Without it substring terms still work, by
    scanning the rows the other terms leave."""
    try:
        async with store.transaction():  # a savepoint: a refusal must not abort the migration
            await store.driver.execute_ddl(
                store,
                [
                    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
                    f"CREATE INDEX IF NOT EXISTS memos_py_idx_memo_search_trgm ON {SEARCH_TABLE} "
                    "USING gin (content gin_trgm_ops)",
                ],
            )
    except Exception as e:  # an optional accelerator
        log.info("pg_trgm is not available (%s): substring search terms scan instead", e)


def _state_table() -> sa.Table:
    return tables.search_state


# -- keeping the index in step -----------------------------------------------------------------------
def _fts(name: str) -> sa.TableClause:
    return sa.table(name, sa.column("rowid", sa.Integer), sa.column("content", sa.Text))


def _index_statements(dialect: str, by_uid: bool = False) -> list[Any]:
    """The statements that (re)index the memos of the expanding ``ids`` parameter on ``dialect``
    (with ``by_uid``, the memo of the ``uid`` parameter)."""
    key = m.c.uid == sa.bindparam("uid") if by_uid else m.c.id.in_(sa.bindparam("ids", expanding=True))
    rows = sa.select(m.c.id, m.c.content).where(key)
    if dialect == "sqlite" and by_uid:
        # One row, as VALUES: FTS5 writes its pending terms out as a new index segment at every
        # statement it may have to undo on its own (INSERT … SELECT is one), but a VALUES row
        # joins the transaction's pending terms, so memos committed together (the SQLite driver
        # commits queued creates in groups) make one segment, and FTS5 has that much less to merge.
        def of_memo(column: Any) -> Any:
            return sa.select(column).where(key).scalar_subquery()

        return [
            sa.insert(_fts(name)).prefix_with("OR REPLACE").values(rowid=of_memo(m.c.id), content=of_memo(m.c.content))
            for name in (FTS_WORDS, FTS_TRIGRAM)
        ]
    if dialect == "sqlite":
        return [
            sa.insert(_fts(name)).prefix_with("OR REPLACE").from_select(["rowid", "content"], rows)
            for name in (FTS_WORDS, FTS_TRIGRAM)
        ]
    t = search_table
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.mysql import insert  # type: ignore[assignment]
    stmt = insert(t).from_select(["memo_id", "content"], rows)
    if dialect == "postgresql":
        stmt = stmt.on_conflict_do_update(index_elements=[t.c.memo_id], set_={"content": stmt.excluded.content})
    else:
        stmt = stmt.on_duplicate_key_update(content=stmt.inserted.content)
    return [stmt]


#: Built and compiled once per dialect and key (:class:`Template`): every memo write runs them.
_INDEX_TEMPLATES: dict[tuple[str, bool], list[Template]] = {}


def _index_templates(dialect: str, by_uid: bool) -> list[Template]:
    templates = _INDEX_TEMPLATES.get((dialect, by_uid))
    if templates is None:
        templates = _INDEX_TEMPLATES[dialect, by_uid] = [Template(s) for s in _index_statements(dialect, by_uid)]
    return templates


async def index_memos(store, ids: Sequence[int]) -> None:
    """(Re)index memos ``ids`` from their current rows, in the caller's transaction."""
    if not ids:
        return
    for template in _index_templates(store.dialect, False):
        await store.execute_later(template(ids=list(ids)))  # with the COMMIT, on SQLite


async def index_memo_uid(store, uid: str) -> None:
    """Index the memo ``uid`` from its row, in the caller's transaction: for a memo whose INSERT is
    still queued (:meth:`memos_core.store.Store.execute_later`), whose id is not known yet."""
    for template in _index_templates(store.dialect, True):
        await store.execute_later(template(uid=uid))


async def unindex_memos(store, ids: Sequence[int]) -> None:
    """Drop the index entries of memos ``ids``, in the caller's transaction."""
    if not ids:
        return
    ids = list(ids)
    if store.dialect == "sqlite":
        for name in (FTS_WORDS, FTS_TRIGRAM):
            t = _fts(name)
            await store.execute(sa.delete(t).where(t.c.rowid.in_(ids)))
        return
    await store.execute(search_table.delete().where(search_table.c.memo_id.in_(ids)))


# -- the catch-up ------------------------------------------------------------------------------------
def _stale_and_orphans(store, limit: int) -> tuple[Any, Any]:
    """Statements for up to ``limit`` memo ids whose index entry is missing or differs from the
    memo's content, and up to ``limit`` index ids whose memo is gone."""
    if store.dialect == "sqlite":
        w, t = _fts(FTS_WORDS).alias("w"), _fts(FTS_TRIGRAM).alias("t")
        stale = (
            sa.select(m.c.id)
            .select_from(m.outerjoin(w, w.c.rowid == m.c.id).outerjoin(t, t.c.rowid == m.c.id))
            .where(
                sa.or_(
                    w.c.rowid.is_(None),
                    t.c.rowid.is_(None),
                    w.c.content.is_distinct_from(m.c.content),
                    t.c.content.is_distinct_from(m.c.content),
                )
            )
        )
        orphans = sa.union(
            *(
                sa.select(f.c.rowid.label("id")).where(~sa.exists().where(m.c.id == f.c.rowid))
                for f in (_fts(FTS_WORDS), _fts(FTS_TRIGRAM))
            )
        ).subquery()
        return stale.order_by(m.c.id).limit(limit), sa.select(orphans.c.id).limit(limit)
    s = search_table
    if store.dialect == "mysql":  # the column's collation ignores case: compare digests of the bytes
        differs = sa.func.md5(s.c.content) != sa.func.md5(m.c.content)
    else:
        differs = s.c.content != m.c.content
    stale = (
        sa.select(m.c.id)
        .select_from(m.outerjoin(s, s.c.memo_id == m.c.id))
        .where(sa.or_(s.c.memo_id.is_(None), differs))
        .order_by(m.c.id)
        .limit(limit)
    )
    orphans = sa.select(s.c.memo_id).where(~sa.exists().where(m.c.id == s.c.memo_id)).limit(limit)
    return stale, orphans


async def _clear(store) -> None:
    if store.dialect == "sqlite":
        for name in (FTS_WORDS, FTS_TRIGRAM):
            await store.execute(sa.delete(_fts(name)))
    else:
        await store.execute(search_table.delete())


#: Entries a catch-up brings in step before it refreshes the planner's statistics of the index.
ANALYZE_AFTER = 5_000


async def catch_up(store, *, rebuild: bool = False, batch: int = 2000) -> int:
    """Bring the index in step with the memo table; return how many entries were written or dropped.

    Works in batches, each its own transaction under the driver's schema lock, so instances starting
    at once do the work once (the second finds nothing left) and writers wait at most one batch.
    A batch locks its memo rows before reading them on the server databases, so a memo written
    meanwhile is indexed from its committed content. ``rebuild`` (``memos reindex``), or a state row
    naming another :data:`INDEX_VERSION`, empties the index first (stale entries are found either
    way: each holds the content it was built from). Run it with its own connection.
    """
    st = _state_table()
    async with store.transaction(), store.driver.schema_lock(store):
        version = await store.fetch_val(sa.select(st.c.version).where(st.c.name == STATE_NAME))
        # No state row yet: a new index, whose entries the memo writes since its creation made
        # correctly. Emptying it would hide those memos from searches until this run reached them.
        if rebuild or (version is not None and version != INDEX_VERSION):
            await _clear(store)
    fixed = 0
    while True:
        async with store.transaction(), store.driver.schema_lock(store):
            stale_q, orphan_q = _stale_and_orphans(store, batch)
            stale = [r[0] for r in await store.fetch_all(stale_q)]
            orphans = [r[0] for r in await store.fetch_all(orphan_q)]
            if stale and store.dialect != "sqlite":
                await store.fetch_all(sa.select(m.c.id).where(m.c.id.in_(stale)).with_for_update())
            await index_memos(store, stale)
            await unindex_memos(store, orphans)
            fixed += len(stale) + len(orphans)
            if not stale and not orphans:
                now = int(time.time() * 1000)
                values = {"name": STATE_NAME, "version": INDEX_VERSION, "checked_ms": now}
                await store.execute(store.driver.upsert(st, values, ["name"], ["version", "checked_ms"]))
                break
    if fixed:
        log.info("search index: %d entries brought in step", fixed)
    if fixed >= ANALYZE_AFTER and store.dialect == "postgresql":
        # A bulk build leaves PostgreSQL's planner without statistics on the new tsvectors until
        # autovacuum comes by; meanwhile it takes every word for a rare one (sorting 100,000 matches
        # where walking the newest would do). Refresh them now.
        await store.execute(sa.text(f"ANALYZE {SEARCH_TABLE}"))
    return fixed


# -- querying ----------------------------------------------------------------------------------------
def _phrase(words: Sequence[str]) -> str:
    """An FTS5 / MySQL boolean-mode phrase; a double quote inside is doubled (FTS5) or dropped."""
    return '"' + " ".join(words).replace('"', '""') + '"'


def _substring(column: Any, text: str, dialect: str) -> Any:
    if dialect == "mysql":  # byte-wise, as the general collations equate every emoji with every other
        pattern = "%" + re.sub(r"([\\%_])", r"\\\1", text.lower()) + "%"
        return sa.func.lower(column).op("LIKE BINARY")(sa.literal(pattern))
    if dialect == "postgresql":
        return column.icontains(text, autoescape=True)
    return column.contains(text, autoescape=True)


def match(dialect: str, terms: Sequence[Term]) -> tuple[Any, list[Any], Any]:
    """``(from, where, score)`` restricting the memo table to memos containing every term: ``from``
    joins the index onto :data:`tables.memo`; ``score`` orders the best match first when ascending."""
    words = [t for t in terms if t.is_word]
    substrings = [t for t in terms if not t.is_word]
    where: list[Any] = []
    if dialect == "sqlite":
        joined: Any = m
        score: Any = sa.literal(0.0)
        query_words = " ".join(_phrase(t.tokens) for t in words)
        trigram = [t.text for t in substrings if len(t.text) >= TRIGRAM_MIN]
        for name, query in ((FTS_WORDS, query_words), (FTS_TRIGRAM, " ".join(_phrase([s]) for s in trigram))):
            if not query:
                continue
            fts = sa.table(name, sa.column("rowid", sa.Integer))
            ranked = (
                sa.select(fts.c.rowid.label("memo_id"), sa.func.bm25(sa.literal_column(name)).label("score"))
                .select_from(fts)
                .where(sa.literal_column(name).op("MATCH")(sa.literal(query)))
                .subquery()
            )
            joined = joined.join(ranked, ranked.c.memo_id == m.c.id)
            score = score + ranked.c.score
        where += [_substring(m.c.content, t.text, dialect) for t in substrings if len(t.text) < TRIGRAM_MIN]
        return joined, where, score
    s = search_table
    joined = m.join(s, s.c.memo_id == m.c.id)
    if dialect == "postgresql":
        if words:
            query = " & ".join(" <-> ".join(f"'{w}'" for w in t.tokens) for t in words)
            tsquery = sa.func.to_tsquery(sa.literal_column("'simple'"), _written(query))
            doc = sa.literal_column(f"{SEARCH_TABLE}.doc")
            where.append(doc.op("@@")(tsquery))
            score = -sa.func.ts_rank(doc, tsquery)
        else:
            score = sa.literal(0.0)
        where += [_substring(s.c.content, t.text, dialect) for t in substrings]
        return joined, where, score
    # MySQL / MariaDB: words the FULLTEXT index holds go to MATCH; the rest are substrings.
    indexed = [t for t in words if all(len(w) >= MYSQL_MIN_TOKEN for w in t.tokens)]
    others = [t for t in terms if t not in indexed]
    if indexed:
        query = " ".join("+" + _phrase(t.tokens).replace('""', "") for t in indexed)
        from sqlalchemy.dialects.mysql import match as mysql_match

        relevance = mysql_match(s.c.content, against=sa.literal(query)).in_boolean_mode()
        where.append(relevance > 0)
        score = -relevance
    else:
        score = sa.literal(0.0)
    where += [_substring(s.c.content, t.text, dialect) for t in others]
    return joined, where, score


#: A search ranks by relevance only the newest this many memos its index matches; older matches
#: follow them, newest first. Ranking must score every match (neither bm25 nor ``ts_rank`` can stop
#: early), so a word found in nearly every memo would cost a scan of the whole index per request;
#: below this many matches the ranking is exact.
RANK_LIMIT = 10_000


@dataclasses.dataclass(frozen=True)
class Window:
    """The index's side of a search: statements over the index alone (no memo rows), in the order
    the search returns memos. ``conditions`` (over :data:`tables.memo`) are what the index cannot
    check and must be applied to the memo rows."""

    #: ``id`` column, match conditions and score (ascending: best first) over the index.
    id: Any
    where: list[Any]
    score: Any
    conditions: list[Any]

    def threshold(self) -> Any:
        """The id of the :data:`RANK_LIMIT`-th newest match, or 0 when there are fewer (a scalar
        subquery): matches with this id or newer are ranked, older ones follow newest first."""
        nth = sa.select(self.id).where(*self.where).order_by(self.id.desc()).limit(1).offset(RANK_LIMIT - 1)
        return sa.func.coalesce(nth.scalar_subquery(), 0)

    def ranked(self, k: int) -> Any:
        """The ``k`` best of the newest :data:`RANK_LIMIT` matches, best first: one statement, which
        scores at most that many entries (the newest are found by walking the index by id)."""
        newest = (
            sa.select(self.id.label("id"), self.score.label("score"))
            .where(*self.where)
            .order_by(self.id.desc())
            .limit(_written(RANK_LIMIT))
            .subquery("newest")
        )
        return sa.select(newest.c.id).order_by(newest.c.score, newest.c.id.desc()).limit(_written(k))

    def older(self, k: int) -> Any:
        """The ``k`` newest matches older than the ranked ones (needed only past :data:`RANK_LIMIT`)."""
        return sa.select(self.id).where(*self.where, self.id < self.threshold()).order_by(self.id.desc()).limit(k)


def _written(value: Any) -> Any:
    """``value`` written into the statement rather than bound. PostgreSQL plans a prepared
    statement once for any values after a few runs: not knowing how many memos hold the words or
    how many rows the limits keep, it would plan every word as a rare one (sorting every match)
    or walk the whole index for a rare word."""
    return sa.literal(value, literal_execute=True)


def order(score: Any, memo_id: Any, threshold: Any | None) -> list[Any]:
    """ORDER BY terms of a search over joined memo rows, the order of :meth:`Window.ranked` then
    :meth:`Window.older` (``threshold``: :meth:`Window.threshold`; ``None`` ranks every match)."""
    if threshold is None:
        return [score, memo_id.desc()]
    return [memo_id < threshold, sa.case((memo_id >= threshold, score)), memo_id.desc()]


def window(dialect: str, terms: Sequence[Term]) -> Window | None:
    """The index alone ranking ``terms``' matches in the order :func:`match`'s ``score`` and then
    memo id (descending) give, within :data:`RANK_LIMIT`; ``None`` when the index cannot rank alone
    (several SQLite indexes add up to the score).

    Ranking is cheap inside the index and dear once each match is joined to its memo row and
    checked against the caller's access rules, so a search ranks a window first and looks up only
    those memos (see :func:`memos_core.services.search.search_memos`)."""
    words = [t for t in terms if t.is_word]
    substrings = [t for t in terms if not t.is_word]
    if dialect == "sqlite":
        trigram = [t.text for t in substrings if len(t.text) >= TRIGRAM_MIN]
        if bool(words) == bool(trigram):
            return None  # both indexes (their scores add up) or neither
        name = FTS_WORDS if words else FTS_TRIGRAM
        query = " ".join(_phrase(t.tokens) for t in words) or " ".join(_phrase([s]) for s in trigram)
        fts = sa.table(name, sa.column("rowid", sa.Integer))
        short = [_substring(m.c.content, t.text, dialect) for t in substrings if len(t.text) < TRIGRAM_MIN]
        return Window(
            id=fts.c.rowid,
            where=[sa.literal_column(name).op("MATCH")(sa.literal(query))],
            score=sa.literal(0.0) + sa.func.bm25(sa.literal_column(name)),
            conditions=short,
        )
    _joined, where, score = match(dialect, terms)
    return Window(id=search_table.c.memo_id, where=where, score=score, conditions=[])
