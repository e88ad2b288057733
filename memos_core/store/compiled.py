"""A compiled-statement cache for ``databases`` backends.

``databases`` compiles every Core statement from scratch, which costs more than running it on
SQLite. SQLAlchemy's engine avoids that with cache keys: statements of the same
shape share one compiled form and only their bound values differ. This module applies the same
mechanism to a backend's compile step. Only SELECTs are cached: DML keeps the plain path, where
Python-side column defaults are handled.

The cache works with any paramstyle of the dialect it is given:

* positional (``qmark`` for sqlite3, ``numeric_dollar`` for asyncpg): :attr:`Prepared.args` are the
  values in the statement's order (``$n`` numbering included, after ``IN`` lists were expanded);
* named (``pyformat`` for aiomysql): :attr:`Prepared.params` are keyed by the names the statement
  text uses (SQLAlchemy escapes bind names holding characters such as ``.``, ``%`` or spaces).

Bind processors are applied as SQLAlchemy's engine applies them. Result processing stays with the
caller: :attr:`Prepared.result_columns` and :attr:`Prepared.result_column_struct` describe the
columns as the compiled statement does, as a freshly compiled statement would.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy.sql import Select
from sqlalchemy.util import LRUCache


@dataclasses.dataclass
class Prepared:
    compiled: Any  # the SQLCompiler (for result columns)
    statement: str  # SQL text to run
    positiontup: list[str] | None  # parameter names in order (positional paramstyles)
    params: dict[str, Any]  # parameter values by name, bind processors applied

    @property
    def args(self) -> list[Any]:
        """The parameter values in statement order (positional paramstyles; empty for named ones)."""
        params = self.params
        return [params[key] for key in self.positiontup or ()]

    @property
    def result_columns(self) -> Any:
        """The compiled statement's result columns (what ``databases``' records map rows by)."""
        return self.compiled._result_columns

    @property
    def result_column_struct(self) -> tuple:
        """``ExecutionContext.result_column_struct`` for the compiled statement (result metadata)."""
        compiled = self.compiled
        return (
            compiled._result_columns,
            compiled._ordered_columns,
            compiled._textual_ordered_columns,
            compiled._ad_hoc_textual,
            compiled._loose_column_name_matching,
        )


class StatementCache:
    """Compiled SELECTs of one dialect by SQLAlchemy cache key (least recently used dropped first).

    ``hits``, ``misses`` and ``uncached`` count :meth:`prepare` calls that reused a compiled form,
    compiled a new one, or returned ``None`` (the caller compiles as usual).
    """

    def __init__(self, dialect: Any, size: int = 1000) -> None:
        self.dialect = dialect
        self._cache: LRUCache = LRUCache(size)
        self._positional = bool(dialect.positional)
        self._templates: dict[Template, Any] = {}  # compiled templates (few, module-level, kept)
        self.hits = 0
        self.misses = 0
        self.uncached = 0

    def __len__(self) -> int:
        return len(self._cache)

    def prepare(self, query: Any) -> Prepared | None:
        """Compile ``query`` through the cache, or ``None`` if it is not cacheable here."""
        if isinstance(query, Bound):
            compiled = self._templates.get(query.template)
            if compiled is None:
                statement = query.template.statement
                compiled = statement._compiler(self.dialect, column_keys=[], for_executemany=False)
                self._templates[query.template] = compiled
            self.hits += 1
            params = compiled.construct_params(params=query.values, escape_names=False)
            return self._finish(compiled, params)
        if not isinstance(query, Select):
            self.uncached += 1
            return None
        key = query._generate_cache_key()
        if key is None:
            self.uncached += 1
            return None
        cache_key, extracted, collected = key
        compiled = self._cache.get(cache_key)
        if compiled is None:
            compiled = query._compiler(self.dialect, cache_key=key, column_keys=[], for_executemany=False)
            self._cache[cache_key] = compiled
            self.misses += 1
        else:
            self.hits += 1
        params = compiled.construct_params(
            extracted_parameters=extracted, escape_names=False, _collected_params=collected
        )
        return self._finish(compiled, params)

    def _finish(self, compiled: Any, params: dict[str, Any]) -> Prepared:
        processors = compiled._bind_processors
        statement = compiled.string
        positiontup = list(compiled.positiontup) if compiled.positiontup is not None else None
        if compiled.literal_execute_params or compiled.post_compile_params:
            expanded = compiled._process_parameters_for_postcompile(params)
            statement = expanded.statement
            params = dict(expanded.parameters)
            positiontup = list(expanded.positiontup) if expanded.positiontup is not None else None
            processors = {**processors, **expanded.processors}
        for name, value in params.items():
            proc = processors.get(name)
            if proc is not None:
                params[name] = proc(value)
        if not self._positional and compiled.escaped_bind_names:
            escaped = compiled.escaped_bind_names
            params = {escaped.get(name, name): value for name, value in params.items()}
        return Prepared(compiled, statement, positiontup, params)


class Template:
    """A SELECT built once with named bind parameters (``sa.bindparam("name")``, ``expanding=True``
    for ``IN`` lists), run many times with new values: ``await store.fetch_all(TEMPLATE(name=...))``.

    On a hot path, building a Core statement and computing its cache key cost more than running it
    on SQLite. A template does neither per call: it is compiled once per dialect on first use and
    each call only supplies the values. Results are exactly those of the same statement built inline.
    """

    __slots__ = ("statement",)

    def __init__(self, statement: Select) -> None:
        self.statement = statement

    def __call__(self, **values: Any) -> Bound:
        return Bound(self, values)


class Bound:
    """A :class:`Template` with this call's values (what the store's ``fetch_*`` methods accept)."""

    __slots__ = ("template", "values")

    def __init__(self, template: Template, values: dict[str, Any]) -> None:
        self.template = template
        self.values = values

    def __str__(self) -> str:
        return str(self.template.statement)
