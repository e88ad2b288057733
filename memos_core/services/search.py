"""Full-text search: ListMemos with ``search`` (a memos-py extension).

The memos a search returns are exactly those ListMemos would list to the caller with the same
``state`` and ``filter`` (the access rules of :mod:`memos_core.services.access`, applied in SQL), that
also contain every term, best match first (the database's ranking), then the newest memo row first. Each carries
``searchSnippet``: an excerpt of its content, HTML-escaped, with the matched terms in ``<mark>``.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .. import search_modes
from ..errors import invalid
from ..store import memos as store
from ..store import search as search_store
from ..store import tables
from . import access

if TYPE_CHECKING:
    from ..auth import Principal
    from ..context import Context

MAX_SEARCH_CHARS = 256
MAX_TERMS = 16
#: Characters of content a snippet shows around the first match.
SNIPPET_CHARS = 160
SNIPPET_BEFORE = 40


def parse_search(search: str) -> list[search_store.Term]:
    """The terms of a ``search`` parameter, or a 400 for an empty or oversized one."""
    text = search.strip()
    if not text:
        raise invalid("search must not be empty")
    if len(text) > MAX_SEARCH_CHARS:
        raise invalid(f"search is longer than {MAX_SEARCH_CHARS} characters")
    if "\x00" in text:
        raise invalid("search must not contain NUL")
    terms = search_store.parse_terms(text)
    if len(terms) > MAX_TERMS:
        raise invalid(f"search has more than {MAX_TERMS} terms")
    return terms


def _pattern(term: search_store.Term) -> re.Pattern[str]:
    """Where ``term`` occurs in content, as the index matched it: whole tokens for a word phrase
    (separated by anything that is not a letter or digit), anywhere for a substring."""
    if term.is_word:
        body = r"[\W_]+".join(re.escape(t) for t in term.tokens)
        return re.compile(rf"(?<![^\W_]){body}(?![^\W_])", re.IGNORECASE)
    return re.compile(re.escape(term.text), re.IGNORECASE)


def snippet(content: str, terms: list[search_store.Term]) -> str:
    """An excerpt of ``content`` around its first match, every match in ``<mark>``. Built from the
    content itself (never the database's highlight output): each piece of text is HTML-escaped on
    its own and marks are put between pieces by offset, so content can never open a tag."""
    spans: list[tuple[int, int]] = []
    for term in terms:
        spans += [mt.span() for mt in _pattern(term).finditer(content) if mt.end() > mt.start()]
    spans.sort()
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    first = merged[0][0] if merged else 0
    lo = max(0, first - SNIPPET_BEFORE)
    hi = min(len(content), lo + SNIPPET_CHARS)
    lo = max(0, min(lo, hi - SNIPPET_CHARS))
    out = ["…"] if lo > 0 else []
    pos = lo
    for start, end in merged:
        start, end = max(start, lo), min(end, hi)
        if start >= end:
            continue
        out += [html.escape(content[pos:start]), "<mark>", html.escape(content[start:end]), "</mark>"]
        pos = end
    out.append(html.escape(content[pos:hi]))
    if hi < len(content):
        out.append("…")
    return "".join(out)


def _comment_parent_visible(viewer: Principal | None) -> Any:
    """A comment is found only when the viewer may also see the memo it belongs to."""
    rel, parent = tables.memo_relation, tables.memo.alias("search_parent")
    hidden = (
        sa.select(rel.c.memo_id)
        .select_from(rel.join(parent, parent.c.id == rel.c.related_memo_id))
        .where(rel.c.memo_id == tables.memo.c.id, rel.c.type == store.COMMENT)
        .where(sa.not_(access.visible_clause(viewer, parent)))
    )
    return ~sa.exists(hidden)


def eligible(viewer: Principal | None, state: str, filter_clause: Any, include_comments: bool) -> list[Any]:
    """The conditions (over ``tables.memo``) every memo a search may return meets: what ListMemos
    would list to ``viewer`` with the same ``state`` and ``filter``, plus comments whose memo the
    viewer may see when ``include_comments``."""
    m = tables.memo
    where = [m.c.row_status == state, access.list_clause(viewer, state)]
    where.append(_comment_parent_visible(viewer) if include_comments else store.not_comment())
    if filter_clause is not None:
        where.append(filter_clause)
    return where


async def search_memos(
    ctx: Context,
    viewer: Principal | None,
    search: str,
    *,
    state: str,
    filter_clause: Any,
    include_comments: bool,
    limit: int,
    offset: int,
    mode: str = search_modes.TEXT,
) -> tuple[list[store.Memo], list[str]]:
    """Up to ``limit + 1`` memos from ``offset`` matching ``search`` (see the module) and a snippet
    each; ``mode`` names a registered :class:`memos_core.SearchMode` to rank them instead."""
    terms = parse_search(search)
    where = eligible(viewer, state, filter_clause, include_comments)
    if mode == search_modes.TEXT:
        rows = [store.Memo.from_row(r) for r in await _ranked(ctx, terms, where, limit + 1, offset)]
    else:
        ranker = ctx.search_modes.get(mode)
        if ranker is None:
            names = ", ".join(ctx.search_modes.names())
            raise invalid(f"searchMode must be one of: {names}")
        ids = await ranker.rank(ctx, query=search.strip(), eligible=where, limit=limit + 1, offset=offset)
        rows = await _memos_in_order(ctx, ids[: limit + 1], where)
    return rows, [snippet(r.content, terms) for r in rows]


async def text_ranked_ids(ctx: Context, query: str, eligible: list[Any], limit: int, offset: int = 0) -> list[int]:
    """The built-in full-text ranking of ``query`` among ``eligible`` memos, as ids best first (for
    modes that combine it with their own, such as a hybrid). Public: ``memos_core.text_ranked_ids``."""
    terms = parse_search(query)
    return [r.id for r in await _ranked(ctx, terms, eligible, limit, offset)]


#: The first window of best matches a search joins to memo rows is this many times the rows a
#: page needs (at least :data:`WINDOW_MIN`); when the caller may see too few of them, the window
#: grows by :data:`WINDOW_GROWTH` up to :data:`WINDOW_MAX`, and past that the full statement orders them.
WINDOW_MIN = 64
WINDOW_FACTOR = 4
WINDOW_GROWTH = 8
WINDOW_MAX = 20_000


async def _ranked(ctx: Context, terms: list[search_store.Term], where: list[Any], count: int, offset: int) -> list[Any]:
    """Rows ``offset .. offset + count`` of the ranking of eligible matches, exactly as
    :func:`statement` orders them, looking up as few memo rows as it can.

    The index orders its matches alone (:class:`memos_core.store.search.Window`) in the same order;
    the ``k`` first are a prefix of that order, and the access rules (applied in SQL to those ``k``
    memos) keep the order of what they let through. So when the window held every match, or its
    eligible memos fill the page, the page is the one the full statement would give."""
    dialect = ctx.store.dialect
    found = search_store.window(dialect, terms)
    k = max(WINDOW_MIN, (offset + count) * WINDOW_FACTOR)
    while found is not None and k <= WINDOW_MAX:
        ids = [r[0] for r in await ctx.store.fetch_all(found.ranked(k))]
        if len(ids) == search_store.RANK_LIMIT < k:  # matches past the ranked ones may follow
            ids += [r[0] for r in await ctx.store.fetch_all(found.older(k - len(ids)))]
        if not ids:
            return []
        by_id = await _eligible_by_id(ctx, ids, [*found.conditions, *where])
        ranked = [by_id[i] for i in ids if i in by_id]  # the window's order
        if len(ids) < k or len(ranked) >= offset + count:
            return ranked[offset : offset + count]
        k *= WINDOW_GROWTH
    threshold = None if found is None else found.threshold()
    return await ctx.store.fetch_all(statement(dialect, terms, where, count, offset, threshold))


async def _eligible_by_id(ctx: Context, ids: list[int], where: list[Any]) -> dict[int, Any]:
    """The rows (with the creator's username) of those memos ``ids`` that meet ``where``, by id."""
    m = tables.memo
    q = (
        sa.select(*m.c, tables.user.c.username.label("creator"))
        .select_from(m.join(tables.user, tables.user.c.id == m.c.creator_id))
        .where(m.c.id.in_(ids), *where)
    )
    return {row.id: row for row in await ctx.store.fetch_all(q)}


async def _memos_in_order(ctx: Context, ids: list[int], where: list[Any]) -> list[store.Memo]:
    """The memos ``ids`` in that order; the eligibility rules are applied again, so a mode that
    returned an id it should not have cannot leak the memo."""
    if not ids:
        return []
    found = {i: store.Memo.from_row(row) for i, row in (await _eligible_by_id(ctx, ids, where)).items()}
    return [found[i] for i in dict.fromkeys(ids) if i in found]


def statement(
    dialect: str,
    terms: list[search_store.Term],
    where: list[Any],
    limit: int,
    offset: int,
    threshold: Any = None,
) -> Any:
    """The full-text search's one statement among memos meeting ``where`` (the benchmark prints its
    plan); memos older than ``threshold`` (see :meth:`memos_core.store.search.Window.threshold`)
    follow the ranked ones, newest first."""
    m = tables.memo
    joined, match, score = search_store.match(dialect, terms)
    return (
        sa.select(*m.c, tables.user.c.username.label("creator"))
        .select_from(joined.join(tables.user, tables.user.c.id == m.c.creator_id))
        .where(*match, *where)
        .order_by(*search_store.order(score, m.c.id, threshold))
        .limit(limit)
        .offset(offset)
    )
