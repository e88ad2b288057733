"""A compiled-statement cache for ``databases`` backends.

``databases`` compiles every Core statement from scratch, which costs more than running it on
SQLite (ARCHITECTURE §5). SQLAlchemy's engine avoids that with cache keys: statements of the same
shape share one compiled form and only their bound values differ. This module applies the same
mechanism to a backend's compile step. Only SELECTs are cached: DML keeps the plain path, where
Python-side column defaults are handled.
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


class StatementCache:
    def __init__(self, dialect: Any, size: int = 1000) -> None:
        self.dialect = dialect
        self._cache: LRUCache = LRUCache(size)

    def prepare(self, query: Any) -> Prepared | None:
        """Compile ``query`` through the cache, or ``None`` if it is not cacheable here."""
        if not isinstance(query, Select):
            return None
        key = query._generate_cache_key()
        if key is None:
            return None
        cache_key, extracted, collected = key
        compiled = self._cache.get(cache_key)
        if compiled is None:
            compiled = query._compiler(self.dialect, cache_key=key, column_keys=[], for_executemany=False)
            self._cache[cache_key] = compiled
        params = compiled.construct_params(
            extracted_parameters=extracted, escape_names=False, _collected_params=collected
        )
        processors = dict(compiled._bind_processors)
        statement = compiled.string
        positiontup = list(compiled.positiontup) if compiled.positiontup is not None else None
        if compiled.literal_execute_params or compiled.post_compile_params:
            expanded = compiled._process_parameters_for_postcompile(params)
            statement = expanded.statement
            params = dict(expanded.parameters)
            positiontup = list(expanded.positiontup) if expanded.positiontup is not None else None
            processors.update(expanded.processors)
        for name, value in params.items():
            proc = processors.get(name)
            if proc is not None:
                params[name] = proc(value)
        return Prepared(compiled, statement, positiontup, params)
