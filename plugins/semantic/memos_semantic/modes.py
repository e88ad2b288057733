"""The two search modes: ``semantic`` (by meaning) and ``hybrid`` (words and meaning, fused)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from memos_core import text_ranked_ids

from . import model, vectors

#: Reciprocal rank fusion's constant: a memo's score is the sum of 1 / (K + rank) over the rankings.
#: 60 is the value of the method's paper; it keeps one list's top hits from drowning the other's.
RRF_K = 60
#: How deep each ranking is read before fusing. Independent of the page asked for, so the fused order
#: (and with it paging) is the same for every page within it.
FUSION_DEPTH = 200


class SemanticMode:
    """Memos by cosine similarity of their embedding to the query's. Memos not embedded yet are
    not found (the worker catches up within moments of a write)."""

    label = "Meaning"

    def __init__(self, state: Any) -> None:
        self._state = state  # the app's SemanticState, looked up per call (see memos_semantic)

    async def rank(self, ctx: Any, *, query: str, eligible: Sequence[Any], limit: int, offset: int) -> list[int]:
        state = self._state(ctx)
        vector = (await model.embed([query]))[0]
        if not vector.any():  # nothing the model knows (only symbols): no meaning to compare
            return []
        return await vectors.nearest(
            ctx.store,
            state.backend,
            vector,
            eligible,
            limit=limit,
            offset=offset,
            min_similarity=state.tunables.min_similarity,
        )


def fuse(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[int]:
    """Reciprocal rank fusion: ids by the sum of ``1 / (k + rank)`` over the rankings they appear in
    (a memo in only one still counts), best first; ties go to the newer (larger) id."""
    scores: dict[int, float] = defaultdict(float)
    for ranking in rankings:
        for rank, memo_id in enumerate(ranking, start=1):
            scores[memo_id] += 1.0 / (k + rank)
    return sorted(scores, key=lambda i: (-scores[i], -i))


class HybridMode:
    """The full-text ranking and the semantic one, fused: a memo with the words and the meaning
    comes first, one with either still appears."""

    label = "Words + meaning"

    def __init__(self, semantic: SemanticMode) -> None:
        self._semantic = semantic

    async def rank(self, ctx: Any, *, query: str, eligible: Sequence[Any], limit: int, offset: int) -> list[int]:
        depth = max(FUSION_DEPTH, offset + limit)
        words = await text_ranked_ids(ctx, query, list(eligible), depth, 0)
        meaning = await self._semantic.rank(ctx, query=query, eligible=eligible, limit=depth, offset=0)
        return fuse([words, meaning])[offset : offset + limit]
