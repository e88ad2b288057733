"""Search modes: ways to rank ListMemos' ``search`` besides the built-in full-text ranking.

A plugin registers a mode through ``memos_register_search_modes``; a caller picks it with
ListMemos' ``searchMode`` parameter (a memos-py extension, see docs/api-extensions.md). The core
keeps the access rules: it hands the mode the conditions every eligible memo must meet (visibility,
state, ``filter``, comments) as SQLAlchemy clauses over :data:`memos_core.tables.memo`, and a mode
ranks only rows that meet all of them, so no mode can show a memo its caller may not see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

#: The built-in mode: the database's full-text index and ranking.
TEXT = "text"


@runtime_checkable
class SearchMode(Protocol):
    """What ``memos_register_search_modes`` implementations ``register(name, mode)``."""

    #: A short human name for the mode, shown in the web UI's search box.
    label: str

    async def rank(self, ctx: Any, *, query: str, eligible: Sequence[Any], limit: int, offset: int) -> list[int]:
        """The ids of the memos that best answer ``query``, best first: at most ``limit`` from
        ``offset`` of the ranking. Every id must satisfy all ``eligible`` clauses; run them in SQL
        in the statement that ranks (joined to ``tables.memo``), never as a filter afterwards."""
        ...


class SearchModeRegistry:
    """Modes by name, collected once from ``memos_register_search_modes`` (see :mod:`memos_core.registries`,
    which refuses ``"text"`` and names that are not lowercase identifiers)."""

    def __init__(self, registry: Mapping[str, Any]) -> None:
        self.registry = registry
        self._modes: dict[str, SearchMode] = {name: r.value for name, r in registry.items()}

    def names(self) -> list[str]:
        """Every mode a caller may ask for, ``"text"`` first."""
        return [TEXT, *sorted(self._modes)]

    def labels(self) -> dict[str, str]:
        """Each mode's name and label, ``"text"`` first (for choosers such as the web UI's)."""
        return {TEXT: "Words", **{name: self._modes[name].label for name in sorted(self._modes)}}

    def get(self, name: str) -> SearchMode | None:
        return self._modes.get(name)
