"""memos-filter: the Memos filter language (CEL subset) compiled to SQLAlchemy clauses.

The plugin implements ``memos_compile_filter`` for the ``memo`` and ``attachment`` scopes. Other
code may use :func:`compile_filter` and :func:`validate` directly (shortcuts validate their filter
when saved, before any query runs).
"""

from __future__ import annotations

from typing import Any

from memos_core import hookimpl

from .compiler import SCOPES, compile_filter

__all__ = ["SCOPES", "compile_filter", "memos_compile_filter", "validate"]


def validate(expression: str, scope: str = "memo") -> None:
    """Raise ``ApiError(INVALID_ARGUMENT)`` unless ``expression`` is a supported filter for ``scope``."""
    compile_filter(expression, scope, "sqlite", now=0)


@hookimpl
def memos_compile_filter(expression: str, scope: str, context: dict) -> Any:
    """Compile for ``context["dialect"]`` (default sqlite); ``context["now"]`` may pin ``now()``.

    Returns None for scopes this plugin does not know, so another plugin may handle them.
    """
    if scope not in SCOPES:
        return None
    context = context or {}
    return compile_filter(expression, scope, context.get("dialect", "sqlite"), context.get("now"))
